package memberlist

import (
	"fmt"
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
	converged := s.RunUntil(func() bool {
		for i := range n {
			if s.NumMembers(simName(i)) != n {
				return false
			}
		}
		return true
	}, 5*time.Minute)
	require.True(t, converged, "cluster of %d did not converge in 5 virtual minutes", n)
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
