package memberlist

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkMergeColdTables merges a 5,000-member push/pull state, all of it
// known already, into one of 100 nodes' tables in turn, as a simulation's
// nodes do: the tables together far exceed the caches, so each merge meets
// a cold table. It reports the cost per entry (see memberTable.warm).
func BenchmarkMergeColdTables(b *testing.B) {
	const cores, members = 100, 5000
	states := make([]pushNodeState, members)
	for i := range states {
		states[i] = pushNodeState{Name: fmt.Sprintf("member-%05d", i), Addr: net.IPv4(10, 0, byte(i>>8), byte(i)).To4(),
			Port: 7946, Incarnation: 1, State: StateAlive, Vsn: []uint8{1, 5, 2, 0, 0, 0}}
	}
	cs := make([]*core, cores)
	for k := range cs {
		cfg := DefaultLANConfig()
		cfg.Name = fmt.Sprintf("core-%d", k)
		cfg.LogOutput = io.Discard
		c := newCore(cfg, net.IPv4(127, 0, 0, 1).To4(), 7946, coreEnv{logger: cfg.logger(), metrics: discardMetrics{}, seed: uint64(k)})
		c.start(simEpoch, nil)
		c.mergeState(states)
		c.news = newsQueue{table: c.news.table} // drop the news the first merge made
		cs[k] = c
	}
	// Another order than the tables were filled in, as a peer's would be.
	perm := make([]pushNodeState, members)
	for i := range perm {
		perm[i] = states[(i*7919)%members]
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c := cs[(i*37)%cores]
		c.now = simEpoch.Add(time.Second)
		c.mergeState(perm)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*members), "ns/entry")
}

// BenchmarkMergeNewMembers merges a push/pull state of 10,000 members a
// node's own core has never seen (a join into a large cluster), with a
// change hook that builds each member's Node, as the shell's snapshot does.
func BenchmarkMergeNewMembers(b *testing.B) {
	const members = 10000
	states := make([]pushNodeState, members)
	for i := range states {
		states[i] = pushNodeState{Name: fmt.Sprintf("member-%05d", i), Addr: net.IPv4(10, 0, byte(i>>8), byte(i)).To4(),
			Port: 7946, Meta: []byte("role=web"), Incarnation: 1, State: StateAlive, Vsn: []uint8{1, 5, 2, 0, 0, 0}}
	}
	var sink *Node
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		cfg := DefaultLANConfig()
		cfg.Name = "joiner"
		cfg.LogOutput = io.Discard
		c := newCore(cfg, net.IPv4(127, 0, 0, 1).To4(), 7946, coreEnv{logger: cfg.logger(), metrics: discardMetrics{}, seed: 1})
		c.onChange = func(st *nodeState, removed bool) { sink = st.toNode() }
		c.start(simEpoch, nil)
		b.StartTimer()
		c.mergeState(states)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*members), "ns/entry")
	_ = sink
}
