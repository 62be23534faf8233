package memberlist

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSnapshotAgainstMap drives publish with a random sequence of changes
// and removals and checks every published snapshot against a plain map:
// the same members with the same states, the live count, the local node,
// and that a published snapshot never changes afterwards.
func TestSnapshotAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := &Memberlist{config: &Config{Name: "n0"}, snapIndex: map[string]int{}}
	m.snap.Store(&snapshot{})
	want := map[string]NodeStateType{}
	type frozen struct {
		s     *snapshot
		names []string
	}
	var old []frozen
	list := func(s *snapshot) []string {
		var out []string
		for i := range s.n {
			n := s.at(i)
			out = append(out, fmt.Sprintf("%s=%v", n.Name, n.State))
		}
		sort.Strings(out)
		return out
	}
	for step := range 5000 {
		name := fmt.Sprintf("n%d", rng.IntN(300))
		st := &nodeState{info: makeInfo(name, []byte{127, 0, 0, 1}, 0, nil, nil)}
		if rng.IntN(4) == 0 {
			m.publish(st, true)
			delete(want, name)
		} else {
			st.setState(NodeStateType(rng.IntN(4)))
			m.publish(st, false)
			want[name] = st.state()
		}
		s := m.snap.Load()
		var exp []string
		live := 0
		for n, state := range want {
			exp = append(exp, fmt.Sprintf("%s=%v", n, state))
			if state != StateDead && state != StateLeft {
				live++
			}
		}
		sort.Strings(exp)
		require.Equal(t, exp, list(s), "step %d", step)
		require.Equal(t, live, s.live, "step %d", step)
		require.Equal(t, live, m.NumMembers())
		require.Len(t, m.Members(), live)
		if _, ok := want["n0"]; ok {
			require.Equal(t, "n0", m.LocalNode().Name)
		} else {
			require.Nil(t, m.LocalNode())
		}
		if step%500 == 0 {
			old = append(old, frozen{s, list(s)})
		}
	}
	for _, f := range old {
		require.Equal(t, f.names, list(f.s), "a published snapshot changed")
	}
}

// BenchmarkMembers reads a 10,000-member snapshot.
func BenchmarkMembers(b *testing.B) {
	m := &Memberlist{config: &Config{Name: "n0"}, snapIndex: map[string]int{}}
	m.snap.Store(&snapshot{})
	for i := range 10000 {
		st := &nodeState{info: makeInfo(fmt.Sprintf("n%d", i), []byte{127, 0, 0, 1}, 7946, []byte("role=web"), nil)}
		m.publish(st, false)
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(m.Members()) != 10000 {
			b.Fatal("short")
		}
	}
}
