package memberlist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Core tests drive one core directly with crafted messages in virtual time
// and look at what it emits. Each cites the behaviour of SWIM or Lifeguard
// it checks.

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

type recEvents struct{ joins, leaves, updates []string }

func (r *recEvents) NotifyJoin(n *Node)   { r.joins = append(r.joins, n.Name) }
func (r *recEvents) NotifyLeave(n *Node)  { r.leaves = append(r.leaves, n.Name) }
func (r *recEvents) NotifyUpdate(n *Node) { r.updates = append(r.updates, n.Name) }

type harness struct {
	t   *testing.T
	c   *core
	cfg *Config
	ev  *recEvents
	now time.Time

	// others holds the outputs other than datagrams, in order, until the
	// test takes them; allowExchanges lets outExchange pass unclaimed in
	// tests that probe or push/pull as a side effect.
	others         []output
	allowExchanges bool
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	return newHarnessWith(t, mod, discardMetrics{})
}

// newHarnessWith is newHarness with the core's metrics going to sink.
func newHarnessWith(t *testing.T, mod func(*Config), sink metricSink) *harness {
	cfg := DefaultLANConfig()
	cfg.Name = "self"
	cfg.EnableCompression = false
	cfg.LogOutput = io.Discard
	cfg.BindPort = 7946
	ev := &recEvents{}
	cfg.Events = ev
	if mod != nil {
		mod(cfg)
	}
	_, err := setUpNode(cfg)
	require.NoError(t, err)
	c := newCore(cfg, net.IPv4(127, 0, 0, 1).To4(), 7946, coreEnv{logger: cfg.logger(), metrics: sink, seed: 1})
	c.start(t0, nil)
	h := &harness{t: t, c: c, cfg: cfg, ev: ev, now: t0}
	h.sent()
	*ev = recEvents{} // forget our own join
	t.Cleanup(h.checkNoUnexpectedOutputs)
	return h
}

// checkNoUnexpectedOutputs fails the test if the core emitted an output
// other than a datagram that the test did not take: each exchange, join
// result, notification and ping result is part of what a test checks.
// Datagrams it drops unchecked, as gossip rides along with everything.
func (h *harness) checkNoUnexpectedOutputs() {
	h.sent()
	for _, o := range h.others {
		if _, ok := o.(*outExchange); ok && h.allowExchanges {
			continue
		}
		h.t.Errorf("the core emitted %T %+v, which the test did not expect", o, o)
	}
}

var peerAddr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 7946}

// deliver hands the core one message as a packet from peerAddr.
func (h *harness) deliver(t messageType, msg any) {
	buf, err := encodeMsg(t, msg, false)
	require.NoError(h.t, err)
	h.c.handlePacket(h.now, buf, peerAddr, h.now)
}

func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.c.tick(h.now)
}

// sent drains the core's outputs: it decodes every datagram emitted since
// the last call into (type, body) pairs, opening compound messages, and
// keeps every other output for take.
func (h *harness) sent() []sentMsg {
	var out []sentMsg
	for _, o := range h.c.drain() {
		switch o := o.(type) {
		case *outSend:
			out = append(out, splitSent(h.t, o.to, o.buf)...)
		case *outExchange, *outJoined, *outNotify, *outPingResult:
			h.others = append(h.others, o)
		default:
			h.t.Fatalf("unknown output %T", o)
		}
	}
	return out
}

// take removes and returns the outputs other than datagrams emitted so far.
func (h *harness) take() []output {
	h.sent()
	out := h.others
	h.others = nil
	return out
}

// takeOne removes the only pending output other than datagrams, which must
// be a T.
func takeOne[T output](h *harness) T {
	h.t.Helper()
	outs := h.take()
	require.Len(h.t, outs, 1, "outputs: %v", outs)
	o, ok := outs[0].(T)
	require.True(h.t, ok, "got %T", outs[0])
	return o
}

type sentMsg struct {
	to   Address
	t    messageType
	body []byte
}

func splitSent(t *testing.T, to Address, buf []byte) []sentMsg {
	require.NotEmpty(t, buf)
	if messageType(buf[0]) == hasCrcMsg {
		var err error
		buf, err = checkCRC(buf[1:])
		require.NoError(t, err)
	}
	if messageType(buf[0]) == compoundMsg {
		parts, _, err := splitCompound(nil, buf[1:])
		require.NoError(t, err)
		var out []sentMsg
		for _, p := range parts {
			out = append(out, splitSent(t, to, p)...)
		}
		return out
	}
	return []sentMsg{{to: to, t: messageType(buf[0]), body: buf[1:]}}
}

