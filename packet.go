// This file owns the core's message path: unwrapping an inbound datagram
// (label, decryption, CRC, compression, compound framing) and dispatching
// each message to its handler; answering a request that came on a stream
// (push/pull, ping, user message) once the driver has read it; and sealing
// an outbound datagram in reverse order, with piggybacked broadcasts.

package memberlist

import (
	"bytes"
	"errors"
	"fmt"
	metrics "github.com/hashicorp/go-metrics"
	"io"
	"net"
	"time"
)

// Framing overheads the reference budgets for when it fills a packet.
const (
	compoundHeaderOverhead = 2 // type byte and count of a compound message
	compoundOverhead       = 2 // length prefix of each part
	userMsgOverhead        = 1 // type byte of a user message
)

// encryptionVersion is the AES-GCM framing we send: version 1 unless we
// speak protocol version 1, whose peers only know version 0.
func (c *core) encryptionVersion() encryptionVersion {
	return encryptionVersionFor(c.cfg.ProtocolVersion)
}

func encryptionVersionFor(protocol uint8) encryptionVersion {
	if protocol == 1 {
		return 0
	}
	return 1
}

// Decompression bounds for one datagram, over all its compressed parts
// (see packetInflateBudget).
const (
	packetInflateFloor = 64 << 10
	packetInflateRatio = 16
)

// packetInflateBudget is how many bytes decompression may produce for one
// datagram of size bytes, counted over every compressed message it holds,
// however nested. An honest sender compresses at most one packet's worth of
// messages, which UDPBufferSize bounds before compression, so the budget is
// the larger of UDPBufferSize and packetInflateFloor, or packetInflateRatio
// times the datagram when that is more (LZW gets a few times on real
// messages). A bomb then costs the event loop about what an honest packet
// of its size does, instead of up to maxDecompressedSize per compressed
// part; the only honest traffic refused is a best-effort user message that
// both expands past the floor and compresses better than the ratio.
func packetInflateBudget(cfg *Config, size int) int64 {
	floor := int64(max(cfg.UDPBufferSize, packetInflateFloor))
	return min(maxDecompressedSize, max(floor, packetInflateRatio*int64(size)))
}

// Metric keys used for every datagram or message, allocated once: a key
// made at the call escapes to the sink, and made per alive message it was a
// tenth of what a simulated heal allocated. Each key's length equals its
// capacity, so a sink that prepends to one copies it.
var (
	keyUDPSent         = []string{"memberlist", "udp", "sent"}
	keyMsgAlive        = []string{"memberlist", "msg", "alive"}
	keyMsgSuspect      = []string{"memberlist", "msg", "suspect"}
	keyMsgDead         = []string{"memberlist", "msg", "dead"}
	keyDegradedTimeout = []string{"memberlist", "degraded", "timeout"}
	keyGossip          = []string{"memberlist", "gossip"}
	keyProbeNode       = []string{"memberlist", "probeNode"}
	keyQueueBroadcasts = []string{"memberlist", "queue", "broadcasts"}
)

// handlePacket is the input for a datagram that arrived from addr at ts.
func (c *core) handlePacket(now time.Time, buf []byte, from net.Addr, ts time.Time) {
	c.now = now
	if err := sourceAllowed(c.cfg, from); err != nil {
		c.rejected("cidr")
		c.log.Printf("[DEBUG] memberlist: Blocked packet: %v %s", err, LogAddress(from))
		return
	}
	buf, label, err := RemoveLabelHeaderFromPacket(buf)
	if err != nil {
		c.rejected("label")
		c.log.Printf("[DEBUG] memberlist: %v %s", err, LogAddress(from))
		return
	}
	if label, err = c.cfg.inboundLabel(label); err != nil {
		c.rejected("label")
		c.log.Printf("[DEBUG] memberlist: discarding packet: %v %s", err, LogAddress(from))
		return
	}
	if keys, plaintextOK := c.cfg.inboundKeys(); len(keys) > 0 {
		plain, err := decryptPayload(keys, buf, []byte(label))
		if err != nil {
			if !plaintextOK {
				c.rejected("decrypt")
				c.log.Printf("[DEBUG] memberlist: Decrypt packet failed: %v %s", err, LogAddress(from))
				return
			}
			plain = buf // a cluster migrating to encryption still takes plaintext
		}
		buf = plain
	}
	if len(buf) >= 5 && messageType(buf[0]) == hasCrcMsg {
		body, err := checkCRC(buf[1:])
		if err != nil {
			c.rejected("crc")
			c.log.Printf("[DEBUG] memberlist: Got invalid checksum for UDP packet: %v %s", err, LogAddress(from))
			return
		}
		buf = body
	}
	budget := packetInflateBudget(c.cfg, len(buf))
	c.handleCommand(buf, from, ts, 0, &budget)
	if !c.holdHandoff {
		c.flushHandoff()
	}
}

