// This file owns TCP-only mode (Config.TCPOnly): a Transport wrapper that
// carries every packet over a stream, for networks where UDP is blocked.
//
// Sending: each peer address gets a small bounded queue and one goroutine
// that keeps a stream open to it, so a dial costs one round trip per peer,
// not per packet, and a slow or dead peer never blocks the event loop or
// the other peers. A full queue drops the packet, as UDP would.
//
// A packet stream starts like any stream, with the label header when the
// node has a label, then a marker byte and the sender's advertised port,
// then length-prefixed packets:
//
//	[244 len label]? [245] [port: 2 bytes BE] ([length: 4 bytes BE] [packet])*
//
// Receiving: every inbound stream is peeked at (through a buffered conn, so
// an ordinary stream loses none of its bytes) to find the marker; ordinary
// streams go on to StreamCh unchanged, packet streams are read into Packets
// on PacketCh. The inner transport's own packets (UDP) are dropped: nodes
// in TCP-only mode do not talk to nodes that are not.

package memberlist

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

const (
	// tcpOnlyPacketMarker opens a packet stream. Like the label marker
	// (244) it is far above every message type and encryption version, so
	// a node without TCP-only mode reads it as an unknown message type and
	// drops the stream.
	tcpOnlyPacketMarker byte = 245

	// tcpOnlyPeerQueue bounds the packets waiting for one peer's stream.
	tcpOnlyPeerQueue = 256

	// tcpOnlyIdle is how long a peer's outbound stream stays open with
	// nothing to send; its goroutine then ends. The receiver allows twice
	// as long between packets before it closes its end.
	tcpOnlyIdle = time.Minute

	// tcpOnlyMaxInbound bounds inbound streams being classified or read
	// as packet streams; more are closed at once. A cluster of N nodes
	// needs N-1 packet streams.
	tcpOnlyMaxInbound = 1024

	// tcpOnlyMaxPerSource bounds the inbound streams one IP address may
	// hold of the tcpOnlyMaxInbound, so that one sender cannot take them
	// all. A node holds one packet stream to each peer, so this is also the
	// most TCP-only nodes that can share one address.
	tcpOnlyMaxPerSource = tcpOnlyMaxInbound / 8

	// tcpOnlyPacketQueue sizes PacketCh.
	tcpOnlyPacketQueue = 1024

	// tcpOnlyFlush bounds how long Shutdown lets the senders write out
	// what is queued: a Leave's broadcast is usually among it.
	tcpOnlyFlush = 500 * time.Millisecond
)

// tcpOnlyTransport is the TCP-only wrapper around another transport, whose
// streams it uses for everything.
type tcpOnlyTransport struct {
	inner    NodeAwareTransport
	label    string
	advPort  uint16
	timeout  time.Duration // dial and write bound, from TCPTimeout
	maxFrame int
	logger   *log.Logger
	labels   []metrics.Label

	packetCh chan *Packet
	streamCh chan net.Conn

	mu       sync.Mutex
	peers    map[string]*tcpOnlyPeer
	conns    map[net.Conn]struct{} // every open stream, closed by Shutdown
	bySource map[string]int        // inbound streams held per source IP
	shutdown chan struct{}
	stopping bool // Shutdown began: senders flush, nothing new is queued
	closed   bool // every stream is closed; no new one is tracked

	senders sync.WaitGroup // the peers' sender goroutines

	inbound chan struct{} // semaphore of tcpOnlyMaxInbound
	wg      sync.WaitGroup

	// Counters for tests and debugging.
	framesSent, framesReceived atomic.Uint64
}

var _ NodeAwareTransport = (*tcpOnlyTransport)(nil)

// newTCPOnlyTransport wraps inner, which must already be bound; advPort is
// the port this node advertises, which peers reply to.
func newTCPOnlyTransport(inner NodeAwareTransport, conf *Config, logger *log.Logger, advPort int) *tcpOnlyTransport {
	maxFrame := 65535
	if conf.UDPBufferSize > maxFrame-LabelMaxSize-2 {
		maxFrame = conf.UDPBufferSize + LabelMaxSize + 2
	}
	t := &tcpOnlyTransport{
		inner:    inner,
		label:    conf.Label,
		advPort:  uint16(advPort),
		timeout:  conf.TCPTimeout,
		maxFrame: maxFrame,
		logger:   logger,
		labels:   conf.MetricLabels,
		packetCh: make(chan *Packet, tcpOnlyPacketQueue),
		streamCh: make(chan net.Conn),
		peers:    make(map[string]*tcpOnlyPeer),
		conns:    make(map[net.Conn]struct{}),
		bySource: make(map[string]int),
		shutdown: make(chan struct{}),
		inbound:  make(chan struct{}, tcpOnlyMaxInbound),
	}
	t.wg.Add(2)
	go t.acceptStreams()
	go t.dropInnerPackets()
	return t
}

