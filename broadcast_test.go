// broadcast_test.go checks the queue algorithm of broadcast.go through
// TransmitLimitedQueue's methods: its order, invalidation by Invalidates and
// by name, packing under a byte limit, retransmit limits, pruning, and that
// every broadcast is finished exactly once. A seeded script pins the core's
// lock-free broadcastQueue to the same behaviour, and the benchmarks measure
// both.

package memberlist

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// finishLog counts Finished calls per broadcast, safely across goroutines.
type finishLog struct {
	mu    sync.Mutex
	count map[string]int
	order []string
}

func newFinishLog() *finishLog { return &finishLog{count: map[string]int{}} }

func (f *finishLog) finished(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count[id]++
	f.order = append(f.order, id)
}

func (f *finishLog) times(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count[id]
}

func (f *finishLog) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.count {
		n += c
	}
	return n
}

// plainBcast invalidates another plainBcast with the same non-empty key, or
// everything when greedy.
type plainBcast struct {
	id, key string
	msg     []byte
	greedy  bool
	log     *finishLog
}

func (b *plainBcast) Invalidates(o Broadcast) bool {
	if b.greedy {
		return true
	}
	p, ok := o.(*plainBcast)
	return ok && b.key != "" && p.key == b.key
}
func (b *plainBcast) Message() []byte { return b.msg }
func (b *plainBcast) Finished() {
	if b.log != nil {
		b.log.finished(b.id)
	}
}

// namedBcast counts Invalidates calls: the queue must not need them.
type namedBcast struct {
	id, name string
	msg      []byte
	asked    *int
	log      *finishLog
}

func (b *namedBcast) Invalidates(o Broadcast) bool {
	if b.asked != nil {
		*b.asked++
	}
	n, ok := o.(NamedBroadcast)
	return ok && n.Name() == b.name
}
func (b *namedBcast) Message() []byte { return b.msg }
func (b *namedBcast) Name() string    { return b.name }
func (b *namedBcast) Finished() {
	if b.log != nil {
		b.log.finished(b.id)
	}
}

type uniqueBcast struct {
	id    string
	msg   []byte
	asked *int
	log   *finishLog
}

func (b *uniqueBcast) Invalidates(Broadcast) bool {
	if b.asked != nil {
		*b.asked++
	}
	return false
}
func (b *uniqueBcast) Message() []byte  { return b.msg }
func (b *uniqueBcast) UniqueBroadcast() {}
func (b *uniqueBcast) Finished() {
	if b.log != nil {
		b.log.finished(b.id)
	}
}

// plain is shorthand for a plain broadcast whose id is its message.
func plain(msg string, log *finishLog) *plainBcast {
	return &plainBcast{id: msg, msg: []byte(msg), log: log}
}

// queueOrder lists the queued messages in queue order.
func queueOrder(q *TransmitLimitedQueue) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.q.order()
}

func (q *broadcastQueue) order() []string {
	var out []string
	if q.tree == nil {
		return out
	}
	q.tree.Ascend(func(cur *queuedBroadcast) bool {
		out = append(out, string(cur.b.Message()))
		return true
	})
	return out
}

func strs(msgs [][]byte) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m)
	}
	return out
}

func TestRetransmitLimit(t *testing.T) {
	// ceil(log10(n+1)) is the number of decimal digits of n.
	tests := []struct {
		mult, n, want int
	}{
		{3, 0, 0},
		{3, 1, 3},
		{3, 9, 3},
		{3, 10, 6},
		{3, 99, 6},
		{3, 100, 9},
		{4, 999, 12},
		{4, 1000, 16},
		{4, 10000, 20},
		{0, 500, 0},
		{2, -7, 0},
	}
	for _, tt := range tests {
		if got := retransmitLimit(tt.mult, tt.n); got != tt.want {
			t.Errorf("retransmitLimit(%d, %d) = %d, want %d", tt.mult, tt.n, got, tt.want)
		}
	}
}

