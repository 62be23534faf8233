// This file owns NetTransport, the production Transport over real sockets
// (UDP for packets, TCP for streams, one port shared by both on every bind
// address), the choice of an address to advertise when the user gave none,
// and transportInbox, the receiving queues NetTransport and MockTransport
// share.

package memberlist

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

const (
	// udpPacketBufSize is the largest datagram a read can return; anything
	// longer is truncated by the kernel, so it is the UDP maximum.
	udpPacketBufSize = 65536

	// udpRecvBufSize is the socket receive buffer we ask for, so that bursts
	// of gossip are queued by the kernel rather than dropped while the
	// reader is busy.
	udpRecvBufSize = 2 * 1024 * 1024

	// netPacketQueue and netStreamQueue size the channels between the
	// listener goroutines and the consumer; they absorb bursts without
	// letting a slow consumer pin unbounded memory. Two of the loop's
	// batches of packets (maxPacketBatch): past that the reader waits and
	// the socket's receive buffer (udpRecvBufSize) holds the burst.
	netPacketQueue = 128
	netStreamQueue = 64

	// autoPortAttempts bounds how often we retry when the kernel's free TCP
	// port turns out to be taken for UDP (or on another bind address).
	autoPortAttempts = 10

	// acceptBaseDelay and acceptMaxDelay bound the back-off after a failed
	// accept, so a persistent error (out of file descriptors) does not spin
	// a CPU, yet recovery is quick once it clears.
	acceptBaseDelay = 5 * time.Millisecond
	acceptMaxDelay  = time.Second
)

// errTransportShutdown is wrapped by every error caused by using a transport
// after Shutdown, so callers can tell it from a network failure.
var errTransportShutdown = errors.New("transport is shut down")

// errPacketQueueFull refuses a packet that finds the inbound queue full.
var errPacketQueueFull = errors.New("packet queue is full")

// NetTransportConfig configures a NetTransport.
type NetTransportConfig struct {
	// BindAddrs are the IP addresses to listen on, for both UDP and TCP.
	// IPv6 literals may carry a zone ("fe80::1%eth0"); "" means every
	// address of the machine. At least one is required; the first one is
	// used to send packets and to pick the address to advertise.
	BindAddrs []string

	// BindPort is the port to listen on at every address. Zero lets the
	// kernel pick a free port, shared by UDP and TCP on every address; read
	// it back with GetAutoBindPort.
	BindPort int

	// Logger receives operator messages. When nil they go to standard error.
	Logger *log.Logger

	// MetricLabels are added to every metric the transport emits.
	MetricLabels []metrics.Label
}

// NetTransport is the default Transport: connectionless UDP for packets and a
// fresh TCP connection for each stream. Its listener goroutines run from
// NewNetTransport until Shutdown, which waits for them to exit.
type NetTransport struct {
	logger *log.Logger
	labels []metrics.Label
	inbox  *transportInbox

	// bindIPs, tcpListeners and udpConns are parallel: entry i of each is
	// the same bind address. They never change after construction.
	bindIPs      []net.IP
	tcpListeners []*net.TCPListener
	udpConns     []*net.UDPConn
	port         int

	// interfaceAddrs lists the machine's addresses; a seam for tests.
	interfaceAddrs func() ([]net.Addr, error)

	wg       sync.WaitGroup
	stopOnce sync.Once
}

var (
	_ NodeAwareTransport      = (*NetTransport)(nil)
	_ IngestionAwareTransport = (*NetTransport)(nil)
)

// netTransportSeams are the parts of NewNetTransport tests replace: the
// socket constructors, the interface lister and the queue sizes.
type netTransportSeams struct {
	listenTCP      func(addr *net.TCPAddr) (*net.TCPListener, error)
	listenUDP      func(addr *net.UDPAddr) (*net.UDPConn, error)
	interfaceAddrs func() ([]net.Addr, error)
	packetQueue    int
	streamQueue    int
}

