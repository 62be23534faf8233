// This file owns Simulation: many nodes of this library, each with its own
// deterministic core and the user's own delegates, run in one goroutine in
// virtual time over a modelled network (latency, jitter, loss in general,
// per node and per direction of a link, partitions, a datagram size limit,
// crashes, restarts and stalled nodes). The same seed gives the same run,
// event for event.

package memberlist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

// SimConfig describes a simulated network.
type SimConfig struct {
	// Seed makes the run reproducible: the network's choices and every
	// node's random choices derive from it.
	Seed uint64

	// Latency is the one-way delay of a packet, and Jitter the most that is
	// added to it at random.
	Latency time.Duration
	Jitter  time.Duration

	// PacketLoss is the probability, from 0 to 1, that a datagram is lost.
	// Streams (push/pull, TCP fallback pings) are not subject to loss, only
	// to partitions and crashes, as TCP retransmits what is lost; but a
	// direction of a link that loses everything (SetNodeLoss, SetLinkLoss
	// with 1) fails streams both ways, as TCP needs both.
	PacketLoss float64

	// LossyStreams makes streams suffer the loss datagrams do, as TCP
	// does: a lost segment is sent again after a retransmission timeout
	// (1 s for the connection's first segments, 200 ms for data, doubling
	// each time), so a stream over a lossy link is slow, and fails when it
	// misses its deadline. The request waits for the handshake (one segment
	// each way) and its own segment; the answer for its segment. Off,
	// streams arrive after one latency whatever the loss.
	LossyStreams bool

	// MaxDatagramSize is the largest datagram the network carries, in bytes;
	// larger ones are dropped, as UDP drops what exceeds its limit. Zero
	// means 65507, the most an IPv4 UDP datagram can hold.
	MaxDatagramSize int

	// OnTransition, when set, hears of every member state change any node
	// sees, in order, instead of Trace keeping them: a large or long run
	// can aggregate what it needs on the fly (a 10,000-node cluster forming
	// makes 10^8 transitions). It is called from inside the run and must
	// not call back into the Simulation.
	OnTransition func(SimTransition)

	// Metrics, when set, receives every simulated node's metrics, under the
	// reference's names; when nil they are discarded. Simulated nodes never
	// write to go-metrics' global sink.
	Metrics *metrics.Metrics

	// Config returns the configuration of a new node. Name, Transport and
	// the addresses are set by the simulation. When nil, DefaultLANConfig
	// is used with compression off and logs discarded.
	Config func(name string) *Config
}

// Simulation runs nodes in virtual time. It is not safe for concurrent use:
// drive it from one goroutine.
type Simulation struct {
	cfg    SimConfig
	rng    *rand.Rand
	now    time.Time
	nodes  []*simNode
	byName map[string]*simNode
	byAddr map[string]*simNode
	queue  simQueue
	spare  []*simEvent        // handled events, for reuse
	cut    map[[2]int]bool    // partitioned pairs, by node index, lower first
	link   map[[2]int]float64 // one-way loss, by (from, to) node index
	sink   metricSink

	// Trace is every member state change seen by any node, in order. It is
	// what makes two runs with the same seed comparable. It stays empty
	// when SimConfig.OnTransition is set.
	Trace []SimTransition

	// observe, when set, hears of every datagram and stream the nodes send,
	// in order; the transcript tests print them.
	observe func(simRecord)
}

// simRecord is one thing a simulated node sent. For a datagram, buf is the
// sealed packet and dropped says whether the network lost it (loss,
// partition, crash, or no node at the address). For a stream, buf is the
// message (a push/pull state or a ping) as the sender framed it.
type simRecord struct {
	at      time.Duration
	from    string
	to      string // the destination's node name, or its address if no node has it
	stream  bool
	buf     []byte
	dropped bool
}

func (s *Simulation) record(r simRecord) {
	if s.observe != nil {
		r.at = s.Elapsed()
		s.observe(r)
	}
}

