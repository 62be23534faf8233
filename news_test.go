package memberlist

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func newsMsg(s string) ref[string] { return ownBytes([]byte(s)) }

// newTestNews returns an empty queue over a table of its own, and a
// function that adds a member to that table.
func newTestNews() (*newsQueue, func() *nodeState) {
	q := &newsQueue{table: &memberTable{}}
	return q, q.table.alloc
}

func takeStrings(q *newsQueue, limit, transmitLimit int) ([]string, []uint64) {
	msgs, done := q.take(0, limit, transmitLimit)
	var out []string
	for _, m := range msgs {
		out = append(out, string(m))
	}
	return out, append([]uint64(nil), done...)
}

func TestNewsQueue(t *testing.T) {
	t.Run("newest first within a tier, least sent first across tiers", func(t *testing.T) {
		q, node := newTestNews()
		a, b, c := node(), node(), node()
		q.push(a, newsMsg("a1"), 0)
		q.push(b, newsMsg("b1"), 0)
		got, _ := takeStrings(q, 2, 3) // room for one
		require.Equal(t, []string{"b1"}, got)
		q.push(c, newsMsg("c1"), 0)
		got, _ = takeStrings(q, 100, 3)
		require.Equal(t, []string{"c1", "a1", "b1"}, got, "tier 0 newest first, then tier 1")
		got, _ = takeStrings(q, 100, 3)
		require.Equal(t, []string{"c1", "a1", "b1"}, got, "order kept as they move up together")
		require.Equal(t, 2, q.numQueued(), "b1 was sent its third time and is done")
	})

	t.Run("sent transmitLimit times then done", func(t *testing.T) {
		q, node := newTestNews()
		a := node()
		q.push(a, newsMsg("a1"), 7)
		for i := range 2 {
			got, done := takeStrings(q, 100, 3)
			require.Equal(t, []string{"a1"}, got, "take %d", i)
			require.Empty(t, done)
		}
		got, done := takeStrings(q, 100, 3)
		require.Equal(t, []string{"a1"}, got)
		require.Equal(t, []uint64{7}, done, "the notify token is done with the last send")
		require.Zero(t, q.numQueued())
		got, _ = takeStrings(q, 100, 3)
		require.Empty(t, got)
	})

	t.Run("newer news supersedes older", func(t *testing.T) {
		q, node := newTestNews()
		a := node()
		q.push(a, newsMsg("a1"), 5)
		takeStrings(q, 100, 10)
		done := q.push(a, newsMsg("a2"), 0)
		require.Equal(t, []uint64{5}, done, "the superseded message's token is done")
		require.Equal(t, 1, q.numQueued())
		got, _ := takeStrings(q, 100, 10)
		require.Equal(t, []string{"a2"}, got, "only the newest, back at tier 0")
	})

	t.Run("drop forgets a member's news", func(t *testing.T) {
		q, node := newTestNews()
		a, b := node(), node()
		q.push(a, newsMsg("a1"), 9)
		q.push(b, newsMsg("b1"), 0)
		require.Equal(t, []uint64{9}, q.drop(a))
		require.Empty(t, q.drop(a), "dropping twice is harmless")
		require.Equal(t, 1, q.numQueued())
		got, _ := takeStrings(q, 100, 10)
		require.Equal(t, []string{"b1"}, got)
	})

	t.Run("a message too long is passed over for shorter ones", func(t *testing.T) {
		q, node := newTestNews()
		a, b := node(), node()
		q.push(a, newsMsg("short"), 0)
		q.push(b, newsMsg("a much longer message"), 0)
		got, _ := takeStrings(q, 10, 10)
		require.Equal(t, []string{"short"}, got)
	})

	t.Run("overhead counts per message", func(t *testing.T) {
		q, node := newTestNews()
		a, b := node(), node()
		q.push(a, newsMsg("aa"), 0)
		q.push(b, newsMsg("bb"), 0)
		msgs, _ := q.take(3, 9, 10)
		require.Len(t, msgs, 1, "5 bytes each with overhead; 9 fit one")
	})
}

