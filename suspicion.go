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
// is a handful in practice, so a short slice beats a map. A partition makes
// every node suspect every member across it at once (50 million suspicions
// in a simulation of 10,000 nodes), so every byte here counts that often.
type suspicion struct {
	// start is when the suspicion was raised, as time since the core's
	// epoch: eight bytes where a time.Time takes 24, and deadlines compare
	// as integers in the suspectHeap.
	start time.Duration
	min   time.Duration
	max   time.Duration
	// due is the timeout as the confirmations so far set it: the deadline
	// is start+due.
	due time.Duration
	// node is the suspect, for the core's suspectHeap.
	node *nodeState
	// k is the number of confirmations after which the timeout reaches min.
	k int32
	// n is the number of independent confirmations so far; the originator
	// of the suspicion is not one of them.
	n int32
	// idx is the suspicion's place in the core's suspectHeap, -1 outside
	// it; seq orders suspicions due at the same time by when their
	// deadline was last set, as separate timers would fire.
	idx int32
	seq uint32
	// seen holds the originator followed by the first confirmers, and
	// more the rest, so that repeated gossip from the same peer counts
	// once. At LAN settings (k=2) seen has room for all: one allocation
	// per suspicion, 112 bytes.
	seen [3]string
	more *[]string
}

// suspicionFor starts the suspicion that from raised at now (time since the
// core's epoch, as every time a suspicion holds) against a member of a
// cluster of n nodes, with the timeouts and confirmations cfg implies: the
// minimum timeout is SuspicionMult probe intervals scaled by cluster size
// (suspicionTimeout), the maximum SuspicionMaxTimeoutMult times that, and k
// confirmations, two fewer than SuspicionMult, bring it down to the minimum;
// a cluster too small to confirm (fewer than k other members besides the
// suspect and us) waits for none.
func suspicionFor(cfg *Config, n int, from string, now time.Duration) *suspicion {
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
func newSuspicion(from string, k int, min, max, start time.Duration) *suspicion {
	if k < 0 {
		k = 0
	}
	if k > math.MaxInt32-1 {
		k = math.MaxInt32 - 1
	}
	s := &suspicion{start: start, min: min, max: max, k: int32(k), idx: -1}
	s.seen[0] = from
	s.due = s.timeout()
	return s
}

// confirm records that from independently suspects the same node. It reports
// whether this was new information: false once k confirmations have arrived
// (the timeout cannot shrink further) and for a peer that already counted,
// including the originator.
func (s *suspicion) confirm(from string) bool {
	if s.n >= s.k {
		return false
	}
	if s.counted(from) {
		return false
	}
	if i := int(s.n) + 1; i < len(s.seen) {
		s.seen[i] = from
	} else {
		if s.more == nil {
			s.more = new([]string)
		}
		*s.more = append(*s.more, from)
	}
	s.n++
	s.due = s.timeout()
	return true
}

// counts reports whether a confirmation by from would count (confirm would
// take it): fewer than k so far, and from neither the originator nor a
// confirmer yet.
func (s *suspicion) counts(from string) bool {
	return s.n < s.k && !s.counted(from)
}

// counted reports whether from raised the suspicion or confirmed it.
func (s *suspicion) counted(from string) bool {
	for _, name := range s.seen[:min(int(s.n)+1, len(s.seen))] {
		if name == from {
			return true
		}
	}
	if s.more != nil {
		for _, name := range *s.more {
			if name == from {
				return true
			}
		}
	}
	return false
}

// origin is the member that raised the suspicion.
func (s *suspicion) origin() string { return s.seen[0] }

// confirmations is the number of independent confirmations so far.
func (s *suspicion) confirmations() int {
	return int(s.n)
}

// deadline is when (since the core's epoch) the suspect is declared dead
// unless it refutes first, given the confirmations so far. It may already be
// past: a confirmation can pull the deadline before now, and then the suspect
// should be declared dead at once.
func (s *suspicion) deadline() time.Duration {
	return s.start + s.due
}

// timeout is the whole suspicion timeout, from start, that the confirmations
// so far give.
func (s *suspicion) timeout() time.Duration {
	switch {
	case s.k < 1:
		return s.min
	case s.n == 0:
		// The reference arms its first timer with max itself, not with the
		// millisecond-floored formula, which can come out 1ms short.
		return s.max
	default:
		return remainingSuspicionTime(int(s.n), int(s.k), 0, s.min, s.max)
	}
}

// suspectHeap holds the running suspicions earliest deadline first, so that
// a core needs one timer for all of its suspects (armed at the top's
// deadline) where a timer per suspect and per confirmation cost over a
// hundred bytes each. Each suspicion knows its place (idx), so that a
// confirmation moves it up and a refutation takes it out in O(log n).
type suspectHeap struct {
	s []*suspicion
}

func (h *suspectHeap) len() int { return len(h.s) }

// top is the suspicion due first; the heap must not be empty.
func (h *suspectHeap) top() *suspicion { return h.s[0] }

// less orders by deadline, then by when the deadline was set.
func (h *suspectHeap) less(i, j int) bool {
	a, b := h.s[i], h.s[j]
	if da, db := a.deadline(), b.deadline(); da != db {
		return da < db
	}
	return a.seq < b.seq
}

func (h *suspectHeap) swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	h.s[i].idx = int32(i)
	h.s[j].idx = int32(j)
}

// set puts s in the heap, or moves it to where its deadline now belongs.
func (h *suspectHeap) set(s *suspicion) {
	if s.idx < 0 {
		s.idx = int32(len(h.s))
		h.s = append(h.s, s)
	}
	i := int(s.idx)
	if !h.up(i) {
		h.down(i)
	}
}

// remove takes s out of the heap; s must be in it.
func (h *suspectHeap) remove(s *suspicion) {
	i, last := int(s.idx), len(h.s)-1
	if i != last {
		h.swap(i, last)
	}
	h.s[last] = nil
	h.s = h.s[:last]
	s.idx = -1
	if i < last && !h.up(i) {
		h.down(i)
	}
	if cap(h.s) > 64 && len(h.s) < cap(h.s)/4 {
		// A partition's suspicions all end within a minute or two; give
		// their room back rather than keep it for the next one.
		h.s = append([]*suspicion(nil), h.s...)
	}
}

func (h *suspectHeap) up(i int) bool {
	moved := false
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.swap(i, p)
		i = p
		moved = true
	}
	return moved
}

func (h *suspectHeap) down(i int) {
	n := len(h.s)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h.swap(i, m)
		i = m
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