// deliver hands node to the datagram buf as if it came from the address
// from ("ip:port") now, and performs what the node does in answer. It is
// the transcript tests' way to inject crafted messages.
func (s *Simulation) deliver(to, from string, buf []byte) error {
	n, err := s.node(to)
	if err != nil {
		return err
	}
	addr, err := net.ResolveUDPAddr("udp", from)
	if err != nil {
		return fmt.Errorf("memberlist: bad source address %q: %w", from, err)
	}
	if n.crashed {
		return nil
	}
	n.core.handlePacket(s.now, buf, addr, s.now)
	s.settle(n)
	return nil
}

// SimTransition is one node's view of one member changing state.
type SimTransition struct {
	At       time.Duration // since the simulation started
	Observer string
	Member   string
	State    NodeStateType
}

type simNode struct {
	idx     int
	name    string
	addr    *net.UDPAddr
	addrStr string
	cfg     *Config
	core    *core
	logger  *log.Logger
	nonces  io.Reader // the node's seeded nonce source, shared with its core
	crashed bool
	wakeAt  time.Time
	meta    []byte // the metadata to start with, between boot and start

	// gen counts restarts: the answer to an exchange a previous core
	// started is not for the current one.
	gen uint32

	// While stalled (until stallUntil), everything addressed to the node
	// waits in backlog, in order of arrival.
	stallUntil time.Time
	backlog    []*simEvent

	inLoss, outLoss float64 // SetNodeLoss
	stats           SimNodeStats
}

// SimNodeStats counts what one simulated node sent over its life, across
// restarts.
type SimNodeStats struct {
	// PacketsSent and BytesSent count the datagrams the node handed to
	// the network, whether or not the network then lost them.
	PacketsSent uint64
	BytesSent   uint64

	// PacketsLost counts those of its datagrams the network dropped:
	// loss, a partition, a crashed or unknown destination, or a datagram
	// over SimConfig.MaxDatagramSize (counted in Oversize too).
	PacketsLost uint64
	Oversize    uint64

	// Exchanges counts the stream exchanges the node started (push/pull,
	// joins and TCP fallback pings), PushPulls those of them that were
	// push/pull state exchanges (periodic or join), and StreamBytes the
	// bytes it wrote on streams, requests and answers alike.
	Exchanges   uint64
	PushPulls   uint64
	StreamBytes uint64
}

// simEpoch is virtual time zero: fixed, so that runs are reproducible.
var simEpoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// NewSimulation returns an empty simulated network.
func NewSimulation(sc SimConfig) *Simulation {
	s := &Simulation{
		cfg:    sc,
		rng:    rand.New(rand.NewPCG(sc.Seed, sc.Seed^0xda942042e4dd58b5)),
		now:    simEpoch,
		byName: make(map[string]*simNode),
		byAddr: make(map[string]*simNode),
		cut:    make(map[[2]int]bool),
		link:   make(map[[2]int]float64),
		sink:   discardMetrics{},
	}
	if sc.Metrics != nil {
		s.sink = sc.Metrics
	}
	return s
}

// Elapsed is the virtual time since the simulation started.
func (s *Simulation) Elapsed() time.Duration {
	return s.now.Sub(simEpoch)
}

// AddNode starts a node named name. It knows no other node until Join.
func (s *Simulation) AddNode(name string) error {
	if _, dup := s.byName[name]; dup {
		return fmt.Errorf("memberlist: simulation already has a node named %q", name)
	}
	idx := len(s.nodes)
	// Addresses are loopback ones; nothing is ever sent on a real network.
	ip := net.IPv4(127, byte(1+idx>>16), byte(idx>>8), byte(idx))
	n := &simNode{idx: idx, name: name, addr: &net.UDPAddr{IP: ip, Port: 7946}}
	n.addrStr = n.addr.String()
	if err := s.boot(n); err != nil {
		return err
	}
	s.nodes = append(s.nodes, n)
	s.byName[name] = n
	s.byAddr[n.addrStr] = n
	n.core.start(s.now, n.meta)
	n.meta = nil
	s.settle(n)
	return nil
}