// FinalAdvertiseAddr is the inner transport's.
func (t *tcpOnlyTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

// WriteTo queues b for addr's packet stream.
func (t *tcpOnlyTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, Address{Addr: addr})
}

// WriteToAddress queues b for the packet stream to a. It never waits for
// the network; a packet that finds the peer's queue full is dropped, as a
// datagram would be.
func (t *tcpOnlyTransport) WriteToAddress(b []byte, a Address) (time.Time, error) {
	if len(b)+4 > t.maxFrame {
		return time.Time{}, fmt.Errorf("packet of %d bytes is larger than the %d a packet stream carries", len(b), t.maxFrame)
	}
	frame := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(frame, uint32(len(b)))
	copy(frame[4:], b)
	now := time.Now()

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopping {
		return time.Time{}, errTransportShutdown
	}
	p := t.peers[a.Addr]
	if p == nil {
		p = &tcpOnlyPeer{t: t, addr: a, queue: make(chan []byte, tcpOnlyPeerQueue)}
		t.peers[a.Addr] = p
		t.wg.Add(1)
		t.senders.Add(1)
		go p.run()
	}
	select {
	case p.queue <- frame:
	default:
		metrics.IncrCounterWithLabels([]string{"memberlist", "tcp_only", "dropped"}, 1, t.labels)
		t.logger.Printf("[DEBUG] memberlist: TCP-only: queue to %s is full, dropping a packet", a.String())
	}
	return now, nil
}

// PacketCh delivers the packets read from inbound packet streams.
func (t *tcpOnlyTransport) PacketCh() <-chan *Packet { return t.packetCh }

