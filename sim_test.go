package memberlist

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func simName(i int) string { return fmt.Sprintf("node-%02d", i) }

// startCluster adds n nodes, has each join the first, and runs until every
// node sees all n alive.
func startCluster(t *testing.T, s *Simulation, n int) {
	t.Helper()
	for i := range n {
		require.NoError(t, s.AddNode(simName(i)))
	}
	for i := 1; i < n; i++ {
		require.NoError(t, s.Join(simName(i), simName(0)))
	}
	converged := s.RunUntil(simAllSee(s, n), 5*time.Minute)
	require.True(t, converged, "cluster of %d did not converge in 5 virtual minutes", n)
}

// simAllSee is the condition that nodes simName(0) to simName(n-1) each see
// all n alive.
func simAllSee(s *Simulation, n int) func() bool {
	return func() bool {
		for i := range n {
			if s.NumMembers(simName(i)) != n {
				return false
			}
		}
		return true
	}
}

type crashRun struct {
	crashAt      time.Duration
	firstSuspect time.Duration
	deadAt       map[string]time.Duration
	trace        []SimTransition
}

func runCrash(t *testing.T, seed uint64, n int, victim string) crashRun {
	return runCrashWith(t, SimConfig{Seed: seed, Latency: time.Millisecond, Jitter: 2 * time.Millisecond}, n, victim)
}

func runCrashWith(t *testing.T, sc SimConfig, n int, victim string) crashRun {
	s := NewSimulation(sc)
	startCluster(t, s, n)
	r := crashRun{crashAt: s.Elapsed(), firstSuspect: -1, deadAt: map[string]time.Duration{}}
	require.NoError(t, s.Crash(victim))
	allDead := s.RunUntil(func() bool {
		for i := range n {
			if simName(i) == victim {
				continue
			}
			if st, _ := s.State(simName(i), victim); st != StateDead {
				return false
			}
		}
		return true
	}, 10*time.Minute)
	require.True(t, allDead, "not every node marked %s dead in 10 virtual minutes", victim)
	for _, tr := range s.Trace {
		if tr.At < r.crashAt || tr.Member != victim {
			continue
		}
		switch tr.State {
		case StateSuspect:
			if r.firstSuspect < 0 {
				r.firstSuspect = tr.At
			}
		case StateDead:
			if _, seen := r.deadAt[tr.Observer]; !seen {
				r.deadAt[tr.Observer] = tr.At
			}
		}
	}
	r.trace = s.Trace
	return r
}

// TestSimulationCrashDetection50 builds 50 nodes on the simulated network in
// virtual time, crashes one, and checks that every other node marks it dead
// within the bounds the configuration gives: no earlier than the minimum
// suspicion timeout after the first suspicion, and no later than a full probe
// round to suspect it plus the maximum suspicion timeout.
func TestSimulationCrashDetection50(t *testing.T) {
	const n = 50
	victim := simName(17)
	r := runCrash(t, 42, n, victim)

	cfg := DefaultLANConfig()
	minT := suspicionTimeout(cfg.SuspicionMult, n, cfg.ProbeInterval)
	maxT := time.Duration(cfg.SuspicionMaxTimeoutMult) * minT
	// Every live node probes the victim once per round of n-1 probes; the
	// first to do so after the crash suspects it.
	round := time.Duration(n) * cfg.ProbeInterval

	require.GreaterOrEqual(t, r.firstSuspect, r.crashAt, "no node suspected %s", victim)
	require.LessOrEqual(t, r.firstSuspect-r.crashAt, round+cfg.ProbeInterval,
		"first suspicion came %v after the crash, later than a probe round", r.firstSuspect-r.crashAt)
	require.Len(t, r.deadAt, n-1, "every other node must mark %s dead", victim)
	for obs, at := range r.deadAt {
		require.GreaterOrEqual(t, at-r.firstSuspect, minT,
			"%s marked %s dead %v after the first suspicion, before the minimum suspicion timeout %v", obs, victim, at-r.firstSuspect, minT)
		require.LessOrEqual(t, at-r.crashAt, round+cfg.ProbeInterval+maxT,
			"%s marked %s dead %v after the crash, beyond a probe round plus the maximum suspicion timeout %v", obs, victim, at-r.crashAt, maxT)
	}
	t.Logf("crash at %v; first suspicion +%v; min %v max %v", r.crashAt, r.firstSuspect-r.crashAt, minT, maxT)
}

