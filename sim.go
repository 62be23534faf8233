// This file owns Simulation: many nodes of this library, each with its own
// deterministic core and the user's own delegates, run in one goroutine in
// virtual time over a modelled network (latency, jitter, loss in general,
// per node and per direction of a link, partitions, a datagram size limit,
// crashes, restarts and stalled nodes). The same seed gives the same run,
// event for event. Here: the configuration, the nodes and their lifecycle
// (add, join, crash, restart, stall, leave), what callers may ask, and
// running in virtual time; sim_network.go has the network model and
// sim_events.go the event queue and the performing of outputs.

package memberlist

import (
	"encoding/binary"
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

	// StreamBandwidth is how many bytes per second each node can send on
	// streams: the answers to stream requests (a push/pull state, an ack)
	// it is sending share that rate equally, as TCP streams share a link,
	// each arriving one latency after its last byte. A node then admits
	// no more push/pulls than the shell does (128 at once, the last 32
	// kept for known members); one that would exceed it is closed
	// unanswered. An answer not sent in full within the node's TCPTimeout
	// of the request's arrival is cut off there and fails. Zero:
	// unlimited, an answer leaves at once and no push/pull is ever
	// refused.
	StreamBandwidth int

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

	// Workers, when above 0, runs the simulation in windows of Latency
	// virtual time, each node's events of a window on one of Workers
	// goroutines: nothing a node sends reaches another node sooner than
	// Latency, so within a window the nodes are independent. The results
	// depend only on the seed, never on the number of workers, but they
	// differ from those of Workers 0, which handles every event in order
	// on the caller's goroutine. With Workers, each node draws the
	// network's choices about what it sends (delay, loss) from a random
	// source of its own; OnTransition and RunUntil's condition are called
	// on the caller's goroutine after each window (transitions in order of
	// time, then node); a failure a node reports to another at a deadline
	// inside a window arrives at the window's end; and the delegates of
	// different nodes may run at the same time, so delegates shared between
	// nodes must be safe for that. It needs Latency > 0, and is ignored
	// for the transcript tests' observer.
	Workers int

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
	cuts   []simCut           // the partitions in force
	link   map[[2]int]float64 // one-way loss, by (from, to) node index
	sink   metricSink

	// With SimConfig.Workers: the end of the window under way (ns since
	// simEpoch), the workers, and the nodes with events in the window.
	winEnd  int64
	workers []*simWorker
	active  []*simNode
	byLoad  []*simNode
	trans   []SimTransition // a window's transitions, in the telling

	// Trace is every member state change seen by any node, in order. It is
	// what makes two runs with the same seed comparable. It stays empty
	// when SimConfig.OnTransition is set.
	Trace []SimTransition

	// noPushPullCap makes the nodes admit every push/pull under
	// StreamBandwidth, for the push/pull storm test's run without the cap.
	noPushPullCap bool

	// inOrder makes the nodes with a message cost handle each datagram's
	// news as they read it, in order of arrival, without handoff queues:
	// the naive loop the handoff replaced, for the overload test's run
	// without the fix. Set it before adding nodes.
	inOrder bool

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

// record tells the observer what node h sent.
func (s *Simulation) record(h *simNode, r simRecord) {
	if s.observe != nil {
		r.at = h.now.Sub(simEpoch)
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
	n.now = s.now
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
	stallUntil   time.Time
	backlog      []*simEvent
	backlogBytes int // the datagrams' bytes in backlog (see simRecvBuffer)

	// cost is the virtual time the node spends on each message it takes
	// from its handoff queues (SetMessageCost), and charged how many of
	// them it has been charged for; droppedBefore and relayedBefore carry
	// the handoff drops and relayed refutations of its cores before a
	// restart.
	cost          time.Duration
	charged       uint64
	droppedBefore uint64
	relayedBefore uint64

	// With SimConfig.StreamBandwidth: the answers the node is sending,
	// when it last counted what they had sent, and the version of its
	// latest evUplink.
	uploads []*simUpload
	upAt    time.Time
	upSeq   uint64

	inLoss, outLoss float64 // SetNodeLoss
	stats           SimNodeStats

	// now is the node's virtual time while it handles an event or a
	// caller's command; with Workers it runs ahead of Simulation.now
	// within a window.
	now time.Time

	// With SimConfig.Workers: the node's random source for the network's
	// choices about what it sends, the worker it runs on during a window
	// (nil outside), its events of the window, what it sent that leaves
	// the window, and the transitions it saw in the window.
	rng   *rand.Rand
	w     *simWorker
	load  int
	local simQueue
	out   []*simEvent
	trans []SimTransition
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

	// What the node could not keep up with. Overflow counts the datagrams
	// that reached it while it was stalled or busy (see SetMessageCost)
	// and found its receive buffer full (simRecvBuffer bytes, what the
	// shell asks of the kernel); MaxBacklog is the most datagrams and
	// stream requests that ever waited for it at once; HandoffDropped
	// counts the membership and user messages its handoff queues had no
	// room for (HandoffQueueDepth each).
	Overflow       uint64
	MaxBacklog     int
	HandoffDropped uint64

	// Streams. ExchangesFailed counts the exchanges the node started that
	// failed (no answer, refused, or cut off). Under
	// SimConfig.StreamBandwidth, PushPullsRefused counts the push/pulls
	// the node closed unanswered, being at its limit; AnswersCut the
	// stream answers it could not send in full before its deadline.
	PushPullsRefused uint64
	AnswersCut       uint64
	ExchangesFailed  uint64
	// MaxUploads is the most stream answers the node was ever sending at
	// once, each a state held in memory until sent.
	MaxUploads int

	// RefutationsRelayed counts the alive messages the node sent back to
	// senders of stale accusations (Config.RelayRefutations); each is
	// one of the datagrams in PacketsSent.
	RefutationsRelayed uint64
}

// simInternCacheBits sizes the intern caches (see intern_cache.go) for a
// simulation's many nodes: 2^16 slots, 1 MiB.
const simInternCacheBits = 16

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
		link:   make(map[[2]int]float64),
		sink:   discardMetrics{},
	}
	if sc.Metrics != nil {
		s.sink = sc.Metrics
	}
	growInternCaches(simInternCacheBits)
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
	n := &simNode{idx: idx, name: name, addr: &net.UDPAddr{IP: ip, Port: 7946}, now: s.now}
	n.addrStr = n.addr.String()
	if s.windowed() {
		n.rng = rand.New(rand.NewPCG(s.cfg.Seed^0x9e3779b97f4a7c15, uint64(idx)))
	}
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
	if n.core != nil {
		n.droppedBefore += n.core.handoffDropped
		n.relayedBefore += n.core.refutationsRelayed
	}
	n.cfg, n.logger, n.meta = cfg, cfg.logger(), meta
	n.nonces = rand.NewChaCha8(nonceSeed(seed))
	n.core = newCore(cfg, n.addr.IP.To4(), uint16(n.addr.Port), coreEnv{logger: n.logger, metrics: s.sink, nonces: n.nonces, seed: seed, shared: true})
	name := n.name
	n.core.onChange = func(st *nodeState, removed bool) {
		if removed {
			return
		}
		tr := SimTransition{At: n.now.Sub(simEpoch), Observer: name, Member: st.name(), State: st.state()}
		if n.w != nil {
			n.trans = append(n.trans, tr)
			return
		}
		s.tell(tr)
	}
	n.charged = 0
	n.core.holdHandoff = n.cost > 0 && !s.inOrder
	return nil
}

