// This file owns the SWIM core: the member table, incarnations, the probe
// round (direct ping, indirect pings, nacks, TCP fallback), the alive /
// suspect / dead / left transitions, refutation, gossip (including to the
// recently dead), dead-node reclaim and the push/pull merge.
//
// The core is deterministic. It never reads the wall clock, starts a
// goroutine, takes a lock or touches a socket: every input carries the time,
// every effect is an output (see output.go) that the shell or the simulator
// performs, and every random choice comes from the node's own seeded source.

package memberlist

import (
	"bytes"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

// nodeState is this node's view of one member. It is kept small (see the
// scale budget in DESIGN.md): no maps, timers or channels per entry, and
// suspicion state only while the member is suspect.
type nodeState struct {
	name        string
	addr        net.IP
	meta        []byte
	susp        *suspicion // non-nil only while suspect
	stateChange int64      // core.elapsed() at the last state change
	incarnation uint32
	port        uint16
	state       NodeStateType
	vsn         [6]uint8 // PMin, PMax, PCur, DMin, DMax, DCur
}

func (n *nodeState) deadOrLeft() bool {
	return n.state == StateDead || n.state == StateLeft
}

// address returns the member's "host:port".
func (n *nodeState) address() string {
	return joinHostPort(n.addr, n.port)
}

func (n *nodeState) fullAddress() Address {
	return Address{Addr: n.address(), Name: n.name}
}

// toNode returns a Node the caller owns: no byte of it is shared with the
// core, so users may keep and read it without racing the protocol.
func (n *nodeState) toNode() *Node {
	return &Node{
		Name:  n.name,
		Addr:  append(net.IP(nil), n.addr...),
		Port:  n.port,
		Meta:  cloneBytes(n.meta),
		State: n.state,
		PMin:  n.vsn[0],
		PMax:  n.vsn[1],
		PCur:  n.vsn[2],
		DMin:  n.vsn[3],
		DMax:  n.vsn[4],
		DCur:  n.vsn[5],
	}
}

func (n *nodeState) vsnSlice() []uint8 {
	v := n.vsn
	return v[:]
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func joinHostPort(ip net.IP, port uint16) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}

// NoPingResponseError is returned by Ping when the ping was sent but no ack
// came back within the probe timeout.
type NoPingResponseError struct {
	node string
}

// Error says which node did not answer.
func (f NoPingResponseError) Error() string {
	return fmt.Sprintf("No response from node %s", f.node)
}

// ackKind says who waits for an ack with a given sequence number.
type ackKind uint8

const (
	ackProbe ackKind = iota // our own probe round
	ackRelay                // an indirect ping we relay for a peer
	ackPing                 // a user's Ping call
)

// pendingAck is an outstanding ping, keyed by its sequence number.
type pendingAck struct {
	kind ackKind
	sent time.Time

	// ackProbe
	target        string
	nacks         int
	expectedNacks int
	done          bool // acked, or decided
	tcpPending    bool // a TCP fallback ping is under way
	tcpOK         bool
	endReached    bool   // the probe period is over
	indirect      bool   // the direct ping timed out; indirect pings went out
	incarnation   uint32 // the target's, when the probe started

	// ackRelay
	relaySeq    uint32
	relayTo     Address
	nackWanted  bool
	relayTarget string

	// ackPing
	token uint64
}

// core is one node's protocol state machine. Its methods are the inputs; they
// must all be called from one goroutine, with non-decreasing times.
type core struct {
	cfg    *Config
	log    *log.Logger
	labels []metrics.Label
	rng    *rand.Rand

	advAddr net.IP
	advPort uint16

	nodes      []*nodeState
	nodeMap    map[string]*nodeState
	probeIndex int

	incarnation uint32
	seqNo       uint32
	leaving     bool
	leaveToken  uint64

	awareness *awareness
	queue     broadcastQueue
	acks      map[uint32]*pendingAck
	probing   uint32 // sequence number of the probe round under way, 0 if none

	// probeTickPending is a probe tick that came during a round; see
	// probeTick.
	probeTickPending bool

	timers timedHeap[timer]
	now    time.Time
	epoch  time.Time // start time; stateChange counts from it, monotonically
	out    []output

	// onChange, when set, hears of every change to a member right after it
	// happens and before any event delegate does; the shell keeps its
	// snapshot for Members with it.
	onChange func(st *nodeState, removed bool)
}

func (c *core) touch(st *nodeState, removed bool) {
	if c.onChange != nil {
		c.onChange(st, removed)
	}
}

// newCore builds the core of a node that advertises addr:port. seed makes its
// random choices reproducible.
func newCore(cfg *Config, logger *log.Logger, addr net.IP, port uint16, seed uint64) *core {
	return &core{
		cfg:       cfg,
		log:       logger,
		labels:    cfg.MetricLabels,
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		advAddr:   addr,
		advPort:   port,
		nodeMap:   make(map[string]*nodeState),
		awareness: newAwareness(cfg.AwarenessMaxMultiplier),
		acks:      make(map[uint32]*pendingAck),
	}
}

// start makes the local node alive and schedules the periodic work, each
// first tick staggered by a random fraction of its interval so that nodes
// started together do not probe in lockstep.
func (c *core) start(now time.Time, meta []byte) {
	c.now = now
	c.epoch = now
	a := alive{
		Incarnation: c.nextIncarnation(),
		Node:        c.cfg.Name,
		Addr:        c.advAddr,
		Port:        c.advPort,
		Meta:        meta,
		Vsn:         c.cfg.BuildVsnArray(),
	}
	c.aliveNode(&a, 0, true)

	if iv := c.cfg.ProbeInterval; iv > 0 {
		c.schedule(now.Add(c.stagger(iv)), timer{kind: tProbe})
	}
	if iv := c.cfg.GossipInterval; iv > 0 && c.cfg.GossipNodes > 0 {
		c.schedule(now.Add(c.stagger(iv)), timer{kind: tGossip})
	}
	if iv := c.cfg.PushPullInterval; iv > 0 {
		c.schedule(now.Add(c.stagger(iv)), timer{kind: tPushPull})
	}
	if iv := c.cfg.QueueCheckInterval; iv > 0 {
		c.schedule(now.Add(iv), timer{kind: tQueueCheck})
	}
}

func (c *core) stagger(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(c.rng.Int64N(int64(d)))
}

// elapsed is the time since start, from the monotonic clock when the shell
// passes the real current time, so wall-clock steps do not reap or reclaim members early.
func (c *core) elapsed() int64 {
	return int64(c.now.Sub(c.epoch))
}

func (c *core) nextSeqNo() uint32 {
	c.seqNo++
	return c.seqNo
}

func (c *core) nextIncarnation() uint32 {
	c.incarnation++
	return c.incarnation
}

// self returns the local node's entry; it exists from start on.
func (c *core) self() *nodeState {
	return c.nodeMap[c.cfg.Name]
}

// numNodes is the estimate of the cluster size used to scale timeouts and
// retransmits: every entry in the table, as the reference counts it.
func (c *core) numNodes() int {
	return len(c.nodes)
}

// anyAlive reports whether any other member is not dead or left.
func (c *core) anyAlive() bool {
	for _, n := range c.nodes {
		if !n.deadOrLeft() && n.name != c.cfg.Name {
			return true
		}
	}
	return false
}

// tick fires every timer due at or before now.
func (c *core) tick(now time.Time) {
	c.now = now
	for c.timers.len() > 0 && !c.timers.nextAt().After(now) {
		_, t := c.timers.pop()
		c.fire(&t)
	}
}

// nextDeadline is when the core next needs tick, if ever.
func (c *core) nextDeadline() (time.Time, bool) {
	if c.timers.len() == 0 {
		return time.Time{}, false
	}
	return c.timers.nextAt(), true
}

func (c *core) schedule(at time.Time, t timer) {
	c.timers.push(at, t)
}

func (c *core) fire(t *timer) {
	switch t.kind {
	case tProbe:
		c.probeTick()
	case tGossip:
		c.gossip()
		c.schedule(c.now.Add(c.cfg.GossipInterval), timer{kind: tGossip})
	case tPushPull:
		c.pushPullRound()
		c.schedule(c.now.Add(pushPullScale(c.cfg.PushPullInterval, c.numNodes())), timer{kind: tPushPull})
	case tProbeTimeout:
		c.probeTimeout(t.seq)
	case tProbeEnd:
		c.probeEnd(t.seq)
	case tAckExpire:
		c.ackExpired(t.seq)
	case tSuspicion:
		c.suspicionFired(t.node, t.susp)
	case tQueueCheck:
		metrics.AddSampleWithLabels([]string{"memberlist", "queue", "broadcasts"}, float32(c.queue.numQueued()), c.labels)
		c.schedule(c.now.Add(c.cfg.QueueCheckInterval), timer{kind: tQueueCheck})
	}
}

// ---------------------------------------------------------------------------
// Probe round

// probeTick is the probe ticker, every ProbeInterval. Like the reference's
// time.Ticker, a tick that comes while a round is still open is kept (one at
// most) and starts the next round the moment that one ends. Lifeguard's
// health score stretches only a failing round (its deadline), not the tick.
func (c *core) probeTick() {
	c.schedule(c.now.Add(c.cfg.ProbeInterval), timer{kind: tProbe})
	if c.probing != 0 {
		c.probeTickPending = true
		return
	}
	c.probe()
}

// probeRoundOver ends round seq and starts the next one at once if a tick
// came while it ran.
func (c *core) probeRoundOver(seq uint32) {
	if c.probing != seq {
		return
	}
	c.probing = 0
	if c.probeTickPending {
		c.probeTickPending = false
		c.probe()
	}
}

// probe starts the probe of the next member in round-robin order, skipping
// ourselves and the dead.
func (c *core) probe() {
	interval := c.awareness.scaleTimeout(c.cfg.ProbeInterval)
	for checked := 0; checked < len(c.nodes); {
		if c.probeIndex >= len(c.nodes) {
			c.resetNodes()
			c.probeIndex = 0
			checked++
			continue
		}
		n := c.nodes[c.probeIndex]
		c.probeIndex++
		if n.name == c.cfg.Name || n.deadOrLeft() {
			checked++
			continue
		}
		c.probeNode(n, interval)
		return
	}
}

func (c *core) probeNode(n *nodeState, interval time.Duration) {
	if interval > c.cfg.ProbeInterval {
		metrics.IncrCounterWithLabels([]string{"memberlist", "degraded", "probe"}, 1, c.labels)
	}
	p := ping{
		SeqNo:      c.nextSeqNo(),
		Node:       n.name,
		SourceAddr: c.advAddr,
		SourcePort: c.advPort,
		SourceNode: c.cfg.Name,
	}
	pa := &pendingAck{kind: ackProbe, sent: c.now, target: n.name, incarnation: n.incarnation}
	c.acks[p.SeqNo] = pa
	c.probing = p.SeqNo
	c.schedule(c.now.Add(c.cfg.ProbeTimeout), timer{kind: tProbeTimeout, seq: p.SeqNo})
	c.schedule(c.now.Add(interval), timer{kind: tProbeEnd, seq: p.SeqNo})

	if n.state == StateAlive {
		c.encodeAndSend(n.fullAddress(), pingMsg, &p)
		return
	}
	// A suspect learns of the accusation with the ping itself, so it can
	// refute as soon as possible.
	pb, err := encodeMsg(pingMsg, &p, c.cfg.MsgpackUseNewTimeFormat)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Failed to encode ping: %s", err)
		return
	}
	s := suspect{Incarnation: n.incarnation, Node: n.name, From: c.cfg.Name}
	sb, err := encodeMsg(suspectMsg, &s, c.cfg.MsgpackUseNewTimeFormat)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Failed to encode suspect message: %s", err)
		return
	}
	c.rawSend(n.fullAddress(), n, makeCompound([][]byte{pb, sb}))
}

