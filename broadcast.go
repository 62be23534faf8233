// broadcast.go owns gossip broadcasts: the Broadcast interfaces that users and
// the protocol core implement, broadcastQueue, which decides which queued
// messages ride on each outgoing packet, and retransmitLimit, which bounds how
// often a message is repeated as the cluster grows. The queue takes no lock;
// transmit_queue.go wraps it for concurrent use as TransmitLimitedQueue.

package memberlist

import (
	"math"
	"slices"

	"github.com/google/btree"
)

// Broadcast is a message that the cluster spreads by gossip: it is piggybacked
// on outgoing packets a bounded number of times and then dropped.
type Broadcast interface {
	// Invalidates reports whether queueing this broadcast makes the already
	// queued broadcast b obsolete, in which case b is dropped unsent.
	Invalidates(b Broadcast) bool

	// Message returns the bytes to gossip. The queue sorts by its length, so
	// the length must not change while the broadcast is queued.
	Message() []byte

	// Finished is called exactly once, when the queue lets go of the
	// broadcast: it was invalidated, pruned or reset, or it was sent as many
	// times as the retransmit limit allows.
	Finished()
}

// NamedBroadcast is a Broadcast with an identity. Queueing one replaces the
// queued broadcast of the same name in constant time instead of asking every
// queued broadcast's Invalidates; Invalidates should still match on Name so
// that both paths agree. An empty Name is treated as no name.
type NamedBroadcast interface {
	Broadcast

	// Name identifies what the broadcast is about: a newer broadcast with the
	// same name supersedes an older one.
	Name() string
}

// UniqueBroadcast marks a Broadcast that never supersedes another, which lets
// the queue skip the search for broadcasts it would invalidate. Its
// Invalidates should always return false.
type UniqueBroadcast interface {
	Broadcast

	// UniqueBroadcast only marks the type; it is never called.
	UniqueBroadcast()
}

// broadcastQueue holds broadcasts waiting to be gossiped. Each take hands out
// as many as fit in a packet, preferring those sent the fewest times so far
// (so fresh news spreads first), and a broadcast is dropped once it has been
// sent as many times as the caller's transmit limit allows.
//
// It takes no lock and is not safe for concurrent use: the protocol core owns
// one on its own goroutine, and TransmitLimitedQueue wraps one in a mutex for
// users. For the wrapper's sake the methods that let go of broadcasts do not
// call Finished: they append the broadcasts to the caller's done slice, so
// the caller finishes them once its own state is consistent (and its lock, if
// any, released). The zero value is an empty queue.
type broadcastQueue struct {
	tree   *btree.BTreeG[*queuedBroadcast]
	byName map[string]*queuedBroadcast
	// byNameGrown is set once byName held more than maxSpareBroadcasts
	// names: a Go map keeps its peak size, so when the queue empties such a
	// map is dropped for a fresh one (a simulator runs thousands of queues
	// that each swell during formation and then drain).
	byNameGrown bool
	lastID      int64

	// Entries no longer queued, kept for reuse so that steady-state
	// queueing does not allocate.
	spare []*queuedBroadcast

	// pivot is the search key of longestFitting, kept here so that passing
	// its address to the tree does not allocate.
	pivot queuedBroadcast

	// Scratch slices reused across calls so that steady-state calls do
	// not allocate; they are cleared after use so that they pin no
	// messages.
	resend  []*queuedBroadcast
	victims []*queuedBroadcast
	picked  [][]byte
}

// maxSpareBroadcasts bounds the entries kept for reuse, so that a burst of broadcasts
// does not pin its memory for the life of the queue: a simulator runs
// thousands of queues, and a few dozen spares cover a node's steady churn.
const maxSpareBroadcasts = 64

// broadcastKind records which optional interface a broadcast implements, so
// the invalidation scan needs no type assertions.
type broadcastKind uint8

const (
	broadcastPlain broadcastKind = iota
	broadcastNamed
	broadcastUnique
)

// queuedBroadcast is one queue entry; its position is (transmits, msgLen,
// id), see queuedBefore. The tree holds pointers rather than values because
// comparisons dominate the queue's cost, and copying two entries into every
// comparison made filling a packet about 1.5 times slower; entries are
// recycled instead, so pointers cost no allocation in steady state.
type queuedBroadcast struct {
	transmits int32
	kind      broadcastKind
	msgLen    int64
	id        int64
	b         Broadcast
	name      string // only for a NamedBroadcast with a non-empty Name
}

// queuedBefore orders the queue by fewest transmits first; within a tier by
// longest message first, so that take can seek straight to the longest
// message that still fits; and among equal lengths newest first.
// Ids are unique among queued entries, so this is a strict total order.
func queuedBefore(x, y *queuedBroadcast) bool {
	if x.transmits != y.transmits {
		return x.transmits < y.transmits
	}
	if x.msgLen != y.msgLen {
		return x.msgLen > y.msgLen
	}
	return x.id > y.id
}

// queueBTreeDegree matches the reference's fan-out; the queue is small and
// short-lived, so the choice matters little.
const queueBTreeDegree = 32

