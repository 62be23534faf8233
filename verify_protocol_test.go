package memberlist

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// verifyProtocolSlow is verifyProtocol as the protocol states it, two passes
// over the whole table on every call: the oracle for the summarised one.
func verifyProtocolSlow(c *core, remote []pushNodeState) error {
	var maxPMin, maxDMin uint8
	minPMax, minDMax := uint8(math.MaxUint8), uint8(math.MaxUint8)
	for _, r := range remote {
		if r.State == StateAlive && len(r.Vsn) >= 5 {
			maxPMin, minPMax = max(maxPMin, r.Vsn[0]), min(minPMax, r.Vsn[1])
			maxDMin, minDMax = max(maxDMin, r.Vsn[3]), min(minDMax, r.Vsn[4])
		}
	}
	for _, n := range c.nodes {
		if v := n.vsn(); n.state() == StateAlive {
			maxPMin, minPMax = max(maxPMin, v[0]), min(minPMax, v[1])
			maxDMin, minDMax = max(maxDMin, v[3]), min(minDMax, v[4])
		}
	}
	check := vsnSummary{maxPMin: maxPMin, minPMax: minPMax, maxDMin: maxDMin, minDMax: minDMax}.check
	for _, r := range remote {
		var pCur, dCur uint8
		if len(r.Vsn) >= 6 {
			pCur, dCur = r.Vsn[2], r.Vsn[5]
		}
		if err := check(r.Name, pCur, dCur); err != nil {
			return err
		}
	}
	for _, n := range c.nodes {
		if v := n.vsn(); check(n.name(), v[2], v[5]) != nil {
			return check(n.name(), v[2], v[5])
		}
	}
	return nil
}

// TestVerifyProtocolSummary changes a table at random (members with odd
// versions joining, suspected, dying, leaving, coming back at other
// versions) and checks after every change that verifyProtocol, which
// summarises the table only when it changed, gives the oracle's verdict,
// error message included, on random remote states.
func TestVerifyProtocolSummary(t *testing.T) {
	h := newHarness(t, nil)
	c := h.c
	rng := rand.New(rand.NewPCG(5, 6))
	vsn := func() []byte {
		// Mostly compatible, sometimes not.
		v := []byte{1, 5, 2, 2, 5, 4}
		if rng.IntN(8) == 0 {
			v[rng.IntN(6)] = byte(rng.IntN(7))
		}
		return v
	}
	incs := map[string]uint32{}
	mismatches := 0
	for step := range 3000 {
		name := fmt.Sprintf("n%d", rng.IntN(40))
		incs[name]++
		switch rng.IntN(4) {
		case 0, 1:
			c.aliveNode(&alive{Incarnation: incs[name], Node: name, Addr: []byte{10, 0, 0, byte(len(name))}, Port: 7946, Vsn: vsn()}, 0, false)
		case 2:
			c.suspectNode(&suspect{Incarnation: incs[name], Node: name, From: "x"})
		case 3:
			c.deadNode(&dead{Incarnation: incs[name], Node: name, From: "x"})
		}
		remote := make([]pushNodeState, rng.IntN(4))
		for i := range remote {
			remote[i] = pushNodeState{Name: fmt.Sprintf("r%d", i), State: NodeStateType(rng.IntN(3)), Vsn: vsn()}
		}
		want, got := verifyProtocolSlow(c, remote), c.verifyProtocol(remote)
		if want != nil {
			mismatches++
		}
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Fatalf("step %d: verifyProtocol says %v, the oracle %v", step, got, want)
		}
	}
	assert.Greater(t, mismatches, 100, "the table and remotes must often disagree for the test to mean anything")
	h.sent()
}