// tell passes a transition to OnTransition, or keeps it in Trace.
func (s *Simulation) tell(tr SimTransition) {
	if s.cfg.OnTransition != nil {
		s.cfg.OnTransition(tr)
		return
	}
	s.Trace = append(s.Trace, tr)
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
		n.now = s.now
		n.core.join(s.now, Address{Addr: peer.addr.String(), Name: peer.name})
	}
	s.settle(n)
	return nil
}

// Converge makes every running node among names know every other one as
// alive, as a cluster knows itself once its joins have spread and its
// gossip has gone quiet: each node merges the others' own entries through
// the path a push/pull reply takes (delegates hear NotifyJoin), then drops
// every membership message it has pending, as if each had been sent as
// often as allowed, and moves its next periodic push/pull to a random
// point of the interval its cluster size gives. It saves a large
// simulation the formation when what it studies comes after; Join is the
// way to study the formation itself. With no names, it converges every
// running node.
func (s *Simulation) Converge(names ...string) error {
	var group []*simNode
	if len(names) == 0 {
		group = s.nodes
	}
	for _, name := range names {
		n, err := s.node(name)
		if err != nil {
			return err
		}
		group = append(group, n)
	}
	var up []*simNode
	for _, n := range group {
		if !n.crashed {
			up = append(up, n)
		}
	}
	infos := make([]memberInfo, len(up))
	states := make([]pushNodeState, 0, len(up))
	for i, n := range up {
		if st := n.core.index.get(n.name); st != nil {
			states = append(states, st.pushState(&infos[i]))
		}
	}
	for _, n := range up {
		n.now = s.now
		n.core.mergeState(states)
		n.core.forgetNews()
		n.core.restaggerPushPull()
		s.settle(n)
	}
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
	n.now = s.now
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
	n.now = s.now
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
		s.push(s.event(nil, simEvent{at: until, kind: evResume, to: n, gen: n.gen}))
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
	n.backlogBytes = 0
	s.dropUploads(n)
	for _, ev := range n.backlog {
		if ev.kind == evRequest && !ev.expired {
			s.failExchange(n, ev.from, ev.gen, ev.id, ev.deadline)
		}
		s.release(n, ev)
	}
	n.backlog = nil
}

// Stats returns what node name has sent so far, and whether it exists.
func (s *Simulation) Stats(name string) (SimNodeStats, bool) {
	n, ok := s.byName[name]
	if !ok {
		return SimNodeStats{}, false
	}
	st := n.stats
	st.HandoffDropped, st.RefutationsRelayed = n.droppedBefore, n.relayedBefore
	if n.core != nil {
		st.HandoffDropped += n.core.handoffDropped
		st.RefutationsRelayed += n.core.refutationsRelayed
	}
	return st, true
}

// Leave makes a node announce that it leaves; it keeps running, as after
// Memberlist.Leave.
func (s *Simulation) Leave(name string) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	n.now = s.now
	n.core.leave(s.now, 0)
	s.settle(n)
	return nil
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
	if s.windowed() {
		if s.runWindows(until, cond) {
			return true
		}
		s.now = end
		return cond != nil && cond()
	}
	for s.queue.h.len() > 0 && s.queue.h.top().at <= until {
		ev := s.queue.pop()
		s.now = ev.at
		ev.to.now = ev.at
		if !s.dispatch(ev) {
			s.release(nil, ev)
		}
		if cond != nil && cond() {
			return true
		}
	}
	s.now = end
	return cond != nil && cond()
}