func TestQueueOrder(t *testing.T) {
	// Fewest transmits first; within a tier the longest message first; among
	// equal lengths the newest first.
	q := &TransmitLimitedQueue{NumNodes: func() int { return 10 }, RetransmitMult: 3}
	q.queueAt(plain("t1-aa", nil), 1)
	q.queueAt(plain("t0-a", nil), 0)
	q.queueAt(plain("t0-bbbbb", nil), 0)
	q.queueAt(plain("t0-c", nil), 0)
	q.queueAt(plain("t2-long-one", nil), 2)
	q.queueAt(plain("t1-b", nil), 1)

	want := []string{"t0-bbbbb", "t0-c", "t0-a", "t1-aa", "t1-b", "t2-long-one"}
	if got := queueOrder(q); !slices.Equal(got, want) {
		t.Fatalf("order = %q, want %q", got, want)
	}
	if n := q.NumQueued(); n != len(want) {
		t.Fatalf("NumQueued = %d, want %d", n, len(want))
	}
}

func TestGetBroadcastsPacking(t *testing.T) {
	type queued struct {
		msg       string
		transmits int
	}
	tests := []struct {
		name            string
		queue           []queued
		overhead, limit int
		want            []string
		left            []string
	}{
		{
			name:     "longest first until full",
			queue:    []queued{{"aaaa", 0}, {"bb", 0}, {"c", 0}},
			overhead: 2, limit: 10,
			// 2+4, then 2+2 fills the 10 bytes exactly; c no longer fits.
			want: []string{"aaaa", "bb"},
			left: []string{"c", "aaaa", "bb"},
		},
		{
			name:     "skips what does not fit and fills from a later tier",
			queue:    []queued{{"xxxxxxxx", 0}, {"yy", 1}, {"zzzzzz", 1}},
			overhead: 1, limit: 6,
			// 5 bytes free: nothing of tier 0 fits, zzzzzz is too long, yy fits.
			want: []string{"yy"},
			left: []string{"xxxxxxxx", "zzzzzz", "yy"},
		},
		{
			name:     "fills a gap with a short message after a long one",
			queue:    []queued{{"0123456789", 0}, {"abcdef", 0}, {"q", 2}},
			overhead: 3, limit: 17,
			// 3+10 leaves 4: abcdef cannot fit, 3+1 for q fills it.
			want: []string{"0123456789", "q"},
			left: []string{"abcdef", "0123456789", "q"},
		},
		{
			name:     "limit at the overhead sends nothing",
			queue:    []queued{{"a", 0}},
			overhead: 5, limit: 5,
			want: nil,
			left: []string{"a"},
		},
		{
			name:     "negative limit sends nothing",
			queue:    []queued{{"a", 0}},
			overhead: 0, limit: -1,
			want: nil,
			left: []string{"a"},
		},
		{
			name:     "everything fits and keeps tier order",
			queue:    []queued{{"late", 3}, {"mid", 1}, {"new", 0}},
			overhead: 0, limit: 1000,
			want: []string{"new", "mid", "late"},
			left: []string{"new", "mid"}, // late reached the limit of 4
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 9 nodes and mult 4: each broadcast is sent 4 times.
			q := &TransmitLimitedQueue{NumNodes: func() int { return 9 }, RetransmitMult: 4}
			for _, b := range tt.queue {
				q.queueAt(plain(b.msg, nil), b.transmits)
			}
			got := q.GetBroadcasts(tt.overhead, tt.limit)
			if !slices.Equal(strs(got), tt.want) {
				t.Fatalf("GetBroadcasts = %q, want %q", strs(got), tt.want)
			}
			if tt.want == nil && got != nil {
				t.Fatalf("GetBroadcasts = %#v, want nil", got)
			}
			if left := queueOrder(q); !slices.Equal(left, tt.left) {
				t.Fatalf("queue after = %q, want %q", left, tt.left)
			}
		})
	}
}

