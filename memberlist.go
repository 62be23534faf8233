// This file owns Memberlist, the shell around the core: Create, Join, Leave,
// Shutdown and the other public methods. One event-loop goroutine owns the
// core and performs its outputs; listener goroutines feed it; public reads
// come from an immutable snapshot, so they never block and are safe to call
// from inside delegates.

package memberlist

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Memberlist is one node of a cluster. Create it with Create; all methods are
// safe for concurrent use.
type Memberlist struct {
	config    *Config
	transport NodeAwareTransport
	logger    *log.Logger

	core  *core // owned by the loop goroutine
	calls chan func(*core)

	snap   atomic.Pointer[snapshot]
	health atomic.Int64

	// Owned by the loop goroutine: the snapshot index and the callers
	// waiting for outNotify and outPingResult (by token) and for outJoined
	// (by exchange id).
	snapIndex map[string]int
	waiters   map[uint64]chan outPingResult
	joins     map[uint64]chan error
	joinCtx   map[uint64]context.Context
	tokens    atomic.Uint64

	streamSem    chan struct{}
	pushPullReqs atomic.Int64
	connsMu      sync.Mutex
	conns        map[net.Conn]struct{}
	bySource     map[string]int // open inbound streams per source IP; see takeSourceSlot

	leaveMu    sync.Mutex
	left       atomic.Bool
	shutdownMu sync.Mutex
	shutdownCh chan struct{}

	// inCore is set while the loop runs core code, the only time it can
	// call a delegate; loopGoroutine is the loop's goroutine id. Together
	// they let the public methods that wait for the loop refuse to be
	// called from a delegate (see onLoop).
	inCore        atomic.Bool
	loopGoroutine uint64
	isShutdown    atomic.Bool
	wg            sync.WaitGroup
}

// Create starts a node with the given configuration: it binds the transport
// and starts the background protocol, but joins no cluster (see Join).
// conf must not be changed afterwards.
func Create(conf *Config) (*Memberlist, error) {
	if conf == nil {
		return nil, errors.New("memberlist: Create needs a Config; start from DefaultLANConfig()")
	}
	meta, err := setUpNode(conf)
	if err != nil {
		return nil, err
	}
	logger := conf.logger()

	transport := conf.Transport
	if transport == nil {
		nt, err := newDefaultTransport(conf, logger)
		if err != nil {
			return nil, err
		}
		transport = nt
	}
	nat, ok := transport.(NodeAwareTransport)
	if !ok {
		logger.Printf("[DEBUG] memberlist: configured Transport is not a NodeAwareTransport and some features may not work as desired")
		nat = asNodeAware(transport)
	}
	// A transport we bound ourselves is ours to release when Create fails.
	fail := func(err error) (*Memberlist, error) {
		if conf.Transport == nil {
			_ = nat.Shutdown()
		}
		return nil, err
	}

	advertise, err := resolveAdvertise(conf.AdvertiseAddr)
	if err != nil {
		return fail(err)
	}
	ip, port, err := nat.FinalAdvertiseAddr(advertise, conf.AdvertisePort)
	if err != nil {
		return fail(fmt.Errorf("failed to get final advertise address: %w", err))
	}
	if isPublicIP(ip) && !conf.EncryptionEnabled() {
		logger.Printf("[WARN] memberlist: Binding to public address without encryption!")
	}

	if conf.TCPOnly {
		nat = newTCPOnlyTransport(nat, conf, logger, port)
	}
	m := &Memberlist{
		config:     conf,
		transport:  nat,
		logger:     logger,
		calls:      make(chan func(*core)),
		snapIndex:  make(map[string]int),
		waiters:    make(map[uint64]chan outPingResult),
		joins:      make(map[uint64]chan error),
		joinCtx:    make(map[uint64]context.Context),
		streamSem:  make(chan struct{}, maxInboundStreams),
		conns:      make(map[net.Conn]struct{}),
		shutdownCh: make(chan struct{}),
	}
	m.snap.Store(&snapshot{})
	m.core = newCore(conf, ip, uint16(port), coreEnv{logger: logger, seed: randomSeed()})
	m.core.onChange = m.publish
	m.core.holdHandoff = true // the loop handles the news (see handlePackets)
	m.core.start(time.Now(), meta)

	m.loopGoroutine = <-m.startLoop()
	m.wg.Add(1)
	go m.acceptStreams()
	return m, nil
}

