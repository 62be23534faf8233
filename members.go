// This file owns the member table and its transitions: nodeState, one
// node's view of one member; alive / suspect / dead / left, incarnations
// and refutation; dead-node reclaim; the user's Leave and UpdateNode.

package memberlist

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// nodeState is this node's view of one member, 24 bytes (see the scale
// budget in DESIGN.md), kept in a memberTable chunk: no maps, timers or
// channels per entry, suspicion state in the core's suspicions map and only
// while the member is suspect, and everything an alive message says about
// the member besides its incarnation (name, address, port, metadata,
// versions) in one memberInfo behind a ref. A member's info changes rarely
// and is the same in every node's table, so the many cores of a simulation
// intern it and share one copy instead of holding one each.
type nodeState struct {
	info        ref[memberInfo]
	incarnation uint32
	stateChange uint32 // core.elapsedMs() at the last state change; see stateAge
	slot        uint32 // where the member lives in the memberTable
	newsGen     uint16 // odd while news about the member is queued; see newsQueue
	st          uint8  // NodeStateType
}

// memberInfo is what an alive message says about a member besides its
// incarnation (see nodeState).
type memberInfo struct {
	name    string
	meta    string   // hasMeta tells nil metadata from empty
	ip      [16]byte // the address's first ipLen bytes
	port    uint16
	ipLen   uint8 // 4 or 16, as the member sent it
	hasMeta bool
	vsn     [6]uint8 // PMin, PMax, PCur, DMin, DMax, DCur
}

// makeInfo interns a member's info, as a simulation's nodes do (see
// core.info). ip must be 4 or 16 bytes (see validAddr); a vsn shorter than
// 6 bytes leaves the versions 0. No argument is kept: unique.Make copies
// the strings of a value it has not seen.
func makeInfo(name string, ip []byte, port uint16, meta []byte, vsn []byte) ref[memberInfo] {
	return cachedInfo(infoKey(name, ip, port, meta, vsn))
}

// infoKey is the memberInfo of makeInfo's arguments; its strings view
// name and meta.
func infoKey(name string, ip []byte, port uint16, meta []byte, vsn []byte) memberInfo {
	k := memberInfo{name: name, port: port, hasMeta: meta != nil}
	k.ipLen = uint8(copy(k.ip[:], ip))
	if len(meta) > 0 {
		k.meta = unsafe.String(unsafe.SliceData(meta), len(meta))
	}
	if len(vsn) >= len(k.vsn) {
		copy(k.vsn[:], vsn)
	}
	return k
}

// name is the member's name.
func (n *nodeState) name() string { return n.info.Value().name }

// port is the member's port.
func (n *nodeState) port() uint16 { return n.info.Value().port }

// vsn is the member's protocol and delegate versions.
func (n *nodeState) vsn() [6]uint8 { return n.info.Value().vsn }

func (n *nodeState) state() NodeStateType { return NodeStateType(n.st) }

func (n *nodeState) setState(s NodeStateType) { n.st = uint8(s) }

// addr is the member's IP address in the form it was sent (4 or 16 bytes).
// It returns a new slice each call.
func (n *nodeState) addr() net.IP {
	i := n.info.Value()
	return append(net.IP(nil), i.ip[:i.ipLen]...)
}

// hasAddr reports whether ip is the member's address, byte for byte.
func (n *nodeState) hasAddr(ip []byte) bool {
	i := n.info.Value()
	return len(ip) == int(i.ipLen) && string(ip) == string(i.ip[:i.ipLen])
}

// validAddr reports whether ip can be a member's address: an IPv4 or IPv6
// address, 4 or 16 bytes, as every well-formed peer sends.
func validAddr(ip []byte) bool {
	return len(ip) == net.IPv4len || len(ip) == net.IPv6len
}

// meta is the member's metadata, nil when it has none. It returns a new
// slice each call.
func (n *nodeState) meta() []byte {
	i := n.info.Value()
	if !i.hasMeta {
		return nil
	}
	return []byte(i.meta)
}

// metaView is the member's metadata like meta, but without a copy: a view
// of the interned bytes, which must never be written.
func (n *nodeState) metaView() []byte {
	i := n.info.Value()
	return i.metaView()
}

// metaView is the metadata as a view of the interned bytes; see
// nodeState.metaView.
func (i *memberInfo) metaView() []byte {
	if !i.hasMeta {
		return nil
	}
	if i.meta == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(i.meta), len(i.meta))
}

