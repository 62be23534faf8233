// suspicion.go owns the Lifeguard suspicion timeout: how long a suspected
// node has to refute before it is declared dead, shrinking from a maximum
// towards a minimum as independent peers confirm the suspicion. It is pure
// arithmetic on values, and a set of them by deadline; the core keeps one
// suspicion per suspect, passes the time in, and arms its own timer at the
// earliest deadline().

package memberlist

import (
	"math"
	"time"
)

// suspicion tracks the confirmations of one suspect. It exists only while a
// node is suspect, so it is kept small: a partition makes every node suspect
// every member across it at once (50 million suspicions in a simulation of
// 10,000 nodes), so every byte here counts that often. It holds no pointer:
// the core keeps its suspicions by value in a suspicionSet, memory the
// garbage collector never has to scan.
type suspicion struct {
	// start is when the suspicion was raised, as time since the core's
	// epoch: eight bytes where a time.Time takes 24, and deadlines compare
	// as integers in the set's heap.
	start time.Duration
	min   time.Duration
	max   time.Duration
	// due is the timeout as the confirmations so far set it: the deadline
	// is start+due.
	due time.Duration
	// seen holds the accusers counted so far, as accuserKeys: the
	// originator, then the first confirmers; a suspicionSet keeps the rest
	// (past two confirmations, beyond LAN settings' k), so that repeated
	// gossip from the same peer counts once. Keys, not names, so that
	// nothing here points into a packet or the heap.
	seen [3]uint64
	// slot is the suspect's slot in the member table, the set's key for
	// it, and id the suspicion's own place in the set.
	slot uint32
	id   int32
	// k is the number of confirmations after which the timeout reaches min.
	k int32
	// n is the number of independent confirmations so far; the originator
	// of the suspicion is not one of them.
	n int32
	// idx is the suspicion's place in the set's deadline heap, -1 outside
	// it; seq orders suspicions due at the same time by when their
	// deadline was last set, as separate timers would fire.
	idx int32
	seq uint32
}

// accuserKey is the 64-bit FNV-1a hash of an accuser's name, what a
// suspicion keeps of it. Two names that collide count as one accuser, so a
// collision (one in 2^64 for names of the same suspicion) could only leave
// the timeout one confirmation longer; FNV and not a seeded hash, so that a
// simulation gives the same run every time.
func accuserKey(name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h
}