// TestSimulationDeterministic runs the same scenario twice with one seed and
// expects the same trace, event for event.
func TestSimulationDeterministic(t *testing.T) {
	a := runCrash(t, 7, 20, simName(3))
	b := runCrash(t, 7, 20, simName(3))
	require.Equal(t, a.trace, b.trace)
	require.Equal(t, a.deadAt, b.deadAt)
}

// TestSimulationLeave checks that a node that leaves is seen as left, not
// dead, by everyone.
func TestSimulationLeave(t *testing.T) {
	s := NewSimulation(SimConfig{Seed: 1, Latency: time.Millisecond})
	startCluster(t, s, 10)
	require.NoError(t, s.Leave(simName(4)))
	ok := s.RunUntil(func() bool {
		for i := range 10 {
			if i == 4 {
				continue
			}
			if st, _ := s.State(simName(i), simName(4)); st != StateLeft {
				return false
			}
		}
		return true
	}, time.Minute)
	require.True(t, ok, "every node must see node-04 as left")
}

// TestSimulationRefute partitions a node away long enough to be suspected
// but heals before the suspicion times out: it must refute and stay alive.
func TestSimulationRefute(t *testing.T) {
	s := NewSimulation(SimConfig{Seed: 3, Latency: time.Millisecond})
	startCluster(t, s, 8)
	others := []string{}
	for i := range 8 {
		if i != 5 {
			others = append(others, simName(i))
		}
	}
	require.NoError(t, s.Partition([]string{simName(5)}, others))
	suspected := s.RunUntil(func() bool {
		for _, o := range others {
			if st, _ := s.State(o, simName(5)); st == StateSuspect {
				return true
			}
		}
		return false
	}, time.Minute)
	require.True(t, suspected)
	healedAt := s.Elapsed()
	s.Heal()
	s.RunFor(2 * time.Minute)
	for _, tr := range s.Trace {
		if tr.At >= healedAt && tr.Member == simName(5) {
			require.NotEqual(t, StateDead, tr.State, "%s marked node-05 dead at %v although it could refute", tr.Observer, tr.At)
		}
	}
	for _, o := range others {
		st, ok := s.State(o, simName(5))
		require.True(t, ok)
		require.Equal(t, StateAlive, st, "%s sees node-05 as %v after the heal", o, st)
	}
}

// TestSimulationDeliverAndObserve injects a crafted alive message into one
// node and sees it gossiped on to the other, through the observer.
func TestSimulationDeliverAndObserve(t *testing.T) {
	s := NewSimulation(SimConfig{Seed: 1, Latency: time.Millisecond})
	startCluster(t, s, 2)
	// Only node-00 knows of the ghost, so what node-01 learns of it must be
	// in a message the observer saw node-00 send it.
	told := 0
	s.observe = func(r simRecord) {
		if r.from != simName(0) || r.to != simName(1) || r.dropped {
			return
		}
		msgs, err := decodeRecord(r)
		require.NoError(t, err)
		for _, m := range msgs {
			switch m := m.(type) {
			case *alive:
				if m.Node == "ghost" {
					told++
				}
			case *tsPushPull:
				for _, st := range m.states {
					if st.Name == "ghost" {
						told++
					}
				}
			}
		}
	}
	buf, err := encodeMsg(aliveMsg, &alive{Incarnation: 1, Node: "ghost", Addr: []byte{127, 9, 9, 9}, Port: 7946, Vsn: []uint8{1, 5, 2, 0, 0, 0}}, false)
	require.NoError(t, err)
	require.NoError(t, s.deliver(simName(0), "127.9.9.9:7946", buf))
	st, ok := s.State(simName(0), "ghost")
	require.True(t, ok)
	require.Equal(t, StateAlive, st)
	require.True(t, s.RunUntil(func() bool { _, ok := s.State(simName(1), "ghost"); return ok }, 10*time.Second))
	require.NotZero(t, told, "the observer saw no message telling node-01 of the ghost")
	require.Error(t, s.deliver("nobody", "127.9.9.9:7946", buf))
}