// handoffMsg is a membership message (alive, suspect or dead) or a user
// message waiting in a handoff queue.
type handoffMsg struct {
	t    messageType
	body []byte
	from net.Addr
}

// handoff queues m. Probes and acks are handled as they arrive; membership
// news and user messages wait until the packets that came together are all
// read, and are then handled membership news first, each queue newest first
// (flushHandoff), as the reference's handoff queues take them. A node that
// falls behind thus spends its time on the freshest news, and drops what
// does not fit in HandoffQueueDepth (counted in memberlist.handoff.dropped).
func (c *core) handoff(m handoffMsg) {
	depth := c.cfg.HandoffQueueDepth
	if depth <= 0 {
		depth = defaultHandoffQueueDepth
	}
	q := &c.handoffNews
	if m.t == userMsg {
		q = &c.handoffUser
	}
	if len(*q) >= depth {
		c.handoffDropped++
		c.metrics.IncrCounterWithLabels([]string{"memberlist", "handoff", "dropped"}, 1,
			append(c.labels[:len(c.labels):len(c.labels)], metrics.Label{Name: "type", Value: m.t.String()}))
		c.log.Printf("[DEBUG] memberlist: handler queue full, dropping message (%d) %s", m.t, LogAddress(m.from))
		return
	}
	*q = append(*q, m)
}

// defaultHandoffQueueDepth is the depth of each handoff queue when
// HandoffQueueDepth is not positive: the reference's default. (The
// reference then drops every message, which no working cluster relies on.)
const defaultHandoffQueueDepth = 1024

// handoffKeep is the most room a drained handoff queue keeps: what a few
// gossip packets bring at once.
const handoffKeep = 64

// flushHandoff handles everything that waits in the handoff queues (see
// handleSomeNews for the order).
func (c *core) flushHandoff() {
	c.handleSomeNews(-1)
}

// handoffWaiting reports how many messages wait in the handoff queues.
func (c *core) handoffWaiting() int {
	return len(c.handoffNews) + len(c.handoffUser)
}

// handleSomeNews handles up to limit of the messages that wait in the
// handoff queues (all of them when limit is negative) and returns how many
// it handled: the membership news, the last queued first, then the user
// messages, the last first. The reference's handoff goroutine takes them in
// that order; so two user broadcasts that ride in one packet reach
// NotifyMsg in reverse order there, and applications written against it may
// depend on that. A driver that reads packets between calls (the shell's
// loop, a simulated node that is slow) answers probes while news waits, and
// a queue that stays full drops what arrives, as the reference's does.
func (c *core) handleSomeNews(limit int) int {
	handled := 0
	warmedTo := len(c.handoffNews) // the news from here on has been warmed
	for n := len(c.handoffNews); n > 0 && handled != limit; n = len(c.handoffNews) {
		if n-1 < warmedTo && n >= 4 {
			warmedTo = max(0, n-warmBatch)
			c.warmNews(c.handoffNews[warmedTo:n])
		}
		m := c.handoffNews[n-1]
		c.handoffNews[n-1] = handoffMsg{}
		c.handoffNews = c.handoffNews[:n-1]
		c.handleNews(m)
		handled++
	}
	for n := len(c.handoffUser); n > 0 && handled != limit; n = len(c.handoffUser) {
		m := c.handoffUser[n-1]
		c.handoffUser[n-1] = handoffMsg{}
		c.handoffUser = c.handoffUser[:n-1]
		if c.cfg.Delegate != nil {
			c.cfg.Delegate.NotifyMsg(m.body)
		}
		handled++
	}
	c.newsHandled += uint64(handled)
	// A burst's queue gives its memory back once drained: a quiet node
	// would otherwise keep the largest burst it ever took (a join's can
	// reach a thousand messages) for good.
	if len(c.handoffNews) == 0 && cap(c.handoffNews) > handoffKeep {
		c.handoffNews = nil
	}
	if len(c.handoffUser) == 0 && cap(c.handoffUser) > handoffKeep {
		c.handoffUser = nil
	}
	return handled
}