func defaultNetTransportSeams() netTransportSeams {
	return netTransportSeams{
		listenTCP:      func(a *net.TCPAddr) (*net.TCPListener, error) { return net.ListenTCP("tcp", a) },
		listenUDP:      func(a *net.UDPAddr) (*net.UDPConn, error) { return net.ListenUDP("udp", a) },
		interfaceAddrs: upInterfaceAddrs,
		packetQueue:    netPacketQueue,
		streamQueue:    netStreamQueue,
	}
}

// NewNetTransport opens a UDP socket and a TCP listener on the same port at
// every bind address and starts reading from them. On error nothing is left
// open.
func NewNetTransport(config *NetTransportConfig) (*NetTransport, error) {
	return newNetTransport(config, defaultNetTransportSeams())
}

func newNetTransport(config *NetTransportConfig, seams netTransportSeams) (*NetTransport, error) {
	if config == nil {
		return nil, errors.New("net transport: config is nil: pass a NetTransportConfig")
	}
	if len(config.BindAddrs) == 0 {
		return nil, errors.New("net transport: at least one bind address is required: set BindAddrs")
	}
	if config.BindPort < 0 || config.BindPort > 65535 {
		return nil, fmt.Errorf("net transport: bind port %d is out of range: use 0 to 65535", config.BindPort)
	}

	ips := make([]net.IP, len(config.BindAddrs))
	zones := make([]string, len(config.BindAddrs))
	for i, s := range config.BindAddrs {
		if s == "" {
			continue // as in the reference: every address of the machine
		}
		ip, zone, err := parseIPWithZone(s)
		if err != nil {
			return nil, fmt.Errorf("net transport: bad bind address: %w", err)
		}
		ips[i], zones[i] = ip, zone
	}

	logger := config.Logger
	if logger == nil {
		logger = log.New(os.Stderr, "", log.LstdFlags)
	}
	t := &NetTransport{
		logger:         logger,
		labels:         config.MetricLabels,
		inbox:          newTransportInbox(seams.packetQueue, seams.streamQueue),
		bindIPs:        ips,
		interfaceAddrs: seams.interfaceAddrs,
	}

	attempts := 1
	if config.BindPort == 0 {
		attempts = autoPortAttempts
	}
	var err error
	for range attempts {
		var retry bool
		retry, err = t.listenAll(seams, zones, config.BindPort)
		if err == nil || !retry {
			break
		}
	}
	if err != nil {
		return nil, err
	}

	for i := range t.tcpListeners {
		t.wg.Add(2)
		go t.acceptLoop(t.tcpListeners[i])
		go t.readLoop(t.udpConns[i])
	}
	return t, nil
}

// listenAll opens every socket, or none: on failure it closes what it opened
// and says whether a retry may help (the port was the kernel's pick and was
// taken elsewhere).
func (t *NetTransport) listenAll(seams netTransportSeams, zones []string, port int) (retry bool, err error) {
	var tcps []*net.TCPListener
	var udps []*net.UDPConn
	defer func() {
		if err == nil {
			return
		}
		for _, l := range tcps {
			_ = l.Close()
		}
		for _, c := range udps {
			_ = c.Close()
		}
	}()

	autoPort := port == 0
	for i, ip := range t.bindIPs {
		where := net.JoinHostPort(joinZone(ip, zones[i]), fmt.Sprint(port))

		tl, lerr := seams.listenTCP(&net.TCPAddr{IP: ip, Port: port, Zone: zones[i]})
		if lerr != nil {
			// Only the very first listener chose the port; later ones
			// failing on an automatic port may just have lost a race.
			return autoPort && i > 0, fmt.Errorf("net transport: failed to start TCP listener on %s: %w", where, lerr)
		}
		tcps = append(tcps, tl)
		if port == 0 {
			port = tl.Addr().(*net.TCPAddr).Port
			where = net.JoinHostPort(joinZone(ip, zones[i]), fmt.Sprint(port))
		}

		uc, lerr := seams.listenUDP(&net.UDPAddr{IP: ip, Port: port, Zone: zones[i]})
		if lerr != nil {
			return autoPort, fmt.Errorf("net transport: failed to start UDP listener on %s: %w", where, lerr)
		}
		udps = append(udps, uc)
		if err := setUDPRecvBuf(uc); err != nil {
			t.logger.Printf("[WARN] memberlist: Could not enlarge the UDP receive buffer on %s, packets may be dropped under load: %v", where, err)
		}
	}

	t.tcpListeners, t.udpConns, t.port = tcps, udps, port
	return false, nil
}

