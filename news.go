// This file owns the core's queue of member news: the alive, suspect and
// dead messages it gossips about members. Newer news about a member
// supersedes the older, so at most one message per member is pending; each
// is sent a bounded number of times, the least-sent first.
//
// The queue is built for the simulator's scale budget (DESIGN.md): while
// 10,000 nodes join, every core has news about nearly every member pending
// at once, so an entry costs 16 bytes in a chunk and nothing per member
// beyond two bytes of nodeState (newsGen), instead of a tree node, a map
// slot and a boxed Broadcast.

package memberlist

import (
	"sync"
)

// newsEntry is a pending message about the member at slot, or a stale one:
// it is live only while gen equals the member's newsGen. A zero msg is a
// hole left by an entry that was sent or found stale.
type newsEntry struct {
	msg  ref[string]
	slot uint32
	gen  uint16
}

// newsNotify is a token to emit as outNotify once the entry (node, gen) is
// done: sent as often as the limit allows, superseded, or dropped.
type newsNotify struct {
	slot  uint32
	gen   uint16
	token uint64
}

// newsQueue holds the core's member news. tiers[t] holds the entries sent t
// times so far, oldest first; a packet is filled from tier 0 up, newest
// first within a tier. Refutations queued with pushFirst
// (Config.RefutationsFirst) are a lane of their own, first, filled the same
// way before any of tiers. A member's newsGen is odd while it has a message
// pending and changes whenever that message is superseded or done, which
// turns the member's older entries stale without finding them; stale entries
// and holes are swept out whenever they outnumber the live entries.
//
// It takes no lock: the core owns it on its own goroutine.
type newsQueue struct {
	table    *memberTable // where the members are
	tiers    []newsTier
	first    []newsTier // refutations, sent before any of tiers
	live     int        // members with a message pending
	slots    int        // entries in both lanes: live, stale and holes
	notifies []newsNotify

	// Scratch reused across takes so that steady gossip does not allocate.
	resend []movedNews
	picked [][]byte
	done   []uint64
}

// newsTier is one tier's entries in fixed-size chunks, oldest first. News
// moves through the tiers as a wave, each tier swelling and then emptying
// in turn; chunks let a tier give back its memory as it empties, where a
// slice would keep room for every member in every tier.
type newsTier []*newsChunk

// newsChunkLen makes a chunk 1,024 bytes, a size class of the runtime.
const newsChunkLen = 63

// newsChunk holds up to newsChunkLen entries, filled from the front; holes
// counts the entries among the first n that are holes.
type newsChunk struct {
	n, holes int32 // 8 bytes
	e        [newsChunkLen]newsEntry
}

// newsChunks holds emptied chunks for reuse, across the cores of a
// process: news moves through the tiers as a wave, so a busy node empties
// and fills a chunk every few packets, and in a simulation of thousands of
// nodes making a 1 KiB object with pointers each time was a sixth of the
// run. A chunk in the pool has n and holes at zero and no message handles.
var newsChunks = sync.Pool{New: func() any { return new(newsChunk) }}

// release returns c to newsChunks.
func (c *newsChunk) release() {
	for i := range c.e[:c.n] {
		c.e[i].msg = ref[string]{}
	}
	c.n, c.holes = 0, 0
	newsChunks.Put(c)
}

// add appends e as the tier's newest entry.
func (t *newsTier) add(e newsEntry) {
	k := len(*t)
	if k == 0 || (*t)[k-1].n == newsChunkLen {
		*t = append(*t, newsChunks.Get().(*newsChunk))
		k++
	}
	c := (*t)[k-1]
	c.e[c.n] = e
	c.n++
}

