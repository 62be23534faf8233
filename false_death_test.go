package memberlist

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// relayedAlive returns the alive messages the core sent to peerAddr, the
// sender of the harness's packets, since the last call: the first message of
// each datagram (gossip rides along after it).
func (h *harness) relayedAlive() []alive {
	var out []alive
	for _, o := range h.c.drain() {
		s, ok := o.(*outSend)
		if !ok {
			h.others = append(h.others, o)
			continue
		}
		if s.to.Addr != peerAddr.String() {
			continue
		}
		if m := splitSent(h.t, s.to, s.buf)[0]; m.t == aliveMsg {
			var a alive
			require.NoError(h.t, decodeMsg(m.body, &a))
			out = append(out, a)
		}
	}
	return out
}

// Under RelayRefutations a node that knows a member alive at a newer
// incarnation answers gossip that still accuses an older one by sending the
// member's alive message back to the gossip's sender, once the refutation
// is a gossip interval old, and at most relayBudget times per interval.
func TestRelayRefutations(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RelayRefutations = true })
	h.addPeer("n1", 10, 1)
	h.addPeer("n1", 10, 2) // n1 refuted an accusation
	h.sent()

	// Within a gossip interval the accusation may just be racing the
	// refutation through the cluster: no answer yet.
	h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: "n1", From: "x"})
	require.Empty(t, h.relayedAlive())

	h.now = h.now.Add(h.cfg.GossipInterval)
	h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: "n1", From: "x"})
	got := h.relayedAlive()
	require.Len(t, got, 1)
	require.Equal(t, "n1", got[0].Node)
	require.Equal(t, uint32(2), got[0].Incarnation)
	require.Equal(t, StateAlive, h.state("n1"), "the stale accusation changes nothing here")

	// A stale death is answered alike, up to the budget of the interval.
	for range relayBudget + 2 {
		h.deliver(deadMsg, &dead{Incarnation: 1, Node: "n1", From: "x"})
	}
	require.Len(t, h.relayedAlive(), relayBudget-1)
	require.Equal(t, uint64(relayBudget), h.c.refutationsRelayed)
	h.now = h.now.Add(h.cfg.GossipInterval)
	h.deliver(deadMsg, &dead{Incarnation: 1, Node: "n1", From: "x"})
	require.Len(t, h.relayedAlive(), 1, "a new interval, a new budget")

	// An accusation of the current incarnation is news, not stale.
	h.now = h.now.Add(h.cfg.GossipInterval)
	h.deliver(suspectMsg, &suspect{Incarnation: 2, Node: "n1", From: "x"})
	require.Empty(t, h.relayedAlive())
	require.Equal(t, StateSuspect, h.state("n1"))
	// Nor is a member we do not hold alive answered for.
	h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: "n1", From: "x"})
	require.Empty(t, h.relayedAlive())
}

// Off, as by default and in the reference, a stale accusation gets no answer;
// and a stale accusation of the node itself is reasserted to all, not
// relayed.
func TestRelayRefutationsOffAndSelf(t *testing.T) {
	h := newHarness(t, nil)
	h.addPeer("n1", 10, 1)
	h.addPeer("n1", 10, 2)
	h.now = h.now.Add(time.Minute)
	h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: "n1", From: "x"})
	require.Empty(t, h.relayedAlive())

	h = newHarness(t, func(c *Config) { c.RelayRefutations = true })
	h.addPeer("n1", 10, 1)
	h.deliver(suspectMsg, &suspect{Incarnation: 0, Node: "self", From: "n1"}) // refuted: self is at 1
	h.sent()
	h.now = h.now.Add(time.Minute)
	h.deliver(suspectMsg, &suspect{Incarnation: 0, Node: "self", From: "n1"})
	require.Empty(t, h.relayedAlive())
	require.Zero(t, h.c.refutationsRelayed)
}

