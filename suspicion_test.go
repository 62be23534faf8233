// suspicion_test.go checks the Lifeguard suspicion math against values worked
// out by hand from the reference's formulas, and the suspicion value's
// confirmation bookkeeping against a naive model, and the heap that orders
// a core's suspicions by deadline against a sorted list, and that a
// suspicion keeps no view of the packet that raised it.

package memberlist

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestSuspicionTimeout(t *testing.T) {
	// mult * max(1, log10(n)) * interval, with log10(n) truncated to
	// thousandths first: log10(5) = 0.69897 is below 1; log10(50) = 1.69897
	// -> 1.698; log10(64) = 1.80617997 -> 1.806.
	tests := []struct {
		mult, n  int
		interval time.Duration
		want     time.Duration
	}{
		{3, 0, time.Second, 3 * time.Second},
		{3, 1, time.Second, 3 * time.Second},
		{3, 5, time.Second, 3 * time.Second},
		{3, 10, time.Second, 3 * time.Second},
		{3, 50, time.Second, 5094 * time.Millisecond},
		{3, 100, time.Second, 6 * time.Second},
		{3, 1000, time.Second, 9 * time.Second},
		{4, 10000, time.Second, 16 * time.Second},
		{4, 5, 200 * time.Millisecond, 800 * time.Millisecond},
		{5, 64, 500 * time.Millisecond, 4515 * time.Millisecond},
		// The integer division comes last: 2 * 1806 * 333ns / 1000.
		{2, 64, 333 * time.Nanosecond, 1202 * time.Nanosecond},
		{6, -4, time.Second, 6 * time.Second},
	}
	for _, tt := range tests {
		if got := suspicionTimeout(tt.mult, tt.n, tt.interval); got != tt.want {
			t.Errorf("suspicionTimeout(%d, %d, %v) = %v, want %v", tt.mult, tt.n, tt.interval, got, tt.want)
		}
	}
}

