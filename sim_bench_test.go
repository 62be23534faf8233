package memberlist

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSimulationMinute measures the wall time and memory to simulate one
// virtual minute of a converged cluster of each size.
func BenchmarkSimulationMinute(b *testing.B) {
	for _, n := range []int{100} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			s := NewSimulation(SimConfig{Seed: 1, Latency: time.Millisecond, Jitter: time.Millisecond})
			for i := range n {
				if err := s.AddNode(fmt.Sprintf("n%d", i)); err != nil {
					b.Fatal(err)
				}
			}
			for i := 1; i < n; i++ {
				_ = s.Join(fmt.Sprintf("n%d", i), "n0")
			}
			s.RunFor(time.Minute)
			b.ResetTimer()
			b.ReportAllocs()
			for range b.N {
				s.RunFor(time.Minute)
			}
		})
	}
}

// benchClusters keeps the formed clusters between the calls testing makes
// of one benchmark, as forming 1,000 nodes takes longer than the
// measurement.
var benchClusters = map[int]*Simulation{}

// BenchmarkSimulation measures 10 virtual seconds of a formed cluster on a
// lossy (5%), jittery network in which one node has crashed: the steady
// state of the crash scenario, per operation. Compare with benchstat;
// ns/op divided by 10 is the wall time per virtual second.
func BenchmarkSimulation(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			if n > 100 && testing.Short() {
				b.Skip("1,000 nodes take a minute to form; not under -short")
			}
			s := benchClusters[n]
			if s == nil {
				s = NewSimulation(SimConfig{Seed: 1, Latency: time.Millisecond, Jitter: time.Millisecond, PacketLoss: 0.05, LossyStreams: true,
					OnTransition: func(SimTransition) {}})
				for i := range n {
					if err := s.AddNode(fmt.Sprintf("n%d", i)); err != nil {
						b.Fatal(err)
					}
					if i > 0 {
						_ = s.Join(fmt.Sprintf("n%d", i), "n0")
					}
					if i%50 == 49 {
						s.RunFor(100 * time.Millisecond)
					}
				}
				s.RunFor(30 * time.Second)
				_ = s.Crash("n7")
				benchClusters[n] = s
			}
			b.ResetTimer()
			b.ReportAllocs()
			for range b.N {
				s.RunFor(10 * time.Second)
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/10/1e9, "wall-s/virtual-s")
		})
	}
}
