// awareness.go owns the Lifeguard local health score and the scaling math
// built on it and on cluster size: a node that misses acks or has to refute
// suspicions of itself is probably the slow one, so it stretches its own probe
// interval and timeout instead of accusing healthy peers. It also owns
// pushPullScale, which stretches the push/pull interval in large clusters. All
// of it is pure; the caller emits the health metric when the score changes.

package memberlist

import (
	"math"
	"time"
)

// awareness is the local health score: 0 is healthy, max-1 the worst. It is a
// plain value owned by the core, which is single-threaded, so it needs no lock.
type awareness struct {
	max    int
	health int
}

// newAwareness returns a healthy score that saturates at max-1. A max below 1
// allows no range at all, so the score then stays at 0 and never scales
// anything (the reference would drive it to -1 and scale timeouts to zero).
func newAwareness(max int) *awareness {
	return &awareness{max: max}
}

// applyDelta moves the score by delta, clamped to [0, max-1], and returns the
// score before and after so that the caller can emit a metric only on change.
func (a *awareness) applyDelta(delta int) (before, after int) {
	before = a.health
	top := a.max - 1
	if top < 0 {
		top = 0
	}
	// Compared against the room left instead of adding first, so that no
	// delta, however large, can overflow past the clamp.
	switch {
	case delta >= top-a.health:
		a.health = top
	case delta <= -a.health:
		a.health = 0
	default:
		a.health += delta
	}
	return before, a.health
}

// score is the current health score, 0 being healthy.
func (a *awareness) score() int {
	return a.health
}

// scaleTimeout stretches d by the health score: d * (score+1), so a healthy
// node uses d unchanged.
func (a *awareness) scaleTimeout(d time.Duration) time.Duration {
	return d * time.Duration(a.health+1)
}

// pushPullScaleThreshold is the cluster size up to which the push/pull
// interval is used as configured.
const pushPullScaleThreshold = 32

// pushPullScale stretches the push/pull interval for clusters above
// pushPullScaleThreshold nodes, by one more interval each time the cluster
// doubles, so that full state syncs do not saturate the network as it grows:
// interval * (ceil(log2(n) - log2(32)) + 1).
func pushPullScale(interval time.Duration, n int) time.Duration {
	if n <= pushPullScaleThreshold {
		return interval
	}
	doublings := math.Ceil(math.Log2(float64(n)) - math.Log2(pushPullScaleThreshold))
	return time.Duration(doublings+1) * interval
}