func TestRemainingSuspicionTime(t *testing.T) {
	// max - log(n+1)/log(k+1) * (max-min), floored to ms, at least min.
	// k=3: n=1 -> log2/log4 = 0.5 -> 30-14 = 16s; n=2 -> log3/log4 =
	// 0.792481 -> 30-22.1895 = 7.8105s -> 7810ms.
	// k=2, min 1s, max 6s: n=1 -> log2/log3 = 0.6309 -> 6-3.1546 = 2.845s.
	tests := []struct {
		n, k              int
		elapsed, min, max time.Duration
		want              time.Duration
	}{
		{0, 3, 0, 2 * time.Second, 30 * time.Second, 30 * time.Second},
		{1, 3, 0, 2 * time.Second, 30 * time.Second, 16 * time.Second},
		{2, 3, 0, 2 * time.Second, 30 * time.Second, 7810 * time.Millisecond},
		{3, 3, 0, 2 * time.Second, 30 * time.Second, 2 * time.Second},
		{4, 3, 0, 2 * time.Second, 30 * time.Second, 2 * time.Second},
		{1, 3, 3 * time.Second, 2 * time.Second, 30 * time.Second, 13 * time.Second},
		{3, 3, 5 * time.Second, 2 * time.Second, 30 * time.Second, -3 * time.Second},
		{2, 3, 0, 5 * time.Second, 30 * time.Second, 10187 * time.Millisecond},
		{1, 2, 0, time.Second, 6 * time.Second, 2845 * time.Millisecond},
		{2, 2, 0, time.Second, 6 * time.Second, time.Second},
		// No confirmations expected: the minimum.
		{0, 0, 0, 2 * time.Second, 30 * time.Second, 2 * time.Second},
		{5, 0, time.Second, 2 * time.Second, 30 * time.Second, time.Second},
		{0, -1, 0, 2 * time.Second, 30 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		got := remainingSuspicionTime(tt.n, tt.k, tt.elapsed, tt.min, tt.max)
		if got != tt.want {
			t.Errorf("remainingSuspicionTime(%d, %d, %v, %v, %v) = %v, want %v",
				tt.n, tt.k, tt.elapsed, tt.min, tt.max, got, tt.want)
		}
	}
}

func TestSuspicionConfirm(t *testing.T) {
	start := 90*time.Second + 7*time.Millisecond // since the core's epoch
	s := newSuspicion("origin", 3, 2*time.Second, 30*time.Second, start)
	var more []uint64 // k=3: the third confirmer goes past seen
	steps := []struct {
		from     string
		accepted bool
		n        int
		deadline time.Duration // after start
	}{
		{"origin", false, 0, 30 * time.Second}, // the accuser is not a confirmation
		{"b", true, 1, 16 * time.Second},
		{"b", false, 1, 16 * time.Second}, // repeated gossip counts once
		{"c", true, 2, 7810 * time.Millisecond},
		{"d", true, 3, 2 * time.Second},
		{"e", false, 3, 2 * time.Second}, // k reached: nothing more to learn
		{"origin", false, 3, 2 * time.Second},
	}
	for i, st := range steps {
		if got := s.confirm(st.from, &more); got != st.accepted {
			t.Fatalf("step %d: confirm(%q) = %v, want %v", i, st.from, got, st.accepted)
		}
		if got := s.confirmations(); got != st.n {
			t.Fatalf("step %d: confirmations = %d, want %d", i, got, st.n)
		}
		if got := s.deadline() - start; got != st.deadline {
			t.Fatalf("step %d: deadline = start+%v, want start+%v", i, got, st.deadline)
		}
	}
}

func TestSuspicionWithoutExpectedConfirmations(t *testing.T) {
	start := 90*time.Second + 7*time.Millisecond // since the core's epoch
	for _, k := range []int{0, -2} {
		s := newSuspicion("a", k, 3*time.Second, 18*time.Second, start)
		if got := s.deadline() - start; got != 3*time.Second {
			t.Fatalf("k=%d: deadline = start+%v, want start+3s", k, got)
		}
		var more []uint64
		if s.confirm("b", &more) {
			t.Fatalf("k=%d: confirm accepted", k)
		}
		if s.confirmations() != 0 {
			t.Fatalf("k=%d: confirmations = %d", k, s.confirmations())
		}
	}
}

func TestSuspicionDeadlineStartsAtUnflooredMax(t *testing.T) {
	// With no confirmation yet the deadline is exactly max, as the
	// reference's first timer, even where the millisecond-floored formula
	// would say otherwise: here max is not a whole number of milliseconds.
	start := 90*time.Second + 7*time.Millisecond // since the core's epoch
	max := 6*time.Second + 250*time.Microsecond
	s := newSuspicion("a", 2, time.Second, max, start)
	if got := s.deadline() - start; got != max {
		t.Fatalf("deadline = start+%v, want start+%v", got, max)
	}
	if floored := remainingSuspicionTime(0, 2, 0, time.Second, max); floored != 6*time.Second {
		t.Fatalf("formula at n=0 = %v, want the floored 6s", floored)
	}
}

// naiveDeadline restates the rule from scratch: a set of distinct
// confirmers, the originator excluded and at most k counted.
func naiveDeadline(start time.Duration, k int, min, max time.Duration, n int) time.Duration {
	if k < 1 {
		return start + min
	}
	if n == 0 {
		return start + max
	}
	ratio := math.Log(float64(n+1)) / math.Log(float64(k+1))
	ms := math.Floor(1000 * (max.Seconds() - ratio*(max.Seconds()-min.Seconds())))
	timeout := time.Duration(ms) * time.Millisecond
	if timeout < min {
		timeout = min
	}
	return start + timeout
}

func TestSuspicionDeadlineProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	start := 90*time.Second + 7*time.Millisecond // since the core's epoch
	for trial := range 2000 {
		k := rng.IntN(8) - 1
		min := time.Duration(rng.Int64N(int64(20 * time.Second)))
		max := min + time.Duration(rng.Int64N(int64(120*time.Second)))
		names := 1 + rng.IntN(12)
		origin := fmt.Sprint("n", rng.IntN(names))
		var set suspicionSet
		s := set.add(uint32(trial), newSuspicion(origin, k, min, max, start))

		seen := map[string]bool{origin: true}
		counted := 0
		prev := s.deadline()
		for step := range 20 {
			from := fmt.Sprint("n", rng.IntN(names))
			wantAccept := !seen[from] && counted < k
			if wantAccept {
				seen[from] = true
				counted++
			}
			if got := set.counts(s, from); got != wantAccept {
				t.Fatalf("trial %d step %d: counts(%q) = %v, want %v", trial, step, from, got, wantAccept)
			}
			if got := set.confirm(s, from); got != wantAccept {
				t.Fatalf("trial %d step %d: confirm(%q) = %v, want %v", trial, step, from, got, wantAccept)
			}
			if s.confirmations() != counted {
				t.Fatalf("trial %d step %d: confirmations = %d, want %d", trial, step, s.confirmations(), counted)
			}
			d := s.deadline()
			if want := naiveDeadline(start, k, min, max, counted); d != want {
				t.Fatalf("trial %d step %d: deadline = %v, want %v (k=%d n=%d min=%v max=%v)",
					trial, step, d-start, want-start, k, counted, min, max)
			}
			if d > prev {
				t.Fatalf("trial %d step %d: deadline moved later: %v -> %v", trial, step, prev-start, d-start)
			}
			if d < start+min || d > start+max {
				t.Fatalf("trial %d step %d: deadline start+%v outside [%v, %v]", trial, step, d-start, min, max)
			}
			if k >= 1 && counted == k && d != start+min {
				t.Fatalf("trial %d step %d: all %d confirmations in but deadline start+%v, want start+%v",
					trial, step, k, d-start, min)
			}
			prev = d
		}
		kept := len(s.seen) + len(set.more[s.slot])
		if 1+int(s.n) < len(s.seen) {
			kept = 1 + int(s.n)
		}
		if kept != 1+int(s.n) {
			t.Fatalf("trial %d: %d accusers kept for %d confirmations", trial, kept, s.n)
		}
		if kept > k+1 && kept > 1 {
			t.Fatalf("trial %d: kept %d accusers for k=%d", trial, kept, k)
		}
		set.end(s)
		if set.len() != 0 || len(set.more) != 0 {
			t.Fatalf("trial %d: an ended suspicion left %d suspicions, %d lists of confirmers", trial, set.len(), len(set.more))
		}
	}
}