func TestGetBroadcastsNewestFirstAmongEqual(t *testing.T) {
	q := &TransmitLimitedQueue{NumNodes: func() int { return 9 }, RetransmitMult: 4}
	q.QueueBroadcast(plain("old", nil))
	q.QueueBroadcast(plain("mid", nil))
	q.QueueBroadcast(plain("new", nil))
	// Room for one message at a time: the newest wins, then the rest in turn
	// (a sent message moves to the next tier, behind the unsent ones).
	var got []string
	for range 3 {
		got = append(got, strs(q.GetBroadcasts(0, 3))...)
	}
	if want := []string{"new", "mid", "old"}; !slices.Equal(got, want) {
		t.Fatalf("sends = %q, want %q", got, want)
	}
}

func TestGetBroadcastsSkipsAMessageThatGrew(t *testing.T) {
	// Message lengths must not change while queued. If one does, the
	// packet limit still holds: the grown message is skipped, not sent.
	q := &TransmitLimitedQueue{NumNodes: func() int { return 9 }, RetransmitMult: 4}
	grower := plain("gg", nil)
	q.QueueBroadcast(plain("ok", nil))
	q.QueueBroadcast(grower)
	grower.msg = make([]byte, 50)
	if got := strs(q.GetBroadcasts(1, 10)); !slices.Equal(got, []string{"ok"}) {
		t.Fatalf("GetBroadcasts = %q, want only ok", got)
	}
	if n := q.NumQueued(); n != 2 {
		t.Fatalf("NumQueued = %d, want 2", n)
	}
}

func TestGetBroadcastsRetransmitLimit(t *testing.T) {
	tests := []struct {
		name      string
		numNodes  func() int
		mult      int
		wantSends int
	}{
		{"ten nodes, mult 2", func() int { return 10 }, 2, 4},
		{"nine nodes, mult 3", func() int { return 9 }, 3, 3},
		{"zero nodes sends once", func() int { return 0 }, 3, 1},
		{"zero mult sends once", func() int { return 1000 }, 0, 1},
		{"nil NumNodes is one node", nil, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := newFinishLog()
			q := &TransmitLimitedQueue{NumNodes: tt.numNodes, RetransmitMult: tt.mult}
			q.QueueBroadcast(plain("m", log))
			sends := 0
			for range 20 {
				if len(q.GetBroadcasts(0, 100)) == 1 {
					sends++
				}
				if q.NumQueued() == 0 {
					break
				}
				if log.times("m") != 0 {
					t.Fatal("finished while still queued")
				}
			}
			if sends != tt.wantSends {
				t.Fatalf("sent %d times, want %d", sends, tt.wantSends)
			}
			if n := log.times("m"); n != 1 {
				t.Fatalf("Finished called %d times, want 1", n)
			}
			if got := q.GetBroadcasts(0, 100); got != nil {
				t.Fatalf("empty queue returned %q", strs(got))
			}
		})
	}
}

func TestQueueBroadcastInvalidation(t *testing.T) {
	log := newFinishLog()
	asked := 0
	q := &TransmitLimitedQueue{NumNodes: func() int { return 10 }, RetransmitMult: 3}

	q.QueueBroadcast(&plainBcast{id: "p1", key: "x", msg: []byte("p1"), log: log})
	q.QueueBroadcast(&plainBcast{id: "p2", key: "y", msg: []byte("p2"), log: log})
	q.QueueBroadcast(&namedBcast{id: "n1", name: "node-a", msg: []byte("n1"), asked: &asked, log: log})
	q.QueueBroadcast(&uniqueBcast{id: "u1", msg: []byte("u1"), asked: &asked, log: log})

	// Same key replaces p1 only.
	q.QueueBroadcast(&plainBcast{id: "p3", key: "x", msg: []byte("p3"), log: log})
	if log.times("p1") != 1 || log.times("p2") != 0 {
		t.Fatalf("after p3: p1 finished %d, p2 finished %d; want 1, 0", log.times("p1"), log.times("p2"))
	}

	// Same name replaces n1 without asking anyone's Invalidates.
	q.QueueBroadcast(&namedBcast{id: "n2", name: "node-a", msg: []byte("n2"), asked: &asked, log: log})
	if log.times("n1") != 1 {
		t.Fatalf("n1 finished %d times, want 1", log.times("n1"))
	}

	// A unique broadcast never invalidates, even with a same-looking body.
	q.QueueBroadcast(&uniqueBcast{id: "u2", msg: []byte("u1"), asked: &asked, log: log})
	if asked != 0 {
		t.Fatalf("Invalidates of named/unique broadcasts asked %d times, want 0", asked)
	}

	// A greedy plain broadcast invalidates every plain one but cannot touch
	// named or unique ones.
	q.QueueBroadcast(&plainBcast{id: "g", greedy: true, msg: []byte("g"), log: log})
	for _, id := range []string{"p2", "p3"} {
		if log.times(id) != 1 {
			t.Fatalf("%s finished %d times, want 1", id, log.times(id))
		}
	}
	got := queueOrder(q)
	slices.Sort(got)
	if want := []string{"g", "n2", "u1", "u1"}; !slices.Equal(got, want) {
		t.Fatalf("queue = %q, want %q", got, want)
	}
	if n := log.total(); n != 4 {
		t.Fatalf("%d Finished calls, want 4", n)
	}
}

