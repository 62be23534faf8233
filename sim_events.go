// This file owns the simulator's event loop: the virtual-time event queue,
// delivering each event to its node (or to a stalled node's backlog), and
// performing a node's outputs on the modelled network, stream exchanges
// included, with the same stream framing as the shell.

package memberlist

import (
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
	evUplink  // to's uplink may have finished or cut off an answer
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
		s.failExchange(n, ev.from, ev.gen, ev.id, ev.deadline)
		return false
	}
	if n.crashed {
		return false
	}
	if ev.kind == evUplink {
		if ev.gen == n.gen && ev.id == n.upSeq {
			s.advanceUploads(n)
			s.settleUploads(n)
		}
		return false
	}
	if ev.kind == evResume {
		if ev.gen == n.gen && ev.at.Equal(n.stallUntil) {
			s.resume(n)
		}
		return false
	}
	if n.now.Before(n.stallUntil) {
		if ev.kind == evRequest && !n.stallUntil.Add(s.cfg.Latency).Before(ev.deadline) {
			// The answer cannot come in time: the initiator gives up at its
			// deadline, and the request is still read when the stall ends.
			ev.expired = true
			s.failExchange(n, ev.from, ev.gen, ev.id, ev.deadline)
		}
		if ev.kind == evPacket {
			if n.backlogBytes+len(ev.buf) > simRecvBuffer {
				n.stats.Overflow++ // the receive buffer is full
				return false
			}
			n.backlogBytes += len(ev.buf)
		}
		n.backlog = append(n.backlog, ev)
		n.stats.MaxBacklog = max(n.stats.MaxBacklog, len(n.backlog))
		return true
	}
	s.handle(n, ev)
	if n.cost > 0 {
		s.work(n)
	}
	s.settle(n)
	return false
}

// resume ends n's stall, or its busy time: it handles what waited, in
// order.
func (s *Simulation) resume(n *simNode) {
	if n.cost > 0 && s.inOrder {
		s.resumeInOrder(n)
		return
	}
	n.stallUntil = time.Time{}
	backlog := n.backlog
	n.backlog, n.backlogBytes = nil, 0
	// Like a node that falls behind, it reads everything that waited
	// before it handles the news in it (see core.handoff). A node with a
	// message cost keeps its handoff queues held, and handles their news
	// a chunk at a time (see work).
	hold := n.core.holdHandoff
	n.core.holdHandoff = true
	for _, ev := range backlog {
		if !n.crashed { // a delegate may crash it: the rest is then lost
			s.handleWaited(n, ev)
		}
	}
	n.core.holdHandoff = hold
	if !n.crashed && !hold {
		n.core.flushHandoff()
	}
	if n.cost > 0 && !n.crashed {
		s.work(n)
	}
	for _, ev := range backlog {
		s.release(n, ev) // the news keeps the buffer, not the event
	}
	if !n.crashed {
		s.settle(n)
	}
}

// handleWaited gives n an event that waited in its backlog: a stream
// request whose initiator can no longer be reached fails instead.
func (s *Simulation) handleWaited(n *simNode, ev *simEvent) {
	if ev.kind == evRequest && !s.streamable(ev.from, n) {
		if !ev.expired {
			s.failExchange(n, ev.from, ev.gen, ev.id, ev.deadline)
		}
		return
	}
	s.handle(n, ev)
}

// handle gives n one event, now.
func (s *Simulation) handle(n *simNode, ev *simEvent) {
	switch ev.kind {
	case evWake:
		if !ev.at.Equal(n.wakeAt) {
			return // stale: the node's next deadline moved
		}
		n.wakeAt = time.Time{}
		n.core.tick(n.now)
	case evPacket:
		n.core.handlePacket(n.now, ev.buf, ev.from.addr, n.now)
		if n.core.handoffIdle() && s.observe == nil {
			// Handled whole: what the core keeps of a packet it has
			// copied, and its queues hold no part of this one.
			putPacketBuf(ev.buf)
		}
	case evRequest:
		s.serveRequest(n, ev)
	case evReply:
		if ev.gen != n.gen {
			return // for the core before a restart
		}
		if ev.err != nil {
			n.stats.ExchangesFailed++
			n.core.exchangeDone(n.now, ev.id, nil, ev.err)
			break
		}
		reply, err := readReply(n.cfg, s.sink, &memReader{b: ev.buf})
		if err != nil {
			n.stats.ExchangesFailed++
			s.recycle(ev.buf) // nothing decoded from it
		} else if reply.t == pushPullMsg && s.observe == nil {
			reply.hold = ev.buf // its states view it: the core gives it back
		}
		n.core.exchangeDone(n.now, ev.id, reply, err)
	}
}

