// This file owns Simulation: many nodes of this library, each with its own
// deterministic core and the user's own delegates, run in one goroutine in
// virtual time over a modelled network (latency, jitter, loss, partitions,
// crashes). The same seed gives the same run, event for event.

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
	// to partitions and crashes.
	PacketLoss float64

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
	queue  timedHeap[*simEvent]
	cut    map[[2]int]bool // partitioned pairs, by node index, lower first
	sink   metricSink

	// Trace is every member state change seen by any node, in order. It is
	// what makes two runs with the same seed comparable.
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
	cfg     *Config
	core    *core
	logger  *log.Logger
	nonces  io.Reader // the node's seeded nonce source, shared with its core
	crashed bool
	wakeAt  time.Time
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
	var cfg *Config
	if s.cfg.Config != nil {
		cfg = s.cfg.Config(name)
	} else {
		cfg = DefaultLANConfig()
		cfg.EnableCompression = false
		cfg.LogOutput = io.Discard
	}
	idx := len(s.nodes)
	// Addresses are loopback ones; nothing is ever sent on a real network.
	ip := net.IPv4(127, byte(1+idx>>16), byte(idx>>8), byte(idx))
	cfg.Name = name
	cfg.BindAddr = ip.String()
	cfg.BindPort = 7946
	cfg.AdvertiseAddr = ip.String()
	cfg.AdvertisePort = 7946
	meta, err := setUpNode(cfg)
	if err != nil {
		return err
	}
	seed := s.rng.Uint64()
	n := &simNode{idx: idx, name: name, addr: &net.UDPAddr{IP: ip, Port: 7946}, cfg: cfg, logger: cfg.logger()}
	n.nonces = rand.NewChaCha8(nonceSeed(seed))
	n.core = newCore(cfg, ip.To4(), 7946, coreEnv{logger: n.logger, metrics: s.sink, nonces: n.nonces, seed: seed})
	n.core.onChange = func(st *nodeState, removed bool) {
		if removed {
			return
		}
		s.Trace = append(s.Trace, SimTransition{At: s.Elapsed(), Observer: name, Member: st.name(), State: st.state()})
	}
	s.nodes = append(s.nodes, n)
	s.byName[name] = n
	s.byAddr[n.addr.String()] = n
	n.core.start(s.now, meta)
	s.settle(n)
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
func (s *Simulation) Crash(name string) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	n.crashed = true
	return nil
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
	for s.queue.len() > 0 {
		if s.queue.nextAt().After(end) {
			break
		}
		_, ev := s.queue.pop()
		s.now = ev.at
		s.dispatch(ev)
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
)

type simEvent struct {
	at       time.Time
	kind     uint8
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

func (s *Simulation) dispatch(ev *simEvent) {
	n := ev.to
	if ev.kind == evRequest && (n.crashed || !s.reachable(ev.from, n)) {
		// The request never arrives; the initiator waits in vain.
		s.failExchange(ev.from, ev.id, ev.deadline)
		return
	}
	if n.crashed {
		return
	}
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
		if ev.err != nil {
			n.core.exchangeDone(s.now, ev.id, nil, ev.err)
			break
		}
		reply, err := readReply(n.cfg, s.sink, bytes.NewReader(ev.buf))
		n.core.exchangeDone(s.now, ev.id, reply, err)
	}
	s.settle(n)
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
	back := &simEvent{at: s.now.Add(s.delay()), kind: evReply, to: ev.from, from: n, id: ev.id}
	if reply == nil {
		back.err = io.EOF // closed without an answer
	} else if back.buf, back.err = encodeStream(n.cfg, n.nonces, reply); back.err == nil {
		s.record(simRecord{from: n.name, to: ev.from.name, stream: true, buf: back.buf})
	}
	if !s.reachable(n, ev.from) || back.at.After(ev.deadline) {
		s.failExchange(ev.from, ev.id, ev.deadline)
		return
	}
	s.push(back)
}

// failExchange reports exchange id of node n as failed at its deadline (or
// now, if that has passed).
func (s *Simulation) failExchange(n *simNode, id uint64, deadline time.Time) {
	at := deadline
	if at.Before(s.now) {
		at = s.now
	}
	s.push(&simEvent{at: at, kind: evReply, to: n, id: id, err: errSimNoAnswer})
}

// settle performs a node's outputs and books its next wake-up.
func (s *Simulation) settle(n *simNode) {
	for _, o := range n.core.drain() {
		switch o := o.(type) {
		case *outSend:
			to := s.byAddr[o.to.Addr]
			if to == nil || !s.reachable(n, to) || (s.cfg.PacketLoss > 0 && s.rng.Float64() < s.cfg.PacketLoss) {
				s.record(simRecord{from: n.name, to: s.nameAt(o.to.Addr), buf: o.buf, dropped: true})
				continue
			}
			s.record(simRecord{from: n.name, to: to.name, buf: o.buf})
			s.push(&simEvent{at: s.now.Add(s.delay()), kind: evPacket, to: to, from: n, buf: o.buf})
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
		s.push(&simEvent{at: at, kind: evWake, to: n})
	}
}

// startExchange sends the request of a stream exchange on its way. Streams
// are not subject to packet loss, only to partitions and crashes; an
// unreachable peer makes the exchange fail at its deadline, as a dial or
// read that times out would.
func (s *Simulation) startExchange(n *simNode, o *outExchange) {
	req, err := encodeRequest(n.cfg, n.nonces, o.msg)
	if err != nil {
		s.push(&simEvent{at: s.now, kind: evReply, to: n, id: o.id, err: err})
		return
	}
	to := s.byAddr[o.to.Addr]
	at := s.now.Add(s.delay())
	if to == nil || !s.reachable(n, to) || at.After(o.deadline) {
		s.record(simRecord{from: n.name, to: s.nameAt(o.to.Addr), stream: true, buf: req, dropped: true})
		s.failExchange(n, o.id, o.deadline)
		return
	}
	s.record(simRecord{from: n.name, to: to.name, stream: true, buf: req})
	s.push(&simEvent{at: at, kind: evRequest, to: to, from: n, buf: req, id: o.id, deadline: o.deadline})
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

// nameAt is the name of the node at addr, or addr itself.
func (s *Simulation) nameAt(addr string) string {
	if n := s.byAddr[addr]; n != nil {
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
	s.queue.push(ev.at, ev)
}