// handoffIdle reports whether the handoff queues are empty: no message of
// a packet handled so far waits in them (see handlePacket).
func (c *core) handoffIdle() bool {
	return len(c.handoffNews) == 0 && len(c.handoffUser) == 0
}

// warmNews warms the member table (see memberTable.warm) for the members
// the news in batch names. The news is decoded again when handled: finding
// a name takes far less than the cache misses it saves.
func (c *core) warmNews(batch []handoffMsg) {
	var hashes [warmBatch]uint64
	k := 0
	for i := range batch {
		if name, ok := newsSubject(batch[i].body); ok {
			hashes[k] = memberHash(name)
			k++
		}
	}
	c.warmSink += c.index.warm(hashes[:k])
}

// handleNews handles a membership message from the handoff queue. It
// decodes into the core's own scratch messages: the decoder takes any, so a
// local would be allocated on the heap for every message, and most news is
// news already heard. An accusation's names and an alive message's fields
// view the packet (see accusationView and aliveView): nothing that handles
// one may keep them.
func (c *core) handleNews(m handoffMsg) {
	body, from := m.body, m.from
	switch m.t {
	case suspectMsg:
		s := &c.scratch.suspect
		*s = suspect{}
		if inc, node, accuser, ok := accusationView(body); ok {
			*s = suspect{Incarnation: inc, Node: node, From: accuser}
		} else if !c.decode(body, s, "suspect message", from) {
			return
		}
		c.relayRefutation(s.Node, s.Incarnation, from)
		c.suspectNode(s)
		*s = suspect{} // it may view the packet
	case aliveMsg:
		// handlePacket has already refused a source outside CIDRsAllowed.
		a := &c.scratch.alive
		*a = alive{}
		if !aliveView(body, a) && !c.decode(body, a, "alive message", from) {
			return
		}
		defer func() { *a = alive{} }() // it may view the packet
		if c.cfg.IPMustBeChecked() && len(a.Addr) > 0 {
			if err := c.cfg.IPAllowed(a.Addr); err != nil {
				countRejected(c.metrics, c.labels, "msg", "cidr")
				c.log.Printf("[DEBUG] memberlist: Blocked alive.Addr=%s message from: %s %s", net.IP(a.Addr), err, LogAddress(from))
				return
			}
		}
		a.Port = c.peerPort(a.Port)
		c.aliveNode(a, 0, false)
	case deadMsg:
		d := &c.scratch.dead
		*d = dead{}
		if inc, node, accuser, ok := accusationView(body); ok {
			*d = dead{Incarnation: inc, Node: node, From: accuser}
		} else if !c.decode(body, d, "dead message", from) {
			return
		}
		c.relayRefutation(d.Node, d.Incarnation, from)
		c.deadNode(d)
		*d = dead{} // it may view the packet
	}
}

// rejected counts a dropped inbound packet by reason (label, decrypt, crc,
// decode, ...); see countRejected.
func (c *core) rejected(reason string) {
	countRejected(c.metrics, c.labels, "udp", reason)
}

// maxNesting bounds compound-in-compressed-in-compound recursion, so a
// crafted packet cannot recurse without end.
const maxNesting = 4

