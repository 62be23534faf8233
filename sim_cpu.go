// This file owns the simulator's models of a node's limits: its CPU (a node
// with a message cost is busy for that long per membership or user message
// it handles, and what reaches it meanwhile waits in its backlog, as it
// does for a stalled node, up to a receive buffer's worth of datagrams),
// and its uplink for stream answers (SimConfig.StreamBandwidth), with the
// shell's limit on concurrent push/pulls.

package memberlist

import (
	"fmt"
	"math"
	"time"
)

// simRecvBuffer is how many bytes of datagrams wait for a stalled or busy
// simulated node before the rest are dropped: the receive buffer the shell
// asks of the kernel (udpRecvBufSize).
const simRecvBuffer = udpRecvBufSize

// simSlice bounds how long a busy simulated node handles news before it
// reads again. The shell's loop handles 64 messages at a time
// (handoffChunk), microseconds of work on a CPU that keeps up; the costs
// a simulation gives a node to overload it are thousands of times a real
// message's, and 64 of them would hold its probes' answers for seconds.
const simSlice = 10 * time.Millisecond

// SetMessageCost makes node name spend d of virtual time on each
// membership (alive, suspect, dead) or user message it handles, as a node
// short of CPU would; zero (the default) makes handling free. While the
// node works, what arrives waits, as for a stalled node (see Stall). It
// then works as the shell's loop does: it reads every waiting datagram,
// answering probes and queueing their news in its handoff queues
// (HandoffQueueDepth each, what does not fit is dropped), and handles the
// news the newest first, 64 messages or 10 ms of work at a time (whichever
// is less), reading again in between. So an overloaded node keeps
// answering probes and keeps up with the freshest news, and drops what it
// cannot handle. Pings, acks and stream exchanges cost nothing.
func (s *Simulation) SetMessageCost(name string, d time.Duration) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	if d < 0 {
		return fmt.Errorf("memberlist: message cost %v of node %q: want 0 or more", d, name)
	}
	n.cost = d
	if n.core != nil {
		n.charged = n.core.newsHandled
		n.core.holdHandoff = d > 0 && !s.inOrder
	}
	return nil
}

// charge makes n busy for the messages it handled since it was last
// charged, and reports whether it is now busy.
func (s *Simulation) charge(n *simNode) bool {
	k := n.core.newsHandled - n.charged
	n.charged = n.core.newsHandled
	if k == 0 || n.cost <= 0 || n.crashed {
		return false
	}
	until := n.now.Add(time.Duration(k) * n.cost)
	if until.After(n.stallUntil) {
		n.stallUntil = until
		s.emit(n, s.event(n, simEvent{at: until, kind: evResume, to: n, gen: n.gen}))
	}
	return true
}

// work has n, which has a message cost and is free, handle a chunk of the
// news that waits in its handoff queues, and charges it.
func (s *Simulation) work(n *simNode) {
	if n.crashed {
		return
	}
	if !s.inOrder && n.core.handoffWaiting() > 0 {
		n.core.handleSomeNews(max(1, min(handoffChunk, int(simSlice/n.cost))))
	}
	s.charge(n)
}

// resumeInOrder ends n's busy time in the run without handoff queues
// (Simulation.inOrder): it handles what waited one event at a time, in
// order of arrival, until an event's news makes it busy again.
func (s *Simulation) resumeInOrder(n *simNode) {
	n.stallUntil = time.Time{}
	for len(n.backlog) > 0 && !n.crashed {
		ev := n.backlog[0]
		n.backlog[0] = nil
		n.backlog = n.backlog[1:]
		if ev.kind == evPacket {
			n.backlogBytes -= len(ev.buf)
		}
		s.handleWaited(n, ev)
		s.release(n, ev)
		if s.charge(n) {
			break
		}
	}
	if len(n.backlog) == 0 {
		n.backlog, n.backlogBytes = nil, 0
	}
	if !n.crashed {
		s.settle(n)
	}
}

