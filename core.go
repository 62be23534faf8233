// This file owns the core itself: the per-node protocol state machine's
// struct, how it is built and started (node set-up), the seams through which
// it reaches the world (logger, metrics sink, nonce source, seeded random
// source), its timers and the queries drivers may make of it.
//
// The core is deterministic. It never reads the wall clock, starts a
// goroutine, takes a lock or touches a socket: every input carries the time,
// every effect is an output (output.go) that the shell (memberlist.go,
// stream.go) or the simulator (sim.go) performs and whose result comes back
// as another input, and every random choice comes from the node's own seeded
// source. The inputs, by file:
//
//   - core.go: start, tick (timers due)
//   - packet.go: handlePacket (a datagram), handleStream (a stream request)
//   - probe.go: ping (a user's Ping)
//   - pushpull.go: join, exchangeDone (a stream exchange the core asked for
//     ended)
//   - members.go: leave, updateNode
//
// The rules live in the files named by what they own: probe.go (the probe
// round, relays and pings), members.go (the member table and its
// transitions), pushpull.go (state exchange and merge), gossip.go
// (broadcasts), packet.go (the message path).

package memberlist

import (
	crand "crypto/rand"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

// metricSink is where the core's metrics go. *metrics.Metrics implements it;
// production uses globalMetrics, go-metrics' global sink, so that the
// reference's metric names reach whatever sink the application installed.
// The simulator passes its own, so that many simulated nodes do not contend
// on one global sink.
type metricSink interface {
	IncrCounterWithLabels(key []string, val float32, labels []metrics.Label)
	AddSampleWithLabels(key []string, val float32, labels []metrics.Label)
	SetGaugeWithLabels(key []string, val float32, labels []metrics.Label)
}

// globalMetrics sends to go-metrics' global sink, as the reference does.
type globalMetrics struct{}

func (globalMetrics) IncrCounterWithLabels(key []string, val float32, labels []metrics.Label) {
	metrics.IncrCounterWithLabels(key, val, labels)
}

func (globalMetrics) AddSampleWithLabels(key []string, val float32, labels []metrics.Label) {
	metrics.AddSampleWithLabels(key, val, labels)
}

func (globalMetrics) SetGaugeWithLabels(key []string, val float32, labels []metrics.Label) {
	metrics.SetGaugeWithLabels(key, val, labels)
}

// countRejected counts one input dropped as malformed, mislabelled or
// unacceptable in memberlist.<kind>.rejected (kind udp, tcp or msg),
// labelled with the reason. Anyone can send anything to the ports, so the
// log line that goes with each drop is at DEBUG level (a flood must not
// flood the logs); this metric is what shows garbage or a misconfigured
// peer on a dashboard.
func countRejected(sink metricSink, labels []metrics.Label, kind, reason string) {
	sink.IncrCounterWithLabels([]string{"memberlist", kind, "rejected"}, 1,
		append(labels[:len(labels):len(labels)], metrics.Label{Name: "reason", Value: reason}))
}

// discardMetrics drops every metric.
type discardMetrics struct{}

func (discardMetrics) IncrCounterWithLabels([]string, float32, []metrics.Label) {}
func (discardMetrics) AddSampleWithLabels([]string, float32, []metrics.Label)   {}
func (discardMetrics) SetGaugeWithLabels([]string, float32, []metrics.Label)    {}

// coreEnv is everything outside the protocol a core is given: where it logs
// and counts, where its nonces and its random choices come from.
type coreEnv struct {
	logger  *log.Logger
	metrics metricSink // nil: go-metrics' global sink
	nonces  io.Reader  // nil: crypto/rand
	seed    uint64
	shared  bool // a simulation's node: intern what it holds (see ref)
}

// core is one node's protocol state machine. Its methods are the inputs; they
// must all be called from one goroutine, with non-decreasing times.
type core struct {
	// warmSink keeps memberTable.warm's reads; see there.
	warmSink uint64
	// scratch holds the news message handleNews decodes into; see there.
	scratch struct {
		alive   alive
		suspect suspect
		dead    dead
	}
	cfg     *Config
	log     *log.Logger
	metrics metricSink
	nonces  io.Reader
	labels  []metrics.Label
	rng     *rand.Rand

	advAddr net.IP
	advPort uint16

	nodes   []*nodeState
	index   memberTable
	parts   [][]byte // sendMsg's list of a packet's messages, reused
	newsBuf []byte   // broadcastAccusation's encoding, reused
	// Members declared dead by failure, to reconnect to; see reconnect.go.
	lost           []lostPeer
	reconnectArmed bool      // a tReconnect timer is set
	reconnectAt    time.Time // when it fires
	reconnectSeq   uint32    // the sequence number of the one that counts

	// suspicions holds the running suspicion of each suspect member, by
	// deadline. One tSuspicion timer is armed at the earliest
	// (suspTimerSeq tells it from superseded ones, suspArmedAt is when it
	// fires, suspArmed whether one is set); suspSeq numbers the deadlines
	// as they are set.
	suspicions   suspicionSet
	suspArmed    bool
	suspArmedAt  time.Time
	suspTimerSeq uint32
	suspSeq      uint32
	probeIndex   int

	incarnation uint32
	seqNo       uint32
	leaving     bool
	leaveToken  uint64

	awareness *awareness
	news      newsQueue

	// The probe round under way (nil between rounds), the indirect pings we
	// relay for peers and the users' Pings, each keyed by the sequence number
	// of the ping we sent; see probe.go.
	round       *probeRound
	relays      map[uint32]*relay
	pings       map[uint32]*userPing
	tickPending bool // a probe tick came during a round; see probeTick

	// Stream exchanges asked for and not yet reported back; see pushpull.go.
	exchanges    map[uint64]*pendingExchange
	lastExchange uint64

	// shared: a simulation's node, which interns the member infos and news
	// it holds so that all of the simulation's nodes share them (see ref).
	shared bool

	// gossipParkedAt is when the gossip ticker last found nothing to do
	// and stopped; zero while it runs.
	gossipParkedAt time.Time
	// quietTier is set while a join's answer is merged under
	// Config.QuietJoinMerge: the tier of the news queue (times sent
	// already) that what it teaches starts at. 0 otherwise.
	quietTier int
	// pushPullSeq tells the live periodic push/pull timer from one that
	// restaggerPushPull superseded.
	pushPullSeq uint32

	// The handoff queues: membership news and user messages waiting to be
	// handled; see handoff. holdHandoff is set by a driver that hands over
	// packets and then has the news handled itself (handleSomeNews):
	// otherwise each packet's news is handled as it is read.
	handoffNews []handoffMsg
	handoffUser []handoffMsg
	holdHandoff bool
	// handoffDropped counts the messages the handoff queues had no room
	// for (also in the memberlist.handoff.dropped metric), for the
	// simulator's per-node figures.
	handoffDropped uint64

	// Config.RelayRefutations: refutations relayed in the gossip interval
	// that began at relayFrom, and in all.
	relayFrom          time.Time
	relayed            int
	refutationsRelayed uint64
	// newsHandled counts the messages taken from the handoff queues, for
	// the simulator's model of a node's CPU (Simulation.SetMessageCost).
	newsHandled uint64

	timers timedHeap[timer]
	now    time.Time
	epoch  time.Time // start time; stateChange counts from it, monotonically
	out    []output  // emitted, not yet drained
	// spareOut is the buffer drain returned last time; see drain.
	spareOut []output
	// spareSends are outSends already performed, for newSend.
	spareSends []*outSend

	// hostPorts caches the "host:port" strings of the addresses this node
	// sends to most, so that a probe or an ack does not format one each
	// time; see hostPort.
	hostPorts map[hostPortKey]string

	// onChange, when set, hears of every change to a member right after it
	// happens and before any event delegate does; the shell keeps its
	// snapshot for Members with it.
	onChange func(st *nodeState, removed bool)

	// changes counts the changes touch hears of; vsnSum is the summary of
	// the members' versions verifyProtocol uses, as of change vsnAt (valid
	// when vsnValid).
	changes  uint64
	vsnAt    uint64
	vsnValid bool
	vsnSum   vsnSummary
}

// touch hears of every change to a member: a new one, another state, info
// or incarnation, or its removal.
func (c *core) touch(st *nodeState, removed bool) {
	c.changes++
	if c.onChange != nil {
		c.onChange(st, removed)
	}
}

// setUpNode makes conf ready to run a node, for Create and the simulator
// alike: it validates conf, installs SecretKey in the keyring, and returns
// the local metadata, which must fit MetaMaxSize.
func setUpNode(conf *Config) (meta []byte, err error) {
	if err := conf.validate(); err != nil {
		return nil, err
	}
	if len(conf.SecretKey) > 0 {
		if conf.Keyring == nil {
			kr, err := NewKeyring(nil, conf.SecretKey)
			if err != nil {
				return nil, err
			}
			conf.Keyring = kr
		} else {
			if err := conf.Keyring.AddKey(conf.SecretKey); err != nil {
				return nil, err
			}
			if err := conf.Keyring.UseKey(conf.SecretKey); err != nil {
				return nil, err
			}
		}
	}
	return localMeta(conf)
}

// localMeta asks the delegate for this node's metadata and checks its size.
func localMeta(conf *Config) ([]byte, error) {
	if conf.Delegate == nil {
		return nil, nil
	}
	meta := conf.Delegate.NodeMeta(MetaMaxSize)
	if len(meta) > MetaMaxSize {
		return nil, fmt.Errorf("memberlist: node metadata is %d bytes, more than MetaMaxSize (%d): shorten what Delegate.NodeMeta returns", len(meta), MetaMaxSize)
	}
	return meta, nil
}

// newCore builds the core of a node that advertises addr:port. cfg must have
// been through setUpNode.
func newCore(cfg *Config, addr net.IP, port uint16, env coreEnv) *core {
	c := &core{
		cfg:       cfg,
		log:       env.logger,
		metrics:   env.metrics,
		nonces:    env.nonces,
		labels:    cfg.MetricLabels,
		rng:       rand.New(rand.NewPCG(env.seed, env.seed^0x9e3779b97f4a7c15)),
		advAddr:   addr,
		advPort:   port,
		awareness: newAwareness(cfg.AwarenessMaxMultiplier),
		relays:    make(map[uint32]*relay),
		pings:     make(map[uint32]*userPing),
		exchanges: make(map[uint64]*pendingExchange),
		shared:    env.shared,
	}
	c.news.table = &c.index
	if c.log == nil {
		c.log = cfg.logger()
	}
	if c.metrics == nil {
		c.metrics = globalMetrics{}
	}
	if c.nonces == nil {
		c.nonces = crand.Reader
	}
	return c
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
		// The first periodic push/pull comes after the stagger alone. The
		// reference waits a whole interval more; anti-entropy this early
		// repairs what a join's gossip missed (with few retransmits, as in
		// DefaultLocalConfig, gossip can miss a node) an interval sooner.
		c.schedule(now.Add(c.stagger(iv)), timer{kind: tPushPull, seq: c.pushPullSeq})
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
// elapsedMs is elapsed in milliseconds, wrapping after 49.7 days.
func (c *core) elapsedMs() uint32 {
	return uint32(c.now.Sub(c.epoch) / time.Millisecond)
}

// stamp records now as the time of st's last state change.
func (c *core) stamp(st *nodeState) { st.stateChange = c.elapsedMs() }

// stateAge is how long ago st last changed state, to the millisecond. The
// stamp is 32 bits of milliseconds (nodeState's budget), so an age wraps
// after 49.7 days; the ages that matter are those of dead members, which
// resetNodes forgets after GossipToTheDeadTime.
func (c *core) stateAge(st *nodeState) time.Duration {
	return time.Duration(c.elapsedMs()-st.stateChange) * time.Millisecond
}

// endSuspicion forgets st's suspicion, if any, and takes it out of the
// suspect heap; a suspicion timer armed for it finds nothing due.
func (c *core) endSuspicion(st *nodeState) {
	if s := c.suspicions.get(st.slot); s != nil {
		c.suspicions.end(s)
	}
}

func (c *core) nextSeqNo() uint32 {
	c.seqNo++
	return c.seqNo
}

func (c *core) nextIncarnation() uint32 {
	c.incarnation++
	return c.incarnation
}

// peerPort is the port a peer's message means: before protocol version 2 no
// port was sent and a peer listens on the same port as we do.
func (c *core) peerPort(p uint16) uint16 {
	if c.cfg.ProtocolVersion < 2 || p == 0 {
		return uint16(c.cfg.BindPort)
	}
	return p
}

// ---------------------------------------------------------------------------
// Timers

// tick fires every timer due at or before now.
func (c *core) tick(now time.Time) {
	c.now = now
	for c.timers.len() > 0 && !c.timers.nextAt().After(now) {
		_, t := c.timers.pop()
		c.fire(&t)
	}
}

// unparkGossip restarts a parked gossip ticker at its next tick, in the
// phase it had, as if it had never stopped.
func (c *core) unparkGossip() {
	if c.gossipParkedAt.IsZero() {
		return
	}
	iv := c.cfg.GossipInterval
	ticks := c.now.Sub(c.gossipParkedAt)/iv + 1
	c.schedule(c.gossipParkedAt.Add(ticks*iv), timer{kind: tGossip})
	c.gossipParkedAt = time.Time{}
}

// nextDeadline is when the core next needs tick, if ever. Timers that can
// no longer matter (a probe round or relay already over, a suspicion
// already cleared) are dropped first, so that they wake nobody.
func (c *core) nextDeadline() (time.Time, bool) {
	for c.timers.len() > 0 {
		if t := c.timers.peek(); !c.stale(t) {
			return c.timers.nextAt(), true
		}
		c.timers.pop()
	}
	return time.Time{}, false
}

// stale reports whether firing t would do nothing: its handler would find
// that what it was set for is over.
func (c *core) stale(t *timer) bool {
	switch t.kind {
	case tProbeTimeout, tProbeEnd:
		return c.round == nil || c.round.seq != t.seq
	case tRelayExpire:
		return c.relays[t.seq] == nil
	case tPingExpire:
		return c.pings[t.seq] == nil
	case tSuspicion:
		return t.seq != c.suspTimerSeq
	case tPushPull:
		return t.seq != c.pushPullSeq
	}
	return false
}

// restaggerPushPull moves the next periodic push/pull to a random point of
// the interval scaled to the members known now, as in a node that has run
// with them for a while (Simulation.Converge).
func (c *core) restaggerPushPull() {
	if c.cfg.PushPullInterval <= 0 {
		return
	}
	c.pushPullSeq++
	iv := pushPullScale(c.cfg.PushPullInterval, c.numNodes())
	c.schedule(c.now.Add(c.stagger(iv)), timer{kind: tPushPull, seq: c.pushPullSeq})
}

func (c *core) schedule(at time.Time, t timer) {
	c.timers.push(at, t)
}

func (c *core) fire(t *timer) {
	switch t.kind {
	case tProbe:
		c.probeTick()
	case tGossip:
		if c.news.numQueued() == 0 && c.cfg.Delegate == nil {
			// Nothing to gossip and no delegate that could have something:
			// park the ticker until a broadcast is queued (unparkGossip),
			// so an idle node does not wake five times a second for
			// nothing.
			c.gossipParkedAt = c.now
			return
		}
		c.gossip()
		c.schedule(c.now.Add(c.cfg.GossipInterval), timer{kind: tGossip})
	case tPushPull:
		c.pushPullRound()
		c.schedule(c.now.Add(pushPullScale(c.cfg.PushPullInterval, c.numNodes())), timer{kind: tPushPull, seq: c.pushPullSeq})
	case tProbeTimeout:
		c.probeTimeout(t.seq)
	case tProbeEnd:
		c.probeEnd(t.seq)
	case tRelayExpire:
		c.relayExpired(t.seq)
	case tPingExpire:
		c.pingExpired(t.seq)
	case tSuspicion:
		if t.seq == c.suspTimerSeq {
			c.suspicionsDue()
		}
	case tReconnect:
		if t.seq == c.reconnectSeq {
			c.reconnectTick()
		}
	case tQueueCheck:
		c.metrics.AddSampleWithLabels(keyQueueBroadcasts, float32(c.news.numQueued()), c.labels)
		c.schedule(c.now.Add(c.cfg.QueueCheckInterval), timer{kind: tQueueCheck})
	}
}

// ---------------------------------------------------------------------------
// Queries: what drivers may ask of the core, instead of reading its fields.

// healthScore is the Lifeguard local health score.
func (c *core) healthScore() int {
	return c.awareness.score()
}

// memberState returns how this node sees member name, and whether it knows
// the name at all.
func (c *core) memberState(name string) (NodeStateType, bool) {
	st := c.index.get(name)
	if st == nil {
		return 0, false
	}
	return st.state(), true
}

// numAlive is how many members, ourselves included, are alive or suspect.
func (c *core) numAlive() int {
	alive := 0
	for _, st := range c.nodes {
		if !st.deadOrLeft() {
			alive++
		}
	}
	return alive
}

func msSince(now, then time.Time) float32 {
	return float32(now.Sub(then)) / float32(time.Millisecond)
}