// hasMeta reports whether m is the member's metadata. Like bytes.Equal, it
// takes nil and empty metadata for the same; the info keeps the form it
// was given, as the wire tells the two apart.
func (n *nodeState) hasMeta(m []byte) bool {
	return string(m) == n.info.Value().meta
}

func (n *nodeState) deadOrLeft() bool {
	return n.st == uint8(StateDead) || n.st == uint8(StateLeft)
}

// hostPortKey is an IP address (4 or 16 bytes) and a port, as a map key.
type hostPortKey struct {
	ip   [16]byte
	n    uint8
	port uint16
}

// maxHostPorts bounds the core's cache of "host:port" strings: a node sends
// most to the few members it probes and gossips to in a while, and a
// simulator runs thousands of cores.
const maxHostPorts = 16

// hostPort is joinHostPort through the core's cache, or the process-wide
// one for a simulation's node.
func (c *core) hostPort(ip []byte, port uint16) string {
	var k hostPortKey
	if len(ip) > len(k.ip) {
		return joinHostPort(ip, port) // not an address: no key would tell it apart
	}
	k.n, k.port = uint8(copy(k.ip[:], ip)), port
	if c.shared {
		return cachedHostPort(k, ip)
	}
	if s, ok := c.hostPorts[k]; ok {
		return s
	}
	s := joinHostPort(ip, port)
	if c.hostPorts == nil {
		c.hostPorts = make(map[hostPortKey]string, maxHostPorts)
	} else if len(c.hostPorts) >= maxHostPorts {
		clear(c.hostPorts)
	}
	c.hostPorts[k] = s
	return s
}

// addressOf is n's fullAddress, formatted through the core's cache.
func (c *core) addressOf(n *nodeState) Address {
	i := n.info.Value()
	return Address{Addr: c.hostPort(i.ip[:i.ipLen], i.port), Name: i.name}
}

// toNode returns a Node the caller owns: no byte of it is shared with the
// core, so users may keep and read it without racing the protocol.
func (n *nodeState) toNode() *Node {
	i := n.info.Value()
	// The Node and its address in one allocation.
	p := &struct {
		node Node
		ip   [16]byte
	}{ip: i.ip}
	p.node = Node{
		Name:  i.name,
		Addr:  net.IP(p.ip[:i.ipLen:i.ipLen]),
		Port:  i.port,
		Meta:  n.meta(),
		State: n.state(),
		PMin:  i.vsn[0],
		PMax:  i.vsn[1],
		PCur:  i.vsn[2],
		DMin:  i.vsn[3],
		DMax:  i.vsn[4],
		DCur:  i.vsn[5],
	}
	return &p.node
}

// vsnSlice is the member's versions as a new slice.
func (n *nodeState) vsnSlice() []uint8 {
	v := n.info.Value().vsn
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

// self returns the local node's entry; it exists from start on.
func (c *core) self() *nodeState {
	return c.index.get(c.cfg.Name)
}

// numNodes is the estimate of the cluster size used to scale timeouts and
// retransmits: every entry in the table, as the reference counts it.
func (c *core) numNodes() int {
	return len(c.nodes)
}

// anyAlive reports whether any other member is not dead or left.
func (c *core) anyAlive() bool {
	for _, n := range c.nodes {
		if !n.deadOrLeft() && n.name() != c.cfg.Name {
			return true
		}
	}
	return false
}

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
	a := me.aliveMsg()
	c.encodeAndQueue(me, aliveMsg, &a, 0, true)
}

// aliveMsg is the alive message that says what the member is now.
func (n *nodeState) aliveMsg() alive {
	return alive{
		Incarnation: n.incarnation,
		Node:        n.name(),
		Addr:        n.addr(),
		Port:        n.port(),
		Meta:        n.meta(),
		Vsn:         n.vsnSlice(),
	}
}

// reassert answers a stale accusation: a suspect or dead message about us
// at an incarnation we already refuted. Its sender missed our refutation
// (on a lossy network, a refutation sent its few times can miss a node),
// and would otherwise keep suspecting us until it declares us dead; so our
// current alive message goes out again, at the same incarnation. The
// reference ignores such messages.
func (c *core) reassert(me *nodeState) {
	if c.leaving {
		return // our leave is the news now
	}
	a := me.aliveMsg()
	c.encodeAndQueue(me, aliveMsg, &a, 0, true)
}