// boot gives n a new core, with a fresh configuration from SimConfig.Config,
// a seed of its own and incarnation zero; start must follow.
func (s *Simulation) boot(n *simNode) error {
	var cfg *Config
	if s.cfg.Config != nil {
		cfg = s.cfg.Config(n.name)
	} else {
		cfg = DefaultLANConfig()
		cfg.EnableCompression = false
		cfg.LogOutput = io.Discard
	}
	ip := n.addr.IP.String()
	cfg.Name = n.name
	cfg.BindAddr = ip
	cfg.BindPort = n.addr.Port
	cfg.AdvertiseAddr = ip
	cfg.AdvertisePort = n.addr.Port
	meta, err := setUpNode(cfg)
	if err != nil {
		return err
	}
	seed := s.rng.Uint64()
	n.cfg, n.logger, n.meta = cfg, cfg.logger(), meta
	n.nonces = rand.NewChaCha8(nonceSeed(seed))
	n.core = newCore(cfg, n.addr.IP.To4(), uint16(n.addr.Port), coreEnv{logger: n.logger, metrics: s.sink, nonces: n.nonces, seed: seed})
	name := n.name
	n.core.onChange = func(st *nodeState, removed bool) {
		if removed {
			return
		}
		tr := SimTransition{At: s.Elapsed(), Observer: name, Member: st.name(), State: st.state()}
		if s.cfg.OnTransition != nil {
			s.cfg.OnTransition(tr)
			return
		}
		s.Trace = append(s.Trace, tr)
	}
	return nil
}

func (s *Simulation) node(name string) (*simNode, error) {
	n, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("memberlist: simulation has no node named %q", name)
	}
	return n, nil
}

// nonceSeed derives a node's nonce seed from its core's seed, so that
// encrypted runs repeat byte for byte without drawing more from the
// simulation's random source.
func nonceSeed(seed uint64) [32]byte {
	var out [32]byte
	r := rand.NewPCG(seed, 0x6a09e667f3bcc909)
	for i := 0; i < len(out); i += 8 {
		binary.LittleEndian.PutUint64(out[i:], r.Uint64())
	}
	return out
}

// Join makes node name start a join with each of peers, as
// Memberlist.Join would.
func (s *Simulation) Join(name string, peers ...string) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	for _, p := range peers {
		peer, err := s.node(p)
		if err != nil {
			return err
		}
		n.core.join(s.now, Address{Addr: peer.addr.String(), Name: peer.name})
	}
	s.settle(n)
	return nil
}

// Crash stops a node without telling anyone, as a killed process would.
// What is on its way to it is lost; Restart brings it back.
func (s *Simulation) Crash(name string) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	n.crashed = true
	s.unstall(n)
	return nil
}

// Restart brings node name back as a new process would come back after a
// crash or a kill: a fresh core with incarnation zero, a fresh
// configuration (and delegates) from SimConfig.Config, the same name and
// address, knowing no other node. Call Join to have it join again. A
// running node is killed first, as by Crash. Datagrams already on their
// way to its address reach the new process; answers to exchanges the old
// one started do not.
func (s *Simulation) Restart(name string) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	s.unstall(n)
	if err := s.boot(n); err != nil {
		n.crashed = true
		return err
	}
	n.crashed = false
	n.gen++
	n.wakeAt = time.Time{}
	n.core.start(s.now, n.meta)
	n.meta = nil
	s.settle(n)
	return nil
}

