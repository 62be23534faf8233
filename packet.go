// This file owns the core's packet path: unwrapping an inbound datagram
// (label, decryption, CRC, compression, compound framing) and dispatching
// each message to its handler; and sealing an outbound message the same way
// in reverse, with piggybacked broadcasts.

package memberlist

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

// Framing overheads the reference budgets for when it fills a packet.
const (
	compoundHeaderOverhead = 2 // type byte and count of a compound message
	compoundOverhead       = 2 // length prefix of each part
	userMsgOverhead        = 1 // type byte of a user message
)

var errNodeNamesAreRequired = errors.New("memberlist: node names are required by configuration but one was not provided")

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

// handlePacket is the input for a datagram that arrived from addr at ts.
func (c *core) handlePacket(now time.Time, buf []byte, from net.Addr, ts time.Time) {
	c.now = now
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
	if c.cfg.EncryptionEnabled() {
		plain, err := decryptPayload(c.cfg.Keyring.snapshot(), buf, []byte(label))
		if err != nil {
			if c.cfg.GossipVerifyIncoming {
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
	c.handleCommand(buf, from, ts, 0)
}

// rejected counts a dropped inbound packet by reason. Anyone can send any
// bytes to the port, so the log line that follows each drop is at DEBUG level
// (a flood must not flood the logs); the metric, labelled with the reason
// (label, decrypt, crc, decode, ...), is what shows garbage or a
// misconfigured peer on a dashboard.
func (c *core) rejected(reason string) {
	metrics.IncrCounterWithLabels([]string{"memberlist", "udp", "rejected"}, 1,
		append(c.labels[:len(c.labels):len(c.labels)], metrics.Label{Name: "reason", Value: reason}))
}

// maxNesting bounds compound-in-compressed-in-compound recursion, so a
// crafted packet cannot recurse without end.
const maxNesting = 4

func (c *core) handleCommand(buf []byte, from net.Addr, ts time.Time, depth int) {
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
		parts, trunc, err := splitCompound(body)
		if err != nil {
			c.rejected("compound")
			c.log.Printf("[DEBUG] memberlist: Failed to decode compound request: %s %s", err, LogAddress(from))
			return
		}
		if trunc > 0 {
			c.log.Printf("[WARN] memberlist: Compound request had %d truncated messages %s", trunc, LogAddress(from))
		}
		for _, p := range parts {
			c.handleCommand(p, from, ts, depth+1)
		}
	case compressMsg:
		plain, err := decompressPayload(body)
		if err != nil {
			c.rejected("compression")
			c.log.Printf("[DEBUG] memberlist: Failed to decompress payload: %v %s", err, LogAddress(from))
			return
		}
		c.handleCommand(plain, from, ts, depth+1)
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
	case suspectMsg:
		var s suspect
		if c.decode(body, &s, "suspect message", from) {
			c.suspectNode(&s)
		}
	case aliveMsg:
		if err := c.ensureCanConnect(from); err != nil {
			c.log.Printf("[DEBUG] memberlist: Blocked alive message: %s %s", err, LogAddress(from))
			return
		}
		var a alive
		if !c.decode(body, &a, "alive message", from) {
			return
		}
		if c.cfg.IPMustBeChecked() && len(a.Addr) > 0 {
			if err := c.cfg.IPAllowed(a.Addr); err != nil {
				c.log.Printf("[DEBUG] memberlist: Blocked alive.Addr=%s message from: %s %s", net.IP(a.Addr), err, LogAddress(from))
				return
			}
		}
		// Before version 2 no port was sent: the peer uses ours.
		if c.cfg.ProtocolVersion < 2 || a.Port == 0 {
			a.Port = uint16(c.cfg.BindPort)
		}
		c.aliveNode(&a, 0, false)
	case deadMsg:
		var d dead
		if c.decode(body, &d, "dead message", from) {
			c.deadNode(&d)
		}
	case userMsg:
		if c.cfg.Delegate != nil {
			c.cfg.Delegate.NotifyMsg(body)
		}
	default:
		c.rejected("type")
		c.log.Printf("[DEBUG] memberlist: msg type (%d) not supported %s", t, LogAddress(from))
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

// ensureCanConnect applies CIDRsAllowed to the packet's source.
func (c *core) ensureCanConnect(from net.Addr) error {
	if !c.cfg.IPMustBeChecked() {
		return nil
	}
	src := from.String()
	if src == "pipe" {
		return nil
	}
	host, _, err := net.SplitHostPort(src)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("cannot parse IP from %s", host)
	}
	return c.cfg.IPAllowed(ip)
}

// replyAddress is where an answer to a ping goes: the source the sender
// named, or else the packet's source.
func replyAddress(srcAddr []byte, srcPort uint16, srcNode string, from net.Addr) Address {
	if len(srcAddr) > 0 && srcPort > 0 {
		return Address{Addr: joinHostPort(srcAddr, srcPort), Name: srcNode}
	}
	return Address{Addr: from.String(), Name: srcNode}
}

func (c *core) handlePing(p *ping, from net.Addr) {
	// A ping for another name means the sender has stale information, for
	// example that a restarted node took our address.
	if p.Node != "" && p.Node != c.cfg.Name {
		c.log.Printf("[WARN] memberlist: Got ping for unexpected node '%s' %s", p.Node, LogAddress(from))
		return
	}
	ack := ackResp{SeqNo: p.SeqNo}
	if c.cfg.Ping != nil {
		ack.Payload = c.cfg.Ping.AckPayload()
	}
	c.encodeAndSend(replyAddress(p.SourceAddr, p.SourcePort, p.SourceNode, from), ackRespMsg, &ack)
}

// handleIndirectPing pings a target on a peer's behalf and relays the ack,
// or a nack if none comes in time and the peer asked for one.
func (c *core) handleIndirectPing(ind *indirectPingReq, from net.Addr) {
	if c.cfg.ProtocolVersion < 2 || ind.Port == 0 {
		ind.Port = uint16(c.cfg.BindPort)
	}
	seq := c.nextSeqNo()
	c.acks[seq] = &pendingAck{
		kind:        ackRelay,
		sent:        c.now,
		relaySeq:    ind.SeqNo,
		relayTo:     replyAddress(ind.SourceAddr, ind.SourcePort, ind.SourceNode, from),
		nackWanted:  ind.Nack,
		relayTarget: ind.Node,
	}
	c.schedule(c.now.Add(c.cfg.ProbeTimeout), timer{kind: tAckExpire, seq: seq})
	p := ping{
		SeqNo:      seq,
		Node:       ind.Node,
		SourceAddr: c.advAddr,
		SourcePort: c.advPort,
		SourceNode: c.cfg.Name,
	}
	c.encodeAndSend(Address{Addr: joinHostPort(ind.Target, ind.Port), Name: ind.Node}, pingMsg, &p)
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
	avail := c.cfg.UDPBufferSize - len(msg) - compoundHeaderOverhead - labelOverhead(c.cfg.Label)
	if c.cfg.EncryptionEnabled() && c.cfg.GossipVerifyOutgoing {
		avail -= encryptOverhead(c.encryptionVersion())
	}
	extra := c.getBroadcasts(compoundOverhead, avail)
	if len(extra) == 0 {
		c.rawSend(to, nil, msg)
		return
	}
	msgs := make([][]byte, 0, 1+len(extra))
	msgs = append(msgs, msg)
	msgs = append(msgs, extra...)
	c.rawSend(to, nil, makeCompound(msgs))
}

// rawSend seals msg for the wire and emits it. node, when known, tells
// whether the peer understands checksums; otherwise the reference's lookup
// by bare IP is used.
func (c *core) rawSend(to Address, node *nodeState, msg []byte) {
	if to.Name == "" && c.cfg.RequireNodeNames {
		c.log.Printf("[ERR] memberlist: Failed to send to %s: %v", to.Addr, errNodeNamesAreRequired)
		return
	}
	crc := false
	if node != nil {
		crc = node.vsn[1] >= 5
	} else if host, _, err := net.SplitHostPort(to.Addr); err == nil {
		if n, ok := c.nodeMap[host]; ok {
			crc = n.vsn[1] >= 5
		}
	}
	buf, err := sealPacket(c.cfg, msg, crc)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Failed to send to %s: %v", to.Addr, err)
		return
	}
	metrics.IncrCounterWithLabels([]string{"memberlist", "udp", "sent"}, float32(len(buf)), c.labels)
	c.emit(&outSend{to: to, buf: buf})
}

// sealPacket applies, in the reference's order, compression (when it helps),
// the CRC, encryption and the label header. It reads only cfg, so user
// goroutines may call it too.
func sealPacket(cfg *Config, msg []byte, crc bool) ([]byte, error) {
	if cfg.EnableCompression {
		if comp, err := compressPayload(msg, cfg.MsgpackUseNewTimeFormat); err == nil && len(comp) < len(msg) {
			msg = comp
		}
	}
	if crc {
		msg = addCRC(msg)
	}
	if cfg.EncryptionEnabled() && cfg.GossipVerifyOutgoing {
		var out bytes.Buffer
		if err := encryptPayload(encryptionVersionFor(cfg.ProtocolVersion), cfg.Keyring.primaryKey(), msg, []byte(cfg.Label), &out); err != nil {
			return nil, fmt.Errorf("encrypt packet: %w", err)
		}
		msg = out.Bytes()
	}
	if cfg.Label != "" {
		return AddLabelHeaderToPacket(msg, cfg.Label)
	}
	return msg, nil
}

// ---------------------------------------------------------------------------
// Broadcasts

// coreBroadcast is a membership message queued for gossip. Messages about
// the same node invalidate each other: only the newest news matters.
type coreBroadcast struct {
	node   string
	msg    []byte
	c      *core
	notify uint64
}

func (b *coreBroadcast) Invalidates(other Broadcast) bool {
	o, ok := other.(*coreBroadcast)
	return ok && o.node == b.node
}

func (b *coreBroadcast) Name() string    { return b.node }
func (b *coreBroadcast) Message() []byte { return b.msg }

func (b *coreBroadcast) Finished() {
	if b.notify != 0 {
		b.c.emit(&outNotify{token: b.notify})
	}
}

func (c *core) encodeAndBroadcast(node string, t messageType, msg any, notify uint64) {
	buf, err := encodeMsg(t, msg, c.cfg.MsgpackUseNewTimeFormat)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Failed to encode message for broadcast: %s", err)
		return
	}
	c.queue.queueBroadcast(&coreBroadcast{node: node, msg: buf, c: c, notify: notify})
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
