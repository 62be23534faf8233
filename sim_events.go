// This file owns the simulator's event loop: the virtual-time event queue,
// delivering each event to its node (or to a stalled node's backlog), and
// performing a node's outputs on the modelled network, stream exchanges
// included, with the same stream framing as the shell.

package memberlist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// simEvent kinds.
const (
	evWake    = iota
	evPacket  // a datagram arrives at to
	evRequest // a stream request arrives at to
	evReply   // the answer to exchange id arrives at to, or its failure
	evResume  // to's stall ends
)

type simEvent struct {
	at       time.Time
	kind     uint8
	expired  bool // evRequest: the initiator has been told it failed
	gen      uint32
	to       *simNode
	from     *simNode
	buf      []byte
	id       uint64    // evRequest, evReply: the initiator's exchange id
	deadline time.Time // evRequest: the initiator's deadline
	err      error     // evReply: why the exchange failed
}

// errSimNoAnswer is what an initiator sees when a stream exchange got no
// answer: the peer was unreachable, crashed, or answered too late.
var errSimNoAnswer = &dialError{errors.New("simulated stream: no answer before the deadline")}

// dispatch delivers one event; it reports whether the event is held (in a
// stalled node's backlog) rather than done with.
func (s *Simulation) dispatch(ev *simEvent) (held bool) {
	n := ev.to
	if ev.kind == evRequest && (n.crashed || !s.streamable(ev.from, n)) {
		// The request never arrives; the initiator waits in vain.
		s.failExchange(ev.from, ev.gen, ev.id, ev.deadline)
		return false
	}
	if n.crashed {
		return false
	}
	if ev.kind == evResume {
		if ev.gen == n.gen && ev.at.Equal(n.stallUntil) {
			s.resume(n)
		}
		return false
	}
	if s.now.Before(n.stallUntil) {
		if ev.kind == evRequest && !n.stallUntil.Add(s.cfg.Latency).Before(ev.deadline) {
			// The answer cannot come in time: the initiator gives up at its
			// deadline, and the request is still read when the stall ends.
			ev.expired = true
			s.failExchange(ev.from, ev.gen, ev.id, ev.deadline)
		}
		n.backlog = append(n.backlog, ev)
		return true
	}
	s.handle(n, ev)
	s.settle(n)
	return false
}

// resume ends n's stall: it handles what waited, in order.
func (s *Simulation) resume(n *simNode) {
	n.stallUntil = time.Time{}
	backlog := n.backlog
	n.backlog = nil
	// Like a node that falls behind, it reads everything that waited
	// before it handles the news in it (see core.handoff), so the
	// packets' buffers are released only after.
	n.core.holdHandoff = true
	for _, ev := range backlog {
		switch {
		case n.crashed:
			// A delegate crashed it: the rest is lost.
		case ev.kind == evRequest && !s.streamable(ev.from, n):
			if !ev.expired {
				s.failExchange(ev.from, ev.gen, ev.id, ev.deadline)
			}
		default:
			s.handle(n, ev)
		}
	}
	n.core.holdHandoff = false
	if !n.crashed {
		n.core.flushHandoff()
	}
	for _, ev := range backlog {
		s.release(ev)
	}
	if !n.crashed {
		s.settle(n)
	}
}

// handle gives n one event, now.
func (s *Simulation) handle(n *simNode, ev *simEvent) {
	switch ev.kind {
	case evWake:
		if !ev.at.Equal(n.wakeAt) {
			return // stale: the node's next deadline moved
		}
		n.wakeAt = time.Time{}
		n.core.tick(s.now)
	case evPacket:
		n.core.handlePacket(s.now, ev.buf, ev.from.addr, s.now)
	case evRequest:
		s.serveRequest(n, ev)
	case evReply:
		if ev.gen != n.gen {
			return // for the core before a restart
		}
		if ev.err != nil {
			n.core.exchangeDone(s.now, ev.id, nil, ev.err)
			break
		}
		reply, err := readReply(n.cfg, s.sink, bytes.NewReader(ev.buf))
		n.core.exchangeDone(s.now, ev.id, reply, err)
	}
}

// serveRequest has node n read and answer a stream request, as the shell's
// handleConn does, and sends the answer back to the initiator.
func (s *Simulation) serveRequest(n *simNode, ev *simEvent) {
	conn := &simConn{r: bytes.NewReader(ev.buf), remote: ev.from.addr, local: n.addr}
	msg, reply := readRequest(n.cfg, s.sink, n.logger, conn, nil)
	if msg != nil {
		reply = n.core.handleStream(s.now, msg, ev.from.addr)
	}
	s.settle(n)
	if ev.expired {
		return // the initiator has given up
	}
	extra, delivered := s.streamDelay(n, ev.from, false)
	back := s.event(simEvent{at: s.now.Add(s.delay() + extra), kind: evReply, to: ev.from, from: n, id: ev.id, gen: ev.gen})
	if reply == nil {
		back.err = io.EOF // closed without an answer
	} else if back.buf, back.err = encodeStream(n.cfg, n.nonces, reply); back.err == nil {
		n.stats.StreamBytes += uint64(len(back.buf))
		s.record(simRecord{from: n.name, to: ev.from.name, stream: true, buf: back.buf})
	}
	if !delivered || !s.streamable(n, ev.from) || back.at.After(ev.deadline) {
		s.release(back)
		s.failExchange(ev.from, ev.gen, ev.id, ev.deadline)
		return
	}
	s.push(back)
}