// Stall makes node name process nothing for d, as a process starved of CPU
// or paused by a long garbage collection would: datagrams, stream requests,
// answers and its own timers wait, and when the stall ends it handles them
// in the order they came (timers that fell due meanwhile all fire at the
// first of them). Stalling a stalled node extends the stall to whichever
// ends later. Streams opened to it fail, at their deadline, when the stall
// outlasts it.
func (s *Simulation) Stall(name string, d time.Duration) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	if n.crashed || d <= 0 {
		return nil
	}
	if until := s.now.Add(d); until.After(n.stallUntil) {
		n.stallUntil = until
		s.push(s.event(simEvent{at: until, kind: evResume, to: n, gen: n.gen}))
	}
	return nil
}

// Stalled reports whether node name is stalled now.
func (s *Simulation) Stalled(name string) bool {
	n, ok := s.byName[name]
	return ok && s.now.Before(n.stallUntil)
}

// unstall ends n's stall and drops its backlog, for a crash or a restart;
// peers waiting on a stream request in it see it fail at their deadline.
func (s *Simulation) unstall(n *simNode) {
	n.stallUntil = time.Time{}
	for _, ev := range n.backlog {
		if ev.kind == evRequest && !ev.expired {
			s.failExchange(ev.from, ev.gen, ev.id, ev.deadline)
		}
		s.release(ev)
	}
	n.backlog = nil
}

// SetNodeLoss sets the probability, from 0 to 1, that a datagram arriving
// at node name (in) or sent by it (out) is lost, on top of
// SimConfig.PacketLoss: a node behind a faulty card or a congested link.
// With 1, streams to and from it fail too. SetNodeLoss(name, 0, 0) restores
// the node.
func (s *Simulation) SetNodeLoss(name string, in, out float64) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	if err := checkLoss(in); err != nil {
		return err
	}
	if err := checkLoss(out); err != nil {
		return err
	}
	n.inLoss, n.outLoss = in, out
	return nil
}

// SetLinkLoss sets the probability, from 0 to 1, that a datagram from node
// from to node to is lost, on top of every other loss; the other direction
// is not affected. With 1, streams between the two fail in both directions.
// Zero restores the link.
func (s *Simulation) SetLinkLoss(from, to string, p float64) error {
	a, err := s.node(from)
	if err != nil {
		return err
	}
	b, err := s.node(to)
	if err != nil {
		return err
	}
	if err := checkLoss(p); err != nil {
		return err
	}
	if p == 0 {
		delete(s.link, [2]int{a.idx, b.idx})
	} else {
		s.link[[2]int{a.idx, b.idx}] = p
	}
	return nil
}

func checkLoss(p float64) error {
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("memberlist: loss probability %v is not between 0 and 1", p)
	}
	return nil
}

// Stats returns what node name has sent so far, and whether it exists.
func (s *Simulation) Stats(name string) (SimNodeStats, bool) {
	n, ok := s.byName[name]
	if !ok {
		return SimNodeStats{}, false
	}
	return n.stats, true
}

// Leave makes a node announce that it leaves; it keeps running, as after
// Memberlist.Leave.
func (s *Simulation) Leave(name string) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	n.core.leave(s.now, 0)
	s.settle(n)
	return nil
}

// Partition cuts every path between a node of side a and a node of side b.
func (s *Simulation) Partition(a, b []string) error {
	for _, x := range a {
		for _, y := range b {
			nx, err := s.node(x)
			if err != nil {
				return err
			}
			ny, err := s.node(y)
			if err != nil {
				return err
			}
			s.cut[pairKey(nx.idx, ny.idx)] = true
		}
	}
	return nil
}

// Heal removes every partition.
func (s *Simulation) Heal() {
	clear(s.cut)
}

func pairKey(a, b int) [2]int {
	if a > b {
		a, b = b, a
	}
	return [2]int{a, b}
}

func (s *Simulation) reachable(a, b *simNode) bool {
	return !a.crashed && !b.crashed && !s.cut[pairKey(a.idx, b.idx)]
}

