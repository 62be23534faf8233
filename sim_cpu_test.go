package memberlist

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// slowNodeFigures is what became of the slow nodes in runSlowNodes.
type slowNodeFigures struct {
	suspected  int    // (observer, slow node) pairs that ever suspected
	dead       int    // (observer, slow node) pairs that ever declared it dead
	deadNodes  int    // slow nodes declared dead by anyone
	maxBacklog int    // the most events that waited for one slow node at once
	overflow   uint64 // datagrams its full receive buffer dropped
	dropped    uint64 // news its handoff queues had no room for
	behind     int    // members the slow nodes missed at the end, in all
}

// runSlowNodes converges base nodes, makes slow of them spend cost on each
// membership or user message they handle, then has joiners more join one
// every 10 ms through three seeds (a storm of membership news), and runs
// until d has passed since the storm began. inOrder runs the nodes without
// handoff queues: each datagram's news handled as it is read, in order.
func runSlowNodes(t *testing.T, base, slow, joiners int, cost, d time.Duration, inOrder bool) slowNodeFigures {
	t.Helper()
	name := func(i int) string { return fmt.Sprintf("node-%05d", i) }
	isSlow := map[string]bool{}
	for i := range slow {
		isSlow[name(base-1-i)] = true // the last of the base nodes, never a seed
	}
	suspected, dead := map[[2]string]bool{}, map[[2]string]bool{}
	s := NewSimulation(SimConfig{Seed: 3, Latency: time.Millisecond, Jitter: time.Millisecond,
		OnTransition: func(tr SimTransition) {
			if !isSlow[tr.Member] {
				return
			}
			switch tr.State {
			case StateSuspect:
				suspected[[2]string{tr.Observer, tr.Member}] = true
			case StateDead:
				dead[[2]string{tr.Observer, tr.Member}] = true
			}
		}})
	s.inOrder = inOrder
	for i := range base {
		require.NoError(t, s.AddNode(name(i)))
	}
	require.NoError(t, s.Converge())
	for m := range isSlow {
		require.NoError(t, s.SetMessageCost(m, cost))
	}
	s.RunFor(time.Second)
	const step = 10 * time.Millisecond
	for k := 0; time.Duration(k)*step < d; k++ {
		if k < joiners {
			j := base + k
			require.NoError(t, s.AddNode(name(j)))
			require.NoError(t, s.Join(name(j), name(0), name(1), name(2)))
		}
		s.RunFor(step)
	}
	var f slowNodeFigures
	f.suspected, f.dead = len(suspected), len(dead)
	deadNodes := map[string]bool{}
	for k := range dead {
		deadNodes[k[1]] = true
	}
	f.deadNodes = len(deadNodes)
	for m := range isSlow {
		st, _ := s.Stats(m)
		f.maxBacklog = max(f.maxBacklog, st.MaxBacklog)
		f.overflow += st.Overflow
		f.dropped += st.HandoffDropped
		f.behind += base + joiners - s.NumMembers(m)
	}
	return f
}

// A node short of CPU in a storm of membership news keeps answering probes
// and is never declared dead: it reads every datagram that waits before it
// handles their news, the newest first, and drops what its handoff queues
// have no room for. Handling each datagram's news as it reads it, in order
// (the loop before the handoff queues), its answers fall ever further
// behind and the cluster declares it dead.
func TestSlowNodeDuringJoinStorm(t *testing.T) {
	base, slow, joiners, d := 200, 4, 100, 40*time.Second
	if simRace {
		base, slow, joiners, d = 100, 2, 50, 30*time.Second
	}
	cost := 50 * time.Millisecond
	if v, err := strconv.Atoi(os.Getenv("MEMBERLIST_SLOW_NODES")); err == nil && v > 0 {
		base, slow, joiners = v, v/100, v/5 // the closing note's run: 5,000 nodes
	}
	with := runSlowNodes(t, base, slow, joiners, cost, d, false)
	without := runSlowNodes(t, base, slow, joiners, cost, d, true)
	t.Logf("with the handoff:    %+v", with)
	t.Logf("without the handoff: %+v", without)
	require.Zero(t, with.deadNodes, "with the handoff, a slow node was declared dead")
	require.NotZero(t, without.deadNodes, "without the handoff, no slow node was declared dead: the storm did not overload them")
}

func TestSetMessageCostBadInput(t *testing.T) {
	s := NewSimulation(SimConfig{Seed: 1})
	require.NoError(t, s.AddNode("a"))
	require.ErrorContains(t, s.SetMessageCost("nope", time.Millisecond), "nope")
	require.ErrorContains(t, s.SetMessageCost("a", -time.Millisecond), "want 0 or more")
	require.NoError(t, s.SetMessageCost("a", 0))
}

// Datagrams wait for a stalled node up to a receive buffer's worth; the
// rest are dropped and counted.
func TestSimReceiveBuffer(t *testing.T) {
	s := NewSimulation(SimConfig{Seed: 1, Latency: time.Millisecond})
	require.NoError(t, s.AddNode("a"))
	require.NoError(t, s.AddNode("b"))
	require.NoError(t, s.Stall("a", 10*time.Second))
	a, b := s.byName["a"], s.byName["b"]
	const size, sent = 60000, 40
	for range sent {
		s.push(s.event(nil, simEvent{at: s.now.Add(time.Millisecond), kind: evPacket, to: a, from: b, buf: make([]byte, size)}))
	}
	s.RunFor(time.Second)
	st, _ := s.Stats("a")
	fit := simRecvBuffer / size
	require.Equal(t, uint64(sent-fit), st.Overflow)
	require.GreaterOrEqual(t, st.MaxBacklog, fit)
	s.RunFor(10 * time.Second) // the stall ends; what waited is read
	require.Empty(t, a.backlog)
	require.Zero(t, a.backlogBytes)
}