// sentOf is sent, keeping only messages of type t (gossip rides along).
func (h *harness) sentOf(t messageType) []sentMsg {
	var out []sentMsg
	for _, m := range h.sent() {
		if m.t == t {
			out = append(out, m)
		}
	}
	return out
}

func (h *harness) addPeer(name string, ip byte, inc uint32) {
	h.deliver(aliveMsg, &alive{
		Incarnation: inc, Node: name, Addr: net.IPv4(127, 0, 0, ip).To4(), Port: 7946,
		Vsn: []uint8{1, 5, 2, 0, 0, 0},
	})
}

// peerState is the member a peer's push/pull reports at 127.0.0.ip, as
// addPeer would announce it.
func peerState(name string, ip byte, inc uint32, st NodeStateType) pushNodeState {
	return pushNodeState{Name: name, Addr: net.IPv4(127, 0, 0, ip).To4(), Port: 7946, Incarnation: inc, State: st,
		Vsn: []uint8{1, 5, 2, 0, 0, 0}}
}

func (h *harness) state(name string) NodeStateType {
	st, ok := h.c.memberState(name)
	require.True(h.t, ok, "no member %s", name)
	return st
}

func (h *harness) queued() int { return h.c.news.numQueued() }

func TestCoreAliveAddsMemberAndGossipsIt(t *testing.T) {
	h := newHarness(t, nil)
	before := h.queued()
	h.addPeer("a", 2, 1)
	require.Equal(t, StateAlive, h.state("a"))
	require.Equal(t, []string{"a"}, h.ev.joins)
	require.Equal(t, before+1, h.queued(), "news of a new member is gossiped on")

	// An alive message that is not newer changes nothing.
	h.addPeer("a", 2, 1)
	require.Equal(t, []string{"a"}, h.ev.joins)
	require.Equal(t, uint32(1), h.c.index.get("a").incarnation)
}

func TestCoreMetaChangeNotifiesUpdate(t *testing.T) {
	h := newHarness(t, nil)
	h.addPeer("a", 2, 1)
	h.deliver(aliveMsg, &alive{Incarnation: 2, Node: "a", Addr: net.IPv4(127, 0, 0, 2).To4(), Port: 7946,
		Meta: []byte("v2"), Vsn: []uint8{1, 5, 2, 0, 0, 0}})
	require.Equal(t, []string{"a"}, h.ev.updates)
	require.Equal(t, []byte("v2"), h.c.index.get("a").meta())
}

// SWIM §4.2: a member that hears it is suspected refutes with a higher
// incarnation number.
func TestCoreRefutesSuspicionOfItself(t *testing.T) {
	h := newHarness(t, nil)
	h.addPeer("a", 2, 1)
	h.deliver(suspectMsg, &suspect{Incarnation: 7, Node: "self", From: "a"})
	me := h.c.index.get("self")
	require.Equal(t, StateAlive, me.state())
	require.Greater(t, me.incarnation, uint32(7))
	require.Equal(t, 1, h.c.awareness.score(), "Lifeguard: being accused costs local health")
}

func TestCoreRefutesDeathOfItselfUnlessLeaving(t *testing.T) {
	h := newHarness(t, nil)
	h.addPeer("a", 2, 1)
	h.deliver(deadMsg, &dead{Incarnation: 3, Node: "self", From: "a"})
	require.Equal(t, StateAlive, h.state("self"))
	require.Greater(t, h.c.index.get("self").incarnation, uint32(3))

	require.True(t, h.c.leave(h.now, 99))
	require.Equal(t, StateLeft, h.state("self"))
}

// Lifeguard §IV-B: with too few members to confirm, the suspicion runs out
// at its minimum timeout and the member is declared dead.
func TestCoreSuspicionTimesOutToDead(t *testing.T) {
	h := newHarness(t, nil)
	h.addPeer("a", 2, 1)
	h.addPeer("b", 3, 1)
	h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: "a", From: "b"})
	require.Equal(t, StateSuspect, h.state("a"))

	minT := suspicionTimeout(h.cfg.SuspicionMult, 3, h.cfg.ProbeInterval)
	h.advance(minT - time.Millisecond)
	require.Equal(t, StateSuspect, h.state("a"))
	h.advance(time.Millisecond)
	require.Equal(t, StateDead, h.state("a"))
	require.Equal(t, []string{"a"}, h.ev.leaves)
}