// traceHash is a digest of every transition, in order.
func traceHash(h hash.Hash, tr SimTransition) {
	fmt.Fprintf(h, "%d %s %s %d\n", tr.At, tr.Observer, tr.Member, tr.State)
}

// runHashed forms a cluster of n nodes on a lossy, jittery network, crashes
// one, stalls another, and returns the digest of every transition, seen
// through OnTransition.
func runHashed(t *testing.T, seed uint64, n int, form time.Duration) (string, int) {
	h := sha256.New()
	count := 0
	s := NewSimulation(SimConfig{Seed: seed, Latency: time.Millisecond, Jitter: 2 * time.Millisecond, PacketLoss: 0.01,
		OnTransition: func(tr SimTransition) { traceHash(h, tr); count++ }})
	for i := range n {
		require.NoError(t, s.AddNode(simName(i)))
	}
	for i := 1; i < n; i++ {
		require.NoError(t, s.Join(simName(i), simName((i+1)%3)))
	}
	s.RunFor(form)
	require.NoError(t, s.Crash(simName(n/2)))
	require.NoError(t, s.Stall(simName(n/3), 3*time.Second))
	s.RunFor(5 * time.Second)
	require.Empty(t, s.Trace, "with OnTransition set, Trace stays empty")
	return hex.EncodeToString(h.Sum(nil)), count
}

// TestSimulationDeterministic200 runs 200 nodes twice with one seed and
// expects the same transitions, in the same order at the same times; another
// seed gives others. Under the race detector it runs 60 nodes, which take
// as long there as 200 without it.
func TestSimulationDeterministic200(t *testing.T) {
	n := 200
	if simRace {
		n = 60
	}
	a, na := runHashed(t, 11, n, 10*time.Second)
	b, nb := runHashed(t, 11, n, 10*time.Second)
	require.Greater(t, na, n*n/2, "the cluster must have formed")
	require.Equal(t, na, nb)
	require.Equal(t, a, b, "same seed, different trace")
	// Seeds differ from the first join on: a short run shows it.
	c, _ := runHashed(t, 12, n, 0)
	a2, _ := runHashed(t, 11, n, 0)
	require.NotEqual(t, a2, c, "another seed gave the same trace")
}

// TestSimulationOnTransitionMatchesTrace checks that the hook hears exactly
// what Trace would have kept.
func TestSimulationOnTransitionMatchesTrace(t *testing.T) {
	kept := runCrash(t, 5, 10, simName(2)).trace
	var heard []SimTransition
	sc := SimConfig{Seed: 5, Latency: time.Millisecond, Jitter: 2 * time.Millisecond,
		OnTransition: func(tr SimTransition) { heard = append(heard, tr) }}
	s := NewSimulation(sc)
	startCluster(t, s, 10)
	require.NoError(t, s.Crash(simName(2)))
	require.True(t, s.RunUntil(func() bool { return len(heard) >= len(kept) }, 10*time.Minute))
	require.Equal(t, kept, heard[:len(kept)])
	require.Empty(t, s.Trace)
}

// TestSimulationLinkLoss cuts one direction of one link: nothing from a
// reaches b, everything from b reaches a.
func TestSimulationLinkLoss(t *testing.T) {
	s := NewSimulation(SimConfig{Seed: 2, Latency: time.Millisecond})
	startCluster(t, s, 4)
	a, b := simName(0), simName(1)
	require.NoError(t, s.SetLinkLoss(a, b, 1))
	require.Error(t, s.SetLinkLoss(a, b, 1.5))
	require.Error(t, s.SetLinkLoss(a, "nobody", 1))
	sent := map[bool]int{}
	dropped := map[bool]int{}
	s.observe = func(r simRecord) {
		if r.stream {
			return
		}
		if (r.from == a && r.to == b) || (r.from == b && r.to == a) {
			sent[r.from == a]++
			if r.dropped {
				dropped[r.from == a]++
			}
		}
	}
	s.RunFor(time.Minute)
	require.Positive(t, sent[true])
	require.Equal(t, sent[true], dropped[true], "a datagram from a reached b")
	require.Positive(t, sent[false])
	require.Zero(t, dropped[false], "a datagram from b to a was lost")
	// Indirect probes through the others keep both alive.
	for _, o := range []string{a, b} {
		for i := range 4 {
			st, _ := s.State(o, simName(i))
			require.Equal(t, StateAlive, st, "%s sees %s as %v", o, simName(i), st)
		}
	}
	require.NoError(t, s.SetLinkLoss(a, b, 0))
	require.Empty(t, s.link)
}

