// This file owns failure detection's active side: the probe round (a direct
// ping, then k indirect pings with nacks and a TCP fallback ping, then a
// decision), the indirect pings this node relays for peers, the users'
// Pings, and the choice of whom to probe and whom to ask.
//
// Three kinds of waiter hear acks, each its own type keyed by the sequence
// number of the ping it sent: the one probeRound under way, relays and
// userPings. Sequence numbers come from one counter, so an ack finds at most
// one of them.

package memberlist

import (
	"fmt"
	"math"
	"net"
	"time"
)

// NoPingResponseError is returned by Ping when the ping was sent but no ack
// came back within the probe timeout.
type NoPingResponseError struct {
	node string
}

// Error says which node did not answer.
func (f NoPingResponseError) Error() string {
	return fmt.Sprintf("No response from node %s", f.node)
}

// probeRound is the probe of one member. Its deadline, the probe interval
// stretched by local health, is fixed when the round starts: the suspicion
// decision and the TCP fallback ping both use it, so a health change during
// the round cannot make them disagree.
type probeRound struct {
	seq         uint32
	target      string
	incarnation uint32 // the target's, when the round started
	sent        time.Time
	deadline    time.Time

	indirect      bool // the direct ping timed out; indirect pings went out
	expectedNacks int
	nacks         int
	tcp           tcpProbe
	over          bool // the deadline passed while the TCP ping was under way
}

type tcpProbe uint8

const (
	tcpNone    tcpProbe = iota // no TCP fallback ping
	tcpPending                 // sent, no answer yet
	tcpAcked                   // the target acked over TCP
	tcpFailed                  // no ack over TCP
)

// relay is an indirect ping we send on a peer's behalf.
type relay struct {
	replyTo Address // where the ack (or nack) goes
	seq     uint32  // the requester's sequence number
	nack    bool    // the requester wants a nack if no ack comes
}

// userPing is a user's Ping waiting for its ack.
type userPing struct {
	token  uint64
	target string
	sent   time.Time
}

// pingFor is the ping this node sends to node with seq.
func (c *core) pingFor(seq uint32, node string) ping {
	return ping{
		SeqNo:      seq,
		Node:       node,
		SourceAddr: c.advAddr,
		SourcePort: c.advPort,
		SourceNode: c.cfg.Name,
	}
}

// probeTick is the probe ticker, every ProbeInterval. Like the reference's
// time.Ticker, a tick that comes while a round is still open is kept (one at
// most) and starts the next round the moment that one ends. Lifeguard's
// health score stretches only a failing round (its deadline), not the tick.
func (c *core) probeTick() {
	c.schedule(c.now.Add(c.cfg.ProbeInterval), timer{kind: tProbe})
	if c.round != nil {
		c.tickPending = true
		return
	}
	c.probe()
}

// endRound closes the round under way and starts the next one at once if a
// tick came while it ran.
func (c *core) endRound() {
	c.round = nil
	if c.tickPending {
		c.tickPending = false
		c.probe()
	}
}

// probe starts the probe of the next member in round-robin order, skipping
// ourselves and the dead.
func (c *core) probe() {
	for checked := 0; checked < len(c.nodes); {
		if c.probeIndex >= len(c.nodes) {
			c.resetNodes()
			c.probeIndex = 0
			checked++
			continue
		}
		n := c.nodes[c.probeIndex]
		c.probeIndex++
		if n.name() == c.cfg.Name || n.deadOrLeft() {
			checked++
			continue
		}
		c.probeNode(n)
		return
	}
}

func (c *core) probeNode(n *nodeState) {
	interval := c.awareness.scaleTimeout(c.cfg.ProbeInterval)
	if interval > c.cfg.ProbeInterval {
		c.metrics.IncrCounterWithLabels([]string{"memberlist", "degraded", "probe"}, 1, c.labels)
	}
	r := &probeRound{
		seq:         c.nextSeqNo(),
		target:      n.name(),
		incarnation: n.incarnation,
		sent:        c.now,
		deadline:    c.now.Add(interval),
	}
	c.round = r
	c.schedule(c.now.Add(c.cfg.ProbeTimeout), timer{kind: tProbeTimeout, seq: r.seq})
	c.schedule(r.deadline, timer{kind: tProbeEnd, seq: r.seq})

	p := c.pingFor(r.seq, n.name())
	if n.state() == StateAlive {
		c.encodeAndSend(c.addressOf(n), pingMsg, &p)
		return
	}
	// A suspect learns of the accusation with the ping itself, so it can
	// refute as soon as possible.
	pb, err := encodeMsg(pingMsg, &p, c.cfg.MsgpackUseNewTimeFormat)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Failed to encode ping: %s", err)
		return
	}
	s := suspect{Incarnation: n.incarnation, Node: n.name(), From: c.cfg.Name}
	sb, err := encodeMsg(suspectMsg, &s, c.cfg.MsgpackUseNewTimeFormat)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Failed to encode suspect message: %s", err)
		return
	}
	c.rawSendAfter(c.addressOf(n), n, crcHeaderLen, makeCompoundAfter(crcHeaderLen, [][]byte{pb, sb}))
}

