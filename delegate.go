// This file owns every callback interface a user can plug into a node, and
// ChannelEventDelegate, the ready-made EventDelegate that feeds a channel.

package memberlist

import "time"

// Delegate is the interface a user implements to hook into the gossip layer.
// Every method is called from the node's event loop and must not block for
// long: a slow delegate delays the protocol for the whole node.
type Delegate interface {
	// NodeMeta returns metadata about the local node, included in its alive
	// messages. The result must be at most limit bytes (MetaMaxSize).
	NodeMeta(limit int) []byte

	// NotifyMsg is called with a user message received from a peer. The
	// slice is only valid for the duration of the call: copy it to keep it.
	NotifyMsg([]byte)

	// GetBroadcasts returns user messages to piggyback on an outgoing gossip
	// packet. Each message costs overhead bytes of framing, and their total,
	// framing included, must not exceed limit bytes.
	GetBroadcasts(overhead, limit int) [][]byte

	// LocalState returns the local user state sent during a push/pull
	// exchange. join is true when the exchange is part of a Join.
	LocalState(join bool) []byte

	// MergeRemoteState receives the remote user state of a push/pull
	// exchange, as returned by the peer's LocalState. join is true when the
	// exchange is part of a Join.
	MergeRemoteState(buf []byte, join bool)
}

// EventDelegate receives notifications when nodes join, leave or change.
// Calls are made in order from the node's event loop; they must not block.
// The *Node passed in is a copy that the callee may keep.
type EventDelegate interface {
	// NotifyJoin is called when a node is detected to have joined.
	NotifyJoin(*Node)

	// NotifyLeave is called when a node is detected to have left or failed.
	NotifyLeave(*Node)

	// NotifyUpdate is called when a node is detected to have updated,
	// usually its metadata.
	NotifyUpdate(*Node)
}

// ConflictDelegate is told when a node claims a name that another node, at
// another address, already holds.
type ConflictDelegate interface {
	// NotifyConflict is called with the node already known and the other
	// node claiming the same name.
	NotifyConflict(existing, other *Node)
}

// MergeDelegate can veto the merge of two clusters. It is called with the
// remote side's members during a push/pull that is part of a join, ours
// (Join) or the peer's (a node joining through us); it is not called for
// the periodic push/pull, nor for alive messages (see AliveDelegate).
type MergeDelegate interface {
	// NotifyMerge returns a non-nil error to refuse the merge with peers.
	NotifyMerge(peers []*Node) error
}

// AliveDelegate can filter nodes as their alive messages arrive.
type AliveDelegate interface {
	// NotifyAlive returns a non-nil error to ignore the alive message of peer.
	NotifyAlive(peer *Node) error
}

// PingDelegate attaches a payload to acks and observes round-trip times of
// probes, for example to build network coordinates.
type PingDelegate interface {
	// AckPayload returns the payload to attach to an ack this node sends.
	AckPayload() []byte

	// NotifyPingComplete is called after a successful probe of other, with
	// the round-trip time and the payload the peer attached to its ack.
	NotifyPingComplete(other *Node, rtt time.Duration, payload []byte)
}

// NodeEventType says what happened to a node in a NodeEvent.
type NodeEventType int

const (
	// NodeJoin means the node joined the cluster.
	NodeJoin NodeEventType = iota
	// NodeLeave means the node left the cluster or failed.
	NodeLeave
	// NodeUpdate means the node's metadata or address changed.
	NodeUpdate
)

// String returns the event type's name, such as "join".
func (t NodeEventType) String() string {
	switch t {
	case NodeJoin:
		return "join"
	case NodeLeave:
		return "leave"
	case NodeUpdate:
		return "update"
	}
	return "unknown"
}

// NodeEvent is one change of a node, as sent by ChannelEventDelegate. Node
// is a copy owned by the receiver.
type NodeEvent struct {
	Event NodeEventType
	Node  *Node
}

// ChannelEventDelegate is an EventDelegate that sends a NodeEvent on Ch for
// every notification. The sends block: read Ch promptly, or the node's event
// loop stalls and the node stops taking part in the protocol.
type ChannelEventDelegate struct {
	Ch chan<- NodeEvent
}

// NotifyJoin sends a NodeJoin event with a copy of n.
func (c *ChannelEventDelegate) NotifyJoin(n *Node) {
	c.Ch <- NodeEvent{Event: NodeJoin, Node: n.clone()}
}

// NotifyLeave sends a NodeLeave event with a copy of n.
func (c *ChannelEventDelegate) NotifyLeave(n *Node) {
	c.Ch <- NodeEvent{Event: NodeLeave, Node: n.clone()}
}

// NotifyUpdate sends a NodeUpdate event with a copy of n.
func (c *ChannelEventDelegate) NotifyUpdate(n *Node) {
	c.Ch <- NodeEvent{Event: NodeUpdate, Node: n.clone()}
}
