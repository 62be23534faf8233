// transmit_queue.go owns TransmitLimitedQueue, the exported broadcast queue
// that users share between goroutines. The algorithm lives in broadcast.go's
// broadcastQueue; this file adds only the mutex and the rule that the user's
// callbacks run outside it.

package memberlist

import "sync"

// TransmitLimitedQueue holds broadcasts waiting to be gossiped. Each call to
// GetBroadcasts hands out as many as fit in a packet, preferring those sent the
// fewest times so far (so fresh news spreads first), and a broadcast is dropped
// once it has been sent retransmitLimit times.
//
// The zero value is an empty queue, ready once NumNodes and RetransmitMult are
// set. Unlike the protocol core's own queue, this one is shared state: users
// queue broadcasts from their own goroutines (from delegates, or their own
// code) while the node gossips, so every method is safe for concurrent use and
// guards the queue with a mutex. NumNodes and Finished are called without that
// mutex held, so they may call back into the queue; Invalidates, and Message
// during GetBroadcasts, are called with it held and must not.
type TransmitLimitedQueue struct {
	// NumNodes returns the estimated cluster size; the number of times a
	// broadcast is sent grows with its logarithm. A nil NumNodes counts as a
	// cluster of one.
	NumNodes func() int

	// RetransmitMult scales the number of times each broadcast is sent.
	RetransmitMult int

	mu sync.Mutex
	q  broadcastQueue
}

// QueueBroadcast adds b to the queue. A queued broadcast with the same name
// (for a NamedBroadcast) or one that b invalidates (for a plain Broadcast) is
// dropped and finished; a UniqueBroadcast drops nothing.
func (q *TransmitLimitedQueue) QueueBroadcast(b Broadcast) {
	q.queueAt(b, 0)
}

// queueAt queues b as if it had already been sent transmits times; tests use
// it to build queues with several tiers.
func (q *TransmitLimitedQueue) queueAt(b Broadcast, transmits int) {
	// The user's methods are asked before locking, so they can be slow or
	// use the queue without holding everyone else up.
	var e queuedBroadcast
	e.describe(b, transmits)
	var buf [4]Broadcast
	q.mu.Lock()
	done := q.q.add(&e, buf[:0])
	q.mu.Unlock()
	finishBroadcasts(done)
}

// GetBroadcasts returns queued messages to piggyback on one packet: their
// lengths plus overhead bytes each add up to at most limit. It fills the space
// tier by tier, fewest transmits first, and within a tier takes the longest
// message that still fits, then looks again with what is left, so a short
// message from a later tier can fill a gap that a long one left. Each returned
// broadcast counts one more transmit; one that reaches the retransmit limit is
// removed and finished. It returns nil when nothing fits.
func (q *TransmitLimitedQueue) GetBroadcasts(overhead, limit int) [][]byte {
	// Asked before taking the lock so that NumNodes may use the queue.
	transmitLimit := retransmitLimit(q.RetransmitMult, q.numNodes())
	var buf [8]Broadcast
	q.mu.Lock()
	out, done := q.q.take(overhead, limit, transmitLimit, buf[:0])
	q.mu.Unlock()
	finishBroadcasts(done)
	return out
}

// NumQueued returns the number of broadcasts waiting in the queue.
func (q *TransmitLimitedQueue) NumQueued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.q.numQueued()
}

// Reset empties the queue, finishing every broadcast in it. It is meant for
// tests.
func (q *TransmitLimitedQueue) Reset() {
	q.mu.Lock()
	done := q.q.reset(nil)
	q.mu.Unlock()
	finishBroadcasts(done)
}

// Prune keeps at most maxRetain broadcasts, dropping and finishing those that
// have been sent the most times (the oldest first among equals), so that a
// queue that is filled faster than it drains stays bounded.
func (q *TransmitLimitedQueue) Prune(maxRetain int) {
	q.mu.Lock()
	done := q.q.prune(maxRetain, nil)
	q.mu.Unlock()
	finishBroadcasts(done)
}

// numNodes asks the user's NumNodes, treating a missing one as a lone node.
func (q *TransmitLimitedQueue) numNodes() int {
	if q.NumNodes == nil {
		return 1
	}
	return q.NumNodes()
}
