package memberlist

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestMemberIndexAgainstMap checks the index against a Go map through a
// long random sequence of puts, removes and gets, with enough names that
// probe runs wrap around the table and deletions shift entries back.
func TestMemberIndexAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x memberTable
	want := map[string]*nodeState{}
	for i := range 200000 {
		name := fmt.Sprintf("n%d", rng.IntN(3000))
		switch rng.IntN(3) {
		case 0:
			if want[name] == nil {
				st := x.alloc()
				st.info = makeInfo(name, []byte{127, 0, 0, 1}, 0, nil, nil)
				x.put(st)
				want[name] = st
			}
		case 1:
			x.remove(name)
			if st := want[name]; st != nil {
				x.release(st)
			}
			delete(want, name)
		default:
			require.Same(t, want[name], x.get(name), "step %d: get %s", i, name)
		}
		if i%20000 == 10000 {
			x.reserve(rng.IntN(6000)) // a rebuild in the middle of it all
		}
		if i%1000 == 0 {
			require.Equal(t, len(want), x.count)
			for n, st := range want {
				require.Same(t, st, x.get(n), "step %d: %s lost", i, n)
			}
		}
	}
	require.LessOrEqual(t, 4*x.count, 3*len(x.entries), "at most three quarters full")
	require.LessOrEqual(t, int(x.used), 3000, "released slots are reused")
}

// TestMemberTableReserve checks that reserve sizes the index once for the
// members to come: filling it up to that count rebuilds it no more.
func TestMemberTableReserve(t *testing.T) {
	var x memberTable
	x.reserve(0)
	require.Len(t, x.entries, 8)
	for _, n := range []int{5, 6, 7, 100, 10000} {
		x.reserve(n)
		size := len(x.entries)
		require.LessOrEqual(t, 4*n, 3*size, "room for %d", n)
		require.Greater(t, 4*n, 3*size/2, "no more than needed for %d", n)
		for x.count < n {
			st := x.alloc()
			st.info = makeInfo(fmt.Sprint("m", x.count), []byte{127, 0, 0, 1}, 0, nil, nil)
			x.put(st)
		}
		require.Len(t, x.entries, size, "no rebuild while filling up to %d", n)
		x.reserve(n / 2) // never shrinks
		require.Len(t, x.entries, size)
	}
	for i := range 10000 {
		require.NotNil(t, x.get(fmt.Sprint("m", i)), "m%d lost in a rebuild", i)
	}
}

// TestNodeStateSize pins the member-table entry at 24 bytes, and its chunk
// just under a size class of the runtime (DESIGN.md's scale budget).
func TestNodeStateSize(t *testing.T) {
	require.Equal(t, uintptr(24), unsafe.Sizeof(nodeState{}))
	require.Equal(t, uintptr(16368), unsafe.Sizeof([tableChunk]nodeState{}))
	// Every slot maps to one place, chunk after chunk, each filled in turn.
	var k, off int
	for slot := range uint32(3000) {
		gk, goff := chunkOf(slot)
		require.Equal(t, k, gk, "slot %d", slot)
		require.Equal(t, uint32(off), goff, "slot %d", slot)
		if off++; off == chunkLen(k) {
			k, off = k+1, 0
		}
	}
	require.Equal(t, 248, smallChunkSlots)
	require.Equal(t, uintptr(16), unsafe.Sizeof(newsEntry{}))
	require.Equal(t, uintptr(1016), unsafe.Sizeof(newsChunk{}))
}

// TestMemberTableFull checks the table's bound: with every slot number
// handed out and none released, it takes no new member.
func TestMemberTableFull(t *testing.T) {
	var x memberTable
	require.False(t, x.full())
	x.used = maxTableSlots
	require.True(t, x.full())
	x.free = append(x.free, 3)
	require.False(t, x.full(), "a released slot can be reused")
}