// Lifeguard §IV-B: independent confirmations shorten the suspicion timeout
// from its maximum towards its minimum.
func TestCoreSuspicionConfirmationsShortenTimeout(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 10 {
		h.addPeer(string(rune('a'+i)), byte(2+i), 1)
	}
	n := h.c.numNodes()
	h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: "a", From: "b"})
	minT := suspicionTimeout(h.cfg.SuspicionMult, n, h.cfg.ProbeInterval)
	maxT := time.Duration(h.cfg.SuspicionMaxTimeoutMult) * minT

	// Without confirmations nothing happens well past the minimum.
	h.advance(2 * minT)
	require.Equal(t, StateSuspect, h.state("a"))

	// k = SuspicionMult-2 = 2 confirmations bring the deadline to minT.
	h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: "a", From: "c"})
	h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: "a", From: "d"})
	h.advance(time.Millisecond)
	require.Equal(t, StateDead, h.state("a"), "after k confirmations the minimum timeout (%v, max %v) has passed", minT, maxT)
}

func TestCoreAliveClearsSuspicion(t *testing.T) {
	h := newHarness(t, nil)
	h.addPeer("a", 2, 1)
	h.addPeer("b", 3, 1)
	h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: "a", From: "b"})
	h.addPeer("a", 2, 2)
	require.Equal(t, StateAlive, h.state("a"))
	h.allowExchanges = true // an hour brings push/pulls
	h.advance(time.Hour)
	require.Equal(t, StateAlive, h.state("a"), "a stale suspicion timer must not kill a refuted member")
}

// Suspicions that end, refuted or confirmed, leave nothing behind: not in
// the suspect heap, and not as timers, which once held every suspicion
// until its longest timeout (in a partition, 50 million of them across a
// 10,000-node simulation). Suspects die in deadline order, however they
// were raised.
func TestCoreEndedSuspicionsLeaveNothing(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 40 {
		h.addPeer(fmt.Sprint("p", i), byte(2+i), 1)
	}
	base := h.c.timers.len()
	for i := range 30 {
		h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: fmt.Sprint("p", i), From: "p39"})
	}
	// Confirmations pull p20..p29's deadlines to the minimum, before the
	// suspicions raised earlier.
	for i := 20; i < 30; i++ {
		h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: fmt.Sprint("p", i), From: "p38"})
		h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: fmt.Sprint("p", i), From: "p37"})
	}
	require.Equal(t, 30, h.c.suspicions.heapLen())
	// A timer each time the earliest deadline moved earlier (three here)
	// and the gossip ticker woken by the news; not one per suspicion and
	// confirmation, which would be 50.
	require.LessOrEqual(t, h.c.timers.len(), base+4)
	// p0..p9 refute.
	for i := range 10 {
		h.addPeer(fmt.Sprint("p", i), byte(2+i), 2)
	}
	require.Equal(t, 20, h.c.suspicions.heapLen())
	require.Equal(t, 20, h.c.suspicions.len())

	minT := suspicionTimeout(h.cfg.SuspicionMult, h.c.numNodes(), h.cfg.ProbeInterval)
	h.advance(minT)
	require.Equal(t, 10, h.c.suspicions.heapLen(), "the confirmed ten are dead at the minimum timeout")
	for i := 20; i < 30; i++ {
		require.Equal(t, StateDead, h.state(fmt.Sprint("p", i)))
	}
	h.allowExchanges = true
	h.advance(time.Hour)
	require.Zero(t, h.c.suspicions.heapLen())
	require.Zero(t, h.c.suspicions.len())
	for i := range 30 {
		want := StateDead
		if i < 10 {
			want = StateAlive
		}
		require.Equal(t, want, h.state(fmt.Sprint("p", i)), "p%d", i)
	}
	order := h.ev.leaves
	require.Len(t, order, 20)
	require.ElementsMatch(t, []string{"p20", "p21", "p22", "p23", "p24", "p25", "p26", "p27", "p28", "p29"}, order[:10], "confirmed suspects die first")
	for _, tm := range h.c.timers.h.items() {
		require.NotEqual(t, tSuspicion, tm.v.kind, "no suspicion timer left with no suspect")
	}
}

