package memberlist

import (
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What a peer claims is checked before it touches the member table: an
// over-long name, versions that cannot be, and addresses outside
// CIDRsAllowed never make a member, and each refusal is counted.
func TestAliveFieldValidation(t *testing.T) {
	sink := &countingSink{}
	allowed, err := ParseCIDRs([]string{"127.0.0.0/8"})
	require.NoError(t, err)
	h := newHarnessWith(t, func(c *Config) { c.CIDRsAllowed = allowed }, sink)
	ip := net.IPv4(127, 0, 0, 2).To4()
	vsn := []uint8{1, 5, 2, 0, 0, 0}

	long := strings.Repeat("n", MaxNodeNameLen+1)
	h.deliver(aliveMsg, &alive{Incarnation: 1, Node: long, Addr: ip, Port: 7946, Vsn: vsn})
	h.deliver(aliveMsg, &alive{Incarnation: 1, Node: "bad-vsn", Addr: ip, Port: 7946, Vsn: []uint8{0, 0, 0, 0, 0, 0}})
	h.deliver(aliveMsg, &alive{Incarnation: 1, Node: "min-above-max", Addr: ip, Port: 7946, Vsn: []uint8{4, 2, 2, 0, 0, 0}})
	h.c.mergeState([]pushNodeState{{Name: "far", Addr: net.IPv4(192, 168, 0, 1).To4(), Port: 7946, Incarnation: 1, State: StateAlive, Vsn: vsn}})
	for _, name := range []string{long, "bad-vsn", "min-above-max", "far"} {
		_, ok := h.c.memberState(name)
		assert.False(t, ok, "%.20s admitted", name)
	}
	assert.Equal(t, float32(1), sink.get("memberlist.msg.rejected;name"))
	assert.Equal(t, float32(2), sink.get("memberlist.msg.rejected;vsn"))
	assert.Equal(t, float32(1), sink.get("memberlist.msg.rejected;cidr"))

	// The longest name allowed is taken.
	okName := strings.Repeat("n", MaxNodeNameLen)
	h.deliver(aliveMsg, &alive{Incarnation: 1, Node: okName, Addr: ip, Port: 7946, Vsn: vsn})
	assert.Equal(t, StateAlive, h.state(okName))
	h.sent()
}

func TestConfigNameTooLong(t *testing.T) {
	c := DefaultLANConfig()
	c.Name = strings.Repeat("n", MaxNodeNameLen+1)
	err := c.validate()
	require.ErrorContains(t, err, "Name")
	require.ErrorContains(t, err, "MaxNodeNameLen")
}

// A suspicion of us at an incarnation we already refuted means its sender
// missed the refutation: our alive message goes out again, at the same
// incarnation, rather than the stale suspicion being ignored until the
// sender declares us dead.
func TestStaleAccusationReasserts(t *testing.T) {
	h := newHarness(t, nil)
	h.addPeer("a", 2, 1)
	me := h.c.index.get("self")
	inc := me.incarnation
	h.deliver(suspectMsg, &suspect{Node: "self", Incarnation: inc, From: "a"})
	require.Equal(t, inc+1, me.incarnation, "refuted")
	refuted := me.newsGen

	h.deliver(suspectMsg, &suspect{Node: "self", Incarnation: inc, From: "a"})
	require.Equal(t, inc+1, me.incarnation, "no new incarnation for a stale suspicion")
	require.NotEqual(t, refuted, me.newsGen, "our alive message is queued again")
	afterSuspect := me.newsGen

	h.deliver(deadMsg, &dead{Node: "self", Incarnation: inc, From: "a"})
	require.Equal(t, inc+1, me.incarnation)
	require.NotEqual(t, afterSuspect, me.newsGen, "a stale death is answered the same way")
	require.Equal(t, StateAlive, h.state("self"))
	h.sent()
}
