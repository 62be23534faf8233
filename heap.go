// This file owns minHeap, the binary min-heap behind the core's timers and
// the simulator's event queue. Ties must be broken by the element's own
// ordering (an insertion id) so that runs are deterministic.

package memberlist

type lesser[T any] interface {
	less(T) bool
}

type minHeap[T lesser[T]] struct {
	s []T
}

func (h *minHeap[T]) len() int { return len(h.s) }

// peek returns the least element; the heap must not be empty.
func (h *minHeap[T]) peek() T { return h.s[0] }

func (h *minHeap[T]) push(x T) {
	h.s = append(h.s, x)
	s := h.s
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].less(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

// pop removes and returns the least element; the heap must not be empty.
func (h *minHeap[T]) pop() T {
	s := h.s
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	var zero T
	s[last] = zero
	s = s[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		m := l
		if r := l + 1; r < len(s) && s[r].less(s[l]) {
			m = r
		}
		if !s[m].less(s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	h.s = s
	return top
}
