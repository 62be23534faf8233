// This file owns the Transport seam between a node and the network: the
// interfaces a transport implements, the Packet it delivers and the Address it
// is given.

package memberlist

import (
	"fmt"
	"net"
	"time"
)

// Packet is a datagram received from a peer, with where and when it arrived.
type Packet struct {
	// Buf is the raw packet, owned by the receiver.
	Buf []byte

	// From is the peer's address. It is a net.Addr so that the transport
	// need not format it for every packet.
	From net.Addr

	// Timestamp is when the packet arrived, taken as close to the socket as
	// possible; it is used to measure round-trip times.
	Timestamp time.Time
}

// Transport abstracts how a node talks to its peers: a best-effort packet
// interface (UDP in NetTransport) and a reliable stream interface (TCP). The
// packet interface must deliver whole packets of at least
// Config.UDPBufferSize bytes.
type Transport interface {
	// FinalAdvertiseAddr returns the address and port to advertise to peers,
	// given the user's configured values (which may be empty and zero).
	FinalAdvertiseAddr(ip string, port int) (net.IP, int, error)

	// WriteTo sends a packet to addr ("host:port") and returns when it was
	// sent, for round-trip time measurements.
	WriteTo(b []byte, addr string) (time.Time, error)

	// PacketCh returns the channel of received packets.
	PacketCh() <-chan *Packet

	// DialTimeout opens a stream to addr ("host:port").
	DialTimeout(addr string, timeout time.Duration) (net.Conn, error)

	// StreamCh returns the channel of accepted incoming streams.
	StreamCh() <-chan net.Conn

	// Shutdown stops the transport and releases its resources.
	Shutdown() error
}

// Address is a peer's network address together with its node name, when
// known. A NodeAwareTransport can use the name to route or to verify the peer.
type Address struct {
	// Addr is the "host:port" of the peer.
	Addr string

	// Name is the peer's node name; it may be empty, for example during a
	// Join to an address.
	Name string
}

// String returns the address, with the node name when there is one.
func (a *Address) String() string {
	if a.Name != "" {
		return fmt.Sprintf("%s (%s)", a.Name, a.Addr)
	}
	return a.Addr
}

// IngestionAwareTransport is not used by this package; it is kept so that
// programs written against hashicorp/memberlist still compile.
//
// Deprecated: nothing calls it.
type IngestionAwareTransport interface {
	IngestPacket(conn net.Conn, addr net.Addr, now time.Time, shouldClose bool) error
	IngestStream(conn net.Conn) error
}

// NodeAwareTransport is a Transport that is also told the node name of the
// peer it writes to or dials, when the name is known.
type NodeAwareTransport interface {
	Transport
	WriteToAddress(b []byte, addr Address) (time.Time, error)
	DialAddressTimeout(addr Address, timeout time.Duration) (net.Conn, error)
}

// nodeAwareShim lets a plain Transport serve where a NodeAwareTransport is
// needed, by dropping the names.
type nodeAwareShim struct {
	Transport
}

var _ NodeAwareTransport = (*nodeAwareShim)(nil)

func (t *nodeAwareShim) WriteToAddress(b []byte, addr Address) (time.Time, error) {
	return t.WriteTo(b, addr.Addr)
}

func (t *nodeAwareShim) DialAddressTimeout(addr Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(addr.Addr, timeout)
}

// asNodeAware returns t itself when it is node aware, or t behind a shim.
func asNodeAware(t Transport) NodeAwareTransport {
	if nt, ok := t.(NodeAwareTransport); ok {
		return nt
	}
	return &nodeAwareShim{Transport: t}
}