// probeTimeout: the direct ping got no ack in time, so ask k random live
// members to ping the target for us, and try TCP ourselves.
func (c *core) probeTimeout(seq uint32) {
	pa := c.acks[seq]
	if pa == nil || pa.kind != ackProbe || pa.done {
		return
	}
	pa.indirect = true
	c.log.Printf("[DEBUG] memberlist: Failed UDP ping: %s (timeout reached)", pa.target)
	target := c.nodeMap[pa.target]
	if target == nil {
		return
	}
	peers := c.kRandomNodes(c.cfg.IndirectChecks, func(n *nodeState) bool {
		return n.name == c.cfg.Name || n.name == target.name || n.state != StateAlive
	})
	ind := indirectPingReq{
		SeqNo:      seq,
		Target:     target.addr,
		Port:       target.port,
		Node:       target.name,
		SourceAddr: c.advAddr,
		SourcePort: c.advPort,
		SourceNode: c.cfg.Name,
	}
	for _, peer := range peers {
		// Only peers that understand version 4 send nacks.
		ind.Nack = peer.vsn[1] >= 4
		if ind.Nack {
			pa.expectedNacks++
		}
		c.encodeAndSend(peer.fullAddress(), indirectPingMsg, &ind)
	}

	// A TCP ping to any member that understands version 3, whatever version
	// we speak, catches members cut off from UDP but otherwise healthy.
	disabled := c.cfg.DisableTcpPings ||
		(c.cfg.DisableTcpPingsForNode != nil && c.cfg.DisableTcpPingsForNode(target.name))
	if !disabled && target.vsn[1] >= 3 {
		p := ping{
			SeqNo:      seq,
			Node:       target.name,
			SourceAddr: c.advAddr,
			SourcePort: c.advPort,
			SourceNode: c.cfg.Name,
		}
		buf, err := encodeMsg(pingMsg, &p, c.cfg.MsgpackUseNewTimeFormat)
		if err != nil {
			c.log.Printf("[ERR] memberlist: Failed to encode ping: %s", err)
			return
		}
		pa.tcpPending = true
		end := pa.sent.Add(c.awareness.scaleTimeout(c.cfg.ProbeInterval))
		c.emit(&outStreamPing{to: target.fullAddress(), seq: seq, msg: buf, deadline: end})
	}
}

