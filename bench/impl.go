// This file owns the neutral face of an implementation: what the scenarios need from
// a node, a queue and an in-memory node, and the event and traffic counters the
// adapters in impl_ref.go and impl_ours.go feed.

package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// impl is one library as the scenarios see it.
type impl struct {
	name string

	// startUDP starts a node on 127.0.0.1, port 0, at DefaultLANConfig over the
	// library's own NetTransport wrapped to count what it sends.
	startUDP func(name string, ev *events, ctr *counters) (node, error)

	// newMockNet returns a starter of nodes on one fresh in-memory network of the
	// library's own MockNetwork.
	newMockNet func() func(name string, ev *events) (node, error)

	// startMem starts a node over a hand-written in-memory Transport: the bench
	// delivers packets and streams to it, and sees every packet it writes.
	startMem func(name string, ev *events, onWrite func(b []byte)) (memNode, error)

	// newQueue returns the library's TransmitLimitedQueue for numNodes nodes.
	newQueue func(numNodes int) queue
}

// node is a running Memberlist.
type node interface {
	Join(existing []string) (int, error)
	NumMembers() int
	Leave(timeout time.Duration) error
	Shutdown() error

	// name and addr are the node's own, addr as "host:port" for Join.
	name() string
	addr() string

	// members calls Members() and returns how many it got.
	members() int

	// membersReused lists the members into a slice the node keeps between
	// calls, with AppendMembers where the library has it (the reference has
	// not, and calls Members()), and returns how many it got.
	membersReused() int
}

// memNode is a node over the bench's in-memory Transport.
type memNode struct {
	node

	// stream hands conn to the node as an inbound stream.
	stream func(conn net.Conn)

	// packet hands buf to the node as a packet from from.
	packet func(buf []byte, from net.Addr)
}

// queue is a TransmitLimitedQueue.
type queue interface {
	// add queues a named broadcast of msg.
	add(name string, msg []byte)

	// get is GetBroadcasts.
	get(overhead, limit int) [][]byte

	// len is NumQueued.
	len() int
}

// events is what one node's EventDelegate saw: how many members joined (alive
// counts joins minus leaves) and when each member was last reported gone.
type events struct {
	alive atomic.Int64

	// target is the alive count at which convergedAt is set; 0 disables.
	target      atomic.Int64
	convergedAt atomic.Int64 // unix nanoseconds, 0 until converged
	converged   chan struct{}
	once        sync.Once

	// self is the node's own name, whose join is not counted: the libraries
	// differ in whether and when they report it.
	self string

	mu   sync.Mutex
	gone map[string]time.Time
}

func newEvents(self string) *events {
	return &events{self: self, converged: make(chan struct{}), gone: make(map[string]time.Time)}
}

func (e *events) join(name string) {
	if name == e.self {
		return
	}
	if n := e.alive.Add(1); n == e.target.Load() {
		e.markConverged()
	}
}

func (e *events) leave(name string) {
	if name == e.self {
		return
	}
	e.alive.Add(-1)
	now := time.Now()
	e.mu.Lock()
	e.gone[name] = now
	e.mu.Unlock()
}

// expect sets the member count, the node itself included, that means converged.
func (e *events) expect(n int) {
	t := int64(n - 1)
	e.target.Store(t)
	if e.alive.Load() >= t {
		e.markConverged()
	}
}

func (e *events) markConverged() {
	e.once.Do(func() {
		e.convergedAt.Store(time.Now().UnixNano())
		close(e.converged)
	})
}

// goneAt returns when name was reported gone, if it was.
func (e *events) goneAt(name string) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.gone[name]
	return t, ok
}

// counters count what a node's transport sent.
type counters struct {
	packets atomic.Int64
	bytes   atomic.Int64
	dials   atomic.Int64
}

func (c *counters) packet(b []byte) {
	if c != nil {
		c.packets.Add(1)
		c.bytes.Add(int64(len(b)))
	}
}

func (c *counters) dial() {
	if c != nil {
		c.dials.Add(1)
	}
}

// impls lists both libraries, the reference first.
func impls() []impl {
	return []impl{refImpl, oursImpl}
}