// handleCommand handles one message of a datagram; budget is what is left
// of the datagram's decompression budget.
func (c *core) handleCommand(buf []byte, from net.Addr, ts time.Time, depth int, budget *int64) {
	if len(buf) < 1 {
		c.rejected("empty")
		c.log.Printf("[DEBUG] memberlist: missing message type byte %s", LogAddress(from))
		return
	}
	if depth > maxNesting {
		c.rejected("nesting")
		c.log.Printf("[DEBUG] memberlist: message nested too deeply %s", LogAddress(from))
		return
	}
	t := messageType(buf[0])
	body := buf[1:]
	switch t {
	case compoundMsg:
		var room [32][]byte // a packet of gossip holds about 15 parts
		parts, trunc, err := splitCompound(room[:0], body)
		if err != nil {
			c.rejected("compound")
			c.log.Printf("[DEBUG] memberlist: Failed to decode compound request: %s %s", err, LogAddress(from))
			return
		}
		if trunc > 0 {
			// The parts before the cut are still handled. Anyone can send
			// truncated compounds, so this is counted and logged at DEBUG
			// (the reference warns) rather than flooding the log.
			c.rejected("compound")
			c.log.Printf("[DEBUG] memberlist: Compound request had %d truncated messages %s", trunc, LogAddress(from))
		}
		for _, p := range parts {
			c.handleCommand(p, from, ts, depth+1, budget)
		}
	case compressMsg:
		plain, err := decompressPayloadLimited(body, *budget)
		if err != nil {
			c.rejected("compression")
			c.log.Printf("[DEBUG] memberlist: Failed to decompress payload: %v %s", err, LogAddress(from))
			return
		}
		*budget -= int64(len(plain))
		c.handleCommand(plain, from, ts, depth+1, budget)
	case pingMsg:
		var p ping
		if c.decode(body, &p, "ping request", from) {
			c.handlePing(&p, from)
		}
	case indirectPingMsg:
		var ind indirectPingReq
		if c.decode(body, &ind, "indirect ping request", from) {
			c.handleIndirectPing(&ind, from)
		}
	case ackRespMsg:
		var ack ackResp
		if c.decode(body, &ack, "ack response", from) {
			c.handleAckResp(&ack, ts)
		}
	case nackRespMsg:
		var nack nackResp
		if c.decode(body, &nack, "nack response", from) {
			c.handleNackResp(&nack)
		}
	case suspectMsg, aliveMsg, deadMsg:
		c.handoff(handoffMsg{t: t, body: body, from: from})
	case userMsg:
		if c.cfg.Delegate != nil {
			c.handoff(handoffMsg{t: t, body: body, from: from})
		}
	default:
		c.rejected("type")
		c.log.Printf("[DEBUG] memberlist: msg type (%d) not supported %s", t, LogAddress(from))
	}
}

// handleStream is the input for a request that arrived on an inbound stream
// from from, read and decoded by readRequest (stream.go). It returns the
// message to answer with (not yet framed), or nil to close the stream
// without an answer.
func (c *core) handleStream(now time.Time, msg *streamMsg, from net.Addr) []byte {
	c.now = now
	switch msg.t {
	case userMsg:
		if len(msg.user) > 0 && c.cfg.Delegate != nil {
			c.cfg.Delegate.NotifyMsg(msg.user)
		}
		return nil
	case pushPullMsg:
		reply := c.answerPushPull(msg, from)
		releaseStream(msg)
		return reply
	case pingMsg:
		// Unlike the UDP answer, the TCP one carries no ack payload.
		if !c.pingIsForUs(&msg.ping, from) {
			return nil
		}
		out, err := encodeMsg(ackRespMsg, &ackResp{SeqNo: msg.ping.SeqNo}, c.cfg.MsgpackUseNewTimeFormat)
		if err != nil {
			c.log.Printf("[ERR] memberlist: Failed to encode ack: %s", err)
			return nil
		}
		return out
	default:
		countRejected(c.metrics, c.labels, "tcp", "type")
		c.log.Printf("[DEBUG] memberlist: Received invalid msgType (%d) %s", msg.t, LogAddress(from))
		return nil
	}
}

func (c *core) decode(body []byte, out any, what string, from net.Addr) bool {
	if err := decodeMsg(body, out); err != nil {
		c.rejected("decode")
		c.log.Printf("[DEBUG] memberlist: Failed to decode %s: %s %s", what, err, LogAddress(from))
		return false
	}
	return true
}

// addrIP is the IP address a names: a UDP or TCP address's own, or the
// host of its "host:port" form.
func addrIP(a net.Addr) (net.IP, error) {
	switch v := a.(type) {
	case *net.UDPAddr:
		return v.IP, nil
	case *net.TCPAddr:
		return v.IP, nil
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("cannot parse IP from %s", host)
	}
	return ip, nil
}

// sourceAllowed applies CIDRsAllowed to where a packet or stream came from.
// An address that names no IP (an in-memory "pipe") is let through; any
// other that cannot be read is refused.
func sourceAllowed(cfg *Config, from net.Addr) error {
	if !cfg.IPMustBeChecked() {
		return nil
	}
	if from == nil {
		return errors.New("no source address to check against CIDRsAllowed")
	}
	if from.String() == "pipe" {
		return nil
	}
	ip, err := addrIP(from)
	if err != nil {
		return err
	}
	return cfg.IPAllowed(ip)
}

// ---------------------------------------------------------------------------
// Outbound