// TestSimulationNodeLoss makes a node deaf: it hears nothing, cannot
// refute, and everyone else declares it dead; once it hears again and
// rejoins, everyone sees it alive.
func TestSimulationNodeLoss(t *testing.T) {
	s := NewSimulation(SimConfig{Seed: 4, Latency: time.Millisecond})
	startCluster(t, s, 10)
	deaf := simName(6)
	require.NoError(t, s.SetNodeLoss(deaf, 1, 0))
	require.Error(t, s.SetNodeLoss(deaf, -0.1, 0))
	allDead := s.RunUntil(func() bool {
		for i := range 10 {
			if st, _ := s.State(simName(i), deaf); i != 6 && st != StateDead {
				return false
			}
		}
		return true
	}, 5*time.Minute)
	require.True(t, allDead, "a node that hears nothing must be declared dead")
	require.NoError(t, s.SetNodeLoss(deaf, 0, 0))
	require.NoError(t, s.Join(deaf, simName(0)))
	require.True(t, s.RunUntil(func() bool {
		for i := range 10 {
			if st, _ := s.State(simName(i), deaf); st != StateAlive {
				return false
			}
		}
		return true
	}, 5*time.Minute), "the node must be seen alive again after it rejoins")
}

// TestSimulationRestart crashes a node, lets it be declared dead, restarts
// it with incarnation zero and has it join again: it must refute its death
// and be seen alive everywhere.
func TestSimulationRestart(t *testing.T) {
	s := NewSimulation(SimConfig{Seed: 9, Latency: time.Millisecond, Jitter: 2 * time.Millisecond})
	startCluster(t, s, 10)
	x := simName(3)
	require.NoError(t, s.Crash(x))
	require.True(t, s.RunUntil(func() bool { st, _ := s.State(simName(0), x); return st == StateDead }, 5*time.Minute))
	require.NoError(t, s.Restart(x))
	_, known := s.State(x, simName(0))
	require.False(t, known, "a restarted node knows nobody")
	require.NoError(t, s.Join(x, simName(0)))
	require.True(t, s.RunUntil(func() bool {
		for i := range 10 {
			if st, _ := s.State(simName(i), x); st != StateAlive {
				return false
			}
			if s.NumMembers(simName(i)) != 10 {
				return false
			}
		}
		return true
	}, 5*time.Minute), "a restarted node must be seen alive everywhere")
	// A running node restarted at once comes back too.
	require.NoError(t, s.Restart(simName(5)))
	require.NoError(t, s.Join(simName(5), simName(1), simName(2)))
	s.RunFor(time.Minute)
	for i := range 10 {
		st, _ := s.State(simName(i), simName(5))
		require.Equal(t, StateAlive, st)
	}
	require.Error(t, s.Restart("nobody"))
}

// TestSimulationStall stalls a node: it sends nothing while stalled, handles
// what waited afterwards, and a short stall is not a death.
func TestSimulationStall(t *testing.T) {
	s := NewSimulation(SimConfig{Seed: 8, Latency: time.Millisecond})
	startCluster(t, s, 10)
	x := simName(2)
	from := s.Elapsed()
	require.NoError(t, s.Stall(x, 3*time.Second))
	require.True(t, s.Stalled(x))
	var during, after int
	s.observe = func(r simRecord) {
		if r.from != x {
			return
		}
		if r.at < from+3*time.Second {
			during++
		} else {
			after++
		}
	}
	s.RunFor(3*time.Second - time.Millisecond)
	require.True(t, s.Stalled(x))
	s.RunFor(10 * time.Second)
	require.False(t, s.Stalled(x))
	require.Zero(t, during, "a stalled node sent something")
	require.Positive(t, after, "the node did nothing after its stall")
	for i := range 10 {
		st, _ := s.State(simName(i), x)
		require.NotEqual(t, StateDead, st)
	}

	// A stall longer than the suspicion timeout is a death; once the node
	// runs again it hears of it and refutes.
	require.NoError(t, s.Stall(x, 2*time.Minute))
	require.True(t, s.RunUntil(func() bool { st, _ := s.State(simName(0), x); return st == StateDead }, 2*time.Minute))
	require.True(t, s.RunUntil(func() bool {
		for i := range 10 {
			if st, _ := s.State(simName(i), x); st != StateAlive {
				return false
			}
		}
		return true
	}, 3*time.Minute), "a node back from a stall must refute its death")
}

