// This file owns the simulator's parallel mode (SimConfig.Workers): virtual
// time cut into windows of one Latency, within which no node can hear from
// another, so that each node's events of a window can run on any worker
// while the outcome stays that of one fixed order.
//
// A window starts at the earliest event due and ends at the next multiple
// of Latency. Everything due before its end is taken from the event queue
// into the queues of the nodes it is for; each node then handles its own in
// order of time, on one of the workers, together with the events it makes
// for itself within the window (its timers, a failed exchange). What it
// sends others is due at least one Latency after it was sent, so past the
// window's end: it waits in the node's output until every node is done,
// and the outputs then join the event queue in order of node, so that ties
// in time break the same way whatever the number of workers. The network's
// random choices about what a node sends come from the node's own source
// for the same reason.

package memberlist

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// simWorker is one goroutine's share of a window: its spare events, so that
// workers never share a free list.
type simWorker struct {
	spare []*simEvent
	nodes []*simNode // this window's share of the active nodes
	load  int        // their load (see runActive)
}

// windowed reports whether the simulation runs in windows (see Workers).
func (s *Simulation) windowed() bool {
	return s.cfg.Workers > 0 && s.cfg.Latency > 0 && s.observe == nil
}

// parallelMin is the fewest active nodes in a window worth handing to more
// than one worker; below it the caller's goroutine handles them all, which
// gives the same result. Tests lower it to make workers share small runs.
var parallelMin = 16

// runWindows runs windows until no event is due by until, or cond holds
// after a window; it reports whether cond held.
func (s *Simulation) runWindows(until int64, cond func() bool) bool {
	lat := int64(s.cfg.Latency)
	if len(s.workers) == 0 {
		for range s.cfg.Workers {
			s.workers = append(s.workers, &simWorker{})
		}
	}
	for s.queue.h.len() > 0 && s.queue.h.top().at <= until {
		first := s.queue.h.top().at
		s.winEnd = min((first/lat+1)*lat, until+1)
		active := s.active[:0]
		for s.queue.h.len() > 0 && s.queue.h.top().at < s.winEnd {
			q := s.queue.h.pop()
			n := q.ev.to
			if n.local.h.len() == 0 {
				active = append(active, n)
			}
			n.local.push(q.at, q.ev)
		}
		slices.SortFunc(active, func(a, b *simNode) int { return cmp.Compare(a.idx, b.idx) })
		s.active = active
		s.runActive(active)

		// The window's outputs join the queue in order of node, then its
		// transitions are told in order of time, then node.
		last := first
		trans := s.trans[:0]
		for _, n := range active {
			for _, ev := range n.out {
				s.push(ev)
			}
			clear(n.out)
			n.out = n.out[:0]
			last = max(last, int64(n.now.Sub(simEpoch)))
			trans = append(trans, n.trans...)
			clear(n.trans)
			n.trans = n.trans[:0]
		}
		slices.SortStableFunc(trans, func(a, b SimTransition) int { return cmp.Compare(a.At, b.At) })
		for _, tr := range trans {
			s.tell(tr)
		}
		clear(trans)
		s.trans = trans[:0]
		s.now = simEpoch.Add(time.Duration(last))
		if cond != nil && cond() {
			return true
		}
	}
	return false
}

// runActive has every active node handle its events of the window, spread
// over the workers (see the comment inside on how).
func (s *Simulation) runActive(active []*simNode) {
	if len(s.workers) == 1 || len(active) < parallelMin {
		w := s.workers[0]
		for _, n := range active {
			s.runNode(n, w)
		}
		return
	}
	// Largest first, each to the least loaded worker; a node's load is its
	// events, a stream's bytes counting for much more than a datagram's
	// (merging a large state is the heaviest thing a node does). Who runs
	// where never changes the outcome.
	for _, w := range s.workers {
		w.nodes, w.load = w.nodes[:0], 0
	}
	byLoad := append(s.byLoad[:0], active...)
	for _, n := range byLoad {
		n.load = 0
		for _, q := range n.local.h.items() {
			n.load += 1 + len(q.ev.buf)>>8
		}
	}
	slices.SortStableFunc(byLoad, func(a, b *simNode) int { return cmp.Compare(b.load, a.load) })
	for _, n := range byLoad {
		w := s.workers[0]
		for _, o := range s.workers[1:] {
			if o.load < w.load {
				w = o
			}
		}
		w.nodes = append(w.nodes, n)
		w.load += n.load
	}
	s.byLoad = byLoad
	var wg sync.WaitGroup
	for _, w := range s.workers[1:] {
		if len(w.nodes) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, n := range w.nodes {
				s.runNode(n, w)
			}
		}()
	}
	for _, n := range s.workers[0].nodes {
		s.runNode(n, s.workers[0])
	}
	wg.Wait()
}

// runNode has n handle its events of the window in order, on worker w.
func (s *Simulation) runNode(n *simNode, w *simWorker) {
	n.w = w
	for n.local.h.len() > 0 {
		ev := n.local.pop()
		n.now = ev.at
		if !s.dispatch(ev) {
			s.release(n, ev)
		}
	}
	n.w = nil
}