// failExchange reports exchange id of node n (of generation gen) as failed
// at its deadline (or now, if that has passed).
func (s *Simulation) failExchange(n *simNode, gen uint32, id uint64, deadline time.Time) {
	at := deadline
	if at.Before(s.now) {
		at = s.now
	}
	s.push(s.event(simEvent{at: at, kind: evReply, to: n, id: id, gen: gen, err: errSimNoAnswer}))
}

// settle performs a node's outputs and books its next wake-up.
func (s *Simulation) settle(n *simNode) {
	for _, o := range n.core.drain() {
		switch o := o.(type) {
		case *outSend:
			n.stats.PacketsSent++
			n.stats.BytesSent += uint64(len(o.buf))
			to := s.nodeAt(o.to.Addr)
			oversize := len(o.buf) > s.maxDatagram()
			if to == nil || oversize || !s.reachable(n, to) || s.lost(n, to) {
				n.stats.PacketsLost++
				if oversize {
					n.stats.Oversize++
				}
				s.record(simRecord{from: n.name, to: s.nameAt(o.to.Addr), buf: o.buf, dropped: true})
				continue
			}
			s.record(simRecord{from: n.name, to: to.name, buf: o.buf})
			s.push(s.event(simEvent{at: s.now.Add(s.delay()), kind: evPacket, to: to, from: n, buf: o.buf}))
		case *outExchange:
			s.startExchange(n, o)
		case *outJoined, *outNotify, *outPingResult:
			// Nobody waits on these in a simulation.
		default:
			panic(fmt.Sprintf("memberlist: simulation cannot perform %T", o))
		}
	}
	if at, ok := n.core.nextDeadline(); ok && !at.Equal(n.wakeAt) {
		n.wakeAt = at
		s.push(s.event(simEvent{at: at, kind: evWake, to: n}))
	}
}

// startExchange sends the request of a stream exchange on its way. Streams
// are not subject to packet loss, only to partitions, crashes and links
// that lose everything; an unreachable peer makes the exchange fail at its
// deadline, as a dial or read that times out would.
func (s *Simulation) startExchange(n *simNode, o *outExchange) {
	n.stats.Exchanges++
	if len(o.msg) > 0 && messageType(o.msg[0]) == pushPullMsg {
		n.stats.PushPulls++
	}
	req, err := encodeRequest(n.cfg, n.nonces, o.msg)
	if err != nil {
		s.push(s.event(simEvent{at: s.now, kind: evReply, to: n, id: o.id, gen: n.gen, err: err}))
		return
	}
	n.stats.StreamBytes += uint64(len(req))
	to := s.nodeAt(o.to.Addr)
	at := s.now.Add(s.delay())
	delivered := true
	if to != nil {
		var extra time.Duration
		extra, delivered = s.streamDelay(n, to, true)
		at = at.Add(extra)
	}
	if to == nil || !delivered || !s.streamable(n, to) || at.After(o.deadline) {
		s.record(simRecord{from: n.name, to: s.nameAt(o.to.Addr), stream: true, buf: req, dropped: true})
		s.failExchange(n, n.gen, o.id, o.deadline)
		return
	}
	s.record(simRecord{from: n.name, to: to.name, stream: true, buf: req})
	s.push(s.event(simEvent{at: at, kind: evRequest, to: to, from: n, buf: req, id: o.id, gen: n.gen, deadline: o.deadline}))
}

// simConn is a stream's request as a net.Conn, for readRequest.
type simConn struct {
	r             *bytes.Reader
	local, remote net.Addr
}

func (c *simConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *simConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *simConn) Close() error                     { return nil }
func (c *simConn) LocalAddr() net.Addr              { return c.local }
func (c *simConn) RemoteAddr() net.Addr             { return c.remote }
func (c *simConn) SetDeadline(time.Time) error      { return nil }
func (c *simConn) SetReadDeadline(time.Time) error  { return nil }
func (c *simConn) SetWriteDeadline(time.Time) error { return nil }

func (s *Simulation) push(ev *simEvent) {
	s.queue.push(int64(ev.at.Sub(simEpoch)), ev)
}

// event returns a simEvent holding v, reusing a handled one: a busy
// simulation handles millions, and allocating each would keep the garbage
// collector busy.
func (s *Simulation) event(v simEvent) *simEvent {
	var ev *simEvent
	if k := len(s.spare); k > 0 {
		ev = s.spare[k-1]
		s.spare = s.spare[:k-1]
	} else {
		ev = new(simEvent)
	}
	*ev = v
	return ev
}

// release takes back an event that is done with.
func (s *Simulation) release(ev *simEvent) {
	*ev = simEvent{}
	s.spare = append(s.spare, ev)
}

// simQueue is the network's event queue: a binary min-heap ordered by
// virtual time in nanoseconds, then by insertion, so that events due at
// the same instant are handled in the order they were made.
type simQueue struct {
	h   minHeap[simQueued, *simQueued]
	seq uint64
}

type simQueued struct {
	at  int64
	seq uint64
	ev  *simEvent
}

func (a *simQueued) before(b *simQueued) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

func (q *simQueue) push(at int64, ev *simEvent) {
	q.seq++
	q.h.push(simQueued{at: at, seq: q.seq, ev: ev})
}

func (q *simQueue) pop() *simEvent { return q.h.pop().ev }