func TestNamedBroadcastWithEmptyNameIsScanned(t *testing.T) {
	// An empty Name means no identity: the broadcast goes through the
	// Invalidates scan like a plain one, and is never in the name index.
	log := newFinishLog()
	q := &TransmitLimitedQueue{NumNodes: func() int { return 10 }, RetransmitMult: 3}
	q.QueueBroadcast(&plainBcast{id: "p", msg: []byte("p"), log: log})
	q.QueueBroadcast(&namedBcast{id: "e1", msg: []byte("e1"), log: log})
	q.QueueBroadcast(&plainBcast{id: "g", greedy: true, msg: []byte("g"), log: log})
	if log.times("p") != 1 || log.times("e1") != 0 {
		t.Fatalf("p finished %d, e1 finished %d; want 1, 0", log.times("p"), log.times("e1"))
	}
	q.QueueBroadcast(&namedBcast{id: "e2", msg: []byte("e2"), log: log})
	if log.times("e1") != 0 || q.NumQueued() != 3 {
		t.Fatalf("empty names replaced each other: e1 finished %d, %d queued", log.times("e1"), q.NumQueued())
	}
	if len(q.q.byName) != 0 {
		t.Fatalf("name index holds %d entries, want 0", len(q.q.byName))
	}
}

func TestNameIndexFollowsResends(t *testing.T) {
	// After a send moves a named broadcast to the next tier, replacing it by
	// name must still find and remove it.
	log := newFinishLog()
	q := &TransmitLimitedQueue{NumNodes: func() int { return 100 }, RetransmitMult: 3}
	q.QueueBroadcast(&namedBcast{id: "v1", name: "a", msg: []byte("v1"), log: log})
	if got := strs(q.GetBroadcasts(0, 100)); !slices.Equal(got, []string{"v1"}) {
		t.Fatalf("sent %q", got)
	}
	q.QueueBroadcast(&namedBcast{id: "v2", name: "a", msg: []byte("v2"), log: log})
	if log.times("v1") != 1 || q.NumQueued() != 1 {
		t.Fatalf("v1 finished %d times and %d queued, want 1 and 1", log.times("v1"), q.NumQueued())
	}
	if got := queueOrder(q); !slices.Equal(got, []string{"v2"}) {
		t.Fatalf("queue = %q", got)
	}
}

func TestPrune(t *testing.T) {
	tests := []struct {
		name      string
		maxRetain int
		left      []string
		finished  []string // in the order Finished is called
	}{
		{"keep all", 10, []string{"a0", "b0", "c1", "d2"}, nil},
		{"keep exact", 4, []string{"a0", "b0", "c1", "d2"}, nil},
		{"drop the most sent first", 2, []string{"a0", "b0"}, []string{"d2", "c1"}},
		{"drop all", 0, nil, []string{"d2", "c1", "b0", "a0"}},
		{"negative drops all", -3, nil, []string{"d2", "c1", "b0", "a0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := newFinishLog()
			q := &TransmitLimitedQueue{NumNodes: func() int { return 10 }, RetransmitMult: 3}
			q.queueAt(plain("b0", log), 0)
			q.queueAt(plain("c1", log), 1)
			q.queueAt(plain("d2", log), 2)
			q.queueAt(plain("a0", log), 0) // newest of tier 0
			q.Prune(tt.maxRetain)
			if got := queueOrder(q); !slices.Equal(got, tt.left) {
				t.Fatalf("left = %q, want %q", got, tt.left)
			}
			if !slices.Equal(log.order, tt.finished) {
				t.Fatalf("finished = %q, want %q", log.order, tt.finished)
			}
		})
	}
}