// TestSimulationDatagramLimit drops datagrams over the configured size.
func TestSimulationDatagramLimit(t *testing.T) {
	s := NewSimulation(SimConfig{Seed: 1, Latency: time.Millisecond, MaxDatagramSize: 10})
	for i := range 2 {
		require.NoError(t, s.AddNode(simName(i)))
	}
	require.NoError(t, s.Join(simName(1), simName(0)))
	s.RunFor(10 * time.Second)
	st, ok := s.Stats(simName(0))
	require.True(t, ok)
	require.Positive(t, st.PacketsSent)
	require.Equal(t, st.PacketsSent, st.Oversize, "every datagram is over 10 bytes")
	require.Equal(t, st.PacketsSent, st.PacketsLost)
	st1, _ := s.Stats(simName(1))
	require.Positive(t, st1.PushPulls, "the join is a push/pull")
	require.Positive(t, st1.StreamBytes)
	_, ok = s.Stats("nobody")
	require.False(t, ok)
}

// TestSimulationNodeAt reads node indexes off addresses and falls back to
// the map for anything else.
func TestSimulationNodeAt(t *testing.T) {
	s := NewSimulation(SimConfig{})
	for i := range 300 {
		require.NoError(t, s.AddNode(simName(i)))
	}
	for _, n := range s.nodes {
		require.Same(t, n, s.nodeAt(n.addrStr))
	}
	for _, a := range []string{"127.9.9.9:7946", "127.1.0.5:7947", "127.1.0.05:7946", "127.1.1.4", "", "x:1", "127.1.0.5:7946x", "1270.1.0.5:7946"} {
		require.Nil(t, s.nodeAt(a), a)
	}
}

// Converge starts a cluster that knows itself with nothing left to gossip:
// every node sees every other alive at once, no news waits, the packets
// that follow are probes and acks, and a crash is detected as in a cluster
// that formed by joins.
func TestSimulationConverge(t *testing.T) {
	const n = 40
	s := NewSimulation(SimConfig{Seed: 3, Latency: time.Millisecond})
	for i := range n {
		require.NoError(t, s.AddNode(simName(i)))
	}
	require.NoError(t, s.Crash(simName(n-1)))
	require.NoError(t, s.Converge())
	for i := range n - 1 {
		require.Equal(t, n-1, s.NumMembers(simName(i)), "members seen by %s", simName(i))
		require.Zero(t, s.byName[simName(i)].core.news.numQueued(), "news queued at %s", simName(i))
		st, ok := s.State(simName(i), simName(n-1))
		require.False(t, ok, "%s knows the crashed node as %v", simName(i), st)
	}
	joins := 0
	for _, tr := range s.Trace {
		require.Equal(t, StateAlive, tr.State)
		if tr.Observer != tr.Member {
			joins++
		}
	}
	require.Equal(t, (n-1)*(n-2), joins)

	mark := len(s.Trace)
	s.RunFor(20 * time.Second)
	require.Len(t, s.Trace, mark, "a converged cluster changed its views: %v", s.Trace[mark:])

	victim := simName(5)
	require.NoError(t, s.Crash(victim))
	s.RunFor(30 * time.Second)
	for i := range n - 1 {
		if simName(i) == victim {
			continue
		}
		st, _ := s.State(simName(i), victim)
		require.Equal(t, StateDead, st, "%s sees %s", simName(i), victim)
	}
}

