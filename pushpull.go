// This file owns state exchange (push/pull, the anti-entropy half of the
// protocol) on both sides and for both reasons: the periodic exchange with
// a random live member, a join, and the answer to a peer's exchange; the
// merge of a peer's member table, with the protocol-version check and the
// merge delegate's veto; and the bookkeeping of every stream exchange the
// core asks a driver to perform (push/pull and the TCP fallback ping), whose
// result comes back through exchangeDone.

package memberlist

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

// exchangeKind says why the core asked for a stream exchange.
type exchangeKind uint8

const (
	exPushPull  exchangeKind = iota // periodic anti-entropy
	exJoin                          // a join, reported with outJoined
	exTCPPing                       // the probe round's TCP fallback ping
	exReconnect                     // a push/pull with a failed member; see reconnect.go
)

// exchange is a stream exchange asked for with outExchange and not yet
// reported back.
type pendingExchange struct {
	kind    exchangeKind
	to      Address
	started time.Time
	seq     uint32 // exTCPPing: the probe round's sequence number
}

// startExchange asks the driver for a stream exchange and returns its id.
func (c *core) startExchange(kind exchangeKind, to Address, msg []byte, deadline time.Time, seq uint32) uint64 {
	c.lastExchange++
	id := c.lastExchange
	c.exchanges[id] = &pendingExchange{kind: kind, to: to, started: c.now, seq: seq}
	c.emit(&outExchange{id: id, to: to, msg: msg, deadline: deadline})
	return id
}

// dialError marks a failure to open a stream at all, as opposed to a
// failure during the exchange: for a TCP fallback ping it is the expected
// answer of a dead member, not worth an error in the log.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func isDialError(err error) bool {
	var d *dialError
	return errors.As(err, &d)
}

// exchangeDone is the input for the end of exchange id: the peer's answer,
// or why there was none (the driver wraps a failure to connect in a
// dialError). The core is done with reply when it returns.
func (c *core) exchangeDone(now time.Time, id uint64, reply *streamMsg, err error) {
	c.now = now
	defer releaseStream(reply)
	ex, ok := c.exchanges[id]
	if !ok {
		return
	}
	delete(c.exchanges, id)
	if ex.kind == exTCPPing {
		c.tcpPingDone(ex.seq, reply, err)
		return
	}
	c.metrics.AddSampleWithLabels([]string{"memberlist", "pushPullNode"}, msSince(now, ex.started), c.labels)
	if err == nil && ex.kind != exReconnect {
		err = c.mergeReply(ex.kind == exJoin, reply)
	}
	if ex.kind == exJoin {
		c.emit(&outJoined{id: id, err: err})
		return
	}
	if ex.kind == exReconnect {
		// A failed member that is still unreachable is the usual answer,
		// not an error.
		if err == nil {
			err = c.mergeReconnectReply(reply)
		}
		if err != nil {
			c.log.Printf("[DEBUG] memberlist: Reconnect to failed member %s (%s) failed: %s", ex.to.Name, ex.to.Addr, err)
			return
		}
		c.metrics.IncrCounterWithLabels([]string{"memberlist", "reconnect", "success"}, 1, c.labels)
		c.log.Printf("[INFO] memberlist: Exchanged state with failed member %s (%s)", ex.to.Name, ex.to.Addr)
		return
	}
	if err != nil {
		c.log.Printf("[ERR] memberlist: Push/Pull with %s failed: %s", ex.to.Name, err)
	}
}

// mergeReply merges the answer to our push/pull.
func (c *core) mergeReply(join bool, reply *streamMsg) error {
	switch reply.t {
	case pushPullMsg:
		if join && c.cfg.QuietJoinMerge {
			// Counted against the retransmit limit of the table the
			// merge makes, not of each step on the way there.
			limit := retransmitLimit(c.cfg.RetransmitMult, len(c.nodes)+len(reply.states))
			c.quietTier = max(1, limit/2)
			defer func() { c.quietTier = 0 }()
		}
		return c.mergeRemoteState(join, reply.states, reply.user)
	case errMsg:
		return fmt.Errorf("remote error: %v", reply.err)
	default:
		return fmt.Errorf("received invalid msgType (%d), expected pushPullMsg (%d)", reply.t, pushPullMsg)
	}
}