// streamPingResult is the outcome of a TCP fallback ping.
func (c *core) streamPingResult(now time.Time, seq uint32, ok bool) {
	c.now = now
	pa := c.acks[seq]
	if pa == nil || pa.kind != ackProbe {
		return
	}
	pa.tcpPending = false
	pa.tcpOK = ok
	if pa.endReached {
		c.probeDecide(seq, pa)
	}
}

// probeEnd closes the probe period: without an ack by now the target is
// suspected, unless a TCP fallback ping is still under way.
func (c *core) probeEnd(seq uint32) {
	pa := c.acks[seq]
	if pa == nil || pa.kind != ackProbe {
		return
	}
	pa.endReached = true
	if pa.done {
		c.finishProbe(seq)
		return
	}
	if pa.tcpPending {
		return
	}
	c.probeDecide(seq, pa)
}

func (c *core) finishProbe(seq uint32) {
	delete(c.acks, seq)
	c.probeRoundOver(seq)
}

func (c *core) probeDecide(seq uint32, pa *pendingAck) {
	c.finishProbe(seq)
	if pa.done {
		return
	}
	pa.done = true
	metrics.AddSampleWithLabels([]string{"memberlist", "probeNode"}, msSince(c.now, pa.sent), c.labels)
	if pa.tcpOK {
		c.log.Printf("[WARN] memberlist: Was able to connect to %s over TCP but UDP probes failed, network may be misconfigured", pa.target)
		c.applyAwareness(-1)
		return
	}
	// Without peers that send nacks, any failed probe counts against our
	// own health; with them, only the nacks that did not come back do, since
	// a missing nack hints that the problem is on our side.
	delta := 1
	if pa.expectedNacks > 0 {
		delta = 0
		if pa.nacks < pa.expectedNacks {
			delta = pa.expectedNacks - pa.nacks
		}
	}
	c.applyAwareness(delta)
	c.log.Printf("[INFO] memberlist: Suspect %s has failed, no acks received", pa.target)
	target := c.nodeMap[pa.target]
	if target == nil {
		return
	}
	// Accuse the incarnation we probed: if the target refuted meanwhile, the
	// accusation is stale and suspectNode drops it.
	s := suspect{Incarnation: pa.incarnation, Node: target.name, From: c.cfg.Name}
	c.suspectNode(&s)
}

