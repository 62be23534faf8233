// This file owns the public description of a cluster member: Node, its
// states, and the protocol version range this implementation speaks.

package memberlist

import (
	"net"
	"strconv"
)

// The range of protocol versions this implementation understands. A node may
// speak any version within it; the range is inclusive.
const (
	ProtocolVersionMin uint8 = 1

	// ProtocolVersion2Compatible is the version to set when a cluster still
	// has nodes that only speak version 2. Version 3 added TCP fallback
	// pings, version 4 nacks for indirect probes, version 5 node names in
	// indirect ping requests.
	ProtocolVersion2Compatible = 2

	ProtocolVersionMax = 5
)

const (
	// MetaMaxSize is the largest node metadata, in bytes.
	MetaMaxSize = 512
)

// NodeStateType is a member's state as this node sees it.
type NodeStateType int

const (
	// StateAlive is a member that answers probes.
	StateAlive NodeStateType = iota
	// StateSuspect is a member that missed a probe and may have failed.
	StateSuspect
	// StateDead is a member declared failed.
	StateDead
	// StateLeft is a member that left the cluster on purpose.
	StateLeft
)

// String returns the state's name, such as "alive".
func (s NodeStateType) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return "unknown"
}

// Node is a member of the cluster. A Node handed out by a Memberlist never
// changes once handed out, so reading or keeping it never races with the
// protocol: a member's change shows up as a new Node. Those from Members
// and LocalNode are shared between callers and must not be modified; those
// passed to delegates are the delegate's own.
type Node struct {
	Name  string
	Addr  net.IP
	Port  uint16
	Meta  []byte        // Metadata from the delegate for this node.
	State NodeStateType // State of the node.
	PMin  uint8         // Minimum protocol version this understands
	PMax  uint8         // Maximum protocol version this understands
	PCur  uint8         // Current version node is speaking
	DMin  uint8         // Min protocol version for the delegate to understand
	DMax  uint8         // Max protocol version for the delegate to understand
	DCur  uint8         // Current version delegate is speaking
}

// Address returns the node's host:port, as a Transport expects it.
func (n *Node) Address() string {
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// FullAddress returns the node's name and host:port, as a
// NodeAwareTransport expects it.
func (n *Node) FullAddress() Address {
	return Address{Addr: n.Address(), Name: n.Name}
}

// String returns the node's name.
func (n *Node) String() string {
	return n.Name
}

// clone returns a deep copy of n, so that the caller owns every byte of it.
func (n *Node) clone() *Node {
	c := *n
	if n.Addr != nil {
		c.Addr = append(net.IP(nil), n.Addr...)
	}
	if n.Meta != nil {
		c.Meta = append([]byte(nil), n.Meta...)
	}
	return &c
}
