// suspicion.go owns the Lifeguard suspicion timeout: how long a suspected
// node has to refute before it is declared dead, shrinking from a maximum
// towards a minimum as independent peers confirm the suspicion. It is pure
// arithmetic on values; the core keeps one suspicion per suspect, passes the
// time in, and arms its own timer at deadline().

package memberlist

import (
	"math"
	"time"
)

// suspicion tracks the confirmations of one suspect. It exists only while a
// node is suspect, so it is kept small: confirmations are bounded by k, which
// is a handful in practice, so a short slice beats a map.
type suspicion struct {
	start time.Time
	min   time.Duration
	max   time.Duration
	// k is the number of confirmations after which the timeout reaches min.
	k int32
	// n is the number of independent confirmations so far; the originator
	// of the suspicion is not one of them.
	n int32
	// seen holds the originator followed by every confirmer, so that
	// repeated gossip from the same peer counts once.
	seen []string
}

// suspicionFor starts the suspicion that from raised at now against a member
// of a cluster of n nodes, with the timeouts and confirmations cfg implies:
// the minimum timeout is SuspicionMult probe intervals scaled by cluster size
// (suspicionTimeout), the maximum SuspicionMaxTimeoutMult times that, and k
// confirmations, two fewer than SuspicionMult, bring it down to the minimum;
// a cluster too small to confirm (fewer than k other members besides the
// suspect and us) waits for none.
func suspicionFor(cfg *Config, n int, from string, now time.Time) *suspicion {
	k := cfg.SuspicionMult - 2
	if n-2 < k {
		k = 0
	}
	minT := suspicionTimeout(cfg.SuspicionMult, n, cfg.ProbeInterval)
	maxT := time.Duration(cfg.SuspicionMaxTimeoutMult) * minT
	return newSuspicion(from, k, minT, maxT, now)
}

// newSuspicion starts the suspicion that from raised at start. With k < 1 no
// confirmations are expected and the timeout is min; otherwise it starts at
// max and shrinks with each confirmation.
func newSuspicion(from string, k int, min, max time.Duration, start time.Time) *suspicion {
	if k < 0 {
		k = 0
	}
	if k > math.MaxInt32-1 {
		k = math.MaxInt32 - 1
	}
	// Room for every possible confirmer up front while that is small, so the
	// common case allocates once; a large k grows on demand.
	room := k
	if room > 8 {
		room = 8
	}
	seen := make([]string, 1, room+1)
	seen[0] = from
	return &suspicion{start: start, min: min, max: max, k: int32(k), seen: seen}
}

// confirm records that from independently suspects the same node. It reports
// whether this was new information: false once k confirmations have arrived
// (the timeout cannot shrink further) and for a peer that already counted,
// including the originator.
func (s *suspicion) confirm(from string) bool {
	if s.n >= s.k {
		return false
	}
	for _, name := range s.seen {
		if name == from {
			return false
		}
	}
	s.seen = append(s.seen, from)
	s.n++
	return true
}

// confirmations is the number of independent confirmations so far.
func (s *suspicion) confirmations() int {
	return int(s.n)
}

// deadline is when the suspect is declared dead unless it refutes first, given
// the confirmations so far. It may already be past: a confirmation can pull the
// deadline before now, and then the suspect should be declared dead at once.
func (s *suspicion) deadline() time.Time {
	switch {
	case s.k < 1:
		return s.start.Add(s.min)
	case s.n == 0:
		// The reference arms its first timer with max itself, not with the
		// millisecond-floored formula, which can come out 1ms short.
		return s.start.Add(s.max)
	default:
		return s.start.Add(remainingSuspicionTime(int(s.n), int(s.k), 0, s.min, s.max))
	}
}

// remainingSuspicionTime is how much of the suspicion timeout is left after
// elapsed, with n of k expected confirmations in. The timeout falls from max
// towards min with log(n+1)/log(k+1): the first confirmations count the most.
// It is floored to whole milliseconds and never below min. The float64
// arithmetic in seconds follows the reference step by step, so that mixed
// clusters time suspects out at the same millisecond. The result is negative
// once elapsed passes the timeout.
func remainingSuspicionTime(n, k int, elapsed, min, max time.Duration) time.Duration {
	if k < 1 {
		// log(k+1) would be 0 or NaN; with nothing to wait for the timeout
		// is min, which is also what the reference ends up with.
		return min - elapsed
	}
	if n < 0 {
		n = 0
	}
	frac := math.Log(float64(n)+1) / math.Log(float64(k)+1)
	secs := max.Seconds() - frac*(max.Seconds()-min.Seconds())
	timeout := time.Duration(math.Floor(1000*secs)) * time.Millisecond
	if timeout < min {
		timeout = min
	}
	return timeout - elapsed
}

// suspicionTimeout is the minimum suspicion timeout for a cluster of n nodes:
// suspicionMult probe intervals, scaled by log10(n) once the cluster has more
// than ten nodes. The scale is truncated to thousandths before the integer
// multiply, exactly as the reference does, so both pick the same timeout.
func suspicionTimeout(suspicionMult, n int, interval time.Duration) time.Duration {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	milliScale := time.Duration(scale * 1000)
	return time.Duration(suspicionMult) * milliScale * interval / 1000
}
