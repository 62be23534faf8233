// awareness_test.go checks the health score's clamping, timeout scaling and
// the push/pull interval scaling against values worked out by hand.

package memberlist

import (
	"math"
	"testing"
	"time"
)

func TestAwarenessApplyDelta(t *testing.T) {
	type step struct {
		delta, before, after int
	}
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"climbs and saturates at max-1", 8, []step{
			{1, 0, 1}, {2, 1, 3}, {10, 3, 7}, {1, 7, 7},
		}},
		{"falls and stops at zero", 8, []step{
			{5, 0, 5}, {-3, 5, 2}, {-10, 2, 0}, {-1, 0, 0}, {0, 0, 0},
		}},
		{"max 1 allows only zero", 1, []step{
			{1, 0, 0}, {-1, 0, 0},
		}},
		{"max 0 stays healthy", 0, []step{
			{0, 0, 0}, {3, 0, 0}, {-3, 0, 0},
		}},
		{"extreme deltas do not overflow", 8, []step{
			{math.MaxInt, 0, 7}, {math.MaxInt, 7, 7}, {math.MinInt, 7, 0}, {math.MinInt, 0, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAwareness(tt.max)
			for i, st := range tt.steps {
				before, after := a.applyDelta(st.delta)
				if before != st.before || after != st.after {
					t.Fatalf("step %d: applyDelta(%d) = (%d, %d), want (%d, %d)",
						i, st.delta, before, after, st.before, st.after)
				}
				if a.score() != st.after {
					t.Fatalf("step %d: score = %d, want %d", i, a.score(), st.after)
				}
			}
		})
	}
}

func TestAwarenessScaleTimeout(t *testing.T) {
	tests := []struct {
		max, delta int
		d, want    time.Duration
	}{
		{8, 0, time.Second, time.Second},
		{8, 1, time.Second, 2 * time.Second},
		{8, 3, 500 * time.Millisecond, 2 * time.Second},
		{8, 100, 500 * time.Millisecond, 4 * time.Second}, // saturated at 7
		{0, 5, time.Second, time.Second},
	}
	for _, tt := range tests {
		a := newAwareness(tt.max)
		a.applyDelta(tt.delta)
		if got := a.scaleTimeout(tt.d); got != tt.want {
			t.Errorf("max %d, delta %d: scaleTimeout(%v) = %v, want %v", tt.max, tt.delta, tt.d, got, tt.want)
		}
	}
}

func TestPushPullScale(t *testing.T) {
	// Up to 32 nodes unchanged; then ceil(log2(n) - 5) + 1 intervals:
	// 33..64 -> 2, 65..128 -> 3, 129..256 -> 4, 1000 and 1024 -> 6,
	// 1025 -> 7, 10000 (log2 = 13.29) -> 10.
	interval := 30 * time.Second
	tests := []struct {
		n    int
		want time.Duration
	}{
		{-1, interval},
		{0, interval},
		{1, interval},
		{32, interval},
		{33, 2 * interval},
		{64, 2 * interval},
		{65, 3 * interval},
		{128, 3 * interval},
		{129, 4 * interval},
		{256, 4 * interval},
		{1000, 6 * interval},
		{1024, 6 * interval},
		{1025, 7 * interval},
		{10000, 10 * interval},
	}
	for _, tt := range tests {
		if got := pushPullScale(interval, tt.n); got != tt.want {
			t.Errorf("pushPullScale(%v, %d) = %v, want %v", interval, tt.n, got, tt.want)
		}
	}
}