// After many suspicions at once, all ended, the core lets go of the
// suspicion set's room: its chunks, map and heap.
func TestCoreSuspicionSetShrinksWhenEmpty(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 100 {
		h.addPeer(fmt.Sprint("p", i), byte(2+i), 1)
	}
	for i := range 80 {
		h.deliver(suspectMsg, &suspect{Incarnation: 1, Node: fmt.Sprint("p", i), From: "p99"})
	}
	require.Equal(t, 80, h.c.suspicions.peak)
	require.Len(t, h.c.suspicions.chunks, 5)
	h.allowExchanges = true
	h.advance(time.Hour)
	require.Zero(t, h.c.suspicions.len())
	require.Equal(t, suspicionSet{}, h.c.suspicions, "the set was made anew")
}

// A member that says it is dead itself has left.
func TestCoreDeadFromItselfMeansLeft(t *testing.T) {
	h := newHarness(t, nil)
	h.addPeer("a", 2, 1)
	h.deliver(deadMsg, &dead{Incarnation: 1, Node: "a", From: "a"})
	require.Equal(t, StateLeft, h.state("a"))
}

func TestCorePingIsAckedToSource(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Ping = &ackPayload{payload: []byte("p")} })
	h.deliver(pingMsg, &ping{SeqNo: 42, Node: "self", SourceAddr: net.IPv4(127, 0, 0, 5).To4(), SourcePort: 9000, SourceNode: "x"})
	msgs := h.sentOf(ackRespMsg)
	require.Len(t, msgs, 1)
	require.Equal(t, Address{Addr: "127.0.0.5:9000", Name: "x"}, msgs[0].to)
	var ack ackResp
	require.NoError(t, decodeMsg(msgs[0].body, &ack))
	require.Equal(t, uint32(42), ack.SeqNo)
	require.Equal(t, []byte("p"), ack.Payload)

	// A ping meant for another name is not answered.
	h.deliver(pingMsg, &ping{SeqNo: 43, Node: "other"})
	require.Empty(t, h.sent())
}

type ackPayload struct {
	payload []byte
	rtts    []time.Duration
}

func (a *ackPayload) AckPayload() []byte { return a.payload }
func (a *ackPayload) NotifyPingComplete(_ *Node, rtt time.Duration, _ []byte) {
	a.rtts = append(a.rtts, rtt)
}

// SWIM §3.1 and Lifeguard's nack: an indirect ping request makes us ping the
// target and relay its ack; without an ack we send a nack if asked.
func TestCoreIndirectPingRelaysAckOrNack(t *testing.T) {
	h := newHarness(t, nil)
	req := &indirectPingReq{SeqNo: 5, Target: net.IPv4(127, 0, 0, 7).To4(), Port: 7946, Node: "t", Nack: true,
		SourceAddr: net.IPv4(127, 0, 0, 8).To4(), SourcePort: 7946, SourceNode: "origin"}
	h.deliver(indirectPingMsg, req)
	msgs := h.sentOf(pingMsg)
	require.Len(t, msgs, 1)
	require.Equal(t, "127.0.0.7:7946", msgs[0].to.Addr)
	var p ping
	require.NoError(t, decodeMsg(msgs[0].body, &p))

	h.deliver(ackRespMsg, &ackResp{SeqNo: p.SeqNo})
	msgs = h.sentOf(ackRespMsg)
	require.Len(t, msgs, 1)
	require.Equal(t, "origin", msgs[0].to.Name)
	var ack ackResp
	require.NoError(t, decodeMsg(msgs[0].body, &ack))
	require.Equal(t, uint32(5), ack.SeqNo)

	// Second request, no ack: a nack after ProbeTimeout, not before.
	h.deliver(indirectPingMsg, req)
	require.Empty(t, h.sentOf(nackRespMsg))
	h.advance(h.cfg.ProbeTimeout - time.Millisecond)
	require.Empty(t, h.sentOf(nackRespMsg))
	h.advance(time.Millisecond)
	require.Len(t, h.sentOf(nackRespMsg), 1)
}

// SWIM §3.1: a probe without direct ack goes indirect through k members, and
// without any ack by the end of the period the target is suspected.
func TestCoreProbeGoesIndirectThenSuspects(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DisableTcpPings = true })
	for i := range 5 {
		h.addPeer(string(rune('a'+i)), byte(2+i), 1)
	}
	h.sent()
	// Run until a probe goes out.
	var probes []sentMsg
	for i := 0; i < 100 && len(probes) == 0; i++ {
		h.advance(100 * time.Millisecond)
		probes = h.sentOf(pingMsg)
	}
	require.Len(t, probes, 1, "one probe must go out within 10 virtual seconds")
	target := probes[0].to.Name
	h.advance(h.cfg.ProbeTimeout)
	indirect := 0
	for _, m := range h.sent() {
		if m.t == indirectPingMsg {
			indirect++
			require.NotEqual(t, target, m.to.Name)
		}
	}
	require.Equal(t, h.cfg.IndirectChecks, indirect)
	h.advance(h.cfg.ProbeInterval - h.cfg.ProbeTimeout)
	require.Equal(t, StateSuspect, h.state(target))
}