// relayBudget is how many refutations a node relays per GossipInterval
// under Config.RelayRefutations.
const relayBudget = 4

// relayWindowNoGossip stands in for the gossip interval of a node with gossip
// turned off (GossipInterval 0): DefaultLANConfig's 200ms.
const relayWindowNoGossip = 200 * time.Millisecond

// relayRefutation answers gossip from from that accuses member name at
// incarnation inc (Config.RelayRefutations): when we have known the member
// alive at a newer incarnation for a gossip interval or more, the sender
// missed its refutation, so we send it the member's alive message. (Within
// that interval the accusation and the refutation are still racing through
// the cluster, and nearly every sender learns the refutation without help:
// answering those too costs half again as many datagrams in a congested
// cluster, for few more false deaths avoided.) Accusations of ourselves are
// reasserted to all (reassert) instead.
func (c *core) relayRefutation(name string, inc uint32, from net.Addr) {
	if !c.cfg.RelayRefutations || from == nil || name == c.cfg.Name || c.cfg.RequireNodeNames {
		return // (a packet does not name its sender)
	}
	window := c.cfg.GossipInterval
	if window <= 0 {
		window = relayWindowNoGossip
	}
	st := c.index.get(name)
	if st == nil || inc >= st.incarnation || st.state() != StateAlive || c.stateAge(st) < window {
		return
	}
	if c.now.Sub(c.relayFrom) >= window {
		c.relayFrom, c.relayed = c.now, 0
	}
	if c.relayed >= relayBudget {
		return
	}
	c.relayed++
	c.refutationsRelayed++
	c.metrics.IncrCounterWithLabels([]string{"memberlist", "refutation", "relayed"}, 1, c.labels)
	a := st.aliveMsg()
	c.encodeAndSend(Address{Addr: from.String()}, aliveMsg, &a)
}

