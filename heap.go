// This file owns timedHeap, the binary min-heap behind the core's timers and
// the simulator's event queue. Entries are ordered by time, and entries due
// at the same time by insertion order, so that runs are deterministic.

package memberlist

import "time"

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

type timedHeap[T any] struct {
	s   []timedEntry[T]
	ids uint64
}

func (h *timedHeap[T]) len() int { return len(h.s) }

// nextAt is when the earliest entry is due; the heap must not be empty.
func (h *timedHeap[T]) nextAt() time.Time { return h.s[0].at }

// peek returns the earliest entry's value; the heap must not be empty.
func (h *timedHeap[T]) peek() *T { return &h.s[0].v }

// push adds v, due at at.
func (h *timedHeap[T]) push(at time.Time, v T) {
	h.ids++
	h.s = append(h.s, timedEntry[T]{at: at, id: h.ids, v: v})
	s := h.s
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].before(&s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

// pop removes and returns the earliest entry; the heap must not be empty.
func (h *timedHeap[T]) pop() (time.Time, T) {
	s := h.s
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = timedEntry[T]{}
	s = s[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		m := l
		if r := l + 1; r < len(s) && s[r].before(&s[l]) {
			m = r
		}
		if !s[m].before(&s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	h.s = s
	return top.at, top.v
}