// retransmitLimit is how many times a broadcast is sent in a cluster of n
// nodes: retransmitMult times the number of decimal digits of n, i.e.
// ceil(log10(n+1)). A cluster of zero nodes gets zero, meaning each broadcast
// is sent once and dropped.
func retransmitLimit(retransmitMult, n int) int {
	if n < 0 {
		// A negative estimate is nonsense; log10 of it would be NaN.
		n = 0
	}
	digits := math.Ceil(math.Log10(float64(n + 1)))
	return retransmitMult * int(digits)
}

// describe fills e with what the queue needs to know about b, as an entry
// that has already been sent transmits times. It is separate from add so that
// TransmitLimitedQueue can call the user's methods before taking its lock.
func (e *queuedBroadcast) describe(b Broadcast, transmits int) {
	*e = queuedBroadcast{
		transmits: int32(transmits),
		kind:      broadcastPlain,
		msgLen:    int64(len(b.Message())),
		b:         b,
	}
	if nb, ok := b.(NamedBroadcast); ok {
		e.kind, e.name = broadcastNamed, nb.Name()
	} else if _, ok := b.(UniqueBroadcast); ok {
		e.kind = broadcastUnique
	}
}

// queueBroadcast queues b and finishes the broadcasts it replaces before
// returning; it is add for an owner that holds no lock.
func (q *broadcastQueue) queueBroadcast(b Broadcast) {
	var e queuedBroadcast
	e.describe(b, 0)
	var buf [4]Broadcast
	finishBroadcasts(q.add(&e, buf[:0]))
}

// getBroadcasts is take for an owner that holds no lock: the broadcasts that
// reach transmitLimit are finished before it returns.
func (q *broadcastQueue) getBroadcasts(overhead, limit, transmitLimit int) [][]byte {
	var buf [8]Broadcast
	out, done := q.take(overhead, limit, transmitLimit, buf[:0])
	finishBroadcasts(done)
	return out
}

// add queues the broadcast that e describes, copying e into a recycled entry:
// passing a pointer to the caller's stack copy keeps the 56-byte entry from
// being copied once more per call. A queued broadcast with the same name (for
// a NamedBroadcast) or one that it invalidates (for a plain Broadcast) is
// dropped and appended to done; a UniqueBroadcast drops nothing.
func (q *broadcastQueue) add(e *queuedBroadcast, done []Broadcast) []Broadcast {
	q.lazyInit()
	item := q.newEntry()
	*item = *e
	item.id = q.nextID()
	switch {
	case item.name != "":
		if old, ok := q.byName[item.name]; ok {
			done = append(done, old.b)
			q.discard(old)
		}
	case item.kind == broadcastUnique:
		// Nothing to invalidate by contract.
	default:
		// A plain broadcast, or a named one without a name, has to ask
		// about every plain queued broadcast. Named and unique entries are
		// only ever replaced through their own mechanisms.
		done = q.invalidate(item.b, done)
	}
	q.insert(item)
	return done
}

// invalidate discards the plain queued broadcasts that b invalidates and
// appends them to done.
func (q *broadcastQueue) invalidate(b Broadcast, done []Broadcast) []Broadcast {
	victims := q.victims[:0]
	q.tree.Ascend(func(cur *queuedBroadcast) bool {
		if cur.kind == broadcastPlain && b.Invalidates(cur.b) {
			victims = append(victims, cur)
		}
		return true
	})
	// The tree must not change while it is walked, hence the second pass.
	for i, cur := range victims {
		done = append(done, cur.b)
		q.discard(cur)
		victims[i] = nil
	}
	q.victims = victims[:0]
	return done
}

// take returns queued messages to piggyback on one packet: their lengths plus
// overhead bytes each add up to at most limit. It fills the space tier by
// tier, fewest transmits first, and within a tier takes the longest message
// that still fits, then looks again with what is left, so a short message
// from a later tier can fill a gap that a long one left. Each returned
// broadcast counts one more transmit; one that reaches transmitLimit is
// removed and appended to done. The messages are nil when nothing fits.
func (q *broadcastQueue) take(overhead, limit, transmitLimit int, done []Broadcast) ([][]byte, []Broadcast) {
	if q.numQueued() == 0 {
		return nil, done
	}

	first, _ := q.tree.Min()
	last, _ := q.tree.Max()
	picked := q.picked[:0]
	resend := q.resend[:0]
	used := 0
	for tier := first.transmits; tier <= last.transmits; {
		free := int64(limit - used - overhead)
		if free <= 0 {
			break
		}
		cur, msg, nextTier := q.longestFitting(tier, free)
		if cur == nil {
			if nextTier <= tier {
				break // no later tier holds anything
			}
			tier = nextTier
			continue
		}

		used += overhead + len(msg)
		picked = append(picked, msg)
		if int(cur.transmits)+1 >= transmitLimit {
			done = append(done, cur.b)
			q.discard(cur)
		} else {
			// Out of the tree while its key changes, and back in only
			// after the walk, or the next tier's search would find it
			// again. It stays in the name index throughout.
			q.tree.Delete(cur)
			cur.transmits++
			resend = append(resend, cur)
		}
	}

	for i, cur := range resend {
		q.tree.ReplaceOrInsert(cur)
		resend[i] = nil
	}
	q.resend = resend[:0]

	var out [][]byte
	if len(picked) > 0 {
		out = make([][]byte, len(picked))
		copy(out, picked)
		clear(picked)
	}
	q.picked = picked[:0]
	return out, done
}

