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
