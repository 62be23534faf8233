// This file owns the storage of the member table: memberTable keeps the
// core's nodeStates in fixed-size chunks, each member at a numbered slot,
// and finds them by name through an open-addressing hash table with linear
// probing over two parallel arrays, 8-bit hash tags and 32-bit slot numbers,
// kept at most three quarters full.
//
// Both parts are shaped by the scale budget (DESIGN.md: 10^8 entries in one
// simulator process): a nodeState in a chunk costs its 24 bytes and nothing
// more (allocated one by one, each would take a 32-byte size class), and the
// index about 8 bytes per member, with no pointers for the collector to scan,
// where a Go map[string]*nodeState costs about 50. A member keeps its slot,
// and so its address, for as long as it is in the table; the slot is reused
// only after release.

package memberlist

import (
	"hash/maphash"
	"math/bits"
)

// memberHashSeed seeds every index's hashes. Hashes never decide an order
// the protocol can see, so a per-process random seed keeps runs
// deterministic.
var memberHashSeed = maphash.MakeSeed()

// tableChunk is how many nodeStates a full chunk holds: 682 × 24 = 16,368
// bytes, just under the runtime's 16 KiB size class. The first chunks are
// smaller, 8, 16, 32, 64 and 128 members (smallChunkSlots in all), so that
// a node of a small cluster does not hold 16 KiB for a few members.
const (
	tableChunk      = 682
	firstChunk      = 8
	smallChunks     = 5
	smallChunkSlots = firstChunk<<smallChunks - firstChunk // 248
)

// chunkOf returns the chunk that holds slot and the slot's place in it.
func chunkOf(slot uint32) (chunk int, off uint32) {
	if slot < smallChunkSlots {
		k := bits.Len32((slot+firstChunk)/firstChunk) - 1
		return k, slot + firstChunk - firstChunk<<k
	}
	s := slot - smallChunkSlots
	return smallChunks + int(s/tableChunk), s % tableChunk
}

// chunkLen is how many nodeStates chunk k holds.
func chunkLen(k int) int {
	if k < smallChunks {
		return firstChunk << k
	}
	return tableChunk
}

type memberTable struct {
	chunks [][]nodeState
	free   []uint32 // released slots, reused last in, first out
	used   uint32   // slots ever handed out

	tags  []uint8  // a byte of the hash of the member in the same slot
	slots []uint32 // 1 + the member's slot; 0 marks an empty slot
	count int
}

// alloc returns a zeroed nodeState at a free slot. It is not in the index
// until put. The news generation is kept across reuse, so that news queued
// about the slot's previous member stays stale (see newsQueue).
func (x *memberTable) alloc() *nodeState {
	var slot uint32
	if n := len(x.free); n > 0 {
		slot = x.free[n-1]
		x.free = x.free[:n-1]
	} else {
		slot = x.used
		x.used++
		if k, _ := chunkOf(slot); k == len(x.chunks) {
			x.chunks = append(x.chunks, make([]nodeState, chunkLen(k)))
		}
	}
	st := x.at(slot)
	*st = nodeState{slot: slot, newsGen: st.newsGen}
	return st
}

// release gives st's slot back for reuse; st must not be in the index, and
// must not be used after. Its name and metadata are let go of at once.
func (x *memberTable) release(st *nodeState) {
	*st = nodeState{slot: st.slot, newsGen: st.newsGen}
	x.free = append(x.free, st.slot)
}

// at returns the nodeState at slot.
func (x *memberTable) at(slot uint32) *nodeState {
	k, off := chunkOf(slot)
	return &x.chunks[k][off]
}

func memberHash(name string) uint64 {
	return maphash.String(memberHashSeed, name)
}

// memberTag is the byte of h the index keeps to skip most mismatches
// without reading the member; the low bits pick the home slot.
func memberTag(h uint64) uint8 { return uint8(h >> 56) }

// get returns the member named name, or nil.
func (x *memberTable) get(name string) *nodeState {
	if x.count == 0 {
		return nil
	}
	h := memberHash(name)
	tag := memberTag(h)
	mask := len(x.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			return nil
		}
		if x.tags[i] == tag {
			if st := x.at(s - 1); st.name() == name {
				return st
			}
		}
	}
}

// put adds st, from alloc, whose name must not be in the index yet.
func (x *memberTable) put(st *nodeState) {
	if 4*(x.count+1) > 3*len(x.slots) {
		x.grow()
	}
	x.place(memberHash(st.name()), st.slot)
	x.count++
}

func (x *memberTable) place(h uint64, slot uint32) {
	mask := len(x.slots) - 1
	i := int(h) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.tags[i], x.slots[i] = memberTag(h), slot+1
}

func (x *memberTable) grow() {
	old := x.slots
	size := max(8, 2*len(old))
	x.tags, x.slots = make([]uint8, size), make([]uint32, size)
	for _, s := range old {
		if s != 0 {
			x.place(memberHash(x.at(s-1).name()), s-1)
		}
	}
}

// remove drops the member named name from the index, if present; its slot
// stays taken until release. Later members of its probe run are shifted
// back into the hole, so that no tombstones build up.
func (x *memberTable) remove(name string) {
	if x.count == 0 {
		return
	}
	h := memberHash(name)
	tag := memberTag(h)
	mask := len(x.slots) - 1
	i := int(h) & mask
	for ; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			return
		}
		if x.tags[i] == tag && x.at(s-1).name() == name {
			break
		}
	}
	x.count--
	// Backward-shift deletion: walk the run after the hole and move back
	// every entry whose home slot does not lie in (hole, its slot].
	hole := i
	for j := (i + 1) & mask; x.slots[j] != 0; j = (j + 1) & mask {
		home := int(memberHash(x.at(x.slots[j]-1).name())) & mask
		if (j > hole && (home <= hole || home > j)) || (j < hole && home <= hole && home > j) {
			x.tags[hole], x.slots[hole] = x.tags[j], x.slots[j]
			hole = j
		}
	}
	x.tags[hole], x.slots[hole] = 0, 0
}