// serveRequest has node n read and answer a stream request, as the shell's
// handleConn does, and sends the answer back to the initiator.
func (s *Simulation) serveRequest(n *simNode, ev *simEvent) {
	conn := &simConn{r: &memReader{b: ev.buf}, remote: ev.from.addr, local: n.addr}
	var admit func(messageType) bool
	pushPull := false
	if s.cfg.StreamBandwidth > 0 {
		admit = func(t messageType) bool {
			if t != pushPullMsg {
				return true
			}
			if !s.noPushPullCap && !s.admitPushPull(n, ev.from) {
				n.stats.PushPullsRefused++
				return false
			}
			pushPull = true
			return true
		}
	}
	msg, reply := readRequest(n.cfg, s.sink, n.logger, conn, admit)
	if msg != nil && msg.t == pushPullMsg && s.observe == nil {
		msg.hold = ev.buf // its states view it: the core gives it back
	}
	if msg != nil {
		reply = n.core.handleStream(n.now, msg, ev.from.addr)
	}
	s.settle(n)
	if ev.expired {
		return // the initiator has given up
	}
	extra, delivered := s.streamDelay(n, ev.from, false)
	back := s.event(n, simEvent{at: n.now.Add(s.delay(n) + extra), kind: evReply, to: ev.from, from: n, id: ev.id, gen: ev.gen})
	if reply == nil {
		back.err = io.EOF // closed without an answer
	} else if back.buf, back.err = encodeStream(n.cfg, n.nonces, reply); back.err == nil {
		n.stats.StreamBytes += uint64(len(back.buf))
		s.record(n, simRecord{from: n.name, to: ev.from.name, stream: true, buf: back.buf})
	}
	if s.cfg.StreamBandwidth > 0 && back.err == nil && delivered && s.streamable(n, ev.from) {
		s.upload(n, back, ev, back.at.Sub(n.now), pushPull)
		return
	}
	if !delivered || !s.streamable(n, ev.from) || back.at.After(ev.deadline) {
		s.release(n, back)
		s.failExchange(n, ev.from, ev.gen, ev.id, ev.deadline)
		return
	}
	s.emit(n, back)
}

// recycle gives buf, a stream message nothing decoded from is in use, back
// to the pool of push/pull buffers, unless an observer may have kept it
// (see record). A push/pull read whole goes back with its message instead
// (streamMsg.hold), once the core has merged the states that view it.
func (s *Simulation) recycle(buf []byte) {
	if s.observe == nil {
		putPushBuf(buf)
	}
}

// failExchange has node h report exchange id of node n (of generation gen)
// as failed at its deadline (or now, if that has passed).
func (s *Simulation) failExchange(h, n *simNode, gen uint32, id uint64, deadline time.Time) {
	at := deadline
	if at.Before(h.now) {
		at = h.now
	}
	s.emit(h, s.event(h, simEvent{at: at, kind: evReply, to: n, id: id, gen: gen, err: errSimNoAnswer}))
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
				s.record(n, simRecord{from: n.name, to: s.nameAt(o.to.Addr), buf: o.buf, dropped: true})
				if s.observe == nil {
					putPacketBuf(o.buf)
				}
				continue
			}
			s.record(n, simRecord{from: n.name, to: to.name, buf: o.buf})
			s.emit(n, s.event(n, simEvent{at: n.now.Add(s.delay(n)), kind: evPacket, to: to, from: n, buf: o.buf}))
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
		s.emit(n, s.event(n, simEvent{at: at, kind: evWake, to: n}))
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
		s.emit(n, s.event(n, simEvent{at: n.now, kind: evReply, to: n, id: o.id, gen: n.gen, err: err}))
		return
	}
	n.stats.StreamBytes += uint64(len(req))
	to := s.nodeAt(o.to.Addr)
	at := n.now.Add(s.delay(n))
	delivered := true
	if to != nil {
		var extra time.Duration
		extra, delivered = s.streamDelay(n, to, true)
		at = at.Add(extra)
	}
	if to == nil || !delivered || !s.streamable(n, to) || at.After(o.deadline) {
		s.record(n, simRecord{from: n.name, to: s.nameAt(o.to.Addr), stream: true, buf: req, dropped: true})
		s.failExchange(n, n, n.gen, o.id, o.deadline)
		return
	}
	s.record(n, simRecord{from: n.name, to: to.name, stream: true, buf: req})
	s.emit(n, s.event(n, simEvent{at: at, kind: evRequest, to: to, from: n, buf: req, id: o.id, gen: n.gen, deadline: o.deadline}))
}

// simConn is a stream's request as a net.Conn, for readRequest.
type simConn struct {
	r             *memReader
	local, remote net.Addr
}

func (c *simConn) held() *memReader                 { return c.r }
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

// event returns a simEvent holding v for node h to emit, reusing a handled
// one: a busy simulation handles millions, and allocating each would keep
// the garbage collector busy. While h runs on a worker, the worker's own
// spares serve.
func (s *Simulation) event(h *simNode, v simEvent) *simEvent {
	spare := &s.spare
	if h != nil && h.w != nil {
		spare = &h.w.spare
	}
	var ev *simEvent
	if k := len(*spare); k > 0 {
		ev = (*spare)[k-1]
		*spare = (*spare)[:k-1]
	} else {
		ev = new(simEvent)
	}
	*ev = v
	return ev
}

// release takes back an event that node h is done with.
func (s *Simulation) release(h *simNode, ev *simEvent) {
	*ev = simEvent{}
	if h != nil && h.w != nil {
		h.w.spare = append(h.w.spare, ev)
		return
	}
	s.spare = append(s.spare, ev)
}

// emit puts ev, made by node h, on its way: into the event queue, or while
// h runs in a window (see runWindows) into h's own queue when ev is for h
// within the window, else into h's output, which joins the event queue
// when the window ends.
func (s *Simulation) emit(h *simNode, ev *simEvent) {
	if h.w == nil {
		s.push(ev)
		return
	}
	at := int64(ev.at.Sub(simEpoch))
	if ev.to == h && at < s.winEnd {
		h.local.push(at, ev)
		return
	}
	if at < s.winEnd {
		// Only a failure reported at a deadline inside the window gets
		// here: it reaches the other node when the window ends.
		at = s.winEnd
		ev.at = simEpoch.Add(time.Duration(at))
	}
	h.out = append(h.out, ev)
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