// join starts joining the cluster through the member at to: a push/pull
// exchange with the join flag. Its outcome comes back as outJoined with the
// returned id.
func (c *core) join(now time.Time, to Address) uint64 {
	c.now = now
	buf, err := c.localState(true)
	if err != nil {
		c.lastExchange++
		c.emit(&outJoined{id: c.lastExchange, err: err})
		return c.lastExchange
	}
	return c.startExchange(exJoin, to, buf, now.Add(c.cfg.TCPTimeout), 0)
}

// pushPullRound starts a full state exchange with one random live member.
func (c *core) pushPullRound() {
	peers := c.kRandomNodes(1, func(n *nodeState) bool {
		return n.name() == c.cfg.Name || n.state() != StateAlive
	})
	if len(peers) == 0 {
		return
	}
	buf, err := c.localState(false)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Push/Pull with %s failed: %s", peers[0].name(), err)
		return
	}
	c.startExchange(exPushPull, c.addressOf(peers[0]), buf, c.now.Add(c.cfg.TCPTimeout), 0)
}

// answerPushPull answers a peer's push/pull with our own state. It merges
// the peer's state first (the reference answers first): when the
// initiator's Join returns, both sides then know each other. A merge the
// delegate refuses is logged and still answered, as in the reference.
func (c *core) answerPushPull(msg *streamMsg, from net.Addr) []byte {
	if err := c.mergeRemoteState(msg.join, msg.states, msg.user); err != nil {
		c.log.Printf("[ERR] memberlist: Failed push/pull merge: %s %s", err, LogAddress(from))
	}
	local, err := c.localState(msg.join)
	if err != nil {
		c.log.Printf("[ERR] memberlist: Failed to push local state: %s %s", err, LogAddress(from))
		return nil
	}
	return local
}

// localState encodes this node's whole member table and the delegate's user
// state as a push/pull message, ready for the stream layer.
func (c *core) localState(join bool) ([]byte, error) {
	return c.localStateOf(join, nil, nil)
}

// localStateOf is localState for the members keep accepts (all when nil),
// and extra, when given, in place of its member's own entry.
//
// The member entries are encoded straight from the table: each entry's
// fields are views of the nodeState and its interned metadata, so a state
// of N members costs its one buffer, not N slices and N copies of the
// metadata (this runs for every join and every periodic exchange, with the
// whole table).
func (c *core) localStateOf(join bool, keep func(*nodeState) bool, extra *pushNodeState) ([]byte, error) {
	var counts [4]int
	var info memberInfo
	nStates, size := 0, 0
	skip := func(n *nodeState) bool {
		return (keep != nil && !keep(n)) || (extra != nil && n.name() == extra.Name)
	}
	for _, n := range c.nodes {
		if n.state() >= 0 && int(n.state()) < len(counts) {
			counts[n.state()]++
		}
		if skip(n) {
			continue
		}
		ps := n.pushState(&info)
		nStates++
		size += ps.wireLen()
	}
	if extra != nil {
		nStates++
		size += extra.wireLen()
	}
	for st, cnt := range counts {
		c.metrics.SetGaugeWithLabels([]string{"memberlist", "node", "instances"}, float32(cnt),
			append(c.labels[:len(c.labels):len(c.labels)], metrics.Label{Name: "node_state", Value: NodeStateType(st).String()}))
	}
	var user []byte
	if c.cfg.Delegate != nil {
		user = c.cfg.Delegate.LocalState(join)
	}
	var buf []byte
	if wireFastOff.Load() {
		// The reflection codec, for the tests that check the two agree.
		states := make([]pushNodeState, 0, nStates)
		for _, n := range c.nodes {
			if !skip(n) {
				states = append(states, n.pushState(&info))
			}
		}
		if extra != nil {
			states = append(states, *extra)
		}
		var err error
		if buf, err = encodePushPull(join, states, user, c.cfg.MsgpackUseNewTimeFormat); err != nil {
			return nil, fmt.Errorf("encode push/pull state: %w", err)
		}
	} else {
		buf = startPushPull(join, nStates, size, user)
		for _, n := range c.nodes {
			if !skip(n) {
				ps := n.pushState(&info)
				buf = ps.appendWire(buf)
			}
		}
		if extra != nil {
			buf = extra.appendWire(buf)
		}
		buf = append(buf, user...)
	}
	if len(buf) >= 5 {
		c.metrics.SetGaugeWithLabels([]string{"memberlist", "size", "local"}, float32(len(buf)), c.labels)
	}
	return buf, nil
}

