// This file owns the adapter from the bench to the reference, hashicorp/memberlist:
// starting nodes over a counting NetTransport, the library's own MockNetwork, or the
// bench's in-memory Transport, and its TransmitLimitedQueue.
//
// It is also the template for impl_ours.go, which gen_ours.sh derives by swapping the
// import path and the "ref" prefix; because both libraries export the same API, the
// same lines must compile against both. Edit this file, then run go generate.

package main

import (
	"errors"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"time"

	ml "github.com/hashicorp/memberlist"
)

const refName = "reference"

var refImpl = impl{
	name:       refName,
	startUDP:   refStartUDP,
	newMockNet: refNewMockNet,
	startMem:   refStartMem,
	newQueue:   refNewQueue,
}

// refNode adapts a Memberlist to node.
type refNode struct {
	*ml.Memberlist
	self     string
	hostPort string
	buf      []*ml.Node // membersReused's slice, kept between calls
}

func (n *refNode) name() string { return n.self }
func (n *refNode) addr() string { return n.hostPort }
func (n *refNode) members() int { return len(n.Memberlist.Members()) }

// membersReused lists the members into a slice kept between calls, with
// AppendMembers where the library has it (ours), else with Members.
func (n *refNode) membersReused() int {
	if a, ok := any(n.Memberlist).(interface{ AppendMembers([]*ml.Node) []*ml.Node }); ok {
		n.buf = a.AppendMembers(n.buf[:0])
	} else {
		n.buf = n.Memberlist.Members()
	}
	return len(n.buf)
}

type refEvents struct{ ev *events }

func (e refEvents) NotifyJoin(n *ml.Node)   { e.ev.join(n.Name) }
func (e refEvents) NotifyLeave(n *ml.Node)  { e.ev.leave(n.Name) }
func (e refEvents) NotifyUpdate(n *ml.Node) {}

// refConfig is DefaultLANConfig on 127.0.0.1, port 0, silent, with ev as the
// EventDelegate.
func refConfig(name string, ev *events) *ml.Config {
	c := ml.DefaultLANConfig()
	c.Name = name
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.AdvertiseAddr = ""
	c.AdvertisePort = 0
	c.LogOutput = io.Discard
	if ev != nil {
		c.Events = refEvents{ev}
	}
	return c
}

func refCreate(c *ml.Config) (node, error) {
	m, err := ml.Create(c)
	if err != nil {
		return nil, err
	}
	self := m.LocalNode()
	return &refNode{
		Memberlist: m,
		self:       self.Name,
		hostPort:   net.JoinHostPort(self.Addr.String(), strconv.Itoa(int(self.Port))),
	}, nil
}

// refCountingTransport is the library's own NetTransport, counting the packets
// and bytes it sends and the streams it opens.
type refCountingTransport struct {
	*ml.NetTransport
	ctr *counters
}

func (t *refCountingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.ctr.packet(b)
	return t.NetTransport.WriteTo(b, addr)
}

func (t *refCountingTransport) WriteToAddress(b []byte, a ml.Address) (time.Time, error) {
	t.ctr.packet(b)
	return t.NetTransport.WriteToAddress(b, a)
}

func (t *refCountingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	t.ctr.dial()
	return t.NetTransport.DialTimeout(addr, timeout)
}

func (t *refCountingTransport) DialAddressTimeout(a ml.Address, timeout time.Duration) (net.Conn, error) {
	t.ctr.dial()
	return t.NetTransport.DialAddressTimeout(a, timeout)
}

func refStartUDP(name string, ev *events, ctr *counters) (node, error) {
	c := refConfig(name, ev)
	nt, err := ml.NewNetTransport(&ml.NetTransportConfig{
		BindAddrs: []string{c.BindAddr},
		BindPort:  c.BindPort,
		Logger:    log.New(io.Discard, "", 0),
	})
	if err != nil {
		return nil, err
	}
	c.Transport = &refCountingTransport{NetTransport: nt, ctr: ctr}
	n, err := refCreate(c)
	if err != nil {
		_ = nt.Shutdown()
		return nil, err
	}
	return n, nil
}

func refNewMockNet() func(name string, ev *events) (node, error) {
	mn := &ml.MockNetwork{}
	return func(name string, ev *events) (node, error) {
		c := refConfig(name, ev)
		t := mn.NewTransport(name)
		c.Transport = t
		n, err := refCreate(c)
		if err != nil {
			_ = t.Shutdown()
			return nil, err
		}
		return n, nil
	}
}

// refMemTransport is the bench's in-memory Transport: the bench feeds its
// channels and sees every packet written. It dials nothing.
type refMemTransport struct {
	packets chan *ml.Packet
	streams chan net.Conn
	onWrite func(b []byte)
	done    chan struct{}
	once    sync.Once
}

func (t *refMemTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return net.IPv4(127, 0, 0, 1).To4(), 7946, nil
}

func (t *refMemTransport) WriteTo(b []byte, _ string) (time.Time, error) {
	t.onWrite(b)
	return time.Now(), nil
}

func (t *refMemTransport) PacketCh() <-chan *ml.Packet { return t.packets }
func (t *refMemTransport) StreamCh() <-chan net.Conn   { return t.streams }

func (t *refMemTransport) DialTimeout(addr string, _ time.Duration) (net.Conn, error) {
	return nil, errors.New("bench transport dials nothing: " + addr)
}

func (t *refMemTransport) Shutdown() error {
	t.once.Do(func() { close(t.done) })
	return nil
}

func refStartMem(name string, ev *events, onWrite func(b []byte)) (memNode, error) {
	t := &refMemTransport{
		packets: make(chan *ml.Packet),
		streams: make(chan net.Conn),
		onWrite: onWrite,
		done:    make(chan struct{}),
	}
	c := refConfig(name, ev)
	c.Transport = t
	n, err := refCreate(c)
	if err != nil {
		return memNode{}, err
	}
	return memNode{
		node: n,
		stream: func(conn net.Conn) {
			select {
			case t.streams <- conn:
			case <-t.done:
				_ = conn.Close()
			}
		},
		packet: func(buf []byte, from net.Addr) {
			select {
			case t.packets <- &ml.Packet{Buf: buf, From: from, Timestamp: time.Now()}:
			case <-t.done:
			}
		},
	}, nil
}

// refBroadcast is a named broadcast; distinct names never invalidate each other.
type refBroadcast struct {
	id  string
	msg []byte
}

func (b *refBroadcast) Invalidates(other ml.Broadcast) bool {
	o, ok := other.(ml.NamedBroadcast)
	return ok && o.Name() == b.id
}
func (b *refBroadcast) Name() string    { return b.id }
func (b *refBroadcast) Message() []byte { return b.msg }
func (b *refBroadcast) Finished()       {}

type refQueue struct{ q *ml.TransmitLimitedQueue }

func (q refQueue) add(name string, msg []byte) {
	q.q.QueueBroadcast(&refBroadcast{id: name, msg: msg})
}
func (q refQueue) get(overhead, limit int) [][]byte { return q.q.GetBroadcasts(overhead, limit) }
func (q refQueue) len() int                         { return q.q.NumQueued() }

func refNewQueue(numNodes int) queue {
	return refQueue{q: &ml.TransmitLimitedQueue{
		NumNodes:       func() int { return numNodes },
		RetransmitMult: ml.DefaultLANConfig().RetransmitMult,
	}}
}