// linkLoss is the probability that a datagram from a to b is lost.
func (s *Simulation) linkLoss(a, b *simNode) float64 {
	var l float64
	if len(s.link) > 0 {
		l = s.link[[2]int{a.idx, b.idx}]
	}
	if a.outLoss == 0 && b.inLoss == 0 && l == 0 {
		return s.cfg.PacketLoss
	}
	return 1 - (1-s.cfg.PacketLoss)*(1-a.outLoss)*(1-b.inLoss)*(1-l)
}

// streamable reports whether a stream between a and b can carry data: both
// directions must deliver something.
func (s *Simulation) streamable(a, b *simNode) bool {
	if !s.reachable(a, b) {
		return false
	}
	if a.outLoss >= 1 || a.inLoss >= 1 || b.outLoss >= 1 || b.inLoss >= 1 {
		return false
	}
	return len(s.link) == 0 || (s.link[[2]int{a.idx, b.idx}] < 1 && s.link[[2]int{b.idx, a.idx}] < 1)
}

// lost draws whether a datagram from a to b is lost, drawing from the
// network's random source only when loss is possible.
func (s *Simulation) lost(a, b *simNode) bool {
	p := s.linkLoss(a, b)
	return p > 0 && s.rng.Float64() < p
}

// retransmits is the extra time TCP takes to get one segment from a to b
// through loss, first timing out after rto; ok is false when it gives up.
func (s *Simulation) retransmits(a, b *simNode, rto time.Duration) (d time.Duration, ok bool) {
	p := s.linkLoss(a, b)
	if p <= 0 {
		return 0, true
	}
	for range 15 { // Linux's tcp_retries2
		if s.rng.Float64() >= p {
			return d, true
		}
		d += rto
		rto *= 2
	}
	return d, false
}

// streamDelay is the time a stream's request (req) or answer takes from a
// to b beyond one latency, under LossyStreams.
func (s *Simulation) streamDelay(a, b *simNode, req bool) (time.Duration, bool) {
	if !s.cfg.LossyStreams {
		return 0, true
	}
	if !req {
		return s.retransmits(a, b, 200*time.Millisecond)
	}
	syn, ok1 := s.retransmits(a, b, time.Second)
	synAck, ok2 := s.retransmits(b, a, time.Second)
	data, ok3 := s.retransmits(a, b, 200*time.Millisecond)
	return syn + synAck + data, ok1 && ok2 && ok3
}

func (s *Simulation) maxDatagram() int {
	if s.cfg.MaxDatagramSize > 0 {
		return s.cfg.MaxDatagramSize
	}
	return 65507
}

// State returns how observer sees member, and whether it knows member.
func (s *Simulation) State(observer, member string) (NodeStateType, bool) {
	n, ok := s.byName[observer]
	if !ok {
		return 0, false
	}
	return n.core.memberState(member)
}

// NumMembers returns how many members observer sees alive or suspect.
func (s *Simulation) NumMembers(observer string) int {
	n, ok := s.byName[observer]
	if !ok {
		return 0
	}
	return n.core.numAlive()
}

// RunFor advances virtual time by d, processing everything due.
func (s *Simulation) RunFor(d time.Duration) {
	s.runUntil(s.now.Add(d), nil)
}

// RunUntil advances virtual time until cond holds (checked after every
// event) or limit has passed; it reports whether cond held.
func (s *Simulation) RunUntil(cond func() bool, limit time.Duration) bool {
	if cond() {
		return true
	}
	return s.runUntil(s.now.Add(limit), cond)
}

func (s *Simulation) runUntil(end time.Time, cond func() bool) bool {
	until := int64(end.Sub(simEpoch))
	for s.queue.h.len() > 0 && s.queue.h.top().at <= until {
		ev := s.queue.pop()
		s.now = ev.at
		if !s.dispatch(ev) {
			s.release(ev)
		}
		if cond != nil && cond() {
			return true
		}
	}
	s.now = end
	return cond != nil && cond()
}