// Under SuspectBeforeDead another node's death declaration about a member not
// suspected here starts a suspicion, gossiped so that the member can refute;
// the accuser's own verdict does not cut that suspicion short, an
// independent node's does once the suspicion has run its minimum timeout,
// unless we hold that node dead; a leave and our own timeout are taken as
// always.
func TestSuspectBeforeDead(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.SuspectBeforeDead = true })
	h.addPeer("a", 2, 1)
	h.addPeer("b", 3, 1)
	h.addPeer("c", 4, 1)
	h.addPeer("d", 5, 1)
	h.sent()

	h.deliver(deadMsg, &dead{Incarnation: 1, Node: "a", From: "b"})
	require.Equal(t, StateSuspect, h.state("a"))
	require.Empty(t, h.ev.leaves)
	var gossiped []suspect
	h.advance(h.cfg.GossipInterval)
	for _, m := range h.sentOf(suspectMsg) {
		var s suspect
		require.NoError(t, decodeMsg(m.body, &s))
		gossiped = append(gossiped, s)
	}
	require.Contains(t, gossiped, suspect{Incarnation: 1, Node: "a", From: "b"})

	h.deliver(deadMsg, &dead{Incarnation: 1, Node: "a", From: "b"})
	require.Equal(t, StateSuspect, h.state("a"), "the accuser's own verdict")
	// An independent verdict on a suspicion younger than its minimum
	// timeout may have been passed before the suspect heard of it (a
	// heal's burst of queued notices): it confirms.
	susp := h.c.suspicions.get(h.c.index.get("a").slot)
	h.deliver(deadMsg, &dead{Incarnation: 1, Node: "a", From: "c"})
	require.Equal(t, StateSuspect, h.state("a"), "an independent verdict, too soon")
	require.Equal(t, 1, susp.confirmations())
	// Once the suspicion has run its minimum, the suspect had its time,
	// though with one confirmation of two the timer runs longer.
	require.Greater(t, susp.deadline(), susp.start+susp.min)
	h.now = h.c.epoch.Add(susp.start + susp.min)
	h.deliver(deadMsg, &dead{Incarnation: 1, Node: "a", From: "d"})
	require.Equal(t, StateDead, h.state("a"), "an independent verdict")
	require.Equal(t, []string{"a"}, h.ev.leaves)

	h.deliver(deadMsg, &dead{Incarnation: 1, Node: "d", From: "d"})
	require.Equal(t, StateLeft, h.state("d"), "a leave is taken at once")

	// A suspicion that started here runs out as always.
	h.deliver(deadMsg, &dead{Incarnation: 1, Node: "b", From: "c"})
	require.Equal(t, StateSuspect, h.state("b"))
	h.allowExchanges = true // push/pulls come due meanwhile
	h.advance(10 * time.Minute)
	require.Equal(t, StateDead, h.state("b"))

	// An accuser we hold dead (here b, just timed out) speaks from across
	// a partition that healed: its verdict only confirms the suspicion.
	h.deliver(deadMsg, &dead{Incarnation: 1, Node: "c", From: "a"})
	require.Equal(t, StateSuspect, h.state("c"))
	h.deliver(deadMsg, &dead{Incarnation: 1, Node: "c", From: "b"})
	require.Equal(t, StateSuspect, h.state("c"), "a verdict from a member held dead")
	require.Equal(t, 1, h.c.suspicions.get(h.c.index.get("c").slot).confirmations())

	// Off, as in the reference, the declaration is taken at once.
	h = newHarness(t, nil)
	h.addPeer("a", 2, 1)
	h.deliver(deadMsg, &dead{Incarnation: 1, Node: "a", From: "b"})
	require.Equal(t, StateDead, h.state("a"))
}