// newDefaultTransport binds a NetTransport as the config asks, retrying a
// few times when the port is chosen at random and turns out taken.
func newDefaultTransport(conf *Config, logger *log.Logger) (*NetTransport, error) {
	nc := &NetTransportConfig{
		BindAddrs:    []string{conf.BindAddr},
		BindPort:     conf.BindPort,
		Logger:       logger,
		MetricLabels: conf.MetricLabels,
	}
	tries := 1
	if conf.BindPort == 0 {
		tries = 10
	}
	var err error
	for range tries {
		var nt *NetTransport
		if nt, err = NewNetTransport(nc); err == nil {
			if conf.BindPort == 0 {
				conf.BindPort = nt.GetAutoBindPort()
				conf.AdvertisePort = conf.BindPort
				logger.Printf("[DEBUG] memberlist: Using dynamic bind port %d", conf.BindPort)
			}
			return nt, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, fmt.Errorf("could not set up network transport on %s:%d: %w (choose another BindAddr/BindPort, or 0 for a free port)", conf.BindAddr, conf.BindPort, err)
}

// resolveAdvertise turns an AdvertiseAddr that is a DNS name into an IP
// literal, preferring IPv4; IP literals (IPv6 with zone too) and "" pass
// through for the transport to handle.
func resolveAdvertise(addr string) (string, error) {
	if addr == "" {
		return "", nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	if _, err := netip.ParseAddr(host); err == nil {
		return host, nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(context.Background(), host)
	if err != nil {
		return "", fmt.Errorf("memberlist: cannot resolve AdvertiseAddr %q: %w (set it to an IP address, or a name that resolves)", addr, err)
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("memberlist: AdvertiseAddr %q resolves to no address", addr)
	}
	for _, ip := range ips {
		if ip.IP.To4() != nil {
			return ip.IP.String(), nil
		}
	}
	return ips[0].String(), nil
}

func randomSeed() uint64 {
	var b [8]byte
	if _, err := crand.Read(b[:]); err != nil {
		return uint64(time.Now().UnixNano())
	}
	return binary.LittleEndian.Uint64(b[:])
}

func isPublicIP(ip net.IP) bool {
	return ip != nil && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified()
}

// goStream runs fn as a tracked goroutine, unless shutting down.
func (m *Memberlist) goStream(fn func()) {
	if m.isShutdown.Load() {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		fn()
	}()
}

// acceptStreams hands each inbound stream to its own bounded handler.
func (m *Memberlist) acceptStreams() {
	defer m.wg.Done()
	streams := m.transport.StreamCh()
	for {
		select {
		case <-m.shutdownCh:
			return
		case conn, ok := <-streams:
			if !ok {
				return
			}
			select {
			case m.streamSem <- struct{}{}:
			default:
				// A peer can cause this at will: count it, and log it
				// only at DEBUG so that it cannot flood the log.
				countRejected(globalMetrics{}, m.config.MetricLabels, "tcp", "stream_limit")
				m.logger.Printf("[DEBUG] memberlist: Too many inbound streams (%d), closing %s", maxInboundStreams, LogConn(conn))
				_ = conn.Close()
				continue
			}
			src := streamSource(conn)
			if !m.takeSourceSlot(src) {
				<-m.streamSem
				countRejected(globalMetrics{}, m.config.MetricLabels, "tcp", "source_limit")
				m.logger.Printf("[DEBUG] memberlist: Too many inbound streams from %s (%d), closing %s", src, maxStreamsPerSource, LogConn(conn))
				_ = conn.Close()
				continue
			}
			m.wg.Add(1)
			go func() {
				defer m.releaseSourceSlot(src)
				m.handleConn(conn)
			}()
		}
	}
}

// maxStreamsPerSource bounds the inbound streams open at once from one IP
// address, so that one sender (slow on purpose, or just many) cannot hold
// every one of the maxInboundStreams slots and shut the node's real peers
// out: a member has at most a few streams open to a peer at a time.
const maxStreamsPerSource = 64

// streamSource is the IP address conn comes from, or "" for an address that
// names none (an in-memory transport), which no cap applies to.
func streamSource(conn net.Conn) string {
	a := conn.RemoteAddr()
	if a == nil {
		return ""
	}
	ip, err := addrIP(a)
	if err != nil {
		return ""
	}
	return ip.String()
}

// takeSourceSlot counts one more open stream from src, unless src already
// has maxStreamsPerSource.
func (m *Memberlist) takeSourceSlot(src string) bool {
	if src == "" {
		return true
	}
	m.connsMu.Lock()
	defer m.connsMu.Unlock()
	if m.bySource[src] >= maxStreamsPerSource {
		return false
	}
	if m.bySource == nil {
		m.bySource = make(map[string]int)
	}
	m.bySource[src]++
	return true
}

// releaseSourceSlot ends one stream counted by takeSourceSlot.
func (m *Memberlist) releaseSourceSlot(src string) {
	if src == "" {
		return
	}
	m.connsMu.Lock()
	defer m.connsMu.Unlock()
	if m.bySource[src]--; m.bySource[src] <= 0 {
		delete(m.bySource, src)
	}
}

// trackConn records open streams so that Shutdown can close them. A stream
// opened after Shutdown began is closed at once, since Shutdown may already
// have closed the others: its reader then fails fast instead of holding
// Shutdown up for TCPTimeout.
func (m *Memberlist) trackConn(c net.Conn, open bool) {
	m.connsMu.Lock()
	defer m.connsMu.Unlock()
	if !open {
		delete(m.conns, c)
		return
	}
	if m.isShutdown.Load() {
		_ = c.Close()
		return
	}
	m.conns[c] = struct{}{}
}

// LocalNode returns the local node as the cluster sees it.
//
// As with Members, the Node is shared and must not be modified, while
// reading and keeping it is safe: it is never changed afterwards. A change
// to the local node, such as new metadata from UpdateNode, shows up in the
// next call as a new Node.
func (m *Memberlist) LocalNode() *Node {
	return m.snap.Load().local
}

// Members returns every known member that is alive or suspect, the local
// node included.
//
// The slice is the caller's to sort or change. The Nodes it points to are
// shared with every other caller, so they must not be modified (as with
// hashicorp/memberlist, whose Nodes are its internal state); unlike there,
// reading or keeping them never races with the protocol, since they are
// never changed afterwards. A member that changes gets a new Node, which
// the next call returns; a Node returned before keeps the state it had.
//
// The first call after a change lists the members once; from then on a
// call only copies that list, in one allocation (the slice). A caller
// that lists the members often, in a large cluster, can reuse its own
// slice with AppendMembers instead.
func (m *Memberlist) Members() []*Node {
	live := m.snap.Load().liveNodes()
	out := make([]*Node, len(live))
	copy(out, live)
	return out
}

// AppendMembers appends the members Members would return to dst and
// returns the extended slice. Passed the previous result cut to length
// zero, it lists the members without allocating once that slice has room
// for them (the first call after a membership change lists them once for
// every caller, as Members does): at 10,000 members Members allocates 80
// KB a call, and that allocation and the garbage collection it brings on
// are most of its cost. The same rules hold for the Nodes as for Members.
// Not in hashicorp/memberlist.
func (m *Memberlist) AppendMembers(dst []*Node) []*Node {
	return append(dst, m.snap.Load().liveNodes()...)
}

// NumMembers returns how many members are alive or suspect, the local node
// included: len(Members()) without building the slice.
func (m *Memberlist) NumMembers() (alive int) {
	return m.snap.Load().live
}

// GetHealthScore returns the Lifeguard local health score: 0 is healthy;
// higher values mean this node misses its own deadlines and scales its probe
// timing up by that factor.
func (m *Memberlist) GetHealthScore() int {
	return int(m.health.Load())
}

// ProtocolVersion returns the protocol version this node speaks.
func (m *Memberlist) ProtocolVersion() uint8 {
	return m.config.ProtocolVersion
}

// UpdateNode re-reads the local metadata from Delegate.NodeMeta and
// broadcasts it, waiting up to timeout (0 for no limit) for the broadcast
// to go out.
func (m *Memberlist) UpdateNode(timeout time.Duration) error {
	var meta []byte
	if m.config.Delegate != nil {
		meta = m.config.Delegate.NodeMeta(MetaMaxSize)
		if len(meta) > MetaMaxSize {
			return fmt.Errorf("memberlist: node metadata is %d bytes, more than MetaMaxSize (%d): shorten what Delegate.NodeMeta returns", len(meta), MetaMaxSize)
		}
	}
	return m.waitBroadcast(timeout, "update", func(c *core, token uint64) bool {
		return c.updateNode(time.Now(), token, meta)
	})
}

// Leave broadcasts that this node leaves the cluster and waits up to timeout
// (0 for no limit) for the broadcast to go out. It does not stop the node:
// call Shutdown next. Calling it again does nothing.
func (m *Memberlist) Leave(timeout time.Duration) error {
	m.leaveMu.Lock()
	defer m.leaveMu.Unlock()
	if m.isShutdown.Load() {
		return fmt.Errorf("%w: call Leave first, then Shutdown", ErrShutdown)
	}
	if m.left.Swap(true) {
		return nil
	}
	return m.waitBroadcast(timeout, "leave", func(c *core, token uint64) bool {
		return c.leave(time.Now(), token)
	})
}

// waitBroadcast runs start on the loop with a fresh token, and if it says
// there is a broadcast to wait for, waits for its outNotify.
func (m *Memberlist) waitBroadcast(timeout time.Duration, what string, start func(*core, uint64) bool) error {
	token := m.tokens.Add(1)
	ch := make(chan outPingResult, 1)
	wait := false
	if err := m.call(func(c *core) {
		m.waiters[token] = ch
		wait = start(c, token)
		if !wait {
			delete(m.waiters, token)
		}
	}); err != nil {
		return err
	}
	if !wait {
		return nil
	}
	var timeoutCh <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timeoutCh = t.C
	}
	select {
	case <-ch:
		return nil
	case <-timeoutCh:
		_ = m.do(func(*core) { delete(m.waiters, token) })
		return fmt.Errorf("timeout waiting for %s broadcast", what)
	case <-m.shutdownCh:
		return ErrShutdown
	}
}

// Ping sends a ping to the named node at addr and returns the round-trip
// time, or NoPingResponseError when no ack came within ProbeTimeout.
func (m *Memberlist) Ping(node string, addr net.Addr) (time.Duration, error) {
	if node == "" && m.config.RequireNodeNames {
		return 0, ErrNodeNamesRequired
	}
	token := m.tokens.Add(1)
	ch := make(chan outPingResult, 1)
	if err := m.call(func(c *core) {
		m.waiters[token] = ch
		c.ping(time.Now(), token, node, addr.String())
	}); err != nil {
		return 0, err
	}
	select {
	case r := <-ch:
		return r.rtt, r.err
	case <-m.shutdownCh:
		return 0, ErrShutdown
	}
}

// SendTo sends a user message to addr over the packet transport.
//
// Deprecated: use SendBestEffort or SendReliable.
func (m *Memberlist) SendTo(to net.Addr, msg []byte) error {
	return m.SendToAddress(Address{Addr: to.String()}, msg)
}

// SendToAddress sends a user message to a over the packet transport.
func (m *Memberlist) SendToAddress(a Address, msg []byte) error {
	return m.sendUserPacket(a, false, msg)
}

// SendToUDP is SendBestEffort.
//
// Deprecated: use SendBestEffort.
func (m *Memberlist) SendToUDP(to *Node, msg []byte) error {
	return m.SendBestEffort(to, msg)
}

// SendToTCP is SendReliable.
//
// Deprecated: use SendReliable.
func (m *Memberlist) SendToTCP(to *Node, msg []byte) error {
	return m.SendReliable(to, msg)
}

// SendBestEffort sends a user message to a member in one packet, without
// acknowledgement; the peer's Delegate.NotifyMsg receives it. A message that
// cannot fit one packet of UDPBufferSize bytes is refused with an error.
func (m *Memberlist) SendBestEffort(to *Node, msg []byte) error {
	return m.sendUserPacket(to.FullAddress(), to.PMax >= 5, msg)
}

func (m *Memberlist) sendUserPacket(a Address, crc bool, msg []byte) error {
	if a.Name == "" && m.config.RequireNodeNames {
		return ErrNodeNamesRequired
	}
	buf := make([]byte, 1+len(msg))
	buf[0] = byte(userMsg)
	copy(buf[1:], msg)
	sealed, err := sealPacket(m.config, crand.Reader, buf, crc)
	if err != nil {
		return err
	}
	if len(sealed) > m.config.UDPBufferSize {
		return fmt.Errorf("memberlist: a %d-byte message takes %d bytes on the wire, more than UDPBufferSize (%d): send it with SendReliable, or raise UDPBufferSize on every node", len(msg), len(sealed), m.config.UDPBufferSize)
	}
	_, err = m.transport.WriteToAddress(sealed, a)
	return err
}

// SendReliable sends a user message to a member over a stream (TCP in
// NetTransport); the peer's Delegate.NotifyMsg receives it.
func (m *Memberlist) SendReliable(to *Node, msg []byte) error {
	return m.sendReliable(to.FullAddress(), msg)
}

// shutdownGrace bounds how long Shutdown waits for a delegate callback that
// blocks the event loop.
const shutdownGrace = 5 * time.Second

// Shutdown stops the node: the transport, the event loop and every
// goroutine the node started are gone when it returns. It does not tell the
// cluster (call Leave first for that). Calling it again does nothing.
//
// Two cases cannot wait for everything. Called from a delegate callback, it
// returns at once and the loop ends when the callback returns. If a
// callback blocks the loop (for example a ChannelEventDelegate nobody
// reads), Shutdown logs an error after 5 seconds and returns; the loop then
// ends when the callback returns.
func (m *Memberlist) Shutdown() error {
	m.shutdownMu.Lock()
	defer m.shutdownMu.Unlock()
	if m.isShutdown.Swap(true) {
		return nil
	}
	err := m.transport.Shutdown()
	if err != nil {
		m.logger.Printf("[ERR] Failed to shutdown transport: %v", err)
	}
	close(m.shutdownCh)
	m.connsMu.Lock()
	for c := range m.conns {
		_ = c.Close()
	}
	m.connsMu.Unlock()
	if m.onLoop() {
		return nil
	}
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	grace := time.NewTimer(shutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		m.logger.Printf("[ERR] memberlist: Shutdown: a delegate callback has blocked the event loop for %v; returning without waiting for it", shutdownGrace)
	}
	return nil
}
