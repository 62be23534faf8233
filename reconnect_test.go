package memberlist

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A member declared dead by failure is tried with a push/pull that carries
// the members we hold alive and the target as dead; the answer's claims
// that our live members are dead are left out, its claims about us are
// refuted, and a member back from the dead ends the tries for it.
func TestReconnectToLostMember(t *testing.T) {
	h := reconnectHarness(t, 10*time.Second, nil)
	h.addPeer("a", 2, 1)
	h.addPeer("b", 3, 1)
	h.addPeer("gone", 4, 1)
	h.deliver(deadMsg, &dead{Node: "b", Incarnation: 1, From: "x"})
	require.Equal(t, StateDead, h.state("b"))

	// Within an interval (and its stagger) the core tries b.
	var ex *outExchange
	for range 200 {
		h.advance(100 * time.Millisecond)
		h.sent()
		if ex = takeIf[*outExchange](h); ex != nil {
			break
		}
	}
	require.NotNil(t, ex, "a reconnect exchange within the interval")
	require.Equal(t, "b", ex.to.Name)
	require.Equal(t, "127.0.0.3:7946", ex.to.Addr)
	_, r, err := readStream(h.cfg, discardMetrics{}, bytes.NewReader(ex.msg), "")
	require.NoError(t, err)
	join, states, _, err := decodePushPull(r, 16)
	require.NoError(t, err)
	require.False(t, join)
	got := map[string]NodeStateType{}
	for _, s := range states {
		got[s.Name] = s.State
	}
	require.Equal(t, map[string]NodeStateType{"self": StateAlive, "a": StateAlive, "gone": StateAlive, "b": StateDead}, got)

	// b answers: it refuted, and it holds a and us dead.
	reply := []pushNodeState{
		peerState("b", 3, 2, StateAlive),
		peerState("a", 2, 1, StateDead),
		{Name: "self", Addr: []byte{127, 0, 0, 1}, Port: 7946, Incarnation: 1, State: StateDead, Vsn: []uint8{1, 5, 2, 0, 0, 0}},
	}
	selfInc := h.c.incarnation
	h.c.exchangeDone(h.now, ex.id, &streamMsg{t: pushPullMsg, states: reply}, nil)
	require.Equal(t, StateAlive, h.state("b"), "b is back")
	require.Equal(t, StateAlive, h.state("a"), "b's claim that a is dead is left out")
	require.Greater(t, h.c.incarnation, selfInc, "b's claim that we are dead is refuted")

	// Nothing lost any more: the ticker parks.
	for range 300 {
		h.advance(100 * time.Millisecond)
		h.sent()
		require.Nil(t, takeIf[*outExchange](h), "no member is lost")
	}
}

// A member that left gracefully is never tried.
func TestReconnectSkipsLeftMembers(t *testing.T) {
	h := reconnectHarness(t, time.Second, nil)
	h.addPeer("a", 2, 1)
	h.deliver(deadMsg, &dead{Node: "a", Incarnation: 1, From: "a"})
	require.Equal(t, StateLeft, h.state("a"))
	for range 100 {
		h.advance(100 * time.Millisecond)
		h.sent()
		require.Nil(t, takeIf[*outExchange](h))
	}
}

// reconnectHarness is a core whose only exchanges are reconnect tries,
// every interval (scaled with the table), and whose peers are never probed
// (they would never ack here); mod, when set, adjusts the config further.
func reconnectHarness(t *testing.T, interval time.Duration, mod func(*Config)) *harness {
	return newHarness(t, func(c *Config) {
		c.ReconnectInterval = interval
		c.PushPullInterval = 0
		c.ProbeInterval = time.Hour
		c.ProbeTimeout = time.Minute
		if mod != nil {
			mod(c)
		}
	})
}

// takeIf removes the outputs other than datagrams emitted so far and returns
// the one T among them, or the zero T when there is none.
func takeIf[T output](h *harness) T {
	h.t.Helper()
	var found T
	for _, o := range h.take() {
		got, ok := o.(T)
		require.True(h.t, ok, "unexpected output %T", o)
		found = got
	}
	return found
}

// A node that loses more members at once than the list's floor (a partition
// of a large cluster) remembers and tries every one of them: each answers,
// refuted, and the node tries the next. A fixed bound of 1,024 once dropped
// members at random, and those stayed dead in this node's view after a heal.
func TestReconnectTriesEveryLostMember(t *testing.T) {
	h := reconnectHarness(t, time.Second, func(c *Config) {
		c.GossipToTheDeadTime = 0 // gossip nothing to the dead
	})
	const n = minLostPeers + 476
	ip := func(i int) byte { return byte(2 + i%250) }
	for i := range n {
		h.addPeer(fmt.Sprintf("p%d", i), ip(i), 1)
	}
	for i := range n {
		h.deliver(deadMsg, &dead{Node: fmt.Sprintf("p%d", i), Incarnation: 1, From: "x"})
	}
	tried := map[string]bool{}
	for step := 0; step < 100*n && len(tried) < n; step++ {
		h.advance(time.Second)
		h.sent()
		ex := takeIf[*outExchange](h)
		if ex == nil {
			continue
		}
		tried[ex.to.Name] = true // (a member probed dead again later is tried again)
		var i int
		_, err := fmt.Sscanf(ex.to.Name, "p%d", &i)
		require.NoError(t, err)
		reply := []pushNodeState{peerState(ex.to.Name, ip(i), 2, StateAlive)}
		h.c.exchangeDone(h.now, ex.id, &streamMsg{t: pushPullMsg, states: reply}, nil)
		require.Equal(t, StateAlive, h.state(ex.to.Name))
	}
	require.Equal(t, n, len(tried), "every lost member is tried")
}