// probeTimeout: the direct ping got no ack in time, so ask k random live
// members to ping the target for us, and try TCP ourselves.
func (c *core) probeTimeout(seq uint32) {
	r := c.round
	if r == nil || r.seq != seq {
		return
	}
	r.indirect = true
	c.log.Printf("[DEBUG] memberlist: Failed UDP ping: %s (timeout reached)", r.target)
	target := c.index.get(r.target)
	if target == nil {
		return
	}
	peers := c.kRandomNodes(c.cfg.IndirectChecks, func(n *nodeState) bool {
		return n.name() == c.cfg.Name || n.name() == target.name() || n.state() != StateAlive
	})
	ind := indirectPingReq{
		SeqNo:      seq,
		Target:     target.addr(),
		Port:       target.port(),
		Node:       target.name(),
		SourceAddr: c.advAddr,
		SourcePort: c.advPort,
		SourceNode: c.cfg.Name,
	}
	for _, peer := range peers {
		// Only peers that understand version 4 send nacks.
		ind.Nack = peer.vsn()[1] >= 4
		if ind.Nack {
			r.expectedNacks++
		}
		c.encodeAndSend(c.addressOf(peer), indirectPingMsg, &ind)
	}

	// A TCP ping to any member that understands version 3, whatever version
	// we speak, catches members cut off from UDP but otherwise healthy.
	disabled := c.cfg.DisableTcpPings ||
		(c.cfg.DisableTcpPingsForNode != nil && c.cfg.DisableTcpPingsForNode(target.name()))
	if disabled || target.vsn()[1] < 3 {
		return
	}
	p := c.pingFor(seq, target.name())
	buf, err := encodeMsg(pingMsg, &p, c.cfg.MsgpackUseNewTimeFormat)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Failed to encode ping: %s", err)
		return
	}
	r.tcp = tcpPending
	c.startExchange(exTCPPing, c.addressOf(target), buf, r.deadline, seq)
}

// tcpPingDone is the answer to the TCP fallback ping of round seq: acked
// only by an ack with the round's sequence number.
func (c *core) tcpPingDone(seq uint32, reply *streamMsg, err error) {
	acked := false
	switch {
	case err != nil:
		// Failing to connect is the expected answer of a dead member.
		if !isDialError(err) {
			c.log.Printf("[ERR] memberlist: Failed fallback TCP ping: %s", err)
		}
	case reply.t != ackRespMsg:
		c.log.Printf("[ERR] memberlist: Failed fallback TCP ping: unexpected msgType (%d) from ping", reply.t)
	case reply.ack.SeqNo != seq:
		c.log.Printf("[ERR] memberlist: Failed fallback TCP ping: sequence number from ack (%d) doesn't match ping (%d)", reply.ack.SeqNo, seq)
	default:
		acked = true
	}
	r := c.round
	if r == nil || r.seq != seq {
		return
	}
	if acked {
		r.tcp = tcpAcked
	} else {
		r.tcp = tcpFailed
	}
	if r.over {
		c.probeDecide(r)
	}
}

// probeEnd is round seq's deadline: without an ack by now the target is
// suspected, unless a TCP fallback ping is still under way.
func (c *core) probeEnd(seq uint32) {
	r := c.round
	if r == nil || r.seq != seq {
		return
	}
	r.over = true
	if r.tcp == tcpPending {
		return
	}
	c.probeDecide(r)
}

