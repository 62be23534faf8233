package memberlist

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// windowRun forms a cluster of n through three seeds with loss and jitter,
// stalls one node, crashes another and restarts a third, with the given
// number of workers, and returns a hash of every transition and of what
// every node sent, and the number of transitions.
func windowRun(t *testing.T, seed uint64, workers, n int) ([32]byte, int) {
	t.Helper()
	s := NewSimulation(SimConfig{Seed: seed, Latency: time.Millisecond, Jitter: 3 * time.Millisecond,
		PacketLoss: 0.05, LossyStreams: true, Workers: workers})
	for i := range n {
		require.NoError(t, s.AddNode(simName(i)))
	}
	for i := 3; i < n; i++ {
		s.RunFor(7 * time.Millisecond)
		require.NoError(t, s.Join(simName(i), simName(0), simName(1), simName(2)))
	}
	s.RunFor(5 * time.Second)
	require.NoError(t, s.Stall(simName(5), 4*time.Second))
	require.NoError(t, s.Crash(simName(6)))
	s.RunFor(3 * time.Second)
	require.NoError(t, s.Restart(simName(7)))
	require.NoError(t, s.Join(simName(7), simName(0)))
	s.RunFor(20 * time.Second)

	h := sha256.New()
	for _, tr := range s.Trace {
		fmt.Fprintf(h, "%d %s %s %d\n", tr.At, tr.Observer, tr.Member, tr.State)
	}
	for i := range n {
		st, _ := s.Stats(simName(i))
		fmt.Fprintf(h, "%+v\n", st)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, len(s.Trace)
}

// TestSimulationWorkersDeterministic checks the parallel mode's promise: the
// same seed gives the same run whatever the number of workers, and another
// seed gives another run. Under the race detector it also shows that the
// workers share nothing unguarded.
func TestSimulationWorkersDeterministic(t *testing.T) {
	defer func(m int) { parallelMin = m }(parallelMin)
	parallelMin = 2 // so that even small windows are shared
	n := 60
	if simRace {
		n = 30
	}
	one, count := windowRun(t, 3, 1, n)
	require.Greater(t, count, n*(n-1), "the cluster must have formed")
	two, _ := windowRun(t, 3, 2, n)
	require.Equal(t, one, two, "one worker and two workers ran differently")
	four, _ := windowRun(t, 3, 4, n)
	require.Equal(t, one, four, "one worker and four workers ran differently")
	other, _ := windowRun(t, 4, 2, n)
	require.NotEqual(t, one, other, "another seed gave the same run")
}

// TestSimulationWorkersDetectCrash runs the crash-detection bounds check of
// TestSimulationCrashDetection50 in parallel mode: windows change when
// things happen by at most a Latency, never what happens.
func TestSimulationWorkersDetectCrash(t *testing.T) {
	const n = 50
	victim := simName(17)
	r := runCrashWith(t, SimConfig{Seed: 42, Latency: time.Millisecond, Jitter: 2 * time.Millisecond, Workers: 2}, n, victim)
	cfg := DefaultLANConfig()
	minT := suspicionTimeout(cfg.SuspicionMult, n, cfg.ProbeInterval)
	maxT := time.Duration(cfg.SuspicionMaxTimeoutMult) * minT
	round := time.Duration(n) * cfg.ProbeInterval
	require.Len(t, r.deadAt, n-1, "every other node must mark %s dead", victim)
	for obs, at := range r.deadAt {
		require.GreaterOrEqual(t, at-r.firstSuspect, minT, "%s marked %s dead too early", obs, victim)
		require.LessOrEqual(t, at-r.crashAt, round+cfg.ProbeInterval+maxT, "%s marked %s dead too late", obs, victim)
	}
}

// TestSimulationWorkersTransitionsInOrder checks that OnTransition hears a
// parallel run's transitions in order of time.
func TestSimulationWorkersTransitionsInOrder(t *testing.T) {
	var heard []SimTransition
	s := NewSimulation(SimConfig{Seed: 9, Latency: time.Millisecond, Jitter: time.Millisecond, Workers: 2,
		OnTransition: func(tr SimTransition) { heard = append(heard, tr) }})
	startCluster(t, s, 30)
	require.NotEmpty(t, heard)
	for i := 1; i < len(heard); i++ {
		require.LessOrEqual(t, heard[i-1].At, heard[i].At, "transition %d came before %d", i, i-1)
	}
	require.Empty(t, s.Trace)
}