// The suspect heap against a model: random suspicions added and set,
// confirmed (which pulls a deadline earlier) and ended, then popped in order
// of deadline and, for equal deadlines, of when each deadline was set.
func TestSuspectHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	start := 90*time.Second + 7*time.Millisecond // since the core's epoch
	compacted := 0
	for trial := range 300 {
		var ss suspicionSet
		var live []uint32 // slots: an end may move the suspicions
		seq := uint32(0)
		set := func(s *suspicion) {
			seq++
			s.seq = seq
			ss.set(s)
		}
		slot := uint32(0)
		ops := 1 + rng.IntN(200)
		if trial%3 == 0 {
			ops = 1000 + rng.IntN(300) // long enough to grow and shrink
		}
		for i := range ops {
			adds, confirms := 5, 8
			if trial%3 == 0 && i > 700 {
				adds, confirms = 1, 3 // mostly ends: the set compacts on the way down
			}
			chunks := len(ss.chunks)
			switch op := rng.IntN(10); {
			case op < adds || len(live) == 0:
				// Few distinct times, so that ties are common.
				at := start + time.Duration(rng.IntN(20))*time.Second
				slot++
				s := ss.add(slot, newSuspicion("o", rng.IntN(4), time.Second, 6*time.Second, at))
				live = append(live, slot)
				set(s)
			case op < confirms:
				s := ss.get(live[rng.IntN(len(live))])
				if ss.confirm(s, fmt.Sprint("c", rng.IntN(5))) {
					set(s)
				}
			default:
				i := rng.IntN(len(live))
				s := ss.get(live[i])
				ss.end(s)
				if ss.get(live[i]) != nil {
					t.Fatalf("trial %d: an ended suspicion is still found", trial)
				}
				live = append(live[:i], live[i+1:]...)
			}
			if n := len(ss.chunks); n < chunks && n > 0 {
				compacted++
			}
			if ss.heapLen() != len(live) || ss.len() != len(live) {
				t.Fatalf("trial %d: heap holds %d, set %d, want %d", trial, ss.heapLen(), ss.len(), len(live))
			}
			for i, id := range ss.heap {
				if s := ss.at(id); int(s.idx) != i || s.id != id {
					t.Fatalf("trial %d: entry %d says it is at %d, id %d for %d", trial, i, s.idx, s.id, id)
				}
				if i > 0 && ss.less(i, (i-1)/2) {
					t.Fatalf("trial %d: entry %d comes before its parent", trial, i)
				}
			}
			for _, slot := range live {
				if s := ss.get(slot); s == nil || s.slot != slot {
					t.Fatalf("trial %d: slot %d does not find its suspicion", trial, slot)
				}
			}
		}
		type key struct {
			deadline time.Duration
			seq      uint32
		}
		var want []key
		for _, slot := range live {
			s := ss.get(slot)
			want = append(want, key{s.deadline(), s.seq})
		}
		slices.SortFunc(want, func(a, b key) int {
			if c := cmp.Compare(a.deadline, b.deadline); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
		for i, w := range want {
			got := ss.top()
			if got.deadline() != w.deadline || got.seq != w.seq {
				t.Fatalf("trial %d: pop %d gave deadline %v seq %d, want %v seq %d", trial, i,
					got.deadline()-start, got.seq, w.deadline-start, w.seq)
			}
			ss.end(got)
		}
	}
	if compacted == 0 {
		t.Fatal("no trial compacted the set")
	}
}

// A partition makes every node suspect half the cluster at once: a
// suspicion is 80 bytes with no pointer, kept in its set's chunks, and
// raising, confirming and ending one allocates nothing once the set has
// room; past LAN settings' two confirmations, the set keeps the rest.
func TestSuspicionSize(t *testing.T) {
	if got := unsafe.Sizeof(suspicion{}); got != 80 {
		t.Fatalf("suspicion is %d bytes, want 80", got)
	}
	var ss suspicionSet
	ss.add(0, newSuspicion("origin", 2, time.Second, 6*time.Second, 0)) // room
	if allocs := testing.AllocsPerRun(100, func() {
		s := ss.add(1, newSuspicion("origin", 2, time.Second, 6*time.Second, 0))
		ss.set(s)
		ss.confirm(s, "a")
		ss.set(s)
		ss.confirm(s, "b")
		ss.set(s)
		ss.end(s)
	}); allocs != 0 {
		t.Fatalf("a LAN suspicion and its two confirmations allocate %v times, want 0", allocs)
	}
	s := ss.add(1, newSuspicion("origin", 4, time.Second, 6*time.Second, 0))
	for _, from := range []string{"a", "b", "c", "d", "c", "e"} {
		ss.confirm(s, from)
	}
	require.Equal(t, 4, s.confirmations())
	require.Len(t, ss.more[1], 2)
	require.False(t, ss.counts(s, "d"))
	ss.end(s)
	require.Empty(t, ss.more)
}

// An accusation's names are decoded as views of its packet (accusationView),
// and a transport may reuse the packet once handled: the suspicion keeps
// only keys of the names, so what counts stays as it was.
func TestSuspicionKeepsNoViewOfThePacket(t *testing.T) {
	h := newHarness(t, nil)
	h.addPeer("a", 2, 1)
	h.addPeer("bb", 3, 1)
	h.addPeer("cc", 4, 1)
	for i, from := range []string{"bb", "cc"} {
		buf, err := encodeMsg(suspectMsg, &suspect{Incarnation: 1, Node: "a", From: from}, false)
		require.NoError(t, err)
		h.c.handlePacket(h.now, buf, peerAddr, h.now)
		for k := range buf {
			buf[k] = 'x' // the transport reuses the buffer
		}
		s := h.c.suspicions.get(h.c.index.get("a").slot)
		require.NotNil(t, s)
		require.True(t, s.raisedBy("bb"))
		require.Equal(t, i, s.confirmations())
		if i == 1 {
			require.False(t, h.c.suspicions.counts(s, "cc"), "cc's confirmation counted once")
			require.False(t, h.c.suspicions.counts(s, "bb"), "the origin is no confirmation")
		}
	}
	require.Equal(t, StateSuspect, h.state("a"))
}

// Most of a partition's suspicions end while others still run: the set
// gives back the room of its peak without waiting for the last one, and
// what runs is found and ordered as before.
func TestSuspicionSetCompacts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var ss suspicionSet
	var live []*suspicion
	for i := range 1000 {
		at := time.Duration(rng.IntN(50)) * time.Second
		s := ss.add(uint32(i), newSuspicion("o", 2, time.Second, 6*time.Second, at))
		s.seq = uint32(i)
		ss.set(s)
		live = append(live, s)
	}
	peak := len(ss.chunks)
	rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	keep := map[uint32]time.Duration{}
	for _, s := range live[:30] {
		keep[s.slot] = s.deadline()
	}
	var ending []uint32
	for _, s := range live[30:] {
		ending = append(ending, s.slot)
	}
	for _, slot := range ending {
		ss.end(ss.get(slot)) // an end may move the others: find each anew
	}
	require.Equal(t, 30, ss.len())
	require.Less(t, len(ss.chunks), peak/4, "the room of the peak was given back")
	for slot, d := range keep {
		s := ss.get(slot)
		require.NotNil(t, s)
		require.Equal(t, slot, s.slot)
		require.Equal(t, d, s.deadline())
	}
	prev := time.Duration(-1)
	for ss.heapLen() > 0 {
		s := ss.top()
		require.GreaterOrEqual(t, s.deadline(), prev)
		prev = s.deadline()
		delete(keep, s.slot)
		ss.end(s)
	}
	require.Empty(t, keep)
	require.Equal(t, suspicionSet{}, ss)
}