// setUDPRecvBuf asks for udpRecvBufSize and halves the request until the
// kernel accepts one; the last error is returned only if none was accepted.
func setUDPRecvBuf(c *net.UDPConn) error {
	var err error
	for size := udpRecvBufSize; size > 0; size /= 2 {
		if err = c.SetReadBuffer(size); err == nil {
			return nil
		}
	}
	return err
}

// GetAutoBindPort returns the port the transport listens on; when BindPort
// was zero it is the one the kernel chose.
func (t *NetTransport) GetAutoBindPort() int {
	return t.port
}

// FinalAdvertiseAddr returns the address to advertise to peers. A given ip is
// used as is (a zone is dropped; a zero port means the bound port). With no
// ip, the first bind address is used, or, when that is a wildcard, a private
// IPv4 address of this machine.
func (t *NetTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	bound := t.tcpListeners[0].Addr().(*net.TCPAddr).IP
	return chooseAdvertiseAddr(ip, port, bound, t.port, t.interfaceAddrs)
}

// chooseAdvertiseAddr is FinalAdvertiseAddr without the sockets.
func chooseAdvertiseAddr(ip string, port int, boundIP net.IP, boundPort int, interfaceAddrs func() ([]net.Addr, error)) (net.IP, int, error) {
	if ip != "" {
		addr, _, err := parseIPWithZone(ip)
		if err != nil {
			return nil, 0, fmt.Errorf("bad advertise address: %w", err)
		}
		if port < 0 || port > 65535 {
			return nil, 0, fmt.Errorf("advertise port %d is out of range: use 0 to 65535", port)
		}
		if port == 0 {
			port = boundPort
		}
		return normalizeIP(addr), port, nil
	}

	if !boundIP.IsUnspecified() {
		return normalizeIP(boundIP), boundPort, nil
	}
	addrs, err := interfaceAddrs()
	if err != nil {
		return nil, 0, fmt.Errorf("failed to list network interface addresses to choose one to advertise (set AdvertiseAddr to skip this): %w", err)
	}
	picked := pickAdvertiseIP(addrs)
	if picked == nil {
		return nil, 0, fmt.Errorf("no private IPv4 address found on any interface while bound to %s: set AdvertiseAddr (or BindAddr) to the address peers should use", boundIP)
	}
	return picked, boundPort, nil
}

// upInterfaceAddrs lists the addresses of the interfaces that are up, the
// interface of the default route first (as the reference orders them), so
// that a bridge such as docker0 listed earlier does not win over the host's
// real network card.
func upInterfaceAddrs() ([]net.Addr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	if def := defaultRouteInterface(); def != "" {
		slices.SortStableFunc(ifaces, func(a, b net.Interface) int {
			switch {
			case a.Name == def && b.Name != def:
				return -1
			case b.Name == def && a.Name != def:
				return 1
			}
			return 0
		})
	}
	var all []net.Addr
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", iface.Name, err)
		}
		all = append(all, addrs...)
	}
	return all, nil
}

// defaultRouteInterface returns the name of the interface of the IPv4
// default route, read from /proc/net/route, or "" where that is not
// available (other systems, containers without /proc).
func defaultRouteInterface() string {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return ""
	}
	return parseDefaultRoute(string(data))
}

// parseDefaultRoute finds the interface whose destination and mask are
// zero in a /proc/net/route table.
func parseDefaultRoute(table string) string {
	for _, line := range strings.Split(table, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 8 && f[1] == "00000000" && f[7] == "00000000" {
			return f[0]
		}
	}
	return ""
}

// sharedAddressSpace is RFC 6598 carrier-grade NAT space: not routable on
// the internet, so as good as RFC 1918 for a cluster behind one NAT.
var sharedAddressSpace = net.IPNet{IP: net.IPv4(100, 64, 0, 0).To4(), Mask: net.CIDRMask(10, 32)}