// probeDecide ends a round that got no ack over UDP. Like an acked round,
// it settles local health before the next round starts, so that round's
// deadline already reflects how this one went (as in the reference, whose
// ticker hands over the next tick only once the probe has returned).
func (c *core) probeDecide(r *probeRound) {
	defer c.endRound()
	c.metrics.AddSampleWithLabels(keyProbeNode, msSince(c.now, r.sent), c.labels)
	if r.tcp == tcpAcked {
		c.log.Printf("[WARN] memberlist: Was able to connect to %s over TCP but UDP probes failed, network may be misconfigured", r.target)
		c.applyAwareness(-1)
		return
	}
	// Without peers that send nacks, any failed probe counts against our
	// own health; with them, only the nacks that did not come back do, since
	// a missing nack hints that the problem is on our side.
	delta := 1
	if r.expectedNacks > 0 {
		delta = 0
		if r.nacks < r.expectedNacks {
			delta = r.expectedNacks - r.nacks
		}
	}
	c.applyAwareness(delta)
	c.log.Printf("[INFO] memberlist: Suspect %s has failed, no acks received", r.target)
	target := c.index.get(r.target)
	if target == nil {
		return
	}
	// Accuse the incarnation we probed: if the target refuted meanwhile, the
	// accusation is stale and suspectNode drops it.
	s := suspect{Incarnation: r.incarnation, Node: target.name(), From: c.cfg.Name}
	c.suspectNode(&s)
}

func (c *core) applyAwareness(delta int) {
	before, after := c.awareness.applyDelta(delta)
	if before != after {
		c.metrics.SetGaugeWithLabels([]string{"memberlist", "health", "score"}, float32(after), c.labels)
	}
}

// handleAckResp hands an ack to whoever waits for its sequence number.
func (c *core) handleAckResp(ack *ackResp, ts time.Time) {
	if r := c.round; r != nil && r.seq == ack.SeqNo {
		defer c.endRound()
		c.metrics.AddSampleWithLabels(keyProbeNode, msSince(c.now, r.sent), c.labels)
		c.applyAwareness(-1)
		// Only a direct ack measures the round trip to the target; a
		// relayed one also carries the relay's path and no payload.
		if c.cfg.Ping != nil && !r.indirect {
			if n := c.index.get(r.target); n != nil {
				c.cfg.Ping.NotifyPingComplete(n.toNode(), ts.Sub(r.sent), ack.Payload)
			}
		}
		return
	}
	if rl, ok := c.relays[ack.SeqNo]; ok {
		delete(c.relays, ack.SeqNo)
		c.encodeAndSend(rl.replyTo, ackRespMsg, &ackResp{SeqNo: rl.seq})
		return
	}
	if up, ok := c.pings[ack.SeqNo]; ok {
		delete(c.pings, ack.SeqNo)
		c.emit(&outPingResult{token: up.token, rtt: ts.Sub(up.sent)})
	}
}

// handleNackResp counts a relay's report that the target did not answer it.
func (c *core) handleNackResp(nack *nackResp) {
	if r := c.round; r != nil && r.seq == nack.SeqNo {
		r.nacks++
	}
}

// handlePing answers a ping with an ack, with the ping delegate's payload.
func (c *core) handlePing(p *ping, from net.Addr) {
	if !c.pingIsForUs(p, from) {
		return
	}
	ack := ackResp{SeqNo: p.SeqNo}
	if c.cfg.Ping != nil {
		ack.Payload = c.cfg.Ping.AckPayload()
	}
	c.encodeAndSend(c.replyAddress(p.SourceAddr, p.SourcePort, p.SourceNode, from), ackRespMsg, &ack)
}

// pingIsForUs: a ping for another name means the sender has stale
// information, for example that a restarted node took our address; it gets
// no answer, over UDP or TCP.
func (c *core) pingIsForUs(p *ping, from net.Addr) bool {
	if p.Node != "" && p.Node != c.cfg.Name {
		c.log.Printf("[WARN] memberlist: Got ping for unexpected node '%s' %s", p.Node, LogAddress(from))
		return false
	}
	return true
}

// replyAddress is where an answer to a ping goes: the source the sender
// named, or else the packet's source.
func (c *core) replyAddress(srcAddr []byte, srcPort uint16, srcNode string, from net.Addr) Address {
	if len(srcAddr) > 0 && srcPort > 0 {
		return Address{Addr: c.hostPort(srcAddr, srcPort), Name: srcNode}
	}
	if u, ok := from.(*net.UDPAddr); ok && u.Port > 0 && u.Port <= math.MaxUint16 {
		if ip := u.IP.To4(); ip != nil {
			return Address{Addr: c.hostPort(ip, uint16(u.Port)), Name: srcNode}
		}
		if len(u.IP) == net.IPv6len && u.Zone == "" {
			return Address{Addr: c.hostPort(u.IP, uint16(u.Port)), Name: srcNode}
		}
	}
	return Address{Addr: from.String(), Name: srcNode}
}

