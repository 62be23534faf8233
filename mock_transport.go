// This file owns MockNetwork and MockTransport: an in-memory network for
// tests, where packets are handed over through channels and streams are the
// two ends of a net.Pipe, so nodes talk without sockets.

package memberlist

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

const (
	// mockPacketQueue and mockStreamQueue size each mock transport's
	// queues. Packets beyond a full queue are dropped, as UDP would.
	mockPacketQueue = 1024
	mockStreamQueue = 64
)

// MockNetwork hands out MockTransports that can reach each other. The zero
// value is ready to use, and it is safe for concurrent use; it must not be
// copied after first use.
type MockNetwork struct {
	mu     sync.Mutex
	byAddr map[string]*MockTransport
	byName map[string]*MockTransport
	port   int
}

// NewTransport returns a transport with a fresh address "127.0.0.1:<n>",
// reachable from every other transport of n by that address or by name.
// A later transport with the same name takes the name over.
func (n *MockNetwork) NewTransport(name string) *MockTransport {
	n.mu.Lock()
	defer n.mu.Unlock()

	n.port++
	t := &MockTransport{
		net:   n,
		addr:  &MockAddress{Addr: fmt.Sprintf("127.0.0.1:%d", n.port), Name: name},
		port:  n.port,
		inbox: newTransportInbox(mockPacketQueue, mockStreamQueue),
	}
	if n.byAddr == nil {
		n.byAddr = make(map[string]*MockTransport)
		n.byName = make(map[string]*MockTransport)
	}
	n.byAddr[t.addr.Addr] = t
	if name != "" {
		n.byName[name] = t
	}
	return t
}

// lookup finds the live transport for a: by name when one is given (a name
// that is not known does not fall back to the address, as a node-aware
// transport must not deliver to the wrong node), else by address.
func (n *MockNetwork) lookup(a Address) *MockTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a.Name != "" {
		return n.byName[a.Name]
	}
	return n.byAddr[a.Addr]
}

// remove unregisters t, leaving alone any newer transport that took its name.
func (n *MockNetwork) remove(t *MockTransport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byAddr[t.addr.Addr] == t {
		delete(n.byAddr, t.addr.Addr)
	}
	if t.addr.Name != "" && n.byName[t.addr.Name] == t {
		delete(n.byName, t.addr.Name)
	}
}

// MockAddress is a MockTransport's address as a net.Addr; it is the From of
// every packet a MockTransport delivers.
type MockAddress struct {
	// Addr is the fake "127.0.0.1:<n>" address.
	Addr string

	// Name is the node name the transport was created with.
	Name string
}

// Network returns "mock", so a MockAddress is never mistaken for a real one.
func (a MockAddress) Network() string {
	return "mock"
}

// String returns the fake "host:port" address, as peers use it.
func (a MockAddress) String() string {
	return a.Addr
}

// MockTransport is an in-memory NodeAwareTransport made by a MockNetwork. It
// is safe for concurrent use.
type MockTransport struct {
	net   *MockNetwork
	addr  *MockAddress
	port  int
	inbox *transportInbox
}

var (
	_ NodeAwareTransport      = (*MockTransport)(nil)
	_ IngestionAwareTransport = (*MockTransport)(nil)
)

// FinalAdvertiseAddr returns the transport's own fake address whatever is
// asked, because nothing else routes to it.
func (t *MockTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return net.IPv4(127, 0, 0, 1).To4(), t.port, nil
}

// WriteTo delivers a packet to the transport at addr.
func (t *MockTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, Address{Addr: addr})
}

// WriteToAddress delivers a copy of b to the transport named a.Name, or at
// a.Addr. As in the reference, a destination that does not exist is an
// error; a destination whose queue is full drops the packet, like UDP,
// rather than blocking the sender.
func (t *MockTransport) WriteToAddress(b []byte, a Address) (time.Time, error) {
	if t.inbox.isClosed() {
		return time.Time{}, fmt.Errorf("mock transport %s cannot send to %s: %w", t.addr.Addr, a.String(), errTransportShutdown)
	}
	now := time.Now()
	dst := t.net.lookup(a)
	if dst == nil {
		return time.Time{}, fmt.Errorf("no route to %s: no live mock transport has that name or address", a.String())
	}
	_ = dst.inbox.deliverPacket(&Packet{Buf: bytes.Clone(b), From: t.addr, Timestamp: now}, false)
	return now, nil
}

// PacketCh returns the channel of received packets.
func (t *MockTransport) PacketCh() <-chan *Packet {
	return t.inbox.packets
}

// IngestPacket reads conn to its end and queues the bytes as one packet from
// addr received at now.
func (t *MockTransport) IngestPacket(conn net.Conn, addr net.Addr, now time.Time, shouldClose bool) error {
	return t.inbox.ingestPacket(conn, addr, now, shouldClose)
}

// DialTimeout opens a stream to the transport at addr.
func (t *MockTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream to the transport named a.Name, or at
// a.Addr: it returns one end of a net.Pipe and queues the other on the
// target's StreamCh. If the target's queue is full it waits for room up to
// timeout (zero: until the target accepts or shuts down).
func (t *MockTransport) DialAddressTimeout(a Address, timeout time.Duration) (net.Conn, error) {
	if t.inbox.isClosed() {
		return nil, fmt.Errorf("mock transport %s cannot dial %s: %w", t.addr.Addr, a.String(), errTransportShutdown)
	}
	dst := t.net.lookup(a)
	if dst == nil {
		return nil, fmt.Errorf("no route to %s: no live mock transport has that name or address", a.String())
	}

	if timeout < 0 {
		return nil, fmt.Errorf("failed to open stream to %s: %w", a.String(), os.ErrDeadlineExceeded)
	}
	var expire <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expire = timer.C
	}
	local, remote := net.Pipe()
	if err := dst.inbox.deliverStream(remote, expire); err != nil {
		_ = local.Close()
		_ = remote.Close()
		return nil, fmt.Errorf("failed to open stream to %s: %w", a.String(), err)
	}
	return local, nil
}

// StreamCh returns the channel of incoming streams.
func (t *MockTransport) StreamCh() <-chan net.Conn {
	return t.inbox.streams
}

// IngestStream queues conn as if a peer had dialed it. After Shutdown conn
// is closed and an error returned.
func (t *MockTransport) IngestStream(conn net.Conn) error {
	return t.inbox.ingestStream(conn)
}

// Shutdown takes the transport off its network, so later packets to it are
// dropped and dials fail, and closes the streams nobody accepted. Calling it
// again is harmless.
func (t *MockTransport) Shutdown() error {
	t.net.remove(t)
	t.inbox.close()
	t.inbox.drain()
	return nil
}
