// This file owns memberIndex, the core's lookup of members by name: an
// open-addressing hash table with linear probing over two parallel arrays,
// 32-bit hash tags and member pointers, kept at most three quarters full.
// It costs about 16 bytes per member where a Go map[string]*nodeState costs
// about 50, which matters at the scale budget's 10^8 entries in one
// simulator process, and a lookup reads a member only when its tag matches.

package memberlist

import "hash/maphash"

// memberHashSeed seeds every index's hashes. Hashes never decide an order
// the protocol can see, so a per-process random seed keeps runs
// deterministic.
var memberHashSeed = maphash.MakeSeed()

type memberIndex struct {
	tags  []uint32 // hash tag of the member in the same slot; 0 marks an empty slot
	slots []*nodeState
	count int
}

func memberTag(name string) uint32 {
	h := uint32(maphash.String(memberHashSeed, name))
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	return h
}

// get returns the member named name, or nil.
func (x *memberIndex) get(name string) *nodeState {
	if x.count == 0 {
		return nil
	}
	tag := memberTag(name)
	mask := len(x.tags) - 1
	for i := int(tag) & mask; ; i = (i + 1) & mask {
		switch t := x.tags[i]; {
		case t == 0:
			return nil
		case t == tag:
			if st := x.slots[i]; st.name() == name {
				return st
			}
		}
	}
}

// put adds st, whose name must not be in the index yet.
func (x *memberIndex) put(st *nodeState) {
	if 4*(x.count+1) > 3*len(x.tags) {
		x.grow()
	}
	x.place(memberTag(st.name()), st)
	x.count++
}

func (x *memberIndex) place(tag uint32, st *nodeState) {
	mask := len(x.tags) - 1
	i := int(tag) & mask
	for x.tags[i] != 0 {
		i = (i + 1) & mask
	}
	x.tags[i], x.slots[i] = tag, st
}

func (x *memberIndex) grow() {
	oldTags, oldSlots := x.tags, x.slots
	size := max(8, 2*len(oldTags))
	x.tags, x.slots = make([]uint32, size), make([]*nodeState, size)
	for i, t := range oldTags {
		if t != 0 {
			x.place(t, oldSlots[i])
		}
	}
}

// remove drops the member named name, if present. Later members of its
// probe run are shifted back into the hole, so that no tombstones build up.
func (x *memberIndex) remove(name string) {
	if x.count == 0 {
		return
	}
	tag := memberTag(name)
	mask := len(x.tags) - 1
	i := int(tag) & mask
	for ; ; i = (i + 1) & mask {
		t := x.tags[i]
		if t == 0 {
			return
		}
		if t == tag && x.slots[i].name() == name {
			break
		}
	}
	x.count--
	// Backward-shift deletion: walk the run after the hole and move back
	// every entry whose home slot does not lie in (hole, its slot].
	hole := i
	for j := (i + 1) & mask; x.tags[j] != 0; j = (j + 1) & mask {
		home := int(x.tags[j]) & mask
		if (j > hole && (home <= hole || home > j)) || (j < hole && home <= hole && home > j) {
			x.tags[hole], x.slots[hole] = x.tags[j], x.slots[j]
			hole = j
		}
	}
	x.tags[hole], x.slots[hole] = 0, nil
}
