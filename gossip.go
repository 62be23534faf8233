// This file owns gossip: the round that sends queued broadcasts to a few
// random members every GossipInterval, the core's own broadcasts (news about
// members, which supersede each other per member), how the room left in a
// packet is shared between them and the delegate's user broadcasts, and how
// much room a packet has.

package memberlist

import (
	"unique"
	"unsafe"
)

// gossip sends pending broadcasts to a few random members: live, suspect, or
// dead for less than GossipToTheDeadTime (so the dead hear they are dead).
func (c *core) gossip() {
	start := c.now
	peers := c.kRandomNodes(c.cfg.GossipNodes, func(n *nodeState) bool {
		if n.name() == c.cfg.Name {
			return true
		}
		switch n.state() {
		case StateAlive, StateSuspect:
			return false
		case StateDead:
			return c.stateAge(n) > c.cfg.GossipToTheDeadTime
		default:
			return true
		}
	})
	avail := c.packetRoom(0)
	for _, peer := range peers {
		msgs := c.getBroadcasts(compoundOverhead, avail)
		if len(msgs) == 0 {
			break
		}
		if len(msgs) == 1 {
			// A lone message would go out as the packet itself: copy the
			// shared bytes, since a transport may do what it likes with
			// the buffer it is given.
			buf := getPacketBuf(crcHeaderLen + len(msgs[0]))
			copy(buf[crcHeaderLen:], msgs[0])
			c.rawSendAfter(c.addressOf(peer), peer, crcHeaderLen, buf)
			continue
		}
		for len(msgs) > 0 {
			var pkt []byte
			pkt, msgs = nextCompound(crcHeaderLen, msgs)
			c.rawSendAfter(c.addressOf(peer), peer, crcHeaderLen, pkt)
		}
	}
	c.metrics.AddSampleWithLabels(keyGossip, msSince(c.now, start), c.labels)
}

// packetRoom is how many bytes of messages fit in one datagram that already
// carries msgLen bytes: UDPBufferSize less the compound header, the label
// header and, when this node encrypts what it sends (a primary key, see
// Config.outboundKey), the encryption overhead.
func (c *core) packetRoom(msgLen int) int {
	room := c.cfg.UDPBufferSize - msgLen - compoundHeaderOverhead - labelOverhead(c.cfg.Label)
	if c.cfg.outboundKey() != nil {
		room -= encryptOverhead(c.encryptionVersion())
	}
	return room
}

// sharedBytes views the bytes of an interned string without copying. The
// result is read-only: every user of a broadcast's message only reads it
// (packets are built by copying it, see gossip), so the string's
// immutability holds.
func sharedBytes(h ref[string]) []byte {
	s := h.Value()
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// internBytes returns the handle of b's bytes. unique.Make copies a string
// it has not seen, so b is looked up through a view rather than converted
// first: news every other core already interned costs no copy at all.
func internBytes(b []byte) ref[string] {
	return interned(unique.Make(unsafe.String(unsafe.SliceData(b), len(b))))
}

// encodeAndBroadcast queues msg, news about member st, for gossip. notify,
// when non-zero, is the token of an outNotify to emit once the message is
// done.
//
// msg is copied before it is encoded, so that it does not escape: the
// reflection codec takes any, which would otherwise move every alive,
// suspect and dead message a node decodes to the heap, where only the news
// it passes on needs a copy.
func (c *core) encodeAndBroadcast(st *nodeState, t messageType, msg any, notify uint64) {
	c.encodeAndQueue(st, t, msg, notify, false)
}

// encodeAndQueue is encodeAndBroadcast for news that may be a refutation:
// with first set, it goes in the refutations' lane (queueNews).
func (c *core) encodeAndQueue(st *nodeState, t messageType, msg any, notify uint64, first bool) {
	buf, err := encodeMsg(t, detachNews(msg), c.cfg.MsgpackUseNewTimeFormat)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Failed to encode message for broadcast: %s", err)
		return
	}
	c.queueNews(st, c.newsBytes(buf), notify, first)
}