func TestCoreProbeAckedKeepsAliveAndReportsRTT(t *testing.T) {
	pd := &ackPayload{}
	h := newHarness(t, func(c *Config) { c.Ping = pd })
	h.addPeer("a", 2, 1)
	h.sent()
	var p ping
	for i := 0; i < 100 && p.SeqNo == 0; i++ {
		h.advance(100 * time.Millisecond)
		for _, m := range h.sent() {
			if m.t == pingMsg {
				require.NoError(t, decodeMsg(m.body, &p))
			}
		}
	}
	require.NotZero(t, p.SeqNo)
	h.now = h.now.Add(3 * time.Millisecond)
	h.deliver(ackRespMsg, &ackResp{SeqNo: p.SeqNo})
	h.advance(2 * h.cfg.ProbeInterval)
	require.Equal(t, StateAlive, h.state("a"))
	require.Equal(t, []time.Duration{3 * time.Millisecond}, pd.rtts)
}

type conflictRec struct{ existing, other string }

func (c *conflictRec) NotifyConflict(e, o *Node) { c.existing, c.other = e.Address(), o.Address() }

func TestCoreConflictingAddressIsReported(t *testing.T) {
	cr := &conflictRec{}
	h := newHarness(t, func(c *Config) { c.Conflict = cr })
	h.addPeer("a", 2, 1)
	h.addPeer("a", 3, 2)
	require.Equal(t, "127.0.0.2:7946", cr.existing)
	require.Equal(t, "127.0.0.3:7946", cr.other)
	require.Equal(t, net.IPv4(127, 0, 0, 2).To4(), h.c.index.get("a").addr())
}

func TestCoreDeadNodeReclaim(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DeadNodeReclaimTime = 10 * time.Second })
	h.addPeer("a", 2, 1)
	h.deliver(deadMsg, &dead{Incarnation: 1, Node: "a", From: "x"})
	require.Equal(t, StateDead, h.state("a"))
	h.now = h.now.Add(11 * time.Second)
	h.addPeer("a", 3, 1)
	require.Equal(t, StateAlive, h.state("a"))
	require.Equal(t, net.IPv4(127, 0, 0, 3).To4(), h.c.index.get("a").addr())
}

type vetoMerge struct{}

func (vetoMerge) NotifyMerge([]*Node) error { return errors.New("not my cluster") }

// joinWith makes the core join through peerAddr and answers the join
// exchange with remote; it returns the join's outcome.
func (h *harness) joinWith(remote []pushNodeState) error {
	id := h.c.join(h.now, Address{Addr: peerAddr.String(), Name: "peer"})
	ex := takeOne[*outExchange](h)
	require.Equal(h.t, id, ex.id)
	require.Equal(h.t, h.now.Add(h.cfg.TCPTimeout), ex.deadline)
	_, r, err := readStream(h.cfg, discardMetrics{}, bytes.NewReader(ex.msg), "")
	require.NoError(h.t, err)
	join, _, _, err := decodePushPull(r, 16)
	require.NoError(h.t, err)
	require.True(h.t, join, "a join's push/pull carries the join flag")
	h.c.exchangeDone(h.now, id, &streamMsg{t: pushPullMsg, join: true, states: remote}, nil)
	joined := takeOne[*outJoined](h)
	require.Equal(h.t, id, joined.id)
	return joined.err
}

func TestCoreMergeDelegateVetoesJoin(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Merge = vetoMerge{} })
	remote := []pushNodeState{peerState("a", 2, 1, StateAlive)}
	require.ErrorContains(t, h.joinWith(remote), "not my cluster")
	_, known := h.c.memberState("a")
	require.False(t, known)
	// Periodic push/pull is not a merge of clusters: no veto.
	require.NoError(t, h.c.mergeRemoteState(false, remote, nil))
	require.Equal(t, StateAlive, h.state("a"))
}

