package memberlist

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unique"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestMemberIndexAgainstMap checks the index against a Go map through a
// long random sequence of puts, removes and gets, with enough names that
// probe runs wrap around the table and deletions shift entries back.
func TestMemberIndexAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x memberIndex
	want := map[string]*nodeState{}
	for i := range 200000 {
		name := fmt.Sprintf("n%d", rng.IntN(3000))
		switch rng.IntN(3) {
		case 0:
			if want[name] == nil {
				st := &nodeState{id: unique.Make(name)}
				x.put(st)
				want[name] = st
			}
		case 1:
			x.remove(name)
			delete(want, name)
		default:
			require.Same(t, want[name], x.get(name), "step %d: get %s", i, name)
		}
		if i%1000 == 0 {
			require.Equal(t, len(want), x.count)
			for n, st := range want {
				require.Same(t, st, x.get(n), "step %d: %s lost", i, n)
			}
		}
	}
	require.LessOrEqual(t, 4*x.count, 3*len(x.tags), "at most three quarters full")
}

// TestNodeStateSize pins the member-table entry at 64 bytes, the scale
// budget's share for it (DESIGN.md).
func TestNodeStateSize(t *testing.T) {
	require.Equal(t, uintptr(64), unsafe.Sizeof(nodeState{}))
}
