// This file owns the adapter from the harness to the reference, hashicorp/memberlist:
// starting a node over a capturing transport, and mapping its package types (Node,
// Keyring, TransmitLimitedQueue, Transport) to the harness's neutral ones.
//
// It is also the template for impl_ours_test.go, which gen_ours.sh derives by swapping
// the import path and the "ref" prefix; because both libraries export the same API,
// the same lines must compile against both. Edit this file, then run go generate.
package interop

import (
	"log"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	ml "github.com/hashicorp/memberlist"
)

const refName = "ref"

var refImpl = impl{name: refName, start: refStart}

// refTransport wraps the implementation's own NetTransport so the fabric can drop,
// refuse and sniff; inbound traffic passes straight through.
type refTransport struct {
	*ml.NetTransport
	fab  *fabric
	name string
}

func (t *refTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, ml.Address{Addr: addr})
}

func (t *refTransport) WriteToAddress(b []byte, a ml.Address) (time.Time, error) {
	if !t.fab.onPacket(t.name, t.fab.nameOf(a.Addr, a.Name), b) {
		return time.Now(), nil // lost on the wire, as UDP may be
	}
	return t.NetTransport.WriteToAddress(b, a)
}

func (t *refTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(ml.Address{Addr: addr}, timeout)
}

func (t *refTransport) DialAddressTimeout(a ml.Address, timeout time.Duration) (net.Conn, error) {
	return t.fab.dial(t.name, a.Addr, a.Name, timeout)
}

type refEvents struct{ log *eventLog }

func refViewOf(n *ml.Node) nodeView {
	return nodeView{
		Name: n.Name, Addr: n.Addr.String(), Port: n.Port, Meta: string(n.Meta), State: int(n.State),
		PMin: n.PMin, PMax: n.PMax, PCur: n.PCur, DMin: n.DMin, DMax: n.DMax, DCur: n.DCur,
	}
}

func (e refEvents) NotifyJoin(n *ml.Node)   { e.log.add(evJoin, refViewOf(n)) }
func (e refEvents) NotifyLeave(n *ml.Node)  { e.log.add(evLeave, refViewOf(n)) }
func (e refEvents) NotifyUpdate(n *ml.Node) { e.log.add(evUpdate, refViewOf(n)) }

// refBroadcast is a user broadcast that never invalidates another, so each test
// message is delivered on its own.
type refBroadcast []byte

func (b refBroadcast) Invalidates(ml.Broadcast) bool { return false }
func (b refBroadcast) Message() []byte               { return b }
func (b refBroadcast) Finished()                     {}

type refNode struct {
	m     *ml.Memberlist
	conf  *ml.Config
	queue *ml.TransmitLimitedQueue
}

func refStart(c *cluster, o nodeOpts) (*node, error) {
	lb := &logBuf{}
	logger := log.New(lb, "", log.Lmicroseconds)
	nt, err := ml.NewNetTransport(&ml.NetTransportConfig{
		BindAddrs: []string{o.IP},
		BindPort:  o.Port,
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}
	port := nt.GetAutoBindPort()

	n := &node{
		impl: refName, name: o.Name, ip: o.IP, port: port,
		addr: net.JoinHostPort(o.IP, strconv.Itoa(port)),
		del:  &userDelegate{meta: []byte(o.Meta), localState: o.LocalState},
		ev:   newEventLog(), log: lb,
	}
	var live atomic.Pointer[ml.Memberlist]
	queue := &ml.TransmitLimitedQueue{
		NumNodes: func() int {
			if m := live.Load(); m != nil {
				return m.NumMembers()
			}
			return 1
		},
		// Generous, so a test broadcast reaches every node even when some of its
		// transmits ride on acks to the same peer.
		RetransmitMult: 10,
	}
	n.del.queue = queue

	conf := ml.DefaultLocalConfig()
	conf.Name = o.Name
	conf.BindAddr, conf.BindPort = o.IP, port
	conf.AdvertiseAddr, conf.AdvertisePort = o.IP, port
	conf.Transport = &refTransport{NetTransport: nt, fab: c.fab, name: o.Name}
	conf.Logger = logger
	conf.Delegate = n.del
	conf.Events = refEvents{log: n.ev}
	conf.Label = o.Label
	conf.EnableCompression = !o.NoCompression
	if o.PV != 0 {
		conf.ProtocolVersion = o.PV
	}
	if len(o.Keys) > 0 {
		kr, err := ml.NewKeyring(o.Keys, o.Keys[0])
		if err != nil {
			_ = nt.Shutdown()
			return nil, err
		}
		conf.Keyring = kr
	}
	tm := o.Timing
	conf.ProbeInterval, conf.ProbeTimeout = tm.ProbeInterval, tm.ProbeTimeout
	conf.GossipInterval, conf.GossipNodes = tm.GossipInterval, tm.GossipNodes
	conf.PushPullInterval, conf.TCPTimeout = tm.PushPullInterval, tm.TCPTimeout
	conf.GossipToTheDeadTime = tm.GossipToTheDead
	conf.SuspicionMult, conf.SuspicionMaxTimeoutMult = tm.SuspicionMult, tm.SuspicionMaxTimeoutMult
	conf.RetransmitMult, conf.IndirectChecks = tm.RetransmitMult, tm.IndirectChecks

	m, err := ml.Create(conf)
	if err != nil {
		_ = nt.Shutdown()
		return nil, err
	}
	live.Store(m)
	n.api = &refNode{m: m, conf: conf, queue: queue}
	return n, nil
}

func (r *refNode) Join(addrs []string) (int, error) { return r.m.Join(addrs) }
func (r *refNode) Leave(d time.Duration) error      { return r.m.Leave(d) }
func (r *refNode) Shutdown() error                  { return r.m.Shutdown() }
func (r *refNode) NumMembers() int                  { return r.m.NumMembers() }
func (r *refNode) UpdateNode(d time.Duration) error { return r.m.UpdateNode(d) }
func (r *refNode) ProtocolVersion() uint8           { return r.m.ProtocolVersion() }
func (r *refNode) QueueBroadcast(msg []byte)        { r.queue.QueueBroadcast(refBroadcast(msg)) }
func (r *refNode) AddKey(k []byte) error            { return r.conf.Keyring.AddKey(k) }
func (r *refNode) UseKey(k []byte) error            { return r.conf.Keyring.UseKey(k) }
func (r *refNode) RemoveKey(k []byte) error         { return r.conf.Keyring.RemoveKey(k) }
func (r *refNode) SendBestEffort(to nodeView, msg []byte) error {
	return r.m.SendBestEffort(refNodeOf(to), msg)
}
func (r *refNode) SendReliable(to nodeView, msg []byte) error {
	return r.m.SendReliable(refNodeOf(to), msg)
}

func refNodeOf(v nodeView) *ml.Node {
	return &ml.Node{
		Name: v.Name, Addr: net.ParseIP(v.Addr).To4(), Port: v.Port, Meta: []byte(v.Meta),
		PMin: v.PMin, PMax: v.PMax, PCur: v.PCur, DMin: v.DMin, DMax: v.DMax, DCur: v.DCur,
	}
}

// Members copies the native member list; see nodeAPI for why the reference opts out.
func (r *refNode) Members() ([]nodeView, bool) {
	if refName == "ref" {
		return nil, false
	}
	var out []nodeView
	for _, n := range r.m.Members() {
		v := refViewOf(n)
		v.FromMembersNative = true
		out = append(out, v)
	}
	return out, true
}