// pickAdvertiseIP returns the first private (RFC 1918 or RFC 6598) IPv4
// address, else nil. Like the reference, it never picks a public address on
// its own: advertising one must be asked for with AdvertiseAddr. Loopback and
// link-local addresses are never picked: peers on other hosts cannot reach
// them.
func pickAdvertiseIP(addrs []net.Addr) net.IP {
	for _, a := range addrs {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		default:
			continue
		}
		ip4 := ip.To4()
		if ip4 == nil || !ip4.IsGlobalUnicast() || ip4.IsLoopback() {
			continue
		}
		if ip4.IsPrivate() || sharedAddressSpace.Contains(ip4) {
			return ip4
		}
	}
	return nil
}

// parseIPWithZone parses an IP literal, optionally bracketed, with an
// optional IPv6 zone ("fe80::1%eth0"), which net.ParseIP rejects.
func parseIPWithZone(s string) (net.IP, string, error) {
	host := s
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	zone := ""
	if i := strings.LastIndexByte(host, '%'); i >= 0 {
		host, zone = host[:i], host[i+1:]
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, "", fmt.Errorf("%q is not an IP address: give an IPv4 or IPv6 literal", s)
	}
	if zone != "" && ip.To4() != nil {
		return nil, "", fmt.Errorf("%q has a zone, which only IPv6 addresses take", s)
	}
	if strings.Contains(s, "%") && zone == "" {
		return nil, "", fmt.Errorf("%q has an empty zone after %%", s)
	}
	return ip, zone, nil
}

func joinZone(ip net.IP, zone string) string {
	if zone == "" {
		return ip.String()
	}
	return ip.String() + "%" + zone
}

// normalizeIP returns IPv4 addresses in their 4-byte form, as peers expect
// in the wire's alive messages.
func normalizeIP(ip net.IP) net.IP {
	if ip4 := ip.To4(); ip4 != nil {
		return ip4
	}
	return ip
}

// WriteTo sends a packet to addr ("host:port") over UDP.
func (t *NetTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, Address{Addr: addr})
}

// WriteToAddress sends a packet over UDP. The time is taken after the write
// returns, which slightly understates the round trip but leaves out any
// queueing before the write.
func (t *NetTransport) WriteToAddress(b []byte, a Address) (time.Time, error) {
	dst, err := net.ResolveUDPAddr("udp", a.Addr)
	if err != nil {
		return time.Time{}, fmt.Errorf("failed to resolve packet destination %s: %w", a.String(), err)
	}
	if _, err := t.udpConnFor(dst).WriteTo(b, dst); err != nil {
		if t.inbox.isClosed() {
			err = fmt.Errorf("%w: %w", errTransportShutdown, err)
		}
		return time.Time{}, fmt.Errorf("failed to send packet to %s: %w", a.String(), err)
	}
	return time.Now(), nil
}

// udpConnFor picks the first socket that can reach dst's address family,
// so that a transport bound to both an IPv4 and an IPv6 address sends from
// the right one.
func (t *NetTransport) udpConnFor(dst *net.UDPAddr) *net.UDPConn {
	want4 := dst.IP.To4() != nil
	for i, ip := range t.bindIPs {
		if (ip.To4() != nil) == want4 || ip.Equal(net.IPv6unspecified) {
			return t.udpConns[i]
		}
	}
	return t.udpConns[0]
}

// PacketCh returns the channel of received packets.
func (t *NetTransport) PacketCh() <-chan *Packet {
	return t.inbox.packets
}

// IngestPacket reads conn to its end and queues the bytes as one packet from
// addr received at now.
func (t *NetTransport) IngestPacket(conn net.Conn, addr net.Addr, now time.Time, shouldClose bool) error {
	return t.inbox.ingestPacket(conn, addr, now, shouldClose)
}