// simEvent kinds.
const (
	evWake    = iota
	evPacket  // a datagram arrives at to
	evRequest // a stream request arrives at to
	evReply   // the answer to exchange id arrives at to, or its failure
	evResume  // to's stall ends
)

type simEvent struct {
	at       time.Time
	kind     uint8
	expired  bool // evRequest: the initiator has been told it failed
	gen      uint32
	to       *simNode
	from     *simNode
	buf      []byte
	id       uint64    // evRequest, evReply: the initiator's exchange id
	deadline time.Time // evRequest: the initiator's deadline
	err      error     // evReply: why the exchange failed
}

// errSimNoAnswer is what an initiator sees when a stream exchange got no
// answer: the peer was unreachable, crashed, or answered too late.
var errSimNoAnswer = &dialError{errors.New("simulated stream: no answer before the deadline")}

// dispatch delivers one event; it reports whether the event is held (in a
// stalled node's backlog) rather than done with.
func (s *Simulation) dispatch(ev *simEvent) (held bool) {
	n := ev.to
	if ev.kind == evRequest && (n.crashed || !s.streamable(ev.from, n)) {
		// The request never arrives; the initiator waits in vain.
		s.failExchange(ev.from, ev.gen, ev.id, ev.deadline)
		return false
	}
	if n.crashed {
		return false
	}
	if ev.kind == evResume {
		if ev.gen == n.gen && ev.at.Equal(n.stallUntil) {
			s.resume(n)
		}
		return false
	}
	if s.now.Before(n.stallUntil) {
		if ev.kind == evRequest && !n.stallUntil.Add(s.cfg.Latency).Before(ev.deadline) {
			// The answer cannot come in time: the initiator gives up at its
			// deadline, and the request is still read when the stall ends.
			ev.expired = true
			s.failExchange(ev.from, ev.gen, ev.id, ev.deadline)
		}
		n.backlog = append(n.backlog, ev)
		return true
	}
	s.handle(n, ev)
	s.settle(n)
	return false
}

// resume ends n's stall: it handles what waited, in order.
func (s *Simulation) resume(n *simNode) {
	n.stallUntil = time.Time{}
	backlog := n.backlog
	n.backlog = nil
	for _, ev := range backlog {
		switch {
		case n.crashed:
			// A delegate crashed it: the rest is lost.
		case ev.kind == evRequest && !s.streamable(ev.from, n):
			if !ev.expired {
				s.failExchange(ev.from, ev.gen, ev.id, ev.deadline)
			}
		default:
			s.handle(n, ev)
		}
		s.release(ev)
	}
	if !n.crashed {
		s.settle(n)
	}
}

// handle gives n one event, now.
func (s *Simulation) handle(n *simNode, ev *simEvent) {
	switch ev.kind {
	case evWake:
		if !ev.at.Equal(n.wakeAt) {
			return // stale: the node's next deadline moved
		}
		n.wakeAt = time.Time{}
		n.core.tick(s.now)
	case evPacket:
		n.core.handlePacket(s.now, ev.buf, ev.from.addr, s.now)
	case evRequest:
		s.serveRequest(n, ev)
	case evReply:
		if ev.gen != n.gen {
			return // for the core before a restart
		}
		if ev.err != nil {
			n.core.exchangeDone(s.now, ev.id, nil, ev.err)
			break
		}
		reply, err := readReply(n.cfg, s.sink, bytes.NewReader(ev.buf))
		n.core.exchangeDone(s.now, ev.id, reply, err)
	}
}