func TestCoreJoinMergesPeerState(t *testing.T) {
	h := newHarness(t, nil)
	remote := []pushNodeState{peerState("a", 2, 3, StateAlive)}
	require.NoError(t, h.joinWith(remote))
	require.Equal(t, StateAlive, h.state("a"))
	require.Equal(t, []string{"a"}, h.ev.joins)

	// A failed exchange fails the join with its cause.
	id := h.c.join(h.now, Address{Addr: peerAddr.String(), Name: "peer"})
	takeOne[*outExchange](h)
	h.c.exchangeDone(h.now, id, nil, &dialError{errors.New("connection refused")})
	require.ErrorContains(t, takeOne[*outJoined](h).err, "connection refused")

	// An error answer fails it too.
	id = h.c.join(h.now, Address{Addr: peerAddr.String(), Name: "peer"})
	takeOne[*outExchange](h)
	h.c.exchangeDone(h.now, id, &streamMsg{t: errMsg, err: "bad label"}, nil)
	require.ErrorContains(t, takeOne[*outJoined](h).err, "remote error: bad label")
}

// The answer to a peer's push/pull merges the peer's state first, then
// carries ours, with the peer's join flag.
func TestCoreAnswersPushPull(t *testing.T) {
	h := newHarness(t, nil)
	remote := []pushNodeState{peerState("a", 2, 1, StateAlive)}
	reply := h.c.handleStream(h.now, &streamMsg{t: pushPullMsg, join: true, states: remote}, peerAddr)
	require.NotNil(t, reply)
	require.Equal(t, pushPullMsg, messageType(reply[0]))
	join, states, _, err := decodePushPull(bytes.NewReader(reply[1:]), 16)
	require.NoError(t, err)
	require.True(t, join)
	names := []string{}
	for _, st := range states {
		names = append(names, st.Name)
	}
	require.ElementsMatch(t, []string{"self", "a"}, names, "the answer already includes the merged peer")
}

// The stream ping is answered with an ack, without payload, only when it
// names this node.
func TestCoreAnswersStreamPing(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Ping = &ackPayload{payload: []byte("p")} })
	reply := h.c.handleStream(h.now, &streamMsg{t: pingMsg, ping: ping{SeqNo: 9, Node: "self"}}, peerAddr)
	require.Equal(t, ackRespMsg, messageType(reply[0]))
	var ack ackResp
	require.NoError(t, decodeMsg(reply[1:], &ack))
	require.Equal(t, ackResp{SeqNo: 9}, ack)
	require.Nil(t, h.c.handleStream(h.now, &streamMsg{t: pingMsg, ping: ping{SeqNo: 10, Node: "other"}}, peerAddr))
	require.Nil(t, h.c.handleStream(h.now, &streamMsg{t: suspectMsg}, peerAddr), "a type streams do not carry is dropped")
}

// SWIM with the reference's TCP fallback: a probe whose UDP ping goes
// unanswered also pings over a stream, by the round's own deadline; an ack
// there keeps the target alive, and anything else leaves it suspected.
func TestCoreTCPFallbackPing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply *streamMsg
		err   error
		want  NodeStateType
	}{
		{"acked", &streamMsg{t: ackRespMsg}, nil, StateAlive},
		{"wrong seq", &streamMsg{t: ackRespMsg, ack: ackResp{SeqNo: 1 << 30}}, nil, StateSuspect},
		{"not an ack", &streamMsg{t: errMsg, err: "no"}, nil, StateSuspect},
		{"unreachable", nil, &dialError{errors.New("refused")}, StateSuspect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.addPeer("a", 2, 1)
			p, _ := h.nextProbe(10 * time.Second)
			h.advance(h.cfg.ProbeTimeout)
			ex := takeOne[*outExchange](h)
			require.Equal(t, "a", ex.to.Name)
			require.Equal(t, h.c.round.deadline, ex.deadline, "the TCP ping ends with the round")
			h.advance(h.cfg.ProbeInterval - h.cfg.ProbeTimeout) // the round's deadline: decision waits for TCP
			require.Equal(t, StateAlive, h.state("a"))
			if tc.reply != nil && tc.reply.t == ackRespMsg && tc.reply.ack.SeqNo == 0 {
				tc.reply.ack.SeqNo = p.SeqNo
			}
			h.c.exchangeDone(h.now, ex.id, tc.reply, tc.err)
			require.Equal(t, tc.want, h.state("a"))
			h.allowExchanges = true
		})
	}
}

// A member a peer reports dead is only suspected: it gets the chance to
// refute.
func TestCoreMergeDeadBecomesSuspect(t *testing.T) {
	h := newHarness(t, nil)
	h.addPeer("a", 2, 1)
	remote := []pushNodeState{peerState("a", 2, 1, StateDead)}
	require.NoError(t, h.c.mergeRemoteState(false, remote, nil))
	require.Equal(t, StateSuspect, h.state("a"))
}