// healSoonAfterSplit splits n converged nodes (DefaultLANConfig, with
// SuspectBeforeDead as given) into two halves, heals them after split, while
// each side's death notices about the other are still being gossiped, and
// runs for after more. It returns how many (observer, member) pairs of the
// same half saw the member declared dead, and whether every node then sees
// every other.
func healSoonAfterSplit(t *testing.T, n int, sbd bool, split, after time.Duration) (ownHalfDeaths int, merged bool) {
	t.Helper()
	half := func(name string) bool {
		var i int
		_, err := fmt.Sscanf(name, "node-%d", &i)
		require.NoError(t, err)
		return i < n/2
	}
	cut := false
	pairs := map[[2]string]bool{}
	s := NewSimulation(SimConfig{Seed: 7, Latency: time.Millisecond, Jitter: time.Millisecond,
		Config: func(string) *Config {
			c := DefaultLANConfig()
			c.EnableCompression = false
			c.LogOutput = io.Discard
			c.SuspectBeforeDead = sbd
			return c
		},
		OnTransition: func(tr SimTransition) {
			if cut && tr.State == StateDead && half(tr.Observer) == half(tr.Member) {
				pairs[[2]string{tr.Observer, tr.Member}] = true
			}
		}})
	var a, b []string
	for i := range n {
		require.NoError(t, s.AddNode(simName(i)))
		if i < n/2 {
			a = append(a, simName(i))
		} else {
			b = append(b, simName(i))
		}
	}
	require.NoError(t, s.Converge())
	s.RunFor(time.Second)
	cut = true
	require.NoError(t, s.Partition(a, b))
	s.RunFor(split)
	s.Heal()
	s.RunFor(after)
	return len(pairs), simAllSee(s, n)()
}

// A partition healed while each side still gossips its death notices about
// the other: the notices cross at once, from many accusers, seconds before
// the refutations they provoke come back. Taken as verdicts, as in the
// reference, they kill members of the receiver's own half that were never
// unreachable; under SuspectBeforeDead they are suspicions and
// confirmations, and the accused refute in time.
func TestSuspectBeforeDeadEarlyHeal(t *testing.T) {
	const n = 100
	deaths, merged := healSoonAfterSplit(t, n, false, 15*time.Second, 30*time.Second)
	t.Logf("reference rules: %d (observer, member) pairs of one half", deaths)
	require.NotZero(t, deaths, "the reference's rules: the crossing notices kill members of the healthy half")
	require.True(t, merged)

	deaths, merged = healSoonAfterSplit(t, n, true, 15*time.Second, 30*time.Second)
	require.Zero(t, deaths, "SuspectBeforeDead: a member of the receiver's own half declared dead")
	require.True(t, merged, "not merged 30 s after the heal")
}

// Under RefutationsFirst an alive message that ends a suspicion or a death
// held here, and this node's own refutation, go out before fresher news;
// without it, after.
func TestRefutationsFirst(t *testing.T) {
	for _, on := range []bool{true, false} {
		h := newHarness(t, func(c *Config) { c.RefutationsFirst = on })
		for i := range 20 {
			h.addPeer(fmt.Sprintf("p%d", i), byte(10+i), 1)
		}
		h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: "p0", From: "p1"})
		h.deliver(deadMsg, &dead{Incarnation: 1, Node: "p2", From: "p3"})
		require.Equal(t, StateDead, h.state("p2"))
		h.addPeer("p0", 10, 2)
		h.addPeer("p2", 12, 2)
		h.addPeer("p3", 13, 2) // news, not a refutation
		h.deliver(suspectMsg, &suspect{Incarnation: h.c.self().incarnation, Node: h.cfg.Name, From: "p4"})
		for i := 5; i < 20; i++ {
			h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: fmt.Sprintf("p%d", i), From: "p1"})
		}

		msgs, _ := h.c.news.take(0, 1<<16, 100)
		var order []string
		for _, m := range msgs {
			if messageType(m[0]) != aliveMsg {
				order = append(order, "suspect")
				continue
			}
			var a alive
			require.NoError(t, decodeMsg(m[1:], &a))
			order = append(order, a.Node)
		}
		if on {
			require.Equal(t, []string{h.cfg.Name, "p2", "p0"}, order[:3], "the refutations, newest first")
			require.Equal(t, "suspect", order[3])
		} else {
			require.Equal(t, "suspect", order[0], "the newest news first")
		}
		require.Contains(t, order, "p3")
	}
}