// serveRequest has node n read and answer a stream request, as the shell's
// handleConn does, and sends the answer back to the initiator.
func (s *Simulation) serveRequest(n *simNode, ev *simEvent) {
	conn := &simConn{r: bytes.NewReader(ev.buf), remote: ev.from.addr, local: n.addr}
	msg, reply := readRequest(n.cfg, s.sink, n.logger, conn, nil)
	if msg != nil {
		reply = n.core.handleStream(s.now, msg, ev.from.addr)
	}
	s.settle(n)
	if ev.expired {
		return // the initiator has given up
	}
	extra, delivered := s.streamDelay(n, ev.from, false)
	back := s.event(simEvent{at: s.now.Add(s.delay() + extra), kind: evReply, to: ev.from, from: n, id: ev.id, gen: ev.gen})
	if reply == nil {
		back.err = io.EOF // closed without an answer
	} else if back.buf, back.err = encodeStream(n.cfg, n.nonces, reply); back.err == nil {
		n.stats.StreamBytes += uint64(len(back.buf))
		s.record(simRecord{from: n.name, to: ev.from.name, stream: true, buf: back.buf})
	}
	if !delivered || !s.streamable(n, ev.from) || back.at.After(ev.deadline) {
		s.release(back)
		s.failExchange(ev.from, ev.gen, ev.id, ev.deadline)
		return
	}
	s.push(back)
}

// failExchange reports exchange id of node n (of generation gen) as failed
// at its deadline (or now, if that has passed).
func (s *Simulation) failExchange(n *simNode, gen uint32, id uint64, deadline time.Time) {
	at := deadline
	if at.Before(s.now) {
		at = s.now
	}
	s.push(s.event(simEvent{at: at, kind: evReply, to: n, id: id, gen: gen, err: errSimNoAnswer}))
}

// settle performs a node's outputs and books its next wake-up.
func (s *Simulation) settle(n *simNode) {
	for _, o := range n.core.drain() {
		switch o := o.(type) {
		case *outSend:
			n.stats.PacketsSent++
			n.stats.BytesSent += uint64(len(o.buf))
			to := s.nodeAt(o.to.Addr)
			oversize := len(o.buf) > s.maxDatagram()
			if to == nil || oversize || !s.reachable(n, to) || s.lost(n, to) {
				n.stats.PacketsLost++
				if oversize {
					n.stats.Oversize++
				}
				s.record(simRecord{from: n.name, to: s.nameAt(o.to.Addr), buf: o.buf, dropped: true})
				continue
			}
			s.record(simRecord{from: n.name, to: to.name, buf: o.buf})
			s.push(s.event(simEvent{at: s.now.Add(s.delay()), kind: evPacket, to: to, from: n, buf: o.buf}))
		case *outExchange:
			s.startExchange(n, o)
		case *outJoined, *outNotify, *outPingResult:
			// Nobody waits on these in a simulation.
		default:
			panic(fmt.Sprintf("memberlist: simulation cannot perform %T", o))
		}
	}
	if at, ok := n.core.nextDeadline(); ok && !at.Equal(n.wakeAt) {
		n.wakeAt = at
		s.push(s.event(simEvent{at: at, kind: evWake, to: n}))
	}
}

// startExchange sends the request of a stream exchange on its way. Streams
// are not subject to packet loss, only to partitions, crashes and links
// that lose everything; an unreachable peer makes the exchange fail at its
// deadline, as a dial or read that times out would.
func (s *Simulation) startExchange(n *simNode, o *outExchange) {
	n.stats.Exchanges++
	if len(o.msg) > 0 && messageType(o.msg[0]) == pushPullMsg {
		n.stats.PushPulls++
	}
	req, err := encodeRequest(n.cfg, n.nonces, o.msg)
	if err != nil {
		s.push(s.event(simEvent{at: s.now, kind: evReply, to: n, id: o.id, gen: n.gen, err: err}))
		return
	}
	n.stats.StreamBytes += uint64(len(req))
	to := s.nodeAt(o.to.Addr)
	at := s.now.Add(s.delay())
	delivered := true
	if to != nil {
		var extra time.Duration
		extra, delivered = s.streamDelay(n, to, true)
		at = at.Add(extra)
	}
	if to == nil || !delivered || !s.streamable(n, to) || at.After(o.deadline) {
		s.record(simRecord{from: n.name, to: s.nameAt(o.to.Addr), stream: true, buf: req, dropped: true})
		s.failExchange(n, n.gen, o.id, o.deadline)
		return
	}
	s.record(simRecord{from: n.name, to: to.name, stream: true, buf: req})
	s.push(s.event(simEvent{at: at, kind: evRequest, to: to, from: n, buf: req, id: o.id, gen: n.gen, deadline: o.deadline}))
}