func TestReset(t *testing.T) {
	log := newFinishLog()
	q := &TransmitLimitedQueue{NumNodes: func() int { return 10 }, RetransmitMult: 3}
	q.QueueBroadcast(plain("a", log))
	q.QueueBroadcast(&namedBcast{id: "n", name: "n", msg: []byte("n"), log: log})
	q.QueueBroadcast(&uniqueBcast{id: "u", msg: []byte("u"), log: log})
	q.Reset()
	if q.NumQueued() != 0 || log.total() != 3 {
		t.Fatalf("after Reset: %d queued, %d finished; want 0, 3", q.NumQueued(), log.total())
	}
	// Still usable, and the name index was reset too.
	q.QueueBroadcast(&namedBcast{id: "n2", name: "n", msg: []byte("n2"), log: log})
	if log.times("n") != 1 || q.NumQueued() != 1 {
		t.Fatalf("after requeue: n finished %d, %d queued", log.times("n"), q.NumQueued())
	}
}

// TestFinishedExactlyOnce runs a seeded mix of every operation and checks the
// books after each one: every broadcast is either queued or finished once.
func TestFinishedExactlyOnce(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			log := newFinishLog()
			q := &TransmitLimitedQueue{NumNodes: func() int { return 1 + rng.IntN(200) }, RetransmitMult: 2}
			made := 0
			for step := range 500 {
				switch op := rng.IntN(10); {
				case op < 3:
					id := fmt.Sprint("p", made)
					msg := make([]byte, 1+rng.IntN(40))
					q.QueueBroadcast(&plainBcast{id: id, key: fmt.Sprint(rng.IntN(8)), msg: msg, log: log})
					made++
				case op < 6:
					id := fmt.Sprint("n", made)
					msg := make([]byte, 1+rng.IntN(40))
					q.QueueBroadcast(&namedBcast{id: id, name: fmt.Sprint(rng.IntN(8)), msg: msg, log: log})
					made++
				case op < 7:
					q.QueueBroadcast(&uniqueBcast{id: fmt.Sprint("u", made), msg: make([]byte, 1+rng.IntN(40)), log: log})
					made++
				case op < 9:
					overhead, limit := rng.IntN(4), rng.IntN(120)
					used := 0
					for _, m := range q.GetBroadcasts(overhead, limit) {
						used += overhead + len(m)
					}
					if used > limit {
						t.Fatalf("step %d: used %d bytes of %d", step, used, limit)
					}
				default:
					q.Prune(rng.IntN(10))
				}
				for id, c := range log.count {
					if c != 1 {
						t.Fatalf("step %d: %s finished %d times", step, id, c)
					}
				}
				if got := log.total() + q.NumQueued(); got != made {
					t.Fatalf("step %d: %d finished + queued, want %d made", step, got, made)
				}
			}
			q.Reset()
			if got := log.total(); got != made {
				t.Fatalf("after Reset %d finished, want %d", got, made)
			}
		})
	}
}

// coreQueue drives a broadcastQueue the way the core does, finishing inline
// and passing the transmit limit on each take, behind TransmitLimitedQueue's
// method set, so that one script or benchmark can run on either.
type coreQueue struct {
	q        broadcastQueue
	numNodes func() int
	mult     int
}