// suspicionFor starts the suspicion that from raised at now (time since the
// core's epoch, as every time a suspicion holds) against a member of a
// cluster of n nodes, with the timeouts and confirmations cfg implies: the
// minimum timeout is SuspicionMult probe intervals scaled by cluster size
// (suspicionTimeout), the maximum SuspicionMaxTimeoutMult times that, and k
// confirmations, two fewer than SuspicionMult, bring it down to the minimum;
// a cluster too small to confirm (fewer than k other members besides the
// suspect and us) waits for none.
func suspicionFor(cfg *Config, n int, from string, now time.Duration) suspicion {
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
func newSuspicion(from string, k int, min, max, start time.Duration) suspicion {
	if k < 0 {
		k = 0
	}
	if k > math.MaxInt32-1 {
		k = math.MaxInt32 - 1
	}
	s := suspicion{start: start, min: min, max: max, k: int32(k), idx: -1}
	s.seen[0] = accuserKey(from)
	s.due = s.timeout()
	return s
}

// confirm records that from independently suspects the same node; more
// holds the confirmers past seen, and grows when one is added there. It
// reports whether this was new information: false once k confirmations have
// arrived (the timeout cannot shrink further) and for a peer that already
// counted, including the originator.
func (s *suspicion) confirm(from string, more *[]uint64) bool {
	if s.n >= s.k {
		return false
	}
	key := accuserKey(from)
	if s.counted(key, *more) {
		return false
	}
	if i := int(s.n) + 1; i < len(s.seen) {
		s.seen[i] = key
	} else {
		*more = append(*more, key)
	}
	s.n++
	s.due = s.timeout()
	return true
}

// counts reports whether a confirmation by from would count (confirm would
// take it): fewer than k so far, and from neither the originator nor a
// confirmer yet.
func (s *suspicion) counts(from string, more []uint64) bool {
	return s.n < s.k && !s.counted(accuserKey(from), more)
}

// counted reports whether the accuser of key raised the suspicion or
// confirmed it.
func (s *suspicion) counted(key uint64, more []uint64) bool {
	for _, k := range s.seen[:min(int(s.n)+1, len(s.seen))] {
		if k == key {
			return true
		}
	}
	for _, k := range more {
		if k == key {
			return true
		}
	}
	return false
}

// raisedBy reports whether from is the member that raised the suspicion.
func (s *suspicion) raisedBy(from string) bool { return s.seen[0] == accuserKey(from) }

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

// suspChunk is how many suspicions a chunk of a suspicionSet holds.
const suspChunk = 16

// suspicionSet holds a core's running suspicions: by value in fixed-size
// chunks (80 bytes each, allocated 16 at a time; growing never moves one,
// so a pointer to one stays good until the next end, which may compact),
// found by the suspect's member-table slot, and in a heap ordered by
// deadline, so that a core needs one timer for all of its suspects (armed
// at the top's deadline) where a timer per suspect and per confirmation
// cost over a hundred bytes each. Nothing in it holds a pointer but the
// chunk list: the garbage collector skips the rest. Once three quarters of
// its room is free it compacts, and once the last of many suspicions ends
// (a partition's thousands, all over within minutes) it gives all of its
// room back.
type suspicionSet struct {
	chunks []*[suspChunk]suspicion
	free   []int32          // ids of ended suspicions, reused first
	bySlot map[uint32]int32 // the suspect's slot to its suspicion's id
	heap   []int32          // ids, earliest deadline first
	more   map[uint32][]uint64
	peak   int // most suspicions at once since the set was last emptied
}

// len is the number of running suspicions.
func (ss *suspicionSet) len() int { return len(ss.bySlot) }

// at is the suspicion with the given id.
func (ss *suspicionSet) at(id int32) *suspicion {
	return &ss.chunks[id/suspChunk][id%suspChunk]
}

// get returns the running suspicion of the member at slot, or nil.
func (ss *suspicionSet) get(slot uint32) *suspicion {
	if len(ss.bySlot) == 0 {
		return nil
	}
	id, ok := ss.bySlot[slot]
	if !ok {
		return nil
	}
	return ss.at(id)
}

// add keeps s as the suspicion of the member at slot, which must have none,
// and returns where it is kept; it is not in the heap until set.
func (ss *suspicionSet) add(slot uint32, s suspicion) *suspicion {
	var id int32
	if n := len(ss.free); n > 0 {
		id = ss.free[n-1]
		ss.free = ss.free[:n-1]
	} else {
		id = int32(len(ss.chunks) * suspChunk)
		for i := range suspChunk - 1 {
			ss.free = append(ss.free, id+int32(suspChunk-1-i))
		}
		ss.chunks = append(ss.chunks, new([suspChunk]suspicion))
	}
	if ss.bySlot == nil {
		ss.bySlot = make(map[uint32]int32)
	}
	ss.bySlot[slot] = id
	ss.peak = max(ss.peak, len(ss.bySlot))
	s.slot, s.id, s.idx = slot, id, -1
	p := ss.at(id)
	*p = s
	return p
}

// end forgets s, which must be running: out of the heap, and its room free.
func (ss *suspicionSet) end(s *suspicion) {
	if s.idx >= 0 {
		ss.remove(s)
	}
	delete(ss.bySlot, s.slot)
	if ss.more != nil {
		delete(ss.more, s.slot)
	}
	ss.free = append(ss.free, s.id)
	live, room := len(ss.bySlot), len(ss.chunks)*suspChunk
	switch {
	case live == 0 && ss.peak > suspChunk:
		// A Go map keeps the room of its largest size; start afresh.
		*ss = suspicionSet{}
	case room >= 8*suspChunk && live < room/4:
		ss.compact()
	}
}

// compact moves the running suspicions into chunks half full, in the
// order of their ids, and lets the old chunks go, with the map, heap and
// free list sized for the peak: a partition's suspicions end over a minute
// or two, and without it each core would keep the room of its peak until
// the last one ended. Pointers to suspicions are not good across it (end
// is the only caller, and its callers hold none).
func (ss *suspicionSet) compact() {
	old, oldSlots := ss.chunks, ss.bySlot
	live := len(oldSlots)
	ss.chunks = make([]*[suspChunk]suspicion, 0, (2*live+suspChunk-1)/suspChunk)
	ss.bySlot = make(map[uint32]int32, live)
	ss.heap = append(make([]int32, 0, 2*len(ss.heap)), ss.heap...)
	next := int32(0)
	for _, ch := range old {
		for i := range ch {
			e := &ch[i]
			if id, ok := oldSlots[e.slot]; !ok || id != e.id {
				continue // ended
			}
			if next%suspChunk == 0 {
				ss.chunks = append(ss.chunks, new([suspChunk]suspicion))
			}
			e.id = next
			ss.bySlot[e.slot] = next
			if e.idx >= 0 {
				ss.heap[e.idx] = next
			}
			*ss.at(next) = *e
			next++
		}
	}
	ss.free = make([]int32, 0, int32(len(ss.chunks)*suspChunk)-next)
	for id := int32(len(ss.chunks)*suspChunk) - 1; id >= next; id-- {
		ss.free = append(ss.free, id)
	}
}

// confirm records that from independently suspects s's member (see
// suspicion.confirm).
func (ss *suspicionSet) confirm(s *suspicion, from string) bool {
	var more []uint64
	if ss.more != nil {
		more = ss.more[s.slot]
	}
	kept := len(more)
	if !s.confirm(from, &more) {
		return false
	}
	if len(more) != kept {
		if ss.more == nil {
			ss.more = make(map[uint32][]uint64)
		}
		ss.more[s.slot] = more
	}
	return true
}

// counts reports whether from's confirmation of s would count.
func (ss *suspicionSet) counts(s *suspicion, from string) bool {
	var more []uint64
	if ss.more != nil {
		more = ss.more[s.slot]
	}
	return s.counts(from, more)
}

// heapLen is the number of suspicions in the heap.
func (ss *suspicionSet) heapLen() int { return len(ss.heap) }

// top is the suspicion due first; the heap must not be empty.
func (ss *suspicionSet) top() *suspicion { return ss.at(ss.heap[0]) }

// less orders by deadline, then by when the deadline was set.
func (ss *suspicionSet) less(i, j int) bool {
	a, b := ss.at(ss.heap[i]), ss.at(ss.heap[j])
	if da, db := a.deadline(), b.deadline(); da != db {
		return da < db
	}
	return a.seq < b.seq
}

func (ss *suspicionSet) swap(i, j int) {
	ss.heap[i], ss.heap[j] = ss.heap[j], ss.heap[i]
	ss.at(ss.heap[i]).idx = int32(i)
	ss.at(ss.heap[j]).idx = int32(j)
}

// set puts s in the heap, or moves it to where its deadline now belongs.
func (ss *suspicionSet) set(s *suspicion) {
	if s.idx < 0 {
		s.idx = int32(len(ss.heap))
		ss.heap = append(ss.heap, s.id)
	}
	i := int(s.idx)
	if !ss.up(i) {
		ss.down(i)
	}
}

// remove takes s out of the heap; s must be in it.
func (ss *suspicionSet) remove(s *suspicion) {
	i, last := int(s.idx), len(ss.heap)-1
	if i != last {
		ss.swap(i, last)
	}
	ss.heap = ss.heap[:last]
	s.idx = -1
	if i < last && !ss.up(i) {
		ss.down(i)
	}
}

func (ss *suspicionSet) up(i int) bool {
	moved := false
	for i > 0 {
		p := (i - 1) / 2
		if !ss.less(i, p) {
			break
		}
		ss.swap(i, p)
		i = p
		moved = true
	}
	return moved
}

func (ss *suspicionSet) down(i int) {
	n := len(ss.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && ss.less(r, l) {
			m = r
		}
		if !ss.less(m, i) {
			return
		}
		ss.swap(i, m)
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