// simConn is a stream's request as a net.Conn, for readRequest.
type simConn struct {
	r             *bytes.Reader
	local, remote net.Addr
}

func (c *simConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *simConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *simConn) Close() error                     { return nil }
func (c *simConn) LocalAddr() net.Addr              { return c.local }
func (c *simConn) RemoteAddr() net.Addr             { return c.remote }
func (c *simConn) SetDeadline(time.Time) error      { return nil }
func (c *simConn) SetReadDeadline(time.Time) error  { return nil }
func (c *simConn) SetWriteDeadline(time.Time) error { return nil }

// nodeAt is the node at addr ("ip:port"), or nil. Every node's address is
// 127.(1+i>>16).(i>>8).i:7946 for its index i, so the index is read off the
// address instead of hashing it: this runs for every datagram sent.
func (s *Simulation) nodeAt(addr string) *simNode {
	var oct [4]int
	k, v, digits := 0, 0, 0
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		switch {
		case c >= '0' && c <= '9' && digits < 3:
			v = v*10 + int(c-'0')
			digits++
		case (c == '.' && k < 3 || c == ':' && k == 3) && digits > 0:
			oct[k] = v
			k, v, digits = k+1, 0, 0
			if c == ':' {
				idx := (oct[1]-1)<<16 | oct[2]<<8 | oct[3]
				if oct[0] == 127 && oct[1] >= 1 && idx < len(s.nodes) {
					if n := s.nodes[idx]; n.addrStr == addr {
						return n
					}
				}
				return s.byAddr[addr]
			}
		default:
			return s.byAddr[addr]
		}
	}
	return s.byAddr[addr]
}

// nameAt is the name of the node at addr, or addr itself.
func (s *Simulation) nameAt(addr string) string {
	if n := s.nodeAt(addr); n != nil {
		return n.name
	}
	return addr
}

func (s *Simulation) delay() time.Duration {
	d := s.cfg.Latency
	if s.cfg.Jitter > 0 {
		d += time.Duration(s.rng.Int64N(int64(s.cfg.Jitter) + 1))
	}
	return d
}

func (s *Simulation) push(ev *simEvent) {
	s.queue.push(int64(ev.at.Sub(simEpoch)), ev)
}

// event returns a simEvent holding v, reusing a handled one: a busy
// simulation handles millions, and allocating each would keep the garbage
// collector busy.
func (s *Simulation) event(v simEvent) *simEvent {
	var ev *simEvent
	if k := len(s.spare); k > 0 {
		ev = s.spare[k-1]
		s.spare = s.spare[:k-1]
	} else {
		ev = new(simEvent)
	}
	*ev = v
	return ev
}

// release takes back an event that is done with.
func (s *Simulation) release(ev *simEvent) {
	*ev = simEvent{}
	s.spare = append(s.spare, ev)
}

// simQueue is the network's event queue: a binary min-heap ordered by
// virtual time in nanoseconds, then by insertion, so that events due at
// the same instant are handled in the order they were made.
type simQueue struct {
	h   minHeap[simQueued, *simQueued]
	seq uint64
}

type simQueued struct {
	at  int64
	seq uint64
	ev  *simEvent
}

func (a *simQueued) before(b *simQueued) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

func (q *simQueue) push(at int64, ev *simEvent) {
	q.seq++
	q.h.push(simQueued{at: at, seq: q.seq, ev: ev})
}

func (q *simQueue) pop() *simEvent { return q.h.pop().ev }