func TestSimulationConvergeNames(t *testing.T) {
	s := NewSimulation(SimConfig{Seed: 1})
	for i := range 6 {
		require.NoError(t, s.AddNode(simName(i)))
	}
	require.NoError(t, s.Converge(simName(0), simName(1), simName(2)))
	require.Equal(t, 3, s.NumMembers(simName(0)))
	require.Equal(t, 1, s.NumMembers(simName(4)))
	require.ErrorContains(t, s.Converge(simName(0), "nobody"), `"nobody"`)
}

// Partitions against a model of cut pairs: several partitions at once,
// sides that overlap, a name that does not exist (which cuts nothing),
// and Heal, which removes them all.
func TestSimulationPartitionPairs(t *testing.T) {
	const n = 70 // more than one word of each side's set
	s := NewSimulation(SimConfig{Seed: 1, Latency: time.Millisecond})
	for i := range n {
		require.NoError(t, s.AddNode(simName(i)))
	}
	rng := rand.New(rand.NewPCG(5, 6))
	cut := map[[2]int]bool{}
	check := func() {
		t.Helper()
		for i := range n {
			for j := range n {
				a, b := s.nodes[i], s.nodes[j]
				require.Equal(t, !cut[[2]int{min(i, j), max(i, j)}], s.reachable(a, b), "%d-%d", i, j)
			}
		}
	}
	for range 4 {
		var sa, sb []string
		var ia, ib []int
		for i := range n {
			switch rng.IntN(4) {
			case 0:
				sa, ia = append(sa, simName(i)), append(ia, i)
			case 1:
				sb, ib = append(sb, simName(i)), append(ib, i)
			case 2:
				sa, ia = append(sa, simName(i)), append(ia, i)
				sb, ib = append(sb, simName(i)), append(ib, i)
			}
		}
		require.Error(t, s.Partition(append(sa, "nobody"), sb))
		check()
		require.NoError(t, s.Partition(sa, sb))
		for _, x := range ia {
			for _, y := range ib {
				cut[[2]int{min(x, y), max(x, y)}] = true
			}
		}
		check()
	}
	s.Heal()
	clear(cut)
	check()
}

// The simulator recycles packet and push/pull buffers once the receiving
// core is done with them, except while an observer may keep them. A run
// with recycling must be the run without: the same transitions in the
// same order, through a partition, its heal (reconnect push/pulls of the
// whole table) and a restart, on parallel workers too.
func TestSimulationRecyclingChangesNothing(t *testing.T) {
	run := func(observe bool, workers int) (string, SimNodeStats) {
		h := sha256.New()
		s := NewSimulation(SimConfig{Seed: 3, Latency: time.Millisecond, Jitter: time.Millisecond, Workers: workers,
			OnTransition: func(tr SimTransition) { traceHash(h, tr) }})
		if observe {
			s.observe = func(simRecord) {} // keeps nothing, but turns recycling off
		}
		const n = 24
		startCluster(t, s, n)
		var a, b []string
		for i := range n {
			if i%2 == 0 {
				a = append(a, simName(i))
			} else {
				b = append(b, simName(i))
			}
		}
		require.NoError(t, s.Partition(a, b))
		s.RunFor(40 * time.Second)
		s.Heal()
		require.NoError(t, s.Crash(simName(3)))
		s.RunFor(3 * time.Second)
		require.NoError(t, s.Restart(simName(3)))
		require.NoError(t, s.Join(simName(3), simName(0)))
		require.True(t, s.RunUntil(simAllSee(s, n), 2*time.Minute), "the cluster did not merge again")
		st, _ := s.Stats(simName(0))
		return hex.EncodeToString(h.Sum(nil)), st
	}
	kept, keptStats := run(true, 0)
	recycled, recycledStats := run(false, 0)
	require.Equal(t, kept, recycled, "recycling changed the run")
	require.Equal(t, keptStats, recycledStats)
	require.NotZero(t, recycledStats.PushPulls, "the run made no push/pull to recycle")
	// Windows on workers use the pools from several goroutines (the race
	// detector watches); no observer there, it would turn windows off.
	w1, _ := run(false, 1)
	w2, _ := run(false, 2)
	require.Equal(t, w1, w2)
}