// tidy drops the chunks that hold only holes and the holes at the tier's
// newest end, where a take leaves most of them, and returns how many slots
// it dropped.
func (t *newsTier) tidy() int {
	kept := (*t)[:0]
	dropped := 0
	for _, c := range *t {
		if c.holes == c.n {
			dropped += int(c.n)
			c.release()
			continue
		}
		kept = append(kept, c)
	}
	clear((*t)[len(kept):])
	if k := len(kept); k > 0 {
		c := kept[k-1]
		for c.n > 0 && c.e[c.n-1].msg == (ref[string]{}) {
			c.n--
			c.holes--
			dropped++
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	*t = kept
	return dropped
}

// count is how many slots the tier holds: live, stale and holes.
func (t newsTier) count() int {
	n := 0
	for _, c := range t {
		n += int(c.n)
	}
	return n
}

// movedNews is an entry sent during a take, on its way to its next tier
// (of first when it is a refutation).
type movedNews struct {
	e     newsEntry
	tier  int
	first bool
}

// maxNewsMisfits bounds how many pending messages too long for the room left
// a take passes over before it gives up on filling the packet: the tail of
// a packet is not worth a scan of a queue that holds 10,000 messages.
const maxNewsMisfits = 16

// numQueued is how many members have a message pending.
func (q *newsQueue) numQueued() int { return q.live }

// push queues msg about st, superseding st's pending message if it has one.
// It returns the notify tokens that are now done (the superseded message's).
func (q *newsQueue) push(st *nodeState, msg ref[string], notify uint64) []uint64 {
	return q.pushAt(st, msg, notify, 0)
}

// pushFirst is push for a refutation: msg goes out before all the news
// queued with push and pushAt, for every one of its sends.
func (q *newsQueue) pushFirst(st *nodeState, msg ref[string], notify uint64) []uint64 {
	return q.pushIn(&q.first, st, msg, notify, 0)
}

// pushAt is push for a message counted as already sent tier times: it
// goes out after every message sent fewer times, and fewer times itself.
func (q *newsQueue) pushAt(st *nodeState, msg ref[string], notify uint64, tier int) []uint64 {
	return q.pushIn(&q.tiers, st, msg, notify, tier)
}

// pushIn queues msg about st in (*lane)[tier]; see push.
func (q *newsQueue) pushIn(lane *[]newsTier, st *nodeState, msg ref[string], notify uint64, tier int) []uint64 {
	done := q.done[:0]
	if st.newsGen&1 == 1 {
		done = q.finish(st, done)
		st.newsGen += 2
	} else {
		st.newsGen++
		q.live++
	}
	for len(*lane) <= tier {
		*lane = append(*lane, nil)
	}
	(*lane)[tier].add(newsEntry{msg: msg, slot: st.slot, gen: st.newsGen})
	q.slots++
	if notify != 0 {
		q.notifies = append(q.notifies, newsNotify{slot: st.slot, gen: st.newsGen, token: notify})
	}
	q.maybeSweep()
	q.done = done[:0]
	return done
}

// drop forgets st's pending message, if any, as when st leaves the member
// table, and returns the notify tokens that are now done.
func (q *newsQueue) drop(st *nodeState) []uint64 {
	done := q.done[:0]
	if st.newsGen&1 == 1 {
		done = q.finish(st, done)
		st.newsGen++
		q.live--
	}
	q.maybeSweep()
	q.done = done[:0]
	return done
}

// finish appends to done the notify token waiting for st's pending message,
// if any, and forgets it.
func (q *newsQueue) finish(st *nodeState, done []uint64) []uint64 {
	for i, n := range q.notifies {
		if n.slot == st.slot && n.gen == st.newsGen {
			done = append(done, n.token)
			q.notifies = append(q.notifies[:i], q.notifies[i+1:]...)
			break
		}
	}
	return done
}

// take returns pending messages to piggyback on one packet: their lengths
// plus overhead bytes each add up to at most limit. Each returned message
// counts one more transmit; one sent transmitLimit times is done, and its
// notify token, if any, is returned in done. The messages share the
// interned bytes and must not be modified. The slices are reused by the
// next call.
func (q *newsQueue) take(overhead, limit, transmitLimit int) (msgs [][]byte, done []uint64) {
	q.fill(overhead, limit, transmitLimit)
	return q.commit()
}

// fill is the first half of take, which may run more than once for one
// packet: it picks messages into the packet being built, up to room bytes
// with overhead, and returns the bytes used. Until commit, the messages
// picked are out of the queue, so a second fill does not pick them again.
func (q *newsQueue) fill(overhead, room, transmitLimit int) int {
	if q.live == 0 {
		return 0
	}
	f := newsFill{room: room, overhead: overhead, limit: transmitLimit}
	q.fillLane(&f, q.first, true)
	q.fillLane(&f, q.tiers, false)
	return f.used
}

// newsFill is the state of one fill across the lanes.
type newsFill struct {
	room, overhead, limit int
	used, misfits         int
	full                  bool
}

// fillLane is fill for one lane's tiers, least sent first.
func (q *newsQueue) fillLane(f *newsFill, tiers []newsTier, first bool) {
	for t := 0; t < len(tiers) && !f.full; t++ {
		tier := tiers[t]
	chunks:
		for ci := len(tier) - 1; ci >= 0; ci-- {
			c := tier[ci]
			for i := c.n - 1; i >= 0; i-- {
				e := &c.e[i]
				if e.msg == (ref[string]{}) {
					continue
				}
				st := q.table.at(e.slot)
				if st.newsGen != e.gen {
					*e = newsEntry{}
					c.holes++
					continue
				}
				free := f.room - f.used - f.overhead
				msg := sharedBytes(e.msg)
				if len(msg) > free {
					f.misfits++
					if free <= 0 || f.misfits > maxNewsMisfits {
						f.full = true
						break chunks
					}
					continue
				}
				f.used += f.overhead + len(msg)
				q.picked = append(q.picked, msg)
				if t+1 >= f.limit {
					q.done = q.finish(st, q.done)
					st.newsGen++
					q.live--
				} else {
					q.resend = append(q.resend, movedNews{e: *e, tier: t + 1, first: first})
				}
				*e = newsEntry{}
				c.holes++
			}
		}
		q.slots -= tiers[t].tidy()
	}
}

// commit ends a packet begun with fill: it returns the messages picked and
// the notify tokens now done, and moves each message sent up a tier.
func (q *newsQueue) commit() (msgs [][]byte, done []uint64) {
	picked, resend, done := q.picked, q.resend, q.done
	// Entries sent move up a tier only now, or a later tier's scan for the
	// same packet would find them again. They were taken newest first;
	// appended in reverse, they keep newest-last order in their new tier.
	for i := len(resend) - 1; i >= 0; i-- {
		m := resend[i]
		lane := &q.tiers
		if m.first {
			lane = &q.first
		}
		for len(*lane) <= m.tier {
			*lane = append(*lane, nil)
		}
		(*lane)[m.tier].add(m.e)
		resend[i] = movedNews{}
	}
	// Only fill makes holes, and it tidies each tier it scanned: the count
	// of slots is kept as entries come and go, not recounted per packet.
	q.slots += len(resend)
	q.maybeSweep()
	q.picked, q.resend, q.done = picked[:0], resend[:0], done[:0]
	if len(picked) == 0 {
		picked = nil
	}
	return picked, done
}

// maybeSweep drops stale entries and holes once they outnumber the live
// entries, so they cost at most as much as the live ones. The cost of a
// sweep is paid for by the pushes and takes that made the garbage.
func (q *newsQueue) maybeSweep() {
	if q.slots <= 2*q.live+64 {
		return
	}
	q.slots = q.sweep(&q.first) + q.sweep(&q.tiers)
}

// sweep drops the stale entries and holes of a lane's tiers, and the empty
// tiers at its end, and returns how many entries it kept.
func (q *newsQueue) sweep(lane *[]newsTier) int {
	kept := 0
	for t, tier := range *lane {
		var live newsTier
		for _, c := range tier {
			for _, e := range c.e[:c.n] {
				if e.msg != (ref[string]{}) && q.table.at(e.slot).newsGen == e.gen {
					live.add(e)
				}
			}
			c.release()
		}
		(*lane)[t] = live
		kept += live.count()
	}
	for len(*lane) > 0 && len((*lane)[len(*lane)-1]) == 0 {
		*lane = (*lane)[:len(*lane)-1]
	}
	return kept
}