// queueNews queues msg, news about member st, for gossip. With first set,
// the message refutes an accusation (an alive message that ends a
// suspicion or a death): under Config.RefutationsFirst it goes out before
// any other news, every time it is sent.
func (c *core) queueNews(st *nodeState, msg ref[string], notify uint64, first bool) {
	c.unparkGossip()
	if first && c.cfg.RefutationsFirst {
		c.notifyDone(c.news.pushFirst(st, msg, notify))
		return
	}
	c.notifyDone(c.news.push(st, msg, notify))
}

// broadcastAccusation queues the suspect or dead message (t) that says
// from accuses member st at incarnation inc. It is encodeAndBroadcast
// without the interface: the message is encoded into a buffer the core
// reuses, which newsBytes copies or interns, where encodeMsg would take a
// copy of the message and a buffer of its own on every call (a partition
// of 10,000 nodes makes about 10^8 of them).
func (c *core) broadcastAccusation(st *nodeState, t messageType, inc uint32, node, from string, notify uint64) {
	if wireFastOff.Load() {
		// The codec, for the tests that compare both encoders.
		if t == suspectMsg {
			c.encodeAndBroadcast(st, t, &suspect{Incarnation: inc, Node: node, From: from}, notify)
		} else {
			c.encodeAndBroadcast(st, t, &dead{Incarnation: inc, Node: node, From: from}, notify)
		}
		return
	}
	c.newsBuf = appendAccusation(append(c.newsBuf[:0], byte(t)), inc, node, from)
	c.unparkGossip()
	c.notifyDone(c.news.push(st, c.newsBytes(c.newsBuf), notify))
}

// detachNews returns a copy of msg, an alive, suspect or dead message, that
// the encoder may keep; see encodeAndBroadcast.
func detachNews(msg any) any {
	switch m := msg.(type) {
	case *alive:
		cp := *m
		return &cp
	case *suspect:
		cp := *m
		return &cp
	case *dead:
		cp := *m
		return &cp
	}
	panic("memberlist: only alive, suspect and dead messages are broadcast as news")
}

// notifyDone emits outNotify for each token.
func (c *core) notifyDone(tokens []uint64) {
	for _, t := range tokens {
		c.emit(&outNotify{token: t})
	}
}

// forgetNews drops every pending membership message, as if each had been
// sent as often as the retransmit limit allows (Simulation.Converge).
func (c *core) forgetNews() {
	for _, st := range c.nodes {
		c.notifyDone(c.news.drop(st))
	}
}

// userBroadcastShare reserves for the delegate's user broadcasts a
// 1/userBroadcastShare share of every packet that membership news would
// otherwise fill: in a large cluster, or while many nodes join, news never
// runs out and the reference starves user broadcasts (its issue 299). Room
// the delegate leaves unused goes back to news. 0 turns the share off and
// lets news fill packets first, as the reference does (for tests that
// show the difference).
var userBroadcastShare = 4

// getBroadcasts returns the messages to piggyback on one packet, up to limit
// bytes with overhead each: membership news first, in all the room but the
// user broadcasts' share; then the delegate's user broadcasts, each framed
// as a user message, in the room left; then more news in whatever room the
// user broadcasts did not take. The slice may be the news queue's own,
// reused by its next call: use it before asking for more.
func (c *core) getBroadcasts(overhead, limit int) [][]byte {
	transmits := retransmitLimit(c.cfg.RetransmitMult, len(c.nodes))
	d := c.cfg.Delegate
	if d == nil {
		news, done := c.news.take(overhead, limit, transmits)
		c.notifyDone(done)
		return news
	}
	room := limit
	if userBroadcastShare > 0 {
		room -= limit / userBroadcastShare
	}
	used := c.news.fill(overhead, room, transmits)
	var user [][]byte
	if avail := limit - used; avail > overhead+userMsgOverhead {
		user = d.GetBroadcasts(overhead+userMsgOverhead, avail)
		for _, m := range user {
			used += overhead + userMsgOverhead + len(m)
		}
	}
	c.news.fill(overhead, limit-used, transmits)
	news, done := c.news.commit()
	c.notifyDone(done)
	if len(news)+len(user) == 0 {
		return nil
	}
	out := make([][]byte, 0, len(news)+len(user))
	out = append(out, news...)
	for _, m := range user {
		buf := make([]byte, 1+len(m))
		buf[0] = byte(userMsg)
		copy(buf[1:], m)
		out = append(out, buf)
	}
	return out
}