func (c *core) applyAwareness(delta int) {
	before, after := c.awareness.applyDelta(delta)
	if before != after {
		metrics.SetGaugeWithLabels([]string{"memberlist", "health", "score"}, float32(after), c.labels)
	}
}

func msSince(now, then time.Time) float32 {
	return float32(now.Sub(then)) / float32(time.Millisecond)
}

// ping starts a user's Ping of node at addr; the result comes back as an
// outPingResult with token.
func (c *core) ping(now time.Time, token uint64, node string, addr string) {
	c.now = now
	p := ping{
		SeqNo:      c.nextSeqNo(),
		Node:       node,
		SourceAddr: c.advAddr,
		SourcePort: c.advPort,
		SourceNode: c.cfg.Name,
	}
	c.acks[p.SeqNo] = &pendingAck{kind: ackPing, sent: now, token: token, target: node}
	c.schedule(now.Add(c.cfg.ProbeTimeout), timer{kind: tAckExpire, seq: p.SeqNo})
	c.encodeAndSend(Address{Addr: addr, Name: node}, pingMsg, &p)
}

// ackExpired ends a relay or a user ping that got no ack in time.
func (c *core) ackExpired(seq uint32) {
	pa := c.acks[seq]
	if pa == nil {
		return
	}
	switch pa.kind {
	case ackRelay:
		delete(c.acks, seq)
		if pa.nackWanted {
			c.encodeAndSend(pa.relayTo, nackRespMsg, &nackResp{SeqNo: pa.relaySeq})
		}
	case ackPing:
		delete(c.acks, seq)
		c.log.Printf("[DEBUG] memberlist: Failed UDP ping: %v (timeout reached)", pa.target)
		c.emit(&outPingResult{token: pa.token, err: NoPingResponseError{node: pa.target}})
	}
}

func (c *core) handleAckResp(ack *ackResp, ts time.Time) {
	pa := c.acks[ack.SeqNo]
	if pa == nil {
		return
	}
	switch pa.kind {
	case ackProbe:
		if pa.done {
			return
		}
		pa.done = true
		metrics.AddSampleWithLabels([]string{"memberlist", "probeNode"}, msSince(c.now, pa.sent), c.labels)
		c.applyAwareness(-1)
		// Only a direct ack measures the round trip to the target; a
		// relayed one also carries the relay's path and no payload.
		if c.cfg.Ping != nil && !pa.indirect {
			if n := c.nodeMap[pa.target]; n != nil {
				c.cfg.Ping.NotifyPingComplete(n.toNode(), ts.Sub(pa.sent), ack.Payload)
			}
		}
		// The entry stays until the period ends so that a late TCP result
		// finds it; the round itself is over.
		c.probeRoundOver(ack.SeqNo)
	case ackRelay:
		delete(c.acks, ack.SeqNo)
		c.encodeAndSend(pa.relayTo, ackRespMsg, &ackResp{SeqNo: pa.relaySeq})
	case ackPing:
		delete(c.acks, ack.SeqNo)
		c.emit(&outPingResult{token: pa.token, rtt: ts.Sub(pa.sent)})
	}
}

func (c *core) handleNackResp(nack *nackResp) {
	pa := c.acks[nack.SeqNo]
	if pa == nil || pa.kind != ackProbe {
		return
	}
	pa.nacks++
}