// handleIndirectPing pings a target on a peer's behalf and relays the ack,
// or a nack if none comes in time and the peer asked for one.
func (c *core) handleIndirectPing(ind *indirectPingReq, from net.Addr) {
	seq := c.nextSeqNo()
	c.relays[seq] = &relay{
		replyTo: c.replyAddress(ind.SourceAddr, ind.SourcePort, ind.SourceNode, from),
		seq:     ind.SeqNo,
		nack:    ind.Nack,
	}
	c.schedule(c.now.Add(c.cfg.ProbeTimeout), timer{kind: tRelayExpire, seq: seq})
	p := c.pingFor(seq, ind.Node)
	c.encodeAndSend(Address{Addr: c.hostPort(ind.Target, c.peerPort(ind.Port)), Name: ind.Node}, pingMsg, &p)
}

// relayExpired ends a relay whose target did not ack in time.
func (c *core) relayExpired(seq uint32) {
	rl, ok := c.relays[seq]
	if !ok {
		return
	}
	delete(c.relays, seq)
	if rl.nack {
		c.encodeAndSend(rl.replyTo, nackRespMsg, &nackResp{SeqNo: rl.seq})
	}
}

// ping starts a user's Ping of node at addr; the result comes back as an
// outPingResult with token.
func (c *core) ping(now time.Time, token uint64, node string, addr string) {
	c.now = now
	seq := c.nextSeqNo()
	c.pings[seq] = &userPing{token: token, target: node, sent: now}
	c.schedule(now.Add(c.cfg.ProbeTimeout), timer{kind: tPingExpire, seq: seq})
	p := c.pingFor(seq, node)
	c.encodeAndSend(Address{Addr: addr, Name: node}, pingMsg, &p)
}

// pingExpired ends a user's Ping that got no ack in time.
func (c *core) pingExpired(seq uint32) {
	up, ok := c.pings[seq]
	if !ok {
		return
	}
	delete(c.pings, seq)
	c.log.Printf("[DEBUG] memberlist: Failed UDP ping: %v (timeout reached)", up.target)
	c.emit(&outPingResult{token: up.token, err: NoPingResponseError{node: up.target}})
}

// resetNodes runs when the probe order wraps around: it forgets members dead
// or left for longer than GossipToTheDeadTime and reshuffles the rest.
func (c *core) resetNodes() {
	keep := c.nodes[:0]
	for _, n := range c.nodes {
		if n.deadOrLeft() && c.stateAge(n) > c.cfg.GossipToTheDeadTime {
			c.index.remove(n.name())
			c.notifyDone(c.news.drop(n))
			c.touch(n, true)
			c.endSuspicion(n)
			c.index.release(n)
			continue
		}
		keep = append(keep, n)
	}
	for i := len(keep); i < len(c.nodes); i++ {
		c.nodes[i] = nil
	}
	c.nodes = keep
	c.rng.Shuffle(len(c.nodes), func(i, j int) { c.nodes[i], c.nodes[j] = c.nodes[j], c.nodes[i] })
}

// kRandomNodes picks up to k distinct members not excluded, at random.
func (c *core) kRandomNodes(k int, exclude func(*nodeState) bool) []*nodeState {
	n := len(c.nodes)
	if k <= 0 || n == 0 {
		return nil
	}
	picked := make([]*nodeState, 0, k)
	// In small tables random draws easily miss the few eligible members, so
	// walk a random permutation instead: exhaustive and still fair.
	if n < 3*k {
		for _, i := range c.rng.Perm(n) {
			if len(picked) == k {
				break
			}
			if s := c.nodes[i]; !exclude(s) {
				picked = append(picked, s)
			}
		}
		return picked
	}
outer:
	for i := 0; i < 3*n && len(picked) < k; i++ {
		s := c.nodes[c.rng.IntN(n)]
		if exclude(s) {
			continue
		}
		for _, p := range picked {
			if p == s {
				continue outer
			}
		}
		picked = append(picked, s)
	}
	return picked
}
