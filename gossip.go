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
	deadLimit := c.elapsed() - int64(c.cfg.GossipToTheDeadTime)
	peers := c.kRandomNodes(c.cfg.GossipNodes, func(n *nodeState) bool {
		if n.name() == c.cfg.Name {
			return true
		}
		switch n.state() {
		case StateAlive, StateSuspect:
			return false
		case StateDead:
			return n.stateChange < deadLimit
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
			c.rawSend(peer.fullAddress(), peer, append([]byte(nil), msgs[0]...))
			continue
		}
		for _, compound := range makeCompounds(msgs) {
			c.rawSend(peer.fullAddress(), peer, compound)
		}
	}
	c.metrics.AddSampleWithLabels([]string{"memberlist", "gossip"}, msSince(c.now, start), c.labels)
}

// packetRoom is how many bytes of messages fit in one datagram that already
// carries msgLen bytes: UDPBufferSize less the compound header, the label
// header and, when packets are encrypted, the encryption overhead.
func (c *core) packetRoom(msgLen int) int {
	room := c.cfg.UDPBufferSize - msgLen - compoundHeaderOverhead - labelOverhead(c.cfg.Label)
	if c.cfg.EncryptionEnabled() && c.cfg.GossipVerifyOutgoing {
		room -= encryptOverhead(c.encryptionVersion())
	}
	return room
}

// coreBroadcast is a membership message queued for gossip. Messages about
// the same node invalidate each other: only the newest news matters. It is
// 16 bytes: the node's name and the encoded message are unique.Handles, so
// that the many cores of a simulation that gossip the same news hold one
// copy of its bytes between them.
type coreBroadcast struct {
	node unique.Handle[string]
	msg  unique.Handle[string]
}

func (b *coreBroadcast) Invalidates(other Broadcast) bool {
	switch o := other.(type) {
	case *coreBroadcast:
		return o.node == b.node
	case *notifyBroadcast:
		return o.node == b.node
	}
	return false
}

func (b *coreBroadcast) Name() string { return b.node.Value() }

// Message returns the shared bytes of the message; they must not be
// modified (see sharedBytes).
func (b *coreBroadcast) Message() []byte { return sharedBytes(b.msg) }

func (b *coreBroadcast) Finished() {}

// notifyBroadcast is a coreBroadcast that someone waits for (our own Leave
// or UpdateNode): when the queue lets go of it, the core emits outNotify.
type notifyBroadcast struct {
	coreBroadcast
	c     *core
	token uint64
}

func (b *notifyBroadcast) Finished() {
	b.c.emit(&outNotify{token: b.token})
}

// sharedBytes views the bytes of an interned string without copying. The
// result is read-only: every user of a broadcast's message only reads it
// (packets are built by copying it, see gossip), so the string's
// immutability holds.
func sharedBytes(h unique.Handle[string]) []byte {
	s := h.Value()
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// internBytes returns the handle of b's bytes. unique.Make copies a string
// it has not seen, so b is looked up through a view rather than converted
// first: news every other core already interned costs no copy at all.
func internBytes(b []byte) unique.Handle[string] {
	return unique.Make(unsafe.String(unsafe.SliceData(b), len(b)))
}

func (c *core) encodeAndBroadcast(node string, t messageType, msg any, notify uint64) {
	buf, err := encodeMsg(t, msg, c.cfg.MsgpackUseNewTimeFormat)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Failed to encode message for broadcast: %s", err)
		return
	}
	c.unparkGossip()
	b := coreBroadcast{node: unique.Make(node), msg: internBytes(buf)}
	if notify != 0 {
		c.queue.queueBroadcast(&notifyBroadcast{coreBroadcast: b, c: c, token: notify})
		return
	}
	c.queue.queueBroadcast(&b)
}

// getBroadcasts returns our broadcasts first, then the delegate's user
// broadcasts in the room left, each framed as a user message.
func (c *core) getBroadcasts(overhead, limit int) [][]byte {
	out := c.queue.getBroadcasts(overhead, limit, retransmitLimit(c.cfg.RetransmitMult, len(c.nodes)))
	d := c.cfg.Delegate
	if d == nil {
		return out
	}
	used := 0
	for _, m := range out {
		used += len(m) + overhead
	}
	avail := limit - used
	if avail > overhead+userMsgOverhead {
		for _, m := range d.GetBroadcasts(overhead+userMsgOverhead, avail) {
			buf := make([]byte, 1+len(m))
			buf[0] = byte(userMsg)
			copy(buf[1:], m)
			out = append(out, buf)
		}
	}
	return out
}