// resetNodes runs when the probe order wraps around: it forgets members dead
// or left for longer than GossipToTheDeadTime and reshuffles the rest.
func (c *core) resetNodes() {
	keep := c.nodes[:0]
	limit := c.elapsed() - int64(c.cfg.GossipToTheDeadTime)
	for _, n := range c.nodes {
		if n.deadOrLeft() && n.stateChange < limit {
			delete(c.nodeMap, n.name)
			c.touch(n, true)
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

// ---------------------------------------------------------------------------
// Gossip and push/pull

// gossip sends pending broadcasts to a few random members: live, suspect, or
// dead for less than GossipToTheDeadTime (so the dead hear they are dead).
func (c *core) gossip() {
	start := c.now
	deadLimit := c.elapsed() - int64(c.cfg.GossipToTheDeadTime)
	peers := c.kRandomNodes(c.cfg.GossipNodes, func(n *nodeState) bool {
		if n.name == c.cfg.Name {
			return true
		}
		switch n.state {
		case StateAlive, StateSuspect:
			return false
		case StateDead:
			return n.stateChange < deadLimit
		default:
			return true
		}
	})
	avail := c.cfg.UDPBufferSize - compoundHeaderOverhead - labelOverhead(c.cfg.Label)
	if c.cfg.EncryptionEnabled() {
		avail -= encryptOverhead(c.encryptionVersion())
	}
	for _, peer := range peers {
		msgs := c.getBroadcasts(compoundOverhead, avail)
		if len(msgs) == 0 {
			break
		}
		if len(msgs) == 1 {
			c.rawSend(peer.fullAddress(), peer, msgs[0])
			continue
		}
		for _, compound := range makeCompounds(msgs) {
			c.rawSend(peer.fullAddress(), peer, compound)
		}
	}
	metrics.AddSampleWithLabels([]string{"memberlist", "gossip"}, msSince(c.now, start), c.labels)
}

// pushPullRound starts a full state exchange with one random live member.
func (c *core) pushPullRound() {
	peers := c.kRandomNodes(1, func(n *nodeState) bool {
		return n.name == c.cfg.Name || n.state != StateAlive
	})
	if len(peers) == 0 {
		return
	}
	buf, err := c.localState(c.now, false)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Push/Pull with %s failed: %s", peers[0].name, err)
		return
	}
	c.emit(&outPushPull{to: peers[0].fullAddress(), msg: buf})
}

// localState encodes this node's whole member table and the delegate's user
// state as a push/pull message, ready for the stream layer.
func (c *core) localState(now time.Time, join bool) ([]byte, error) {
	c.now = now
	states := make([]pushNodeState, len(c.nodes))
	var counts [4]int
	for i, n := range c.nodes {
		states[i] = pushNodeState{
			Name:        n.name,
			Addr:        n.addr,
			Port:        n.port,
			Meta:        n.meta,
			Incarnation: n.incarnation,
			State:       n.state,
			Vsn:         n.vsnSlice(),
		}
		if n.state >= 0 && int(n.state) < len(counts) {
			counts[n.state]++
		}
	}
	for st, cnt := range counts {
		metrics.SetGaugeWithLabels([]string{"memberlist", "node", "instances"}, float32(cnt),
			append(c.labels[:len(c.labels):len(c.labels)], metrics.Label{Name: "node_state", Value: NodeStateType(st).String()}))
	}
	var user []byte
	if c.cfg.Delegate != nil {
		user = c.cfg.Delegate.LocalState(join)
	}
	buf, err := encodePushPull(join, states, user, c.cfg.MsgpackUseNewTimeFormat)
	if err != nil {
		return nil, fmt.Errorf("encode push/pull state: %w", err)
	}
	if len(buf) >= 5 {
		metrics.SetGaugeWithLabels([]string{"memberlist", "size", "local"}, float32(len(buf)), c.labels)
	}
	return buf, nil
}

// mergeRemoteState merges a peer's push/pull state. On a join the merge
// delegate may veto it; then nothing is merged and its error is returned.
func (c *core) mergeRemoteState(now time.Time, join bool, remote []pushNodeState, user []byte) error {
	c.now = now
	for i := range remote {
		// Before version 2 no port was sent: the peer uses ours.
		if c.cfg.ProtocolVersion < 2 || remote[i].Port == 0 {
			remote[i].Port = uint16(c.cfg.BindPort)
		}
	}
	if err := c.verifyProtocol(remote); err != nil {
		return err
	}
	if join && c.cfg.Merge != nil {
		peers := make([]*Node, len(remote))
		for i := range remote {
			peers[i] = pushStateNode(&remote[i])
		}
		if err := c.cfg.Merge.NotifyMerge(peers); err != nil {
			return err
		}
	}
	c.mergeState(remote)
	if user != nil && c.cfg.Delegate != nil {
		c.cfg.Delegate.MergeRemoteState(user, join)
	}
	return nil
}

func pushStateNode(r *pushNodeState) *Node {
	n := &Node{
		Name:  r.Name,
		Addr:  append(net.IP(nil), r.Addr...),
		Port:  r.Port,
		Meta:  cloneBytes(r.Meta),
		State: r.State,
	}
	if len(r.Vsn) >= 6 {
		n.PMin, n.PMax, n.PCur = r.Vsn[0], r.Vsn[1], r.Vsn[2]
		n.DMin, n.DMax, n.DCur = r.Vsn[3], r.Vsn[4], r.Vsn[5]
	}
	return n
}

// verifyProtocol checks that every live member, ours and theirs, speaks a
// protocol and delegate version that every other live member understands.
func (c *core) verifyProtocol(remote []pushNodeState) error {
	var maxPMin, maxDMin uint8
	minPMax, minDMax := uint8(math.MaxUint8), uint8(math.MaxUint8)
	for i := range remote {
		r := &remote[i]
		if r.State != StateAlive || len(r.Vsn) < 5 {
			continue
		}
		maxPMin = max(maxPMin, r.Vsn[0])
		minPMax = min(minPMax, r.Vsn[1])
		maxDMin = max(maxDMin, r.Vsn[3])
		minDMax = min(minDMax, r.Vsn[4])
	}
	for _, n := range c.nodes {
		if n.state != StateAlive {
			continue
		}
		maxPMin = max(maxPMin, n.vsn[0])
		minPMax = min(minPMax, n.vsn[1])
		maxDMin = max(maxDMin, n.vsn[3])
		minDMax = min(minDMax, n.vsn[4])
	}
	check := func(name string, pCur, dCur uint8) error {
		if pCur < maxPMin || pCur > minPMax {
			return fmt.Errorf("Node '%s' protocol version (%d) is incompatible: [%d, %d]", name, pCur, maxPMin, minPMax)
		}
		if dCur < maxDMin || dCur > minDMax {
			return fmt.Errorf("Node '%s' delegate protocol version (%d) is incompatible: [%d, %d]", name, dCur, maxDMin, minDMax)
		}
		return nil
	}
	for i := range remote {
		var pCur, dCur uint8
		if len(remote[i].Vsn) >= 6 {
			pCur, dCur = remote[i].Vsn[2], remote[i].Vsn[5]
		}
		if err := check(remote[i].Name, pCur, dCur); err != nil {
			return err
		}
	}
	for _, n := range c.nodes {
		if err := check(n.name, n.vsn[2], n.vsn[5]); err != nil {
			return err
		}
	}
	return nil
}

// mergeState applies a peer's member table. A member the peer believes dead
// is only suspected here: we give it the chance to refute.
func (c *core) mergeState(remote []pushNodeState) {
	for i := range remote {
		r := &remote[i]
		switch r.State {
		case StateAlive:
			a := alive{Incarnation: r.Incarnation, Node: r.Name, Addr: r.Addr, Port: r.Port, Meta: r.Meta, Vsn: r.Vsn}
			c.aliveNode(&a, 0, false)
		case StateLeft:
			d := dead{Incarnation: r.Incarnation, Node: r.Name, From: r.Name}
			c.deadNode(&d)
		case StateDead, StateSuspect:
			s := suspect{Incarnation: r.Incarnation, Node: r.Name, From: c.cfg.Name}
			c.suspectNode(&s)
		}
	}
}

// ---------------------------------------------------------------------------
// State transitions

// refute broadcasts an alive message for ourselves with an incarnation that
// beats accusedInc.
func (c *core) refute(me *nodeState, accusedInc uint32) {
	inc := c.nextIncarnation()
	if accusedInc >= inc {
		c.incarnation = accusedInc + 1
		inc = c.incarnation
	}
	me.incarnation = inc
	c.applyAwareness(1)
	a := alive{
		Incarnation: inc,
		Node:        me.name,
		Addr:        me.addr,
		Port:        me.port,
		Meta:        me.meta,
		Vsn:         me.vsnSlice(),
	}
	c.encodeAndBroadcast(me.name, aliveMsg, &a, 0)
}

// aliveNode handles news that a member is alive. notify, when non-zero, is
// the token of an outNotify to emit once the resulting broadcast is done.
// bootstrap is set for our own alive messages at start and on UpdateNode.
func (c *core) aliveNode(a *alive, notify uint64, bootstrap bool) {
	isLocal := a.Node == c.cfg.Name
	// An alive message about us may still be in flight while we leave; it
	// must not bring us back.
	if c.leaving && isLocal {
		return
	}
	if len(a.Vsn) >= 3 {
		pMin, pMax, pCur := a.Vsn[0], a.Vsn[1], a.Vsn[2]
		if pMin == 0 || pMax == 0 || pMin > pMax {
			c.log.Printf("[WARN] memberlist: Ignoring an alive message for '%s' (%v:%d) because protocol version(s) are wrong: %d <= %d <= %d should be >0",
				a.Node, net.IP(a.Addr), a.Port, pMin, pCur, pMax)
			return
		}
	}
	if c.cfg.Alive != nil {
		if len(a.Vsn) < 6 {
			c.log.Printf("[WARN] memberlist: ignoring alive message for '%s' (%v:%d) because Vsn is not present", a.Node, net.IP(a.Addr), a.Port)
			return
		}
		peer := &Node{
			Name: a.Node, Addr: append(net.IP(nil), a.Addr...), Port: a.Port, Meta: cloneBytes(a.Meta),
			PMin: a.Vsn[0], PMax: a.Vsn[1], PCur: a.Vsn[2], DMin: a.Vsn[3], DMax: a.Vsn[4], DCur: a.Vsn[5],
		}
		if err := c.cfg.Alive.NotifyAlive(peer); err != nil {
			c.log.Printf("[WARN] memberlist: ignoring alive message for '%s': %s", a.Node, err)
			return
		}
	}

	st, known := c.nodeMap[a.Node]
	updatesAddr := false
	if !known {
		if err := c.cfg.IPAllowed(a.Addr); err != nil {
			c.log.Printf("[WARN] memberlist: Rejected node %s (%v): %s", a.Node, net.IP(a.Addr), err)
			return
		}
		st = &nodeState{
			name:  a.Node,
			addr:  cloneIP(a.Addr),
			port:  a.Port,
			meta:  cloneBytes(a.Meta),
			state: StateDead,
		}
		if len(a.Vsn) > 5 {
			copy(st.vsn[:], a.Vsn[:6])
		}
		c.nodeMap[a.Node] = st
		// Insert at a random position: if every node appended, new members
		// would all be probed last and the detection bound would suffer.
		n := len(c.nodes)
		off := 0
		if n > 0 {
			off = c.rng.IntN(n + 1)
		}
		c.nodes = append(c.nodes, st)
		c.nodes[off], c.nodes[n] = c.nodes[n], c.nodes[off]
	} else if !bytes.Equal(st.addr, a.Addr) || st.port != a.Port {
		if err := c.cfg.IPAllowed(a.Addr); err != nil {
			c.log.Printf("[WARN] memberlist: Rejected IP update from %v to %v for node %s: %s", st.addr, net.IP(a.Addr), a.Node, err)
			return
		}
		reclaim := c.cfg.DeadNodeReclaimTime > 0 &&
			c.elapsed()-st.stateChange > int64(c.cfg.DeadNodeReclaimTime)
		if st.state == StateLeft || (st.state == StateDead && reclaim) {
			c.log.Printf("[INFO] memberlist: Updating address for left or failed node %s from %v:%d to %v:%d",
				st.name, st.addr, st.port, net.IP(a.Addr), a.Port)
			updatesAddr = true
		} else {
			c.log.Printf("[ERR] memberlist: Conflicting address for %s. Mine: %v:%d Theirs: %v:%d Old state: %v",
				st.name, st.addr, st.port, net.IP(a.Addr), a.Port, st.state)
			if c.cfg.Conflict != nil {
				other := &Node{Name: a.Node, Addr: append(net.IP(nil), a.Addr...), Port: a.Port, Meta: cloneBytes(a.Meta)}
				c.cfg.Conflict.NotifyConflict(st.toNode(), other)
			}
			return
		}
	}

	if a.Incarnation <= st.incarnation && !isLocal && !updatesAddr {
		return
	}
	if a.Incarnation < st.incarnation && isLocal {
		return
	}
	st.susp = nil // any suspicion timer is now stale

	oldState := st.state
	oldMeta := st.meta
	if !bootstrap && isLocal {
		// Another node speaks for us with our own incarnation: ignore it only
		// if it says exactly what we would (a restart with a new config at
		// the same incarnation must be refuted).
		if a.Incarnation == st.incarnation && bytes.Equal(a.Meta, st.meta) && bytes.Equal(a.Vsn, st.vsnSlice()) {
			return
		}
		c.refute(st, a.Incarnation)
		c.log.Printf("[WARN] memberlist: Refuting an alive message for '%s' (%v:%d) meta:(%v VS %v), vsn:(%v VS %v)",
			a.Node, net.IP(a.Addr), a.Port, a.Meta, st.meta, a.Vsn, st.vsnSlice())
	} else {
		c.encodeAndBroadcast(a.Node, aliveMsg, a, notify)
		changed := false
		if len(a.Vsn) >= 6 && !bytes.Equal(st.vsn[:], a.Vsn[:6]) {
			copy(st.vsn[:], a.Vsn[:6])
			changed = true
		}
		st.incarnation = a.Incarnation
		if !bytes.Equal(st.meta, a.Meta) {
			st.meta = cloneBytes(a.Meta)
			changed = true
		}
		if !bytes.Equal(st.addr, a.Addr) || st.port != a.Port {
			st.addr = cloneIP(a.Addr)
			st.port = a.Port
			changed = true
		}
		if st.state != StateAlive {
			st.state = StateAlive
			st.stateChange = c.elapsed()
			changed = true
		}
		if changed {
			c.touch(st, false)
		}
	}
	metrics.IncrCounterWithLabels([]string{"memberlist", "msg", "alive"}, 1, c.labels)

	if c.cfg.Events != nil {
		if oldState == StateDead || oldState == StateLeft {
			c.cfg.Events.NotifyJoin(st.toNode())
		} else if !bytes.Equal(oldMeta, st.meta) {
			c.cfg.Events.NotifyUpdate(st.toNode())
		}
	}
}

func cloneIP(ip []byte) net.IP {
	return append(net.IP(nil), ip...)
}

// suspectNode handles news that a member may have failed.
func (c *core) suspectNode(s *suspect) {
	st, ok := c.nodeMap[s.Node]
	if !ok || s.Incarnation < st.incarnation {
		return
	}
	// A suspicion already running takes the message as a confirmation; an
	// independent one is gossiped on so that others hear it too.
	if st.susp != nil {
		if st.susp.confirm(s.From) {
			c.encodeAndBroadcast(s.Node, suspectMsg, s, 0)
			c.scheduleSuspicion(st)
		}
		return
	}
	if st.state != StateAlive {
		return
	}
	if st.name == c.cfg.Name {
		c.refute(st, s.Incarnation)
		c.log.Printf("[WARN] memberlist: Refuting a suspect message (from: %s)", s.From)
		return
	}
	c.encodeAndBroadcast(s.Node, suspectMsg, s, 0)
	metrics.IncrCounterWithLabels([]string{"memberlist", "msg", "suspect"}, 1, c.labels)

	st.incarnation = s.Incarnation
	st.state = StateSuspect
	st.stateChange = c.elapsed()
	c.touch(st, false)

	// k confirmations reach the nominal timeout two probe intervals short of
	// what SuspicionMult gives; too small a cluster cannot confirm at all.
	k := c.cfg.SuspicionMult - 2
	n := c.numNodes()
	if n-2 < k {
		k = 0
	}
	minT := suspicionTimeout(c.cfg.SuspicionMult, n, c.cfg.ProbeInterval)
	maxT := time.Duration(c.cfg.SuspicionMaxTimeoutMult) * minT
	st.susp = newSuspicion(s.From, k, minT, maxT, c.now)
	c.scheduleSuspicion(st)
}

func (c *core) scheduleSuspicion(st *nodeState) {
	c.schedule(st.susp.deadline(), timer{kind: tSuspicion, node: st, susp: st.susp})
}

// suspicionFired declares a suspect dead when its timeout passes, unless the
// suspicion was cleared or replaced since the timer was set.
func (c *core) suspicionFired(st *nodeState, s *suspicion) {
	if st.susp != s || st.state != StateSuspect || c.nodeMap[st.name] != st {
		return
	}
	if c.now.Before(s.deadline()) {
		return
	}
	st.susp = nil
	if k := int(s.k); k > 0 && s.confirmations() < k {
		metrics.IncrCounterWithLabels([]string{"memberlist", "degraded", "timeout"}, 1, c.labels)
	}
	c.log.Printf("[INFO] memberlist: Marking %s as failed, suspect timeout reached (%d peer confirmations)", st.name, s.confirmations())
	d := dead{Incarnation: st.incarnation, Node: st.name, From: c.cfg.Name}
	c.deadNode(&d)
}

// deadNode handles news that a member failed, or left when it says so
// itself.
func (c *core) deadNode(d *dead) {
	st, ok := c.nodeMap[d.Node]
	if !ok || d.Incarnation < st.incarnation {
		return
	}
	st.susp = nil
	if st.deadOrLeft() {
		return
	}
	if st.name == c.cfg.Name {
		if !c.leaving {
			c.refute(st, d.Incarnation)
			c.log.Printf("[WARN] memberlist: Refuting a dead message (from: %s)", d.From)
			return
		}
		c.encodeAndBroadcast(d.Node, deadMsg, d, c.leaveToken)
	} else {
		c.encodeAndBroadcast(d.Node, deadMsg, d, 0)
	}
	metrics.IncrCounterWithLabels([]string{"memberlist", "msg", "dead"}, 1, c.labels)

	st.incarnation = d.Incarnation
	if d.Node == d.From {
		st.state = StateLeft
	} else {
		st.state = StateDead
	}
	st.stateChange = c.elapsed()
	c.touch(st, false)
	if c.cfg.Events != nil {
		c.cfg.Events.NotifyLeave(st.toNode())
	}
}

// leave marks us left and broadcasts it. It returns false when no other
// member is alive to hear it, so there is nothing to wait for; otherwise an
// outNotify with token follows once the broadcast has gone out.
func (c *core) leave(now time.Time, token uint64) bool {
	c.now = now
	if c.leaving {
		return false
	}
	c.leaving = true
	c.leaveToken = token
	me := c.self()
	if me == nil {
		return false
	}
	d := dead{Incarnation: me.incarnation, Node: me.name, From: me.name}
	c.deadNode(&d)
	return c.anyAlive()
}

// updateNode re-advertises us with new metadata. Like leave, it returns
// whether an outNotify with token will follow.
func (c *core) updateNode(now time.Time, token uint64, meta []byte) bool {
	c.now = now
	me := c.self()
	if me == nil || c.leaving {
		return false // after Leave there is nothing to re-advertise
	}
	a := alive{
		Incarnation: c.nextIncarnation(),
		Node:        c.cfg.Name,
		Addr:        me.addr,
		Port:        me.port,
		Meta:        meta,
		Vsn:         c.cfg.BuildVsnArray(),
	}
	c.aliveNode(&a, token, true)
	return c.anyAlive()
}
