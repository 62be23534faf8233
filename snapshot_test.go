package memberlist

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSnapshotAgainstMap drives publish with a random sequence of changes
// and removals and checks every published snapshot against a plain map:
// the same members with the same states, the live count, Members, the local
// node, and that a published snapshot, its Nodes and its list of live
// members never change afterwards, whether that list was made before later
// snapshots were derived from it or after.
func TestSnapshotAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := &Memberlist{config: &Config{Name: "n0"}, snapIndex: map[string]int{}}
	m.snap.Store(&snapshot{})
	want := map[string]NodeStateType{}
	type frozen struct {
		s           *snapshot
		names, live []string
	}
	var old []frozen
	show := func(nodes []*Node) []string {
		var out []string
		for _, n := range nodes {
			out = append(out, fmt.Sprintf("%s=%v", n.Name, n.State))
		}
		sort.Strings(out)
		return out
	}
	list := func(s *snapshot) []string {
		var all []*Node
		for i := range s.n {
			all = append(all, s.at(i))
		}
		return show(all)
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
		var exp, expLive []string
		for n, state := range want {
			exp = append(exp, fmt.Sprintf("%s=%v", n, state))
			if state != StateDead && state != StateLeft {
				expLive = append(expLive, fmt.Sprintf("%s=%v", n, state))
			}
		}
		sort.Strings(exp)
		sort.Strings(expLive)
		require.Equal(t, exp, list(s), "step %d", step)
		require.Equal(t, len(expLive), s.live, "step %d", step)
		require.Equal(t, len(expLive), m.NumMembers())
		// Members lists most snapshots, but not all, so that some are
		// listed only at the end, after later ones were derived.
		if step%3 != 0 {
			require.Equal(t, expLive, show(m.Members()), "step %d", step)
		}
		if _, ok := want["n0"]; ok {
			require.Equal(t, "n0", m.LocalNode().Name)
		} else {
			require.Nil(t, m.LocalNode())
		}
		if step%250 == 0 {
			old = append(old, frozen{s, list(s), expLive})
		}
	}
	for _, f := range old {
		require.Equal(t, f.names, list(f.s), "a published snapshot changed")
		require.Equal(t, f.live, show(f.s.liveNodes()), "a published snapshot's live members changed")
	}
}

// testTable returns a Memberlist whose snapshot holds n alive members,
// named n0 to n(n-1), and their states.
func testTable(n int) (*Memberlist, []*nodeState) {
	m := &Memberlist{config: &Config{Name: "n0"}, snapIndex: map[string]int{}}
	m.snap.Store(&snapshot{})
	states := make([]*nodeState, n)
	for i := range states {
		states[i] = &nodeState{info: makeInfo(fmt.Sprintf("n%d", i), []byte{127, 0, 0, 1}, 0, nil, nil)}
		m.publish(states[i], false)
	}
	return m, states
}

// TestMembersAllocs checks that Members costs one allocation, the slice,
// once the snapshot's live members are listed, and that the list is made
// again for the next snapshot.
func TestMembersAllocs(t *testing.T) {
	m, states := testTable(1000)
	// One dead member, so that listing skips someone.
	states[7].setState(StateDead)
	m.publish(states[7], false)
	require.Len(t, m.Members(), 999)
	require.Equal(t, 1.0, testing.AllocsPerRun(100, func() { _ = m.Members() }))

	states[7].setState(StateAlive)
	m.publish(states[7], false)
	require.Len(t, m.Members(), 1000)
	require.Equal(t, 1.0, testing.AllocsPerRun(100, func() { _ = m.Members() }))
}

// TestAppendMembers checks that AppendMembers appends what Members returns,
// allocates nothing into a slice with room, and hands out a slice of the
// caller's: changing it changes neither the snapshot nor the next call.
func TestAppendMembers(t *testing.T) {
	m, states := testTable(100)
	states[3].setState(StateLeft)
	m.publish(states[3], false)

	local := &Node{Name: "not a member"}
	got := m.AppendMembers([]*Node{local})
	require.Equal(t, local, got[0], "what dst held stays in front")
	require.Equal(t, m.Members(), got[1:])
	require.Len(t, got, 100) // 99 members and the one that was there

	buf := m.AppendMembers(nil)
	require.Equal(t, 0.0, testing.AllocsPerRun(100, func() { buf = m.AppendMembers(buf[:0]) }))
	require.Len(t, buf, 99)

	first := buf[0]
	buf[0] = nil
	require.Equal(t, first, m.AppendMembers(nil)[0], "the caller's slice is a copy")
	require.Equal(t, first, m.Members()[0])
}

// TestMembersConcurrent runs readers against a writer, for the race
// detector: readers sort their slices and read every Node while publish
// derives new snapshots, and several may list the same snapshot at once.
func TestMembersConcurrent(t *testing.T) {
	m, states := testTable(200)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				ms := m.Members()
				sort.Slice(ms, func(a, b int) bool { return ms[a].Name < ms[b].Name })
				for _, n := range ms {
					if n.State == StateDead || n.State == StateLeft || len(n.Addr) != 4 {
						t.Errorf("Members returned %s in state %v", n.Name, n.State)
						return
					}
				}
				_ = m.LocalNode().Name
			}
		})
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 3000 {
		st := states[1+rng.IntN(len(states)-1)]
		st.setState(NodeStateType(rng.IntN(4)))
		m.publish(st, false)
	}
	close(done)
	wg.Wait()
}

// benchTable returns a Memberlist whose snapshot holds 10,000 alive
// members, and their states.
func benchTable() (*Memberlist, []*nodeState) {
	m := &Memberlist{config: &Config{Name: "n0"}, snapIndex: map[string]int{}}
	m.snap.Store(&snapshot{})
	states := make([]*nodeState, 10000)
	for i := range states {
		st := &nodeState{info: makeInfo(fmt.Sprintf("n%d", i), []byte{127, 0, 0, 1}, 7946, []byte("role=web"), nil)}
		m.publish(st, false)
		states[i] = st
	}
	return m, states
}

// BenchmarkMembers reads a 10,000-member snapshot whose live members are
// already listed: the common case, one copy of the list.
// Run with -benchmem: it allocates once.
func BenchmarkMembers(b *testing.B) {
	m, _ := benchTable()
	m.Members()
	b.ReportAllocs()
	for b.Loop() {
		if len(m.Members()) != 10000 {
			b.Fatal("short")
		}
	}
}

// BenchmarkAppendMembers lists a 10,000-member snapshot into a slice the
// caller reuses: no allocation, one copy.
func BenchmarkAppendMembers(b *testing.B) {
	m, _ := benchTable()
	buf := m.AppendMembers(nil)
	b.ReportAllocs()
	for b.Loop() {
		if buf = m.AppendMembers(buf[:0]); len(buf) != 10000 {
			b.Fatal("short")
		}
	}
}

// BenchmarkMembersAfterChange changes one of 10,000 members, alternately
// to suspect and back, then reads Members: the publish of the change, then
// the listing of the new snapshot's live members and the copy.
func BenchmarkMembersAfterChange(b *testing.B) {
	m, states := benchTable()
	st := states[5000]
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		st.setState(StateSuspect - NodeStateType(i%2))
		m.publish(st, false)
		if len(m.Members()) != 10000 {
			b.Fatal("short")
		}
	}
}