func (c *coreQueue) QueueBroadcast(b Broadcast) { c.q.queueBroadcast(b) }
func (c *coreQueue) queueAt(b Broadcast, transmits int) {
	var e queuedBroadcast
	e.describe(b, transmits)
	finishBroadcasts(c.q.add(&e, nil))
}
func (c *coreQueue) GetBroadcasts(overhead, limit int) [][]byte {
	return c.q.getBroadcasts(overhead, limit, retransmitLimit(c.mult, c.numNodes()))
}
func (c *coreQueue) NumQueued() int  { return c.q.numQueued() }
func (c *coreQueue) Prune(n int)     { finishBroadcasts(c.q.prune(n, nil)) }
func (c *coreQueue) Reset()          { finishBroadcasts(c.q.reset(nil)) }
func (c *coreQueue) order() []string { return c.q.order() }

// anyQueue is what the script and the benchmarks need of a queue.
type anyQueue interface {
	QueueBroadcast(b Broadcast)
	queueAt(b Broadcast, transmits int)
	GetBroadcasts(overhead, limit int) [][]byte
	NumQueued() int
	Prune(maxRetain int)
	Reset()
	order() []string
}

func (q *TransmitLimitedQueue) order() []string { return queueOrder(q) }

// queueKinds builds each implementation of the queue for a cluster of
// numNodes() nodes and retransmit multiplier mult.
var queueKinds = []struct {
	name string
	make func(numNodes func() int, mult int) anyQueue
}{
	{"TransmitLimitedQueue", func(n func() int, mult int) anyQueue {
		return &TransmitLimitedQueue{NumNodes: n, RetransmitMult: mult}
	}},
	{"broadcastQueue", func(n func() int, mult int) anyQueue {
		return &coreQueue{numNodes: n, mult: mult}
	}},
}

// TestCoreQueueMatchesTransmitLimitedQueue plays one seeded script of every
// operation on the core's queue and on the exported one and requires the
// same outputs, the same queue order and the same Finished calls after each
// step, so that the two cannot drift apart.
func TestCoreQueueMatchesTransmitLimitedQueue(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 2))
			nodes := 1
			numNodes := func() int { return nodes }
			mult := 1 + rng.IntN(3)
			var queues [2]anyQueue
			var logs [2]*finishLog
			for i, k := range queueKinds {
				queues[i], logs[i] = k.make(numNodes, mult), newFinishLog()
			}

			made := 0
			for step := range 600 {
				// Each queue gets its own copy of a broadcast so that
				// Finished lands in its own log.
				var mk func(log *finishLog) Broadcast
				id := fmt.Sprint(made)
				// Unique messages make the order comparable; their
				// lengths vary so that packing has choices to make.
				msg := id + "-" + string(make([]byte, rng.IntN(30)))
				switch op := rng.IntN(19); {
				case op < 4:
					key, greedy := fmt.Sprint(rng.IntN(6)), rng.IntN(25) == 0
					mk = func(log *finishLog) Broadcast {
						return &plainBcast{id: id, key: key, greedy: greedy, msg: []byte(msg), log: log}
					}
				case op < 8:
					name := fmt.Sprint(rng.IntN(6))
					if rng.IntN(8) == 0 {
						name = "" // scanned like a plain broadcast
					}
					mk = func(log *finishLog) Broadcast {
						return &namedBcast{id: id, name: name, msg: []byte(msg), log: log}
					}
				case op < 10:
					mk = func(log *finishLog) Broadcast {
						return &uniqueBcast{id: id, msg: []byte(msg), log: log}
					}
				case op < 16:
					overhead, limit := rng.IntN(4), rng.IntN(150)
					nodes = rng.IntN(120)
					var got [2][]string
					for i, q := range queues {
						got[i] = strs(q.GetBroadcasts(overhead, limit))
					}
					if !slices.Equal(got[0], got[1]) {
						t.Fatalf("step %d: GetBroadcasts(%d, %d) = %q and %q", step, overhead, limit, got[0], got[1])
					}
				case op < 18:
					n := rng.IntN(12)
					for _, q := range queues {
						q.Prune(n)
					}
				default:
					for _, q := range queues {
						q.Reset()
					}
				}
				if mk != nil {
					transmits := 0
					if rng.IntN(4) == 0 {
						transmits = 1 + rng.IntN(3)
					}
					for i, q := range queues {
						if transmits == 0 {
							q.QueueBroadcast(mk(logs[i]))
						} else {
							q.queueAt(mk(logs[i]), transmits)
						}
					}
					made++
				}

				if a, b := queues[0].NumQueued(), queues[1].NumQueued(); a != b {
					t.Fatalf("step %d: NumQueued = %d and %d", step, a, b)
				}
				if a, b := queues[0].order(), queues[1].order(); !slices.Equal(a, b) {
					t.Fatalf("step %d: order = %q and %q", step, a, b)
				}
				if a, b := logs[0].order, logs[1].order; !slices.Equal(a, b) {
					t.Fatalf("step %d: finished %q and %q", step, a, b)
				}
			}
		})
	}
}

