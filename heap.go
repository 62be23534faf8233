// This file owns the binary min-heap behind the core's timers (timedHeap)
// and the simulator's event queue (simQueue in sim.go): one sift-up and one
// sift-down over any entry type that orders itself. Entries due at the same
// time are ordered by insertion, so that runs are deterministic.
// Suspicions, which move up when confirmed and leave when refuted, have an
// indexed heap of their own (suspicionSet in suspicion.go).

package memberlist

import "time"

// heapEntry is an entry type of minHeap: a value type whose pointer says
// whether it comes before another.
type heapEntry[E any] interface {
	*E
	before(*E) bool
}

// minHeap is a binary min-heap of E values.
type minHeap[E any, P heapEntry[E]] struct {
	s []E
}

func (h *minHeap[E, P]) len() int { return len(h.s) }

// top returns the earliest entry; the heap must not be empty.
func (h *minHeap[E, P]) top() *E { return &h.s[0] }

// items is the heap's entries, in no particular order.
func (h *minHeap[E, P]) items() []E { return h.s }

// push adds e.
func (h *minHeap[E, P]) push(e E) {
	h.s = append(h.s, e)
	s := h.s
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !P(&s[i]).before(&s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

// pop removes and returns the earliest entry; the heap must not be empty.
func (h *minHeap[E, P]) pop() E {
	s := h.s
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	var zero E
	s[last] = zero // pins nothing
	s = s[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		m := l
		if r := l + 1; r < len(s) && P(&s[r]).before(&s[l]) {
			m = r
		}
		if !P(&s[m]).before(&s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	h.s = s
	return top
}

type timedEntry[T any] struct {
	at time.Time
	id uint64
	v  T
}

func (e *timedEntry[T]) before(o *timedEntry[T]) bool {
	if !e.at.Equal(o.at) {
		return e.at.Before(o.at)
	}
	return e.id < o.id
}

// timedHeap holds values due at times, earliest first.
type timedHeap[T any] struct {
	h   minHeap[timedEntry[T], *timedEntry[T]]
	ids uint64
}

func (h *timedHeap[T]) len() int { return h.h.len() }

// nextAt is when the earliest entry is due; the heap must not be empty.
func (h *timedHeap[T]) nextAt() time.Time { return h.h.top().at }

// peek returns the earliest entry's value; the heap must not be empty.
func (h *timedHeap[T]) peek() *T { return &h.h.top().v }

// push adds v, due at at.
func (h *timedHeap[T]) push(at time.Time, v T) {
	h.ids++
	h.h.push(timedEntry[T]{at: at, id: h.ids, v: v})
}

// pop removes and returns the earliest entry; the heap must not be empty.
func (h *timedHeap[T]) pop() (time.Time, T) {
	e := h.h.pop()
	return e.at, e.v
}