// encodeAndSend encodes msg and sends it with piggybacked broadcasts.
func (c *core) encodeAndSend(to Address, t messageType, msg any) {
	buf, err := encodeMsg(t, msg, c.cfg.MsgpackUseNewTimeFormat)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Failed to encode %v message: %s", t, err)
		return
	}
	c.sendMsg(to, buf)
}

// sendMsg sends msg, filling the rest of the packet with pending broadcasts.
func (c *core) sendMsg(to Address, msg []byte) {
	extra := c.getBroadcasts(compoundOverhead, c.packetRoom(len(msg)))
	if len(extra) == 0 {
		c.rawSend(to, nil, msg)
		return
	}
	msgs := append(c.parts[:0], msg)
	msgs = append(msgs, extra...)
	c.rawSendAfter(to, nil, crcHeaderLen, makeCompoundAfter(crcHeaderLen, msgs))
	clear(msgs) // keep no message alive
	c.parts = msgs[:0]
}

// rawSend seals msg for the wire and emits it. node, when known, tells
// whether the peer understands checksums; otherwise the reference's lookup
// by bare IP is used.
func (c *core) rawSend(to Address, node *nodeState, msg []byte) {
	c.rawSendAfter(to, node, 0, msg)
}

// rawSendAfter is rawSend of buf[head:], where the head bytes before the
// message are free for the checksum header: with head >= crcHeaderLen and
// nothing to compress first, the checksum goes in front without a copy of
// the packet.
func (c *core) rawSendAfter(to Address, node *nodeState, head int, buf []byte) {
	msg := buf[head:]
	if to.Name == "" && c.cfg.RequireNodeNames {
		c.log.Printf("[ERR] memberlist: Failed to send to %s: %v", to.Addr, ErrNodeNamesRequired)
		return
	}
	crc := false
	if node != nil {
		crc = node.vsn()[1] >= 5
	} else if host, _, err := net.SplitHostPort(to.Addr); err == nil {
		if n := c.index.get(host); n != nil {
			crc = n.vsn()[1] >= 5
		}
	}
	if crc && head >= crcHeaderLen && !c.cfg.EnableCompression {
		// sealPacket's order: the checksum covers the uncompressed msg.
		msg = buf[head-crcHeaderLen:]
		putCRCHeader(msg)
		crc = false
	}
	out, err := sealPacket(c.cfg, c.nonces, msg, crc)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Failed to send to %s: %v", to.Addr, err)
		return
	}
	if len(out) > 0 && head > 0 && &out[0] == &msg[0] && cap(buf) == packetBufCap {
		// Sent as built, behind head bytes it did not use (no checksum):
		// moved to the front, the whole pooled buffer goes out and can
		// come back (putPacketBuf), where its tail could not.
		out = buf[:copy(buf, out)]
	}
	c.metrics.IncrCounterWithLabels(keyUDPSent, float32(len(out)), c.labels)
	c.emit(c.newSend(to, out))
}

// minCompressLen is the shortest packet worth compressing. LZW starts with
// 9-bit codes and the envelope adds about 20 bytes, so a lone ping (77
// bytes), ack (18) or alive message (66) only grows, and the reference
// then sends it uncompressed after all; from about 130 bytes (two messages)
// it shrinks. Skipping the attempt spares every probe a compression.
const minCompressLen = 128

// sealPacket applies, in the reference's order, compression (when it helps),
// the CRC, encryption (with nonces from nonces) and the label header. It
// reads only cfg, so user goroutines may call it too.
func sealPacket(cfg *Config, nonces io.Reader, msg []byte, crc bool) ([]byte, error) {
	if cfg.EnableCompression && len(msg) >= minCompressLen {
		if comp, err := compressPayload(msg, cfg.MsgpackUseNewTimeFormat); err == nil && len(comp) < len(msg) {
			msg = comp
		}
	}
	if crc {
		msg = addCRC(msg)
	}
	if key := cfg.outboundKey(); key != nil {
		var out bytes.Buffer
		if err := encryptPayload(nonces, encryptionVersionFor(cfg.ProtocolVersion), key, msg, []byte(cfg.Label), &out); err != nil {
			return nil, fmt.Errorf("encrypt packet: %w", err)
		}
		msg = out.Bytes()
	}
	if cfg.Label != "" {
		return AddLabelHeaderToPacket(msg, cfg.Label)
	}
	return msg, nil
}
