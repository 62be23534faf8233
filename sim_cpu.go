// This file owns the simulator's model of a node short of CPU: a node with
// a message cost is busy for that long per membership or user message it
// handles, and what reaches it meanwhile waits in its backlog, as it does
// for a stalled node, up to a receive buffer's worth of datagrams.

package memberlist

import (
	"fmt"
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
// is less), reading again in between.
// So an overloaded node keeps answering probes and keeps up with the
// freshest news, and drops what it cannot handle. Pings, acks and stream
// exchanges cost nothing.
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
		if ev.kind == evRequest && !s.streamable(ev.from, n) {
			if !ev.expired {
				s.failExchange(n, ev.from, ev.gen, ev.id, ev.deadline)
			}
		} else {
			s.handle(n, ev)
		}
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
