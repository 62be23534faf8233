// This file owns the shell's snapshot of the member table: the immutable
// view that Members, NumMembers and LocalNode read without blocking, and
// its copy-on-write update after each change the core reports.
//
// The members sit in fixed arrays of snapChunk. A change to a member copies
// only the array it touches and the list of arrays, so a burst of changes
// costs O(N/snapChunk + snapChunk) each, not the O(N) of copying one flat
// slice. Adding a member copies nothing: it goes into the slot just past
// the previous snapshot's last member, which no published snapshot reads
// (each reads only its first n), and a new array is appended to the list
// past the previous snapshot's length in the same way. That is safe because
// one writer derives each snapshot from the latest one, and every change
// that could expose a slot to an older snapshot (an update, a removal)
// copies the arrays it writes to.
//
// The Nodes are immutable too: a changed member gets a new Node, so
// Members and LocalNode hand out the snapshot's own pointers, and a Node a
// caller holds keeps the state it had when it was read. Members returns
// the live members, which each snapshot lists once, on the first Members
// call that reads it (see liveNodes); every later call only copies that
// list. The list is not carried from one snapshot to the next: keeping it
// current would cost every change a copy of it (or chunks of its own), to
// spare only the first Members call after the change one pass over the
// table.

package memberlist

import (
	"slices"
	"sync/atomic"
)

const snapChunk = 64

// snapshot is an immutable view of the member table for public reads: its
// first n members, and every Node it points to, never change once it is
// published.
type snapshot struct {
	snapTable

	// liveList caches the members neither dead nor left, in table order,
	// once liveNodes has listed them. It belongs to this snapshot alone: a
	// snapshot derived from this one starts without it.
	liveList atomic.Pointer[[]*Node]
}

// snapTable is the part of a snapshot that the next one starts from.
type snapTable struct {
	chunks []*[snapChunk]*Node // every known member, dead and left included
	n      int                 // members in chunks
	live   int                 // members neither dead nor left
	local  *Node
}

// at returns member i.
func (s *snapshot) at(i int) *Node {
	return s.chunks[i/snapChunk][i%snapChunk]
}

// liveNodes returns the members neither dead nor left, in table order,
// listing them on the first call. Callers must not modify the slice.
// Concurrent first calls may each list them; any of their lists will do.
func (s *snapshot) liveNodes() []*Node {
	if p := s.liveList.Load(); p != nil {
		return *p
	}
	out := make([]*Node, 0, s.live)
	for i := 0; i < s.n; i += snapChunk {
		chunk := s.chunks[i/snapChunk][:min(snapChunk, s.n-i)]
		if s.live == s.n { // nobody to skip
			out = append(out, chunk...)
			continue
		}
		for _, n := range chunk {
			if liveCount(n) == 1 {
				out = append(out, n)
			}
		}
	}
	s.liveList.Store(&out)
	return out
}

// derive returns a new snapshot with the members of s and no cached list
// of the live ones, for with and without to change.
func (s *snapshot) derive() *snapshot {
	return &snapshot{snapTable: s.snapTable}
}

// with returns a copy of s in which member i is n (i == s.n appends).
func (s *snapshot) with(i int, n *Node) *snapshot {
	c := s.derive()
	ci, off := i/snapChunk, i%snapChunk
	if i == s.n {
		if ci == len(c.chunks) {
			c.chunks = append(c.chunks, new([snapChunk]*Node))
		}
		c.chunks[ci][off] = n
		c.n++
	} else {
		c.chunks = slices.Clone(s.chunks)
		chunk := *c.chunks[ci]
		c.live -= liveCount(chunk[off])
		chunk[off] = n
		c.chunks[ci] = &chunk
	}
	c.live += liveCount(n)
	return c
}

// without returns a copy of s without member i: the last member takes its
// place, and moved says who that was (nil if i was the last).
func (s *snapshot) without(i int) (*snapshot, *Node) {
	c := s.derive()
	c.chunks = slices.Clone(s.chunks)
	c.live -= liveCount(s.at(i))
	last := s.n - 1
	var moved *Node
	if i != last {
		moved = s.at(last)
		chunk := *c.chunks[i/snapChunk]
		chunk[i%snapChunk] = moved
		c.chunks[i/snapChunk] = &chunk
	}
	if li, lo := last/snapChunk, last%snapChunk; lo == 0 {
		c.chunks = c.chunks[:li]
	} else {
		// The slot the last member leaves is visible to older snapshots:
		// the next member added must not land in their array.
		chunk := *c.chunks[li]
		chunk[lo] = nil
		c.chunks[li] = &chunk
	}
	c.n--
	return c, moved
}

func liveCount(n *Node) int {
	if n.State == StateDead || n.State == StateLeft {
		return 0
	}
	return 1
}

// publish updates the snapshot after the core changed member st. It runs on
// the loop before any event delegate hears of the change, so a delegate or
// an event reader calling Members sees the change already.
func (m *Memberlist) publish(st *nodeState, removed bool) {
	old := m.snap.Load()
	name := st.name()
	i, known := m.snapIndex[name]
	var s *snapshot
	switch {
	case removed && known:
		var moved *Node
		s, moved = old.without(i)
		delete(m.snapIndex, name)
		if moved != nil {
			m.snapIndex[moved.Name] = i
		}
		if name == m.config.Name {
			s.local = nil
		}
		m.snap.Store(s)
		return
	case removed:
		return
	case !known:
		i = old.n
		m.snapIndex[name] = i
	}
	n := st.toNode()
	s = old.with(i, n)
	if name == m.config.Name {
		s.local = n
	}
	m.snap.Store(s)
}