func BenchmarkQueueBroadcast(b *testing.B) {
	benchQueueBroadcast(b, queueKinds[0].make)
}

func BenchmarkCoreQueueBroadcast(b *testing.B) {
	benchQueueBroadcast(b, queueKinds[1].make)
}

func BenchmarkGetBroadcasts(b *testing.B) {
	benchGetBroadcasts(b, queueKinds[0].make)
}

func BenchmarkCoreGetBroadcasts(b *testing.B) {
	benchGetBroadcasts(b, queueKinds[1].make)
}

// benchQueueBroadcast measures queueing in the steady state of a busy node.
func benchQueueBroadcast(b *testing.B, newQueue func(numNodes func() int, mult int) anyQueue) {
	// Updates about a bounded set of members replace each other by name.
	const members = 1024
	numNodes := func() int { return members }
	bcasts := make([]*namedBcast, members)
	for i := range bcasts {
		bcasts[i] = &namedBcast{name: fmt.Sprint("node-", i), msg: make([]byte, 40+i%60)}
	}
	b.Run("named", func(b *testing.B) {
		q := newQueue(numNodes, 4)
		for _, nb := range bcasts {
			q.QueueBroadcast(nb)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			q.QueueBroadcast(bcasts[i%members])
		}
	})
	b.Run("unique", func(b *testing.B) {
		q := newQueue(numNodes, 4)
		u := &uniqueBcast{msg: make([]byte, 64)}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			q.QueueBroadcast(u)
			if i%32 == 31 {
				q.Prune(members)
			}
		}
	})
	b.Run("plain-scan-256", func(b *testing.B) {
		q := newQueue(numNodes, 4)
		plains := make([]*plainBcast, 256)
		for i := range plains {
			plains[i] = &plainBcast{key: fmt.Sprint(i), msg: make([]byte, 40+i%60)}
			q.QueueBroadcast(plains[i])
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			q.QueueBroadcast(plains[i%len(plains)])
		}
	})
}

// benchGetBroadcasts measures filling a full UDP packet from a queue of 512
// member updates; the retransmit limit is out of reach so the queue never
// drains.
func benchGetBroadcasts(b *testing.B, newQueue func(numNodes func() int, mult int) anyQueue) {
	const queued = 512
	q := newQueue(func() int { return 1000 }, 1<<20)
	for i := range queued {
		q.QueueBroadcast(&namedBcast{name: fmt.Sprint("node-", i), msg: make([]byte, 30+i%90)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if len(q.GetBroadcasts(2, 1400)) == 0 {
			b.Fatal("nothing fitted")
		}
	}
}

// A queue that swelled and drained lets go of its swollen name index (a Go
// map keeps its peak size), and keeps working afterwards.
func TestQueueDropsGrownNameIndexWhenEmpty(t *testing.T) {
	var q broadcastQueue
	for i := range 500 {
		q.queueBroadcast(&namedBcast{name: fmt.Sprintf("n%d", i), msg: []byte("m")})
	}
	require.True(t, q.byNameGrown)
	for q.numQueued() > 0 {
		q.getBroadcasts(2, 1400, 1)
	}
	require.Nil(t, q.byName, "the drained queue drops its 500-name map")
	q.queueBroadcast(&namedBcast{name: "again", msg: []byte("m")})
	q.queueBroadcast(&namedBcast{name: "again", msg: []byte("m2")})
	require.Equal(t, 1, q.numQueued(), "naming still replaces")
}