func TestCoreGarbageNeverPanics(t *testing.T) {
	h := newHarness(t, nil)
	inputs := [][]byte{
		nil, {}, {0}, {byte(compoundMsg)}, {byte(compoundMsg), 255}, {byte(compressMsg), 1, 2},
		{byte(hasCrcMsg), 0, 0, 0, 0, 1}, {byte(aliveMsg), 0xc1}, {250, 1, 2, 3},
		{byte(compoundMsg), 1, 0, 3, byte(compoundMsg), 1, 0},
	}
	for _, in := range inputs {
		require.NotPanics(t, func() { h.c.handlePacket(h.now, in, peerAddr, h.now) }, "input %x", in)
	}
}

// nextProbe advances in small steps until the core sends a probe, and
// returns it.
func (h *harness) nextProbe(limit time.Duration) (ping, sentMsg) {
	for waited := time.Duration(0); waited < limit; waited += 10 * time.Millisecond {
		h.advance(10 * time.Millisecond)
		for _, m := range h.sentOf(pingMsg) {
			var p ping
			require.NoError(h.t, decodeMsg(m.body, &p))
			return p, m
		}
	}
	h.t.Fatalf("no probe within %v", limit)
	return ping{}, sentMsg{}
}

// The probe ticker runs at ProbeInterval, and a tick that comes during a
// failing round starts the next round as soon as that one ends, as the
// reference's time.Ticker does: failing probes do not halve the probe rate.
func TestCoreProbeRateWhenProbesFail(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.DisableTcpPings = true
		c.AwarenessMaxMultiplier = 1
	})
	for i := range 3 {
		h.addPeer(string(rune('a'+i)), byte(2+i), 1)
	}
	h.sent()
	probes := 0
	for range 2000 { // 20 virtual seconds
		h.advance(10 * time.Millisecond)
		probes += len(h.sentOf(pingMsg))
	}
	require.GreaterOrEqual(t, probes, 19, "one probe per ProbeInterval even when every probe fails")
}

// Lifeguard scales a failing round's deadline with the health score, not
// the probe rate: a degraded node whose probes succeed keeps probing every
// ProbeInterval, and so recovers quickly.
func TestCoreDegradedNodeKeepsProbeRate(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 3 {
		h.addPeer(string(rune('a'+i)), byte(2+i), 1)
	}
	h.c.applyAwareness(7)
	h.sent()
	probes := 0
	for range 1000 { // 10 virtual seconds, every probe acked at once
		h.advance(10 * time.Millisecond)
		for _, m := range h.sentOf(pingMsg) {
			var p ping
			require.NoError(t, decodeMsg(m.body, &p))
			h.deliver(ackRespMsg, &ackResp{SeqNo: p.SeqNo})
			probes++
		}
	}
	require.GreaterOrEqual(t, probes, 9)
	require.Equal(t, 0, h.c.awareness.score(), "each acked probe heals the score by one")
}

// A probe that fails after its target refuted meanwhile accuses the old
// incarnation, which is stale: the target stays alive.
func TestCoreStaleProbeDoesNotSuspectNewIncarnation(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DisableTcpPings = true })
	h.addPeer("a", 2, 1)
	_, probe := h.nextProbe(10 * time.Second)
	require.Equal(t, "a", probe.to.Name)
	h.addPeer("a", 2, 2) // a refutes something while we probe it
	h.advance(h.cfg.ProbeInterval)
	require.Equal(t, StateAlive, h.state("a"))
}

// Only a direct ack reports a round-trip time; an ack relayed after the
// indirect phase began includes the relay's path.
func TestCorePingDelegateIgnoresIndirectAck(t *testing.T) {
	pd := &ackPayload{}
	h := newHarness(t, func(c *Config) { c.Ping = pd; c.DisableTcpPings = true })
	h.addPeer("a", 2, 1)
	h.addPeer("b", 3, 1)
	p, _ := h.nextProbe(10 * time.Second)
	h.advance(h.cfg.ProbeTimeout)
	require.Len(t, h.sentOf(indirectPingMsg), 1, "the indirect phase began")
	h.deliver(ackRespMsg, &ackResp{SeqNo: p.SeqNo})
	require.Empty(t, pd.rtts)
	h.advance(h.cfg.ProbeInterval)
	for _, n := range []string{"a", "b"} {
		require.Equal(t, StateAlive, h.state(n))
	}
}