// DialTimeout opens a TCP stream to addr ("host:port").
func (t *NetTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a TCP stream to a.Addr, giving up after timeout
// (zero means the system's own limit).
func (t *NetTransport) DialAddressTimeout(a Address, timeout time.Duration) (net.Conn, error) {
	if t.inbox.isClosed() {
		return nil, fmt.Errorf("failed to open stream to %s: %w", a.String(), errTransportShutdown)
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.Dial("tcp", a.Addr)
	if err != nil {
		return nil, fmt.Errorf("failed to open stream to %s: %w", a.String(), err)
	}
	return conn, nil
}

// StreamCh returns the channel of accepted streams.
func (t *NetTransport) StreamCh() <-chan net.Conn {
	return t.inbox.streams
}

// IngestStream queues conn as if it had been accepted. After Shutdown conn
// is closed and an error returned.
func (t *NetTransport) IngestStream(conn net.Conn) error {
	return t.inbox.ingestStream(conn)
}

// Shutdown closes every socket and returns once the listener goroutines have
// exited. Streams still queued are closed. Calling it again is harmless.
func (t *NetTransport) Shutdown() error {
	t.stopOnce.Do(func() {
		// Closing the inbox first marks the coming socket errors as
		// expected and releases goroutines blocked on a full queue.
		t.inbox.close()
		for _, l := range t.tcpListeners {
			_ = l.Close()
		}
		for _, c := range t.udpConns {
			_ = c.Close()
		}
	})
	t.wg.Wait()
	t.inbox.drain()
	return nil
}

// acceptBackoff returns the wait after another failed accept, doubling from
// acceptBaseDelay up to acceptMaxDelay.
func acceptBackoff(prev time.Duration) time.Duration {
	next := prev * 2
	if next < acceptBaseDelay {
		next = acceptBaseDelay
	}
	if next > acceptMaxDelay {
		next = acceptMaxDelay
	}
	return next
}

// acceptLoop hands accepted TCP connections to the stream queue until the
// listener is closed.
func (t *NetTransport) acceptLoop(l net.Listener) {
	defer t.wg.Done()
	var delay time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if t.inbox.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = acceptBackoff(delay)
			t.logger.Printf("[ERR] memberlist: Error accepting TCP connection on %s, retrying in %v: %v", l.Addr(), delay, err)
			wait := time.NewTimer(delay)
			select {
			case <-wait.C:
			case <-t.inbox.done:
				wait.Stop()
				return
			}
			continue
		}
		delay = 0
		if err := t.inbox.deliverStream(conn, nil); err != nil {
			_ = conn.Close()
			return
		}
	}
}

// readLoop hands received UDP datagrams to the packet queue until the socket
// is closed. Each packet holds a copy of the bytes received, not a 64 KiB
// read buffer (see datagramReader).
func (t *NetTransport) readLoop(c *net.UDPConn) {
	defer t.wg.Done()
	next := datagramReader(c)
	waiting := false // the last packet found the queue full
	for {
		data, from, err := next()
		now := time.Now()
		if err != nil {
			if t.inbox.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			t.logger.Printf("[ERR] memberlist: Error reading UDP packet on %s: %v", c.LocalAddr(), err)
			continue
		}
		n := len(data)
		if n < 1 {
			// Anyone can send empty datagrams: count them, and log them
			// only at DEBUG, so that a flood of them floods no log.
			countRejected(globalMetrics{}, t.labels, "udp", "empty")
			t.logger.Printf("[DEBUG] memberlist: UDP packet too short (%d bytes) from %s", n, addrString(from))
			continue
		}

		metrics.IncrCounterWithLabels([]string{"memberlist", "udp", "received"}, float32(n), t.labels)
		p := &Packet{Buf: data, From: from, Timestamp: now}
		err = t.inbox.deliverPacket(p, false)
		if err == nil {
			waiting = false
			continue
		}
		if errors.Is(err, errTransportShutdown) {
			return
		}
		// The queue is full: the reader waits for room, and meanwhile
		// the kernel queues what arrives in the socket's buffer and drops
		// what does not fit, as it would for any slow reader. Each packet
		// that waits is counted; the start of each wait is logged, at
		// DEBUG since a flood causes it.
		metrics.IncrCounterWithLabels([]string{"memberlist", "udp", "queue_full"}, 1, t.labels)
		if !waiting {
			waiting = true
			t.logger.Printf("[DEBUG] memberlist: UDP packet queue is full (%d packets), reading no more until there is room %s", cap(t.inbox.packets), LogAddress(from))
		}
		if err := t.inbox.deliverPacket(p, true); err != nil {
			return
		}
	}
}