// restartStorm converges n nodes, then crashes each at a random moment
// within window and restarts it 2 s later (incarnation zero, joining three
// running nodes), and runs 40 s more. Gossip has little room (one target
// every 500 ms, 600-byte packets), so that 100 restarts in 20 s congest
// it as 2,000 in a minute do at LAN settings. It returns how many
// (observer, member) pairs, both running, saw the member declared dead,
// and whether every node then sees every other.
func restartStorm(t *testing.T, seed uint64, n int, window time.Duration, rf bool) (deaths int, whole bool) {
	t.Helper()
	running := map[string]bool{}
	pairs := map[[2]string]bool{}
	s := NewSimulation(SimConfig{Seed: seed, Latency: time.Millisecond, Jitter: time.Millisecond,
		Config: func(string) *Config {
			c := DefaultLANConfig()
			c.EnableCompression = false
			c.LogOutput = io.Discard
			c.GossipInterval, c.GossipNodes, c.UDPBufferSize = 500*time.Millisecond, 1, 600
			c.RefutationsFirst = rf
			return c
		},
		OnTransition: func(tr SimTransition) {
			if tr.State == StateDead && running[tr.Member] && running[tr.Observer] {
				pairs[[2]string{tr.Observer, tr.Member}] = true
			}
		}})
	for i := range n {
		require.NoError(t, s.AddNode(simName(i)))
		running[simName(i)] = true
	}
	require.NoError(t, s.Converge())
	s.RunFor(time.Second)

	type event struct {
		at   time.Duration
		node int
		back bool
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	var events []event
	for i := range n {
		at := s.Elapsed() + time.Duration(rng.Int64N(int64(window)))
		events = append(events, event{at, i, false}, event{at + 2*time.Second, i, true})
	}
	slices.SortStableFunc(events, func(a, b event) int { return int(a.at - b.at) })
	for _, e := range events {
		if d := e.at - s.Elapsed(); d > 0 {
			s.RunFor(d)
		}
		name := simName(e.node)
		if !e.back {
			running[name] = false
			require.NoError(t, s.Crash(name))
			continue
		}
		require.NoError(t, s.Restart(name))
		running[name] = true
		var seeds []string
		for len(seeds) < 3 {
			if j := rng.IntN(n); j != e.node && running[simName(j)] {
				seeds = append(seeds, simName(j))
			}
		}
		require.NoError(t, s.Join(name, seeds...))
	}
	s.RunFor(40 * time.Second)
	return len(pairs), simAllSee(s, n)()
}

// Nodes restarting in a storm refute their old incarnation at once, but in
// the reference's order (newest news first among the least sent) each
// refutation waits behind the accusations that keep arriving, and reaches
// some observers after their suspicion timeout: running members are
// declared dead. Under RefutationsFirst refutations go before other news
// and arrive in time (see docs/simulation.md, Restart).
func TestRefutationsFirstRestartStorm(t *testing.T) {
	const n = 100
	seeds := uint64(3)
	if simRace {
		seeds = 1 // the race detector's slowdown; the same storm
	}
	var ref, first int
	for seed := range seeds {
		d, whole := restartStorm(t, seed+1, n, 20*time.Second, false)
		require.True(t, whole, "seed %d: not every node sees every other", seed+1)
		ref += d
		d, whole = restartStorm(t, seed+1, n, 20*time.Second, true)
		require.True(t, whole, "seed %d, RefutationsFirst: not every node sees every other", seed+1)
		first += d
	}
	t.Logf("running members declared dead, (observer, member) pairs over %d seeds: %d in the reference's order, %d refutations first", seeds, ref, first)
	require.NotZero(t, ref, "the storm must congest gossip for the test to mean anything")
	require.LessOrEqual(t, 10*first, ref, "RefutationsFirst: refutations still late")
}