// Refutations queued with pushFirst (Config.RefutationsFirst) go out before
// all other news, however fresh, every time they are sent; among
// themselves, least sent first, newest first.
func TestNewsQueueRefutationsFirst(t *testing.T) {
	q, node := newTestNews()
	a, b, r, s, d := node(), node(), node(), node(), node()
	q.push(a, newsMsg("a1"), 0)
	q.pushFirst(r, newsMsg("r1"), 4)
	q.push(b, newsMsg("b1"), 0)
	got, _ := takeStrings(q, 2, 10) // room for one
	require.Equal(t, []string{"r1"}, got, "the refutation before fresher news")
	q.push(d, newsMsg("d1"), 0)
	got, _ = takeStrings(q, 2, 10)
	require.Equal(t, []string{"r1"}, got, "sent once, still ahead of news never sent")
	q.pushFirst(s, newsMsg("s1"), 0)
	got, _ = takeStrings(q, 6, 10)
	require.Equal(t, []string{"s1", "r1", "d1"}, got, "the refutation sent least first")
	got, _ = takeStrings(q, 100, 10)
	require.Equal(t, []string{"s1", "r1", "b1", "a1", "d1"}, got)

	// The transmit limit counts every send.
	q, node = newTestNews()
	r = node()
	q.pushFirst(r, newsMsg("r1"), 7)
	for range 3 {
		got, done := takeStrings(q, 100, 4)
		require.Equal(t, []string{"r1"}, got)
		require.Empty(t, done)
	}
	got, done := takeStrings(q, 100, 4)
	require.Equal(t, []string{"r1"}, got)
	require.Equal(t, []uint64{7}, done, "done with its fourth send, the limit")
	require.Zero(t, q.numQueued())

	// Newer news about the member supersedes a refutation, and the
	// refutations' entries are swept with the others'.
	q, node = newTestNews()
	r, a = node(), node()
	for i := range 200 {
		q.pushFirst(r, newsMsg(fmt.Sprint("r", i)), 0)
		q.push(a, newsMsg(fmt.Sprint("a", i)), 0)
	}
	require.Equal(t, 2, q.numQueued())
	require.LessOrEqual(t, q.slots, 2*q.live+64)
	got, _ = takeStrings(q, 100, 10)
	require.Equal(t, []string{"r199", "a199"}, got)
	q.push(r, newsMsg("r-news"), 0)
	got, _ = takeStrings(q, 100, 10)
	require.Equal(t, []string{"r-news", "a199"}, got, "superseded by news pushed after it")
}

// A queue that keeps being refilled with news about the same members holds
// garbage only in proportion to its live entries; the count of its slots,
// kept as entries come and go, stays the count of its chunks' entries.
func TestNewsQueueSweepsStaleEntries(t *testing.T) {
	q, node := newTestNews()
	nodes := make([]*nodeState, 10)
	for i := range nodes {
		nodes[i] = node()
	}
	counted := func() int {
		total := 0
		for _, lane := range [][]newsTier{q.first, q.tiers} {
			for _, tier := range lane {
				total += tier.count()
			}
		}
		return total
	}
	for round := range 1000 {
		for i := range nodes {
			q.push(nodes[i], newsMsg(fmt.Sprint(round)), 0)
			if round%7 == 0 && i%4 == 0 {
				q.drop(nodes[i])
			}
		}
		if round%3 == 0 {
			q.take(0, 20+round%40, 2+round%5) // some takes stop at a misfit
			require.Equal(t, counted(), q.slots, "round %d", round)
		}
	}
	require.Equal(t, 10, q.numQueued())
	require.LessOrEqual(t, q.slots, 2*q.live+64)
	require.Equal(t, counted(), q.slots)
}

// A take over a queue of many messages that do not fit gives up after a
// bounded number of misfits rather than scanning everything.
func TestNewsQueueBoundedScan(t *testing.T) {
	q, node := newTestNews()
	nodes := make([]*nodeState, 1000)
	for i := range nodes {
		nodes[i] = node()
	}
	for i := range nodes {
		q.push(nodes[i], newsMsg(fmt.Sprintf("message number %04d", i)), 0)
	}
	q.push(node(), newsMsg("tiny"), 0) // newest: taken first
	got, _ := takeStrings(q, 10, 4)
	require.Equal(t, []string{"tiny"}, got)
}

// A member's slot reused by a newer member after release carries none of
// the old member's news.
func TestNewsQueueReusedSlot(t *testing.T) {
	q, node := newTestNews()
	old := node()
	q.push(old, newsMsg("old news"), 3)
	require.Equal(t, []uint64{3}, q.drop(old))
	slot := old.slot
	q.table.release(old)
	fresh := node()
	require.Equal(t, slot, fresh.slot, "the slot is reused")
	q.push(fresh, newsMsg("fresh news"), 0)
	got, _ := takeStrings(q, 100, 5)
	require.Equal(t, []string{"fresh news"}, got)
	require.Equal(t, 1, q.numQueued())
}