// longestFitting finds, in the given transmit tier, the first entry in queue
// order whose message is at most free bytes long: the longest such message,
// the newest among equals. When the tier has none it returns nil and the next
// non-empty tier, or -1 when there is none.
func (q *broadcastQueue) longestFitting(tier int32, free int64) (found *queuedBroadcast, msg []byte, nextTier int32) {
	nextTier = -1
	// The smallest possible entry of this tier with a message of exactly
	// free bytes: everything at or after it in the tier fits by length.
	q.pivot = queuedBroadcast{transmits: tier, msgLen: free, id: math.MaxInt64}
	q.tree.AscendGreaterOrEqual(&q.pivot, func(cur *queuedBroadcast) bool {
		if cur.transmits != tier {
			nextTier = cur.transmits
			return false
		}
		m := cur.b.Message()
		if int64(len(m)) > free {
			// The message grew since it was queued, breaking the
			// contract; skip it rather than overfill the packet.
			return true
		}
		found, msg = cur, m
		return false
	})
	return found, msg, nextTier
}

// numQueued returns the number of broadcasts waiting in the queue.
func (q *broadcastQueue) numQueued() int {
	if q.tree == nil {
		return 0
	}
	return q.tree.Len()
}

// reset empties the queue, appending every broadcast in it to done in queue
// order.
func (q *broadcastQueue) reset(done []Broadcast) []Broadcast {
	if q.tree != nil {
		done = slices.Grow(done, q.tree.Len())
		q.tree.Ascend(func(cur *queuedBroadcast) bool {
			done = append(done, cur.b)
			return true
		})
	}
	// Dropped rather than cleared so that a queue that was once large
	// gives its memory back.
	*q = broadcastQueue{}
	return done
}

// prune keeps at most maxRetain broadcasts, dropping those that have been
// sent the most times (the oldest first among equals) and appending them to
// done, so that a queue that is filled faster than it drains stays bounded.
func (q *broadcastQueue) prune(maxRetain int, done []Broadcast) []Broadcast {
	maxRetain = max(maxRetain, 0)
	for q.numQueued() > maxRetain {
		cur, _ := q.tree.Max()
		done = append(done, cur.b)
		q.discard(cur)
	}
	return done
}

// lazyInit builds the tree and index on first use, so that the zero value
// works.
func (q *broadcastQueue) lazyInit() {
	if q.tree == nil {
		q.tree = btree.NewG(queueBTreeDegree, queuedBefore)
	}
	if q.byName == nil {
		q.byName = make(map[string]*queuedBroadcast)
	}
}

// nextID stamps entries in queueing order. Ids only order entries that are in
// the queue together, so the counter wraps instead of overflowing and
// restarts whenever the queue is empty.
func (q *broadcastQueue) nextID() int64 {
	if q.tree.Len() == 0 || q.lastID == math.MaxInt64 {
		q.lastID = 0
	}
	q.lastID++
	return q.lastID
}

// newEntry returns a spare entry or a new one.
func (q *broadcastQueue) newEntry() *queuedBroadcast {
	if n := len(q.spare); n > 0 {
		e := q.spare[n-1]
		q.spare[n-1] = nil
		q.spare = q.spare[:n-1]
		return e
	}
	return new(queuedBroadcast)
}

// insert adds an entry to the tree and, if named, to the name index.
func (q *broadcastQueue) insert(cur *queuedBroadcast) {
	q.tree.ReplaceOrInsert(cur)
	if cur.name != "" {
		if q.byName == nil {
			q.byName = make(map[string]*queuedBroadcast)
		}
		q.byName[cur.name] = cur
		if len(q.byName) > maxSpareBroadcasts {
			q.byNameGrown = true
		}
	}
}

// discard takes an entry out of the queue for good and keeps it for reuse.
// The caller has already taken what it needs from the entry.
func (q *broadcastQueue) discard(cur *queuedBroadcast) {
	q.tree.Delete(cur)
	if cur.name != "" {
		delete(q.byName, cur.name)
		if q.byNameGrown && len(q.byName) == 0 {
			q.byName, q.byNameGrown = nil, false
		}
	}
	if len(q.spare) < maxSpareBroadcasts {
		*cur = queuedBroadcast{} // pins no broadcast while spare
		q.spare = append(q.spare, cur)
	}
}

// finishBroadcasts tells each broadcast the queue is done with it. Callers
// run it once no queue state is in flux, and TransmitLimitedQueue only after
// releasing its mutex, so Finished may call back into the queue.
func finishBroadcasts(done []Broadcast) {
	for _, b := range done {
		b.Finished()
	}
}