// ownBufferReader returns what reads c's next datagram into a 64 KiB buffer
// of its own, returning a copy of the bytes received.
func ownBufferReader(c *net.UDPConn) func() ([]byte, net.Addr, error) {
	buf := make([]byte, udpPacketBufSize)
	return func() ([]byte, net.Addr, error) {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return nil, nil, err
		}
		data := make([]byte, n)
		copy(data, buf[:n])
		return data, from, nil
	}
}

// addrString formats a possibly nil address for logs and errors.
func addrString(a net.Addr) string {
	if a == nil {
		return "unknown address"
	}
	return a.String()
}

// transportInbox holds the queues a transport delivers into and the consumer
// reads from. Delivery never blocks past close, and nothing is queued after
// close, so shutting a transport down cannot strand a goroutine or a stream.
type transportInbox struct {
	packets chan *Packet
	streams chan net.Conn
	done    chan struct{} // closed by close, wakes blocked deliveries

	// mu is read-held for the whole of a delivery and write-held by close,
	// so once closed is set no delivery is in progress or can start.
	mu     sync.RWMutex
	closed bool
	once   sync.Once
}

func newTransportInbox(packetQueue, streamQueue int) *transportInbox {
	return &transportInbox{
		packets: make(chan *Packet, packetQueue),
		streams: make(chan net.Conn, streamQueue),
		done:    make(chan struct{}),
	}
}

func (b *transportInbox) isClosed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// deliverPacket queues p. With wait it blocks until there is room; without,
// a full queue drops p and says so.
func (b *transportInbox) deliverPacket(p *Packet, wait bool) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return errTransportShutdown
	}
	if !wait {
		select {
		case b.packets <- p:
			return nil
		default:
			return errPacketQueueFull
		}
	}
	select {
	case b.packets <- p:
		return nil
	case <-b.done:
		return errTransportShutdown
	}
}

// deliverStream queues c, waiting for room until expire fires (nil: no
// limit) or the inbox closes. On error the caller still owns c.
func (b *transportInbox) deliverStream(c net.Conn, expire <-chan time.Time) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return errTransportShutdown
	}
	select {
	case b.streams <- c:
		return nil
	case <-b.done:
		return errTransportShutdown
	case <-expire:
		return errors.New("timed out waiting for the peer to accept the stream")
	}
}

// close stops deliveries. Queued items stay readable until drain.
func (b *transportInbox) close() {
	b.once.Do(func() {
		close(b.done)
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
	})
}

// drain closes the streams nobody accepted, so their dialers see the end of
// the stream instead of waiting for a deadline, and frees queued packets.
func (b *transportInbox) drain() {
	for {
		select {
		case c := <-b.streams:
			_ = c.Close()
		case <-b.packets:
		default:
			return
		}
	}
}

func (b *transportInbox) ingestPacket(conn net.Conn, addr net.Addr, now time.Time, shouldClose bool) error {
	if conn == nil {
		return errors.New("cannot read a packet from a nil connection")
	}
	if shouldClose {
		defer func() { _ = conn.Close() }()
	}
	data, err := io.ReadAll(conn)
	if err != nil {
		return fmt.Errorf("failed to read packet from %s: %w", addrString(addr), err)
	}
	if len(data) < 1 {
		return fmt.Errorf("packet from %s is empty: a packet needs at least a message type byte", addrString(addr))
	}
	if err := b.deliverPacket(&Packet{Buf: data, From: addr, Timestamp: now}, true); err != nil {
		return fmt.Errorf("failed to queue packet from %s: %w", addrString(addr), err)
	}
	return nil
}

func (b *transportInbox) ingestStream(conn net.Conn) error {
	if conn == nil {
		return errors.New("cannot queue a nil stream")
	}
	if err := b.deliverStream(conn, nil); err != nil {
		_ = conn.Close()
		return fmt.Errorf("failed to queue stream from %s: %w", addrString(conn.RemoteAddr()), err)
	}
	return nil
}