// aliveNode handles news that a member is alive. notify, when non-zero, is
// the token of an outNotify to emit once the resulting broadcast is done.
// bootstrap is set for our own alive messages at start and on UpdateNode.
func (c *core) aliveNode(a *alive, notify uint64, bootstrap bool) {
	// A message that names no node, or gives an address that is no
	// address, must never make a member (random garbage can decode as an
	// alive message); no well-formed peer sends one.
	if a.Node == "" || !validAddr(a.Addr) {
		countRejected(c.metrics, c.labels, "msg", "alive")
		c.log.Printf("[DEBUG] memberlist: Ignoring an alive message for %q with a %d-byte address", a.Node, len(a.Addr))
		return
	}
	if len(a.Node) > MaxNodeNameLen {
		countRejected(c.metrics, c.labels, "msg", "name")
		c.log.Printf("[DEBUG] memberlist: Ignoring an alive message for a %d-byte name (at most %d)", len(a.Node), MaxNodeNameLen)
		return
	}
	isLocal := a.Node == c.cfg.Name
	// An alive message about us may still be in flight while we leave; it
	// must not bring us back.
	if c.leaving && isLocal {
		return
	}
	if len(a.Vsn) >= 3 {
		pMin, pMax, pCur := a.Vsn[0], a.Vsn[1], a.Vsn[2]
		if pMin == 0 || pMax == 0 || pMin > pMax {
			// Any sender can make this happen at will: counted, and
			// logged only at DEBUG.
			countRejected(c.metrics, c.labels, "msg", "vsn")
			c.log.Printf("[DEBUG] memberlist: Ignoring an alive message for '%s' (%v:%d) because protocol version(s) are wrong: %d <= %d <= %d should be >0",
				a.Node, net.IP(a.Addr), a.Port, pMin, pCur, pMax)
			return
		}
	}
	if c.cfg.Alive != nil {
		if len(a.Vsn) < 6 {
			countRejected(c.metrics, c.labels, "msg", "vsn")
			c.log.Printf("[DEBUG] memberlist: ignoring alive message for '%s' (%v:%d) because Vsn is not present", a.Node, net.IP(a.Addr), a.Port)
			return
		}
		peer := &Node{
			Name: strings.Clone(a.Node), Addr: append(net.IP(nil), a.Addr...), Port: a.Port, Meta: cloneBytes(a.Meta),
			PMin: a.Vsn[0], PMax: a.Vsn[1], PCur: a.Vsn[2], DMin: a.Vsn[3], DMax: a.Vsn[4], DCur: a.Vsn[5],
		}
		if err := c.cfg.Alive.NotifyAlive(peer); err != nil {
			c.log.Printf("[WARN] memberlist: ignoring alive message for '%s': %s", a.Node, err)
			return
		}
	}

	st := c.index.get(a.Node)
	known := st != nil
	updatesAddr := false
	if !known {
		// CIDRsAllowed is about peers: a node always knows itself.
		if err := c.cfg.IPAllowed(a.Addr); err != nil && !isLocal {
			countRejected(c.metrics, c.labels, "msg", "cidr")
			c.log.Printf("[DEBUG] memberlist: Rejected node %s (%v): %s", a.Node, net.IP(a.Addr), err)
			return
		}
		if c.index.full() {
			countRejected(c.metrics, c.labels, "msg", "table_full")
			c.log.Printf("[DEBUG] memberlist: Ignoring an alive message for %s: the member table holds %d members, its most", a.Node, maxTableSlots)
			return
		}
		st = c.index.alloc()
		st.st = uint8(StateDead)
		st.info = c.info(a.Node, a.Addr, a.Port, a.Meta, a.Vsn)
		c.index.put(st)
		// Insert at a random position: if every node appended, new members
		// would all be probed last and the detection bound would suffer.
		n := len(c.nodes)
		off := 0
		if n > 0 {
			off = c.rng.IntN(n + 1)
		}
		c.nodes = append(c.nodes, st)
		c.nodes[off], c.nodes[n] = c.nodes[n], c.nodes[off]
		c.changes++ // it may stay as it is, dead at incarnation 0, with no touch
	} else if !st.hasAddr(a.Addr) || st.port() != a.Port {
		if err := c.cfg.IPAllowed(a.Addr); err != nil {
			countRejected(c.metrics, c.labels, "msg", "cidr")
			c.log.Printf("[DEBUG] memberlist: Rejected IP update from %v to %v for node %s: %s", st.addr(), net.IP(a.Addr), a.Node, err)
			return
		}
		reclaim := c.cfg.DeadNodeReclaimTime > 0 &&
			c.stateAge(st) > c.cfg.DeadNodeReclaimTime
		if st.state() == StateLeft || (st.state() == StateDead && reclaim) {
			c.log.Printf("[INFO] memberlist: Updating address for left or failed node %s from %v:%d to %v:%d",
				st.name(), st.addr(), st.port(), net.IP(a.Addr), a.Port)
			updatesAddr = true
		} else {
			c.log.Printf("[ERR] memberlist: Conflicting address for %s. Mine: %v:%d Theirs: %v:%d Old state: %v",
				st.name(), st.addr(), st.port(), net.IP(a.Addr), a.Port, st.state())
			if c.cfg.Conflict != nil {
				other := &Node{Name: strings.Clone(a.Node), Addr: append(net.IP(nil), a.Addr...), Port: a.Port, Meta: cloneBytes(a.Meta)}
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
	c.endSuspicion(st) // a suspicion running no longer counts

	oldState := st.state()
	oldInfo := st.info
	if !bootstrap && isLocal {
		// Another node speaks for us with our own incarnation: ignore it only
		// if it says exactly what we would (a restart with a new config at
		// the same incarnation must be refuted).
		if a.Incarnation == st.incarnation && st.hasMeta(a.Meta) && bytes.Equal(a.Vsn, st.vsnSlice()) {
			return
		}
		c.refute(st, a.Incarnation)
		c.log.Printf("[WARN] memberlist: Refuting an alive message for '%s' (%v:%d) meta:(%v VS %v), vsn:(%v VS %v)",
			a.Node, net.IP(a.Addr), a.Port, a.Meta, st.meta(), a.Vsn, st.vsnSlice())
	} else {
		changed := false
		oldInc := st.incarnation
		st.incarnation = a.Incarnation
		info := st.info.Value()
		vsn := info.vsn
		if len(a.Vsn) >= len(vsn) {
			copy(vsn[:], a.Vsn)
		}
		if vsn != info.vsn || !st.hasMeta(a.Meta) || !st.hasAddr(a.Addr) || info.port != a.Port {
			meta := a.Meta
			if st.hasMeta(meta) {
				meta = st.metaView() // the form first given, nil or empty, stays
			}
			st.info = c.info(info.name, a.Addr, a.Port, meta, vsn[:])
			changed = true
		}
		if st.state() != StateAlive {
			st.setState(StateAlive)
			c.stamp(st)
			changed = true
		} else if a.Incarnation != oldInc {
			// Only a dead member's stamp is read, except by
			// relayRefutation: how long ago we learned this incarnation.
			c.stamp(st)
		}
		// The message goes on as it came. When it says exactly what st now
		// holds, as nearly all do, every node would encode and intern the
		// same bytes: they come from the shared cache instead. What a join
		// taught under Config.QuietJoinMerge is sent half as often, after
		// the news sent fewer times.
		// A message that ends a suspicion or a death of a member we knew
		// is a refutation, which goes first under Config.RefutationsFirst.
		first := c.cfg.RefutationsFirst && known && (oldState == StateSuspect || oldState == StateDead)
		if c.quietTier > 0 && !isLocal && !first {
			c.unparkGossip()
			c.notifyDone(c.news.pushAt(st, c.aliveNews(st.info, a.Incarnation), notify, c.quietTier))
		} else if len(a.Vsn) == len(info.vsn) && (a.Meta == nil) == !st.info.Value().hasMeta && !wireFastOff.Load() {
			c.queueNews(st, c.aliveNews(st.info, a.Incarnation), notify, first)
		} else {
			c.encodeAndQueue(st, aliveMsg, a, notify, first)
		}
		if changed {
			c.touch(st, false)
		}
	}
	c.metrics.IncrCounterWithLabels(keyMsgAlive, 1, c.labels)
	if oldState == StateDead && known {
		// A member we held dead is back: if a partition separated us, it
		// has healed, so the other lost members are worth a try soon.
		c.reconnectSoon()
	}

	if c.cfg.Events != nil {
		if oldState == StateDead || oldState == StateLeft {
			c.cfg.Events.NotifyJoin(st.toNode())
		} else if oldInfo.Value().meta != st.info.Value().meta {
			c.cfg.Events.NotifyUpdate(st.toNode())
		}
	}
}

// heldDead reports whether this node holds name, a member, dead or left.
func (c *core) heldDead(name string) bool {
	st := c.index.get(name)
	return st != nil && st.deadOrLeft()
}

// suspectNode handles news that a member may have failed. s's names may
// view a packet: a suspicion keeps only accuserKeys of them.
func (c *core) suspectNode(s *suspect) {
	st := c.index.get(s.Node)
	ok := st != nil
	if !ok || s.Incarnation < st.incarnation {
		if ok && st.name() == c.cfg.Name {
			c.reassert(st)
		}
		return
	}
	// A suspicion already running takes the message as a confirmation; an
	// independent one is gossiped on so that others hear it too.
	if susp := c.suspicions.get(st.slot); susp != nil {
		if c.suspicions.confirm(susp, s.From) {
			c.broadcastAccusation(st, suspectMsg, s.Incarnation, s.Node, s.From, 0)
			c.scheduleSuspicion(susp)
		}
		return
	}
	if st.state() != StateAlive {
		return
	}
	if st.name() == c.cfg.Name {
		c.refute(st, s.Incarnation)
		c.log.Printf("[WARN] memberlist: Refuting a suspect message (from: %s)", s.From)
		return
	}
	c.broadcastAccusation(st, suspectMsg, s.Incarnation, s.Node, s.From, 0)
	c.metrics.IncrCounterWithLabels(keyMsgSuspect, 1, c.labels)

	st.incarnation = s.Incarnation
	st.setState(StateSuspect)
	c.stamp(st)
	c.touch(st, false)

	susp := c.suspicions.add(st.slot, suspicionFor(c.cfg, c.numNodes(), s.From, c.now.Sub(c.epoch)))
	c.scheduleSuspicion(susp)
}

// scheduleSuspicion (re)places susp among the suspects by its deadline, and
// brings the suspicion timer forward if it now falls earlier.
func (c *core) scheduleSuspicion(susp *suspicion) {
	c.suspSeq++
	susp.seq = c.suspSeq
	c.suspicions.set(susp)
	c.armSuspicions()
}

// armSuspicions makes sure the suspicion timer fires by the earliest
// suspect's deadline. A timer set earlier than needed (its suspect has
// refuted since) fires, finds nothing due and arms the next.
func (c *core) armSuspicions() {
	if c.suspicions.heapLen() == 0 {
		return
	}
	at := c.epoch.Add(c.suspicions.top().deadline())
	if c.suspArmed && !at.Before(c.suspArmedAt) {
		return
	}
	c.suspTimerSeq++
	c.suspArmed, c.suspArmedAt = true, at
	c.schedule(at, timer{kind: tSuspicion, seq: c.suspTimerSeq})
}

// suspicionsDue declares dead every suspect whose timeout has passed, in
// deadline order, and arms the timer for the next.
func (c *core) suspicionsDue() {
	c.suspArmed = false
	for c.suspicions.heapLen() > 0 {
		s := c.suspicions.top()
		if c.now.Sub(c.epoch) < s.deadline() {
			break
		}
		c.suspicionFired(s)
	}
	c.armSuspicions()
}

// suspicionFired ends s, whose timeout has passed, and declares its suspect
// dead, unless it is no longer a suspect.
func (c *core) suspicionFired(s *suspicion) {
	st := c.index.at(s.slot)
	k, n := int(s.k), s.confirmations()
	c.suspicions.end(s) // s is no more
	if st.state() != StateSuspect || c.index.get(st.name()) != st {
		return
	}
	if k > 0 && n < k {
		c.metrics.IncrCounterWithLabels(keyDegradedTimeout, 1, c.labels)
	}
	c.log.Printf("[INFO] memberlist: Marking %s as failed, suspect timeout reached (%d peer confirmations)", st.name(), n)
	d := dead{Incarnation: st.incarnation, Node: st.name(), From: c.cfg.Name}
	c.deadNode(&d)
}

// deadNode handles news that a member failed, or left when it says so
// itself.
func (c *core) deadNode(d *dead) {
	st := c.index.get(d.Node)
	ok := st != nil
	if !ok || d.Incarnation < st.incarnation {
		if ok && st.name() == c.cfg.Name && d.From != d.Node {
			c.reassert(st)
		}
		return
	}
	if c.cfg.SuspectBeforeDead && d.From != d.Node && d.From != c.cfg.Name && st.name() != c.cfg.Name {
		switch st.state() {
		case StateAlive:
			// Not suspected here: the accused may never have heard the
			// accusation. Suspect it, and let that be gossiped.
			c.suspectNode(&suspect{Incarnation: d.Incarnation, Node: d.Node, From: d.From})
			return
		case StateSuspect:
			susp := c.suspicions.get(st.slot)
			if susp != nil && susp.raisedBy(d.From) {
				return // the accuser's own verdict: our timer decides
			}
			// An accuser we hold dead speaks from across a partition (or
			// from beyond its own death). And a verdict on a suspicion
			// younger than its minimum timeout may have been passed
			// before the suspect could hear of it: after a heal, the
			// death notices queued on the other side arrive in a burst,
			// from many accusers at once, alive, suspect or dead here,
			// seconds before the refutation they provoke comes back.
			// Either is a confirmation, not a verdict: no accuser cuts a
			// suspicion shorter than its confirmations could.
			if c.heldDead(d.From) || (susp != nil && c.now.Sub(c.epoch)-susp.start < susp.min) {
				c.suspectNode(&suspect{Incarnation: d.Incarnation, Node: d.Node, From: d.From})
				return
			}
		}
	}
	c.endSuspicion(st)
	if st.deadOrLeft() {
		return
	}
	if st.name() == c.cfg.Name {
		if !c.leaving {
			c.refute(st, d.Incarnation)
			c.log.Printf("[WARN] memberlist: Refuting a dead message (from: %s)", d.From)
			return
		}
		c.broadcastAccusation(st, deadMsg, d.Incarnation, d.Node, d.From, c.leaveToken)
	} else {
		c.broadcastAccusation(st, deadMsg, d.Incarnation, d.Node, d.From, 0)
	}
	c.metrics.IncrCounterWithLabels(keyMsgDead, 1, c.labels)

	st.incarnation = d.Incarnation
	if d.Node == d.From {
		st.setState(StateLeft)
	} else {
		st.setState(StateDead)
		c.noteLost(st)
	}
	c.stamp(st)
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
	d := dead{Incarnation: me.incarnation, Node: me.name(), From: me.name()}
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
		Addr:        me.addr(),
		Port:        me.port(),
		Meta:        meta,
		Vsn:         c.cfg.BuildVsnArray(),
	}
	c.aliveNode(&a, token, true)
	return c.anyAlive()
}