// pushState is the member's push/pull entry. Its byte slices are views of
// n and of its interned metadata, to be encoded at once and never written.
//
// i is where the info is copied to for the views; it must outlive them.
func (n *nodeState) pushState(i *memberInfo) pushNodeState {
	*i = n.info.Value()
	return pushNodeState{
		Name:        i.name,
		Addr:        i.ip[:i.ipLen:i.ipLen],
		Port:        i.port,
		Meta:        i.metaView(),
		Incarnation: n.incarnation,
		State:       n.state(),
		Vsn:         i.vsn[:len(i.vsn):len(i.vsn)],
	}
}

// mergeRemoteState merges a peer's push/pull state. On a join the merge
// delegate may veto it; then nothing is merged and its error is returned.
func (c *core) mergeRemoteState(join bool, remote []pushNodeState, user []byte) error {
	for i := range remote {
		remote[i].Port = c.peerPort(remote[i].Port)
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
		Name:  strings.Clone(r.Name), // r's strings may share a buffer with the whole state
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

// vsnSummary is what verifyProtocol needs of the local table: the bounds
// the live members' versions set, and the range of every member's current
// versions.
type vsnSummary struct {
	maxPMin, minPMax, maxDMin, minDMax uint8 // over live members
	minPCur, maxPCur, minDCur, maxDCur uint8 // over all members
}

// localVersions summarises the local table's versions, again only when a
// member changed since the last time (touch counts the changes): a push/pull
// of a large table that changed nothing needs no pass over it.
func (c *core) localVersions() vsnSummary {
	if c.vsnValid && c.vsnAt == c.changes {
		return c.vsnSum
	}
	s := vsnSummary{minPMax: math.MaxUint8, minDMax: math.MaxUint8, minPCur: math.MaxUint8, minDCur: math.MaxUint8}
	for _, n := range c.nodes {
		v := n.vsn()
		s.minPCur, s.maxPCur = min(s.minPCur, v[2]), max(s.maxPCur, v[2])
		s.minDCur, s.maxDCur = min(s.minDCur, v[5]), max(s.maxDCur, v[5])
		if n.state() != StateAlive {
			continue
		}
		s.maxPMin, s.minPMax = max(s.maxPMin, v[0]), min(s.minPMax, v[1])
		s.maxDMin, s.minDMax = max(s.maxDMin, v[3]), min(s.minDMax, v[4])
	}
	c.vsnSum, c.vsnAt, c.vsnValid = s, c.changes, true
	return s
}

// check says why a member with current versions pCur and dCur is outside
// the bounds of s; nil when it is within.
func (s vsnSummary) check(name string, pCur, dCur uint8) error {
	if pCur < s.maxPMin || pCur > s.minPMax {
		return fmt.Errorf("Node '%s' protocol version (%d) is incompatible: [%d, %d]", name, pCur, s.maxPMin, s.minPMax)
	}
	if dCur < s.maxDMin || dCur > s.minDMax {
		return fmt.Errorf("Node '%s' delegate protocol version (%d) is incompatible: [%d, %d]", name, dCur, s.maxDMin, s.minDMax)
	}
	return nil
}

// verifyProtocol checks that every live member, ours and theirs, speaks a
// protocol and delegate version that every other live member understands.
func (c *core) verifyProtocol(remote []pushNodeState) error {
	// b starts as the local summary; the remote live members narrow its
	// bounds, and its range of current versions stays the local one.
	b := c.localVersions()
	for i := range remote {
		r := &remote[i]
		if r.State != StateAlive || len(r.Vsn) < 5 {
			continue
		}
		b.maxPMin, b.minPMax = max(b.maxPMin, r.Vsn[0]), min(b.minPMax, r.Vsn[1])
		b.maxDMin, b.minDMax = max(b.maxDMin, r.Vsn[3]), min(b.minDMax, r.Vsn[4])
	}
	check := b.check
	for i := range remote {
		var pCur, dCur uint8
		if len(remote[i].Vsn) >= 6 {
			pCur, dCur = remote[i].Vsn[2], remote[i].Vsn[5]
		}
		if err := check(remote[i].Name, pCur, dCur); err != nil {
			return err
		}
	}
	if len(c.nodes) == 0 || (b.minPCur >= b.maxPMin && b.maxPCur <= b.minPMax &&
		b.minDCur >= b.maxDMin && b.maxDCur <= b.minDMax) {
		return nil // every local member is within the bounds
	}
	for _, n := range c.nodes {
		v := n.vsn()
		if err := check(n.name(), v[2], v[5]); err != nil {
			return err
		}
	}
	return nil
}

// mergeState applies a peer's member table. A member the peer believes dead
// is only suspected here: we give it the chance to refute.
func (c *core) mergeState(remote []pushNodeState) {
	// A state larger than our table is mostly new to us (a join into a
	// large cluster): make room for it in one go.
	c.index.reserve(len(remote))
	var hashes [warmBatch]uint64
	for i := range remote {
		if i%warmBatch == 0 && len(remote)-i >= 4 {
			batch := remote[i:min(i+warmBatch, len(remote))]
			for j := range batch {
				hashes[j] = memberHash(batch[j].Name)
			}
			c.warmSink += c.index.warm(hashes[:len(batch)])
		}
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

// Push/pull messages are large and short-lived: at 10,000 members each
// state is about 700 KB on the wire and 1 MB decoded, and a partition's
// heal or a join storm makes thousands of exchanges a second across a
// simulation. The buffers they are encoded into and the slices they are
// decoded into are recycled through these pools rather than left to the
// collector, whose work grows with every byte allocated. A state read from
// memory (a memReader) is decoded as views of the bytes read, and in the
// simulator those bytes go back to the pool with the state (streamMsg.hold):
// nothing the core keeps, and nothing it gives a delegate, may view an
// entry's strings. The member table copies or interns them (see
// core.info), the merge delegate gets clones (pushStateNode), and
// TestPushPullViewsKeptNowhere scribbles on a state once it is merged.
var (
	pushStatesPool sync.Pool // *[]pushNodeState
	pushBufPool    sync.Pool // *[]byte
)

// minPooled is the fewest entries (or bytes, for buffers, times 64) worth
// recycling.
const minPooled = 256

// getPushStates returns an empty slice of decoded entries with room for n.
func getPushStates(n int) []pushNodeState {
	if n >= minPooled {
		if p, ok := pushStatesPool.Get().(*[]pushNodeState); ok && cap(*p) >= n {
			return (*p)[:0]
		}
	}
	return make([]pushNodeState, 0, n)
}

// putPushStates recycles states, which nobody may use afterwards. It is
// cleared first, so that the strings its entries point into are not kept
// alive by the pool.
func putPushStates(states []pushNodeState) {
	if cap(states) < minPooled {
		return
	}
	states = states[:cap(states)]
	clear(states)
	pushStatesPool.Put(&states)
}

// getPushBuf returns an empty buffer with room for n bytes.
func getPushBuf(n int) []byte {
	if n >= minPooled*64 {
		if p, ok := pushBufPool.Get().(*[]byte); ok && cap(*p) >= n {
			return (*p)[:0]
		}
	}
	return make([]byte, 0, n)
}

// putPushBuf recycles buf, an encoded push/pull message (or anything else
// the size of one) that nobody may read or write afterwards.
func putPushBuf(buf []byte) {
	if cap(buf) < minPooled*64 {
		return
	}
	buf = buf[:0]
	pushBufPool.Put(&buf)
}

// releaseStream recycles what a handled stream message holds. The core
// calls it once it is done with msg: nothing of msg may be used afterwards.
func releaseStream(msg *streamMsg) {
	if msg == nil {
		return
	}
	putPushStates(msg.states)
	msg.states = nil
	if msg.hold != nil {
		putPushBuf(msg.hold)
		msg.hold = nil
	}
}