// simUpload is a stream answer a node is sending under StreamBandwidth.
type simUpload struct {
	back     *simEvent // the answer, its time not yet set
	lag      time.Duration
	left     float64   // bytes still to send
	cut      time.Time // the sender's deadline: TCPTimeout after the request came
	deadline time.Time // the initiator's
	pushPull bool
}

// admitPushPull reports whether node n, its uplink limited by
// StreamBandwidth, takes one more push/pull, from node from: as the shell
// does, no more than maxPushPullRequests at once, the last
// memberPushPullReserve of them only for members it knows. A push/pull
// holds its place until its answer is sent or cut off.
func (s *Simulation) admitPushPull(n, from *simNode) bool {
	k := 0
	for _, u := range n.uploads {
		if u.pushPull {
			k++
		}
	}
	if k >= maxPushPullRequests {
		return false
	}
	if k >= maxPushPullRequests-memberPushPullReserve {
		st := n.core.index.get(from.name)
		return st != nil && st.state() != StateDead
	}
	return true
}

// upload has node n send back, its answer to the stream request ev, on its
// uplink. The answers being sent share StreamBandwidth equally, as TCP
// streams share a link; each reaches the initiator one latency (lag) after
// its last byte is sent, and one not sent in full within n's TCPTimeout of
// the request is cut off and fails.
func (s *Simulation) upload(n *simNode, back, ev *simEvent, lag time.Duration, pushPull bool) {
	s.advanceUploads(n)
	n.uploads = append(n.uploads, &simUpload{back: back, lag: lag, left: float64(len(back.buf)),
		cut: n.now.Add(n.cfg.TCPTimeout), deadline: ev.deadline, pushPull: pushPull})
	n.stats.MaxUploads = max(n.stats.MaxUploads, len(n.uploads))
	s.settleUploads(n)
}

// advanceUploads counts what n's uplink has sent since it last looked.
func (s *Simulation) advanceUploads(n *simNode) {
	if k := len(n.uploads); k > 0 {
		sent := n.now.Sub(n.upAt).Seconds() * float64(s.cfg.StreamBandwidth) / float64(k)
		for _, u := range n.uploads {
			u.left -= sent
		}
	}
	n.upAt = n.now
}

// settleUploads delivers n's answers that are sent, fails those cut off,
// and books a wake-up (evUplink) for the next to end.
func (s *Simulation) settleUploads(n *simNode) {
	keep := n.uploads[:0]
	for _, u := range n.uploads {
		back := u.back
		switch {
		case u.left <= 0.5:
			back.at = n.now.Add(u.lag)
			if !s.streamable(n, back.to) || back.at.After(u.deadline) {
				s.failExchange(n, back.to, back.gen, back.id, u.deadline)
				s.release(n, back)
				break
			}
			s.emit(n, back)
		case !u.cut.After(n.now):
			n.stats.AnswersCut++
			s.failExchange(n, back.to, back.gen, back.id, u.deadline)
			s.release(n, back)
		default:
			keep = append(keep, u)
		}
	}
	clear(n.uploads[len(keep):])
	n.uploads = keep
	if len(keep) == 0 {
		return
	}
	rate := float64(s.cfg.StreamBandwidth) / float64(len(keep))
	next := keep[0].cut
	for _, u := range keep {
		done := n.now.Add(time.Duration(math.Ceil(u.left / rate * float64(time.Second))))
		next = minTime(next, minTime(done, u.cut))
	}
	n.upSeq++
	s.emit(n, s.event(n, simEvent{at: next, kind: evUplink, to: n, gen: n.gen, id: n.upSeq}))
}

// dropUploads forgets what n was sending, for a crash or a restart: the
// initiators see their exchanges fail at their deadlines.
func (s *Simulation) dropUploads(n *simNode) {
	for _, u := range n.uploads {
		s.failExchange(n, u.back.to, u.back.gen, u.back.id, u.deadline)
		s.release(n, u.back)
	}
	clear(n.uploads)
	n.uploads = n.uploads[:0]
	n.upSeq++
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
