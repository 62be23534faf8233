// This file owns the storage of the member table: memberTable keeps the
// core's nodeStates in fixed-size chunks, each member at a numbered slot,
// and finds them by name through an open-addressing hash table with linear
// probing over one array of 32-bit entries, each an 8-bit hash tag and a
// 24-bit slot number, kept at most three quarters full.
//
// Both parts are shaped by the scale budget (DESIGN.md: 10^8 entries in one
// simulator process): a nodeState in a chunk costs its 24 bytes and nothing
// more (allocated one by one, each would take a 32-byte size class), and the
// index 5 to 11 bytes per member, with no pointers for the collector to
// scan, where a Go map[string]*nodeState costs about 50. Tag and slot share
// an entry so that a lookup misses the cache once in the index, not twice:
// in a simulation of many nodes every table is cold. A member keeps its slot,
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

	// entries are the index: a byte of the member's hash in the top 8
	// bits, 1 + its slot in the low 24; 0 marks an empty entry.
	entries []uint32
	count   int
}

// maxTableSlots is how many members a table can hold: slot numbers take 24
// bits in the index. 16 million members is far beyond any cluster, and a
// table that full would take over a gigabyte.
const maxTableSlots = 1<<24 - 1

// full reports whether the table has no slot left for a new member.
func (x *memberTable) full() bool {
	return len(x.free) == 0 && x.used >= maxTableSlots
}

// indexEntry makes an index entry.
func indexEntry(tag uint8, slot uint32) uint32 { return uint32(tag)<<24 | (slot + 1) }

// entrySlot is the slot of a non-empty index entry.
func entrySlot(e uint32) uint32 { return e&(1<<24-1) - 1 }

// alloc returns a zeroed nodeState at a free slot. It is not in the index
// until put. The table must not be full. The news generation is kept across reuse, so that news queued
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
	tag := uint32(memberTag(h))
	mask := len(x.entries) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		e := x.entries[i]
		if e == 0 {
			return nil
		}
		if e>>24 == tag {
			if st := x.at(entrySlot(e)); st.name() == name {
				return st
			}
		}
	}
}

// put adds st, from alloc, whose name must not be in the index yet.
func (x *memberTable) put(st *nodeState) {
	if 4*(x.count+1) > 3*len(x.entries) {
		x.grow()
	}
	x.place(memberHash(st.name()), st.slot)
	x.count++
}

func (x *memberTable) place(h uint64, slot uint32) {
	mask := len(x.entries) - 1
	i := int(h) & mask
	for x.entries[i] != 0 {
		i = (i + 1) & mask
	}
	x.entries[i] = indexEntry(memberTag(h), slot)
}

func (x *memberTable) grow() { x.resize(max(8, 2*len(x.entries))) }

// reserve makes room in the index for n members in all, at once, so that
// filling it does not rehash the members at every doubling.
func (x *memberTable) reserve(n int) {
	n = min(n, maxTableSlots)
	size := max(8, len(x.entries))
	for 4*n > 3*size {
		size *= 2
	}
	if size > len(x.entries) {
		x.resize(size)
	}
}

// resize rebuilds the index over size entries, a power of two.
func (x *memberTable) resize(size int) {
	old := x.entries
	x.entries = make([]uint32, size)
	for _, e := range old {
		if e != 0 {
			s := entrySlot(e)
			x.place(memberHash(x.at(s).name()), s)
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
	tag := uint32(memberTag(h))
	mask := len(x.entries) - 1
	i := int(h) & mask
	for ; ; i = (i + 1) & mask {
		e := x.entries[i]
		if e == 0 {
			return
		}
		if e>>24 == tag && x.at(entrySlot(e)).name() == name {
			break
		}
	}
	x.count--
	// Backward-shift deletion: walk the run after the hole and move back
	// every entry whose home slot does not lie in (hole, its slot].
	hole := i
	for j := (i + 1) & mask; x.entries[j] != 0; j = (j + 1) & mask {
		home := int(memberHash(x.at(entrySlot(x.entries[j])).name())) & mask
		if (j > hole && (home <= hole || home > j)) || (j < hole && home <= hole && home > j) {
			x.entries[hole] = x.entries[j]
			hole = j
		}
	}
	x.entries[hole] = 0
}

// warmBatch is how many lookups warm prepares at once.
const warmBatch = 32

// warm reads, for up to warmBatch hashes of names about to be looked up,
// the index entry, the member's nodeState and its info, each kind in a loop
// of its own so that the cache misses of all the lookups overlap instead of
// following one another: in a simulation of many nodes every table is cold,
// and a lookup is otherwise four misses in a row. It changes nothing; the
// result only keeps the reads from being optimized away.
func (x *memberTable) warm(hashes []uint64) uint64 {
	if x.count == 0 || len(hashes) == 0 {
		return 0
	}
	hashes = hashes[:min(len(hashes), warmBatch)]
	mask := uint64(len(x.entries) - 1)
	var es [warmBatch]uint32
	for i, h := range hashes {
		es[i] = x.entries[h&mask]
	}
	var sts [warmBatch]*nodeState
	for i, h := range hashes {
		if e := es[i]; e != 0 && e>>24 == uint32(memberTag(h)) {
			sts[i] = x.at(entrySlot(e))
		}
	}
	var sum uint64
	for _, st := range sts[:len(hashes)] {
		if st != nil {
			sum += uint64(st.incarnation)
		}
	}
	for _, st := range sts[:len(hashes)] {
		if st != nil {
			sum += uint64(len(st.name()))
		}
	}
	return sum
}