func TestCoreUpdateAfterLeaveWaitsForNothing(t *testing.T) {
	h := newHarness(t, nil)
	h.addPeer("a", 2, 1)
	require.True(t, h.c.leave(h.now, 1))
	require.False(t, h.c.updateNode(h.now, 2, []byte("m")))
}

// wakeups drives the core from its own deadlines until end, as the shell's
// loop does, and returns the times it was woken.
func (h *harness) wakeups(end time.Time, onWake func()) []time.Time {
	var at []time.Time
	for {
		next, ok := h.c.nextDeadline()
		if !ok || next.After(end) {
			break
		}
		h.now = next
		h.c.tick(next)
		at = append(at, next)
		if onWake != nil {
			onWake()
		}
	}
	h.now = end
	return at
}

// An idle node asks to be woken only for its probe ticks (and the queue
// sample): a gossip round with nothing queued and no delegate to ask is
// skipped without a wake-up, and a probe answered at once leaves no
// timeout to wake for. Queued news restarts gossip at its old phase.
func TestCoreIdleNodeWakesOnlyToProbe(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PushPullInterval = 0 })
	h.addPeer("a", 2, 1)
	ack := func() {
		for _, m := range h.sentOf(pingMsg) {
			var p ping
			require.NoError(t, decodeMsg(m.body, &p))
			h.deliver(ackRespMsg, &ackResp{SeqNo: p.SeqNo})
		}
	}
	h.wakeups(h.now.Add(5*time.Second), ack) // gossip the news of a, then go idle
	woken := h.wakeups(h.now.Add(10*time.Second), ack)
	require.LessOrEqual(t, len(woken), 11, "ten probe ticks and at most one queue sample, woken at %v", woken)
	require.GreaterOrEqual(t, len(woken), 10)

	// News restarts the gossip ticker on its old phase.
	parked := h.c.gossipParkedAt
	require.False(t, parked.IsZero())
	h.addPeer("b", 3, 1)
	h.sent()
	next := h.c.timers.h.s
	found := false
	for _, e := range next {
		if e.v.kind == tGossip {
			found = true
			require.Zero(t, e.at.Sub(parked)%h.cfg.GossipInterval, "gossip resumes in phase")
			require.True(t, e.at.After(h.now))
			require.False(t, e.at.After(h.now.Add(h.cfg.GossipInterval)))
		}
	}
	require.True(t, found, "queued news schedules a gossip round")
}

// userMsgLog records NotifyMsg calls and what the core knew at each.
type userMsgLog struct {
	c    **core
	msgs []string
}

func (d *userMsgLog) NodeMeta(int) []byte { return nil }
func (d *userMsgLog) NotifyMsg(b []byte) {
	_, knowsX := (*d.c).memberState("x")
	d.msgs = append(d.msgs, fmt.Sprintf("%s knows-x=%v", b, knowsX))
}
func (d *userMsgLog) GetBroadcasts(int, int) [][]byte { return nil }
func (d *userMsgLog) LocalState(bool) []byte          { return nil }
func (d *userMsgLog) MergeRemoteState([]byte, bool)   {}

// The user messages of one packet reach NotifyMsg after the packet's
// membership news and the last first, as the reference's LIFO handoff
// queue delivers them.
func TestCoreUserMessagesOfAPacketNewestFirst(t *testing.T) {
	var c *core
	log := &userMsgLog{c: &c}
	h := newHarness(t, func(cfg *Config) { cfg.Delegate = log })
	c = h.c
	alive, err := encodeMsg(aliveMsg, &alive{Incarnation: 1, Node: "x", Addr: net.IPv4(127, 0, 0, 5).To4(), Port: 7946, Vsn: []uint8{1, 5, 2, 0, 0, 0}}, false)
	require.NoError(t, err)
	pkt := makeCompound([][]byte{
		append([]byte{byte(userMsg)}, "first"...),
		alive,
		append([]byte{byte(userMsg)}, "second"...),
	})
	h.c.handlePacket(h.now, pkt, peerAddr, h.now)
	require.Equal(t, []string{"second knows-x=true", "first knows-x=true"}, log.msgs)

	// A lone user message is delivered as before.
	log.msgs = nil
	h.c.handlePacket(h.now, append([]byte{byte(userMsg)}, "alone"...), peerAddr, h.now)
	require.Equal(t, []string{"alone knows-x=true"}, log.msgs)
}