// DialTimeout opens an ordinary stream through the inner transport.
func (t *tcpOnlyTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.inner.DialAddressTimeout(Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens an ordinary stream through the inner transport.
func (t *tcpOnlyTransport) DialAddressTimeout(a Address, timeout time.Duration) (net.Conn, error) {
	return t.inner.DialAddressTimeout(a, timeout)
}

// StreamCh delivers the inbound streams that are not packet streams.
func (t *tcpOnlyTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown stops the inner transport, closes every packet stream and waits
// for the wrapper's goroutines. A dial in progress is not interrupted, so
// Shutdown may wait up to TCPTimeout for one to a peer that does not answer.
func (t *tcpOnlyTransport) Shutdown() error {
	t.mu.Lock()
	if t.stopping {
		t.mu.Unlock()
		return nil
	}
	t.stopping = true
	close(t.shutdown)
	t.mu.Unlock()

	// What the node queued last (a Leave's broadcast, typically) is written
	// out before the streams close, for at most tcpOnlyFlush: UDP would
	// have sent it before WriteToAddress returned.
	flushed := make(chan struct{})
	go func() {
		t.senders.Wait()
		close(flushed)
	}()
	grace := time.NewTimer(tcpOnlyFlush + 100*time.Millisecond)
	select {
	case <-flushed:
	case <-grace.C:
	}
	grace.Stop()

	t.mu.Lock()
	t.closed = true
	for c := range t.conns {
		_ = c.Close()
	}
	t.mu.Unlock()
	err := t.inner.Shutdown()
	t.wg.Wait()
	return err
}

// track records an open stream so Shutdown closes it; it refuses (closing
// c) once Shutdown has begun.
func (t *tcpOnlyTransport) track(c net.Conn, open bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !open {
		delete(t.conns, c)
		return true
	}
	if t.closed {
		_ = c.Close()
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

// dropInnerPackets discards what arrives on the inner transport's packet
// channel, so it never fills: in TCP-only mode such packets come from nodes
// that are not, and are not answered.
func (t *tcpOnlyTransport) dropInnerPackets() {
	defer t.wg.Done()
	in := t.inner.PacketCh()
	for {
		select {
		case <-t.shutdown:
			return
		case p, ok := <-in:
			if !ok {
				return
			}
			countRejected(globalMetrics{}, t.labels, "udp", "tcp_only")
			t.logger.Printf("[DEBUG] memberlist: TCP-only: dropping a UDP packet %s", LogAddress(p.From))
		}
	}
}

// acceptStreams classifies each inbound stream in its own goroutine.
func (t *tcpOnlyTransport) acceptStreams() {
	defer t.wg.Done()
	in := t.inner.StreamCh()
	for {
		select {
		case <-t.shutdown:
			return
		case conn, ok := <-in:
			if !ok {
				return
			}
			select {
			case t.inbound <- struct{}{}:
			default:
				// Counted, and logged at DEBUG: anyone can open streams.
				countRejected(globalMetrics{}, t.labels, "tcp", "stream_limit")
				t.logger.Printf("[DEBUG] memberlist: TCP-only: too many inbound streams (%d), closing %s", tcpOnlyMaxInbound, LogConn(conn))
				_ = conn.Close()
				continue
			}
			src := streamSource(conn)
			if !t.takeSource(src) {
				<-t.inbound
				countRejected(globalMetrics{}, t.labels, "tcp", "source_limit")
				t.logger.Printf("[DEBUG] memberlist: TCP-only: too many inbound streams from %s (%d), closing %s", src, tcpOnlyMaxPerSource, LogConn(conn))
				_ = conn.Close()
				continue
			}
			if !t.track(conn, true) {
				t.releaseSource(src)
				<-t.inbound
				continue
			}
			t.wg.Add(1)
			go t.classify(conn, src)
		}
	}
}

// takeSource counts one more inbound stream from src, unless src holds
// tcpOnlyMaxPerSource already. A source that names no IP address ("") is
// not counted.
func (t *tcpOnlyTransport) takeSource(src string) bool {
	if src == "" {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bySource[src] >= tcpOnlyMaxPerSource {
		return false
	}
	t.bySource[src]++
	return true
}

// releaseSource ends one stream counted by takeSource.
func (t *tcpOnlyTransport) releaseSource(src string) {
	if src == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bySource[src]--; t.bySource[src] <= 0 {
		delete(t.bySource, src)
	}
}

// classify peeks at the start of conn. A packet stream is read here until
// it ends; any other stream is handed on, with the peeked bytes intact.
func (t *tcpOnlyTransport) classify(conn net.Conn, src string) {
	defer t.wg.Done()
	handedOn := false
	defer func() {
		t.track(conn, false)
		if !handedOn {
			_ = conn.Close()
		}
		t.releaseSource(src)
		<-t.inbound
	}()

	_ = conn.SetReadDeadline(time.Now().Add(t.timeout))
	br := bufio.NewReaderSize(conn, 2+LabelMaxSize+3)
	at, err := packetMarkerOffset(br)
	if err != nil {
		// A stream that ends early is not ours to judge: pass it on and let
		// the node's stream handler report it. A stalled one is dropped.
		if errors.Is(err, os.ErrDeadlineExceeded) {
			countRejected(globalMetrics{}, t.labels, "tcp", "timeout")
			t.logger.Printf("[DEBUG] memberlist: TCP-only: stream sent no message in time %s", LogConn(conn))
			return
		}
		at = -1
	}
	if at < 0 {
		_ = conn.SetReadDeadline(time.Time{})
		select {
		case t.streamCh <- &bufferedConn{Conn: conn, r: br}:
			handedOn = true
		case <-t.shutdown:
		}
		return
	}
	t.readPackets(conn, br, at)
}

// packetMarkerOffset returns where the packet marker is in a stream that
// starts with one (after an optional label header), or -1 for any other
// stream. It only peeks.
func packetMarkerOffset(br *bufio.Reader) (int, error) {
	b, err := br.Peek(1)
	if err != nil {
		return -1, err
	}
	at := 0
	if b[0] == hasLabelMsgByte {
		if b, err = br.Peek(2); err != nil {
			return -1, err
		}
		at = 2 + int(b[1])
		if b, err = br.Peek(at + 1); err != nil {
			return -1, err
		}
	}
	if b[at] != tcpOnlyPacketMarker {
		return -1, nil
	}
	return at, nil
}

// readPackets reads the packet stream on conn, whose marker is at offset
// at of br, and delivers its packets until it ends or goes idle.
func (t *tcpOnlyTransport) readPackets(conn net.Conn, br *bufio.Reader, at int) {
	var hdr [4]byte
	if _, err := br.Discard(at + 1); err != nil {
		return
	}
	if _, err := io.ReadFull(br, hdr[:2]); err != nil {
		return
	}
	// Replies go to the sender's advertised port, as they would to the
	// source port of a datagram; the IP is the connection's own, so the
	// CIDR allowlist still sees where the stream really comes from.
	from := conn.RemoteAddr()
	if tcp, ok := from.(*net.TCPAddr); ok {
		if port := int(binary.BigEndian.Uint16(hdr[:2])); port != 0 {
			from = &net.TCPAddr{IP: tcp.IP, Port: port, Zone: tcp.Zone}
		}
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(2 * tcpOnlyIdle))
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n == 0 || n+4 > t.maxFrame {
			countRejected(globalMetrics{}, t.labels, "tcp", "tcp_only_frame")
			t.logger.Printf("[DEBUG] memberlist: TCP-only: bad packet length %d, closing %s", n, LogConn(conn))
			return
		}
		// A sender writes a frame at once: its body must follow its
		// length within TCPTimeout, so a peer that trickles one holds the
		// stream no longer than that.
		_ = conn.SetReadDeadline(time.Now().Add(t.timeout))
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				countRejected(globalMetrics{}, t.labels, "tcp", "timeout")
				t.logger.Printf("[DEBUG] memberlist: TCP-only: a %d-byte packet did not arrive within %v, closing %s", n, t.timeout, LogConn(conn))
			}
			return
		}
		t.framesReceived.Add(1)
		select {
		case t.packetCh <- &Packet{Buf: buf, From: from, Timestamp: time.Now()}:
		case <-t.shutdown:
			return
		default:
			// Counted, and logged at DEBUG: a flood causes it.
			metrics.IncrCounterWithLabels([]string{"memberlist", "tcp_only", "dropped"}, 1, t.labels)
			t.logger.Printf("[DEBUG] memberlist: TCP-only: inbound packet queue is full (%d), dropping a packet %s", tcpOnlyPacketQueue, LogAddress(from))
		}
	}
}

// bufferedConn is a conn some of whose bytes sit in r already: reads go
// through r, everything else to the conn.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

// Read reads through the buffer that holds the peeked bytes.
func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// tcpOnlyPeer is the sending side for one peer address.
type tcpOnlyPeer struct {
	t     *tcpOnlyTransport
	addr  Address
	queue chan []byte
	conn  net.Conn
}

// run sends queued packets over one stream, reopening it after a failure,
// and ends after tcpOnlyIdle with nothing to send, or at Shutdown.
func (p *tcpOnlyPeer) run() {
	defer p.t.wg.Done()
	defer p.t.senders.Done()
	defer p.closeConn()
	idle := time.NewTimer(tcpOnlyIdle)
	defer idle.Stop()
	for {
		select {
		case <-p.t.shutdown:
			p.flush()
			return
		case frame := <-p.queue:
			p.send(frame)
			idle.Reset(tcpOnlyIdle)
		case <-idle.C:
			p.t.mu.Lock()
			if len(p.queue) == 0 {
				delete(p.t.peers, p.addr.Addr)
				p.t.mu.Unlock()
				return
			}
			p.t.mu.Unlock()
			idle.Reset(tcpOnlyIdle)
		}
	}
}

// flush writes what is queued when Shutdown begins, each write and dial
// bounded so that the whole flush ends within tcpOnlyFlush.
func (p *tcpOnlyPeer) flush() {
	end := time.Now().Add(tcpOnlyFlush)
	for {
		select {
		case frame := <-p.queue:
			if time.Until(end) <= 0 {
				return
			}
			p.sendBy(frame, end)
		default:
			return
		}
	}
}

// send writes one frame, redialling once if the cached stream has broken
// (the peer restarted, or closed an idle stream). A packet that still
// cannot be sent is lost, as a datagram can be.
func (p *tcpOnlyPeer) send(frame []byte) {
	p.sendBy(frame, time.Time{})
}

// sendBy is send with every dial and write done by end, when end is set.
func (p *tcpOnlyPeer) sendBy(frame []byte, end time.Time) {
	timeout := p.t.timeout
	if !end.IsZero() {
		timeout = min(timeout, time.Until(end))
	}
	for try := 0; try < 2; try++ {
		fresh := p.conn == nil
		if fresh {
			if err := p.dial(timeout); err != nil {
				p.t.logger.Printf("[DEBUG] memberlist: TCP-only: cannot reach %s: %v", p.addr.String(), err)
				return
			}
		}
		_ = p.conn.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := p.conn.Write(frame); err == nil {
			p.t.framesSent.Add(1)
			metrics.IncrCounterWithLabels([]string{"memberlist", "tcp", "sent"}, float32(len(frame)), p.t.labels)
			return
		} else if fresh {
			p.t.logger.Printf("[DEBUG] memberlist: TCP-only: sending to %s failed: %v", p.addr.String(), err)
		}
		p.closeConn()
	}
}

// dial opens the packet stream and writes its header.
func (p *tcpOnlyPeer) dial(timeout time.Duration) error {
	conn, err := p.t.inner.DialAddressTimeout(p.addr, timeout)
	if err != nil {
		return err
	}
	if !p.t.track(conn, true) {
		return errTransportShutdown
	}
	hdr := make([]byte, 0, 2+len(p.t.label)+3)
	if p.t.label != "" {
		hdr = appendLabelHeader(hdr, p.t.label)
	}
	hdr = append(hdr, tcpOnlyPacketMarker)
	hdr = binary.BigEndian.AppendUint16(hdr, p.t.advPort)
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(hdr); err != nil {
		p.t.track(conn, false)
		_ = conn.Close()
		return err
	}
	metrics.IncrCounterWithLabels([]string{"memberlist", "tcp", "connect"}, 1, p.t.labels)
	p.conn = conn
	return nil
}

func (p *tcpOnlyPeer) closeConn() {
	if p.conn != nil {
		p.t.track(p.conn, false)
		_ = p.conn.Close()
		p.conn = nil
	}
}
