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
