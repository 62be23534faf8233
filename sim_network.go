// This file owns the simulated network: who can reach whom (partitions,
// crashes, loss in general, per node and per direction of a link), how long
// a datagram or a stream message takes, and how an address finds its node.

package memberlist

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// SetNodeLoss sets the probability, from 0 to 1, that a datagram arriving
// at node name (in) or sent by it (out) is lost, on top of
// SimConfig.PacketLoss: a node behind a faulty card or a congested link.
// With 1, streams to and from it fail too. SetNodeLoss(name, 0, 0) restores
// the node.
func (s *Simulation) SetNodeLoss(name string, in, out float64) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	if err := checkLoss(in); err != nil {
		return err
	}
	if err := checkLoss(out); err != nil {
		return err
	}
	n.inLoss, n.outLoss = in, out
	return nil
}

// SetLinkLoss sets the probability, from 0 to 1, that a datagram from node
// from to node to is lost, on top of every other loss; the other direction
// is not affected. With 1, streams between the two fail in both directions.
// Zero restores the link.
func (s *Simulation) SetLinkLoss(from, to string, p float64) error {
	a, err := s.node(from)
	if err != nil {
		return err
	}
	b, err := s.node(to)
	if err != nil {
		return err
	}
	if err := checkLoss(p); err != nil {
		return err
	}
	if p == 0 {
		delete(s.link, [2]int{a.idx, b.idx})
	} else {
		s.link[[2]int{a.idx, b.idx}] = p
	}
	return nil
}

func checkLoss(p float64) error {
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("memberlist: loss probability %v is not between 0 and 1", p)
	}
	return nil
}

// Partition cuts every path between a node of side a and a node of side b.
// It changes nothing when a name is unknown.
func (s *Simulation) Partition(a, b []string) error {
	var c simCut
	for i, side := range [2][]string{a, b} {
		for _, name := range side {
			n, err := s.node(name)
			if err != nil {
				return err
			}
			c[i].set(n.idx)
		}
	}
	s.cuts = append(s.cuts, c)
	return nil
}

// Heal removes every partition.
func (s *Simulation) Heal() {
	s.cuts = nil
}

// simCut is one Partition: its two sides as sets of node indexes. A
// partition of 10,000 nodes in halves is 25 million pairs; two 1.25 KB
// sets say the same and answer each datagram's question from the cache.
type simCut [2]nodeSet

// nodeSet is a set of node indexes, one bit each.
type nodeSet []uint64

func (ns *nodeSet) set(i int) {
	w := i / 64
	if w >= len(*ns) {
		*ns = append(*ns, make([]uint64, w+1-len(*ns))...)
	}
	(*ns)[w] |= 1 << (i % 64)
}

func (ns nodeSet) has(i int) bool {
	w := i / 64
	return w < len(ns) && ns[w]&(1<<(i%64)) != 0
}

// separates reports whether c cuts the path between nodes i and j.
func (c *simCut) separates(i, j int) bool {
	return (c[0].has(i) && c[1].has(j)) || (c[1].has(i) && c[0].has(j))
}

func (s *Simulation) reachable(a, b *simNode) bool {
	if a.crashed || b.crashed {
		return false
	}
	for i := range s.cuts {
		if s.cuts[i].separates(a.idx, b.idx) {
			return false
		}
	}
	return true
}

// linkLoss is the probability that a datagram from a to b is lost.
func (s *Simulation) linkLoss(a, b *simNode) float64 {
	var l float64
	if len(s.link) > 0 {
		l = s.link[[2]int{a.idx, b.idx}]
	}
	if a.outLoss == 0 && b.inLoss == 0 && l == 0 {
		return s.cfg.PacketLoss
	}
	return 1 - (1-s.cfg.PacketLoss)*(1-a.outLoss)*(1-b.inLoss)*(1-l)
}

// streamable reports whether a stream between a and b can carry data: both
// directions must deliver something.
func (s *Simulation) streamable(a, b *simNode) bool {
	if !s.reachable(a, b) {
		return false
	}
	if a.outLoss >= 1 || a.inLoss >= 1 || b.outLoss >= 1 || b.inLoss >= 1 {
		return false
	}
	return len(s.link) == 0 || (s.link[[2]int{a.idx, b.idx}] < 1 && s.link[[2]int{b.idx, a.idx}] < 1)
}

// lost draws whether a datagram from a to b is lost, drawing from a's
// network random source (see rngOf) only when loss is possible.
func (s *Simulation) lost(a, b *simNode) bool {
	p := s.linkLoss(a, b)
	return p > 0 && s.rngOf(a).Float64() < p
}

// retransmits is the extra time TCP takes to get one segment from a to b
// through loss, first timing out after rto; ok is false when it gives up.
func (s *Simulation) retransmits(rng *rand.Rand, a, b *simNode, rto time.Duration) (d time.Duration, ok bool) {
	p := s.linkLoss(a, b)
	if p <= 0 {
		return 0, true
	}
	for range 15 { // Linux's tcp_retries2
		if rng.Float64() >= p {
			return d, true
		}
		d += rto
		rto *= 2
	}
	return d, false
}

// streamDelay is the time a stream's request (req) or answer takes from a
// to b beyond one latency, under LossyStreams; a, the sender, draws.
func (s *Simulation) streamDelay(a, b *simNode, req bool) (time.Duration, bool) {
	if !s.cfg.LossyStreams {
		return 0, true
	}
	rng := s.rngOf(a)
	if !req {
		return s.retransmits(rng, a, b, 200*time.Millisecond)
	}
	syn, ok1 := s.retransmits(rng, a, b, time.Second)
	synAck, ok2 := s.retransmits(rng, b, a, time.Second)
	data, ok3 := s.retransmits(rng, a, b, 200*time.Millisecond)
	return syn + synAck + data, ok1 && ok2 && ok3
}

func (s *Simulation) maxDatagram() int {
	if s.cfg.MaxDatagramSize > 0 {
		return s.cfg.MaxDatagramSize
	}
	return 65507
}

// nodeAt is the node at addr ("ip:port"), or nil. Every node's address is
// 127.(1+i>>16).(i>>8).i:7946 for its index i, so the index is read off the
// address instead of hashing it: this runs for every datagram sent.
func (s *Simulation) nodeAt(addr string) *simNode {
	var oct [4]int
	k, v, digits := 0, 0, 0
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		switch {
		case c >= '0' && c <= '9' && digits < 3:
			v = v*10 + int(c-'0')
			digits++
		case (c == '.' && k < 3 || c == ':' && k == 3) && digits > 0:
			oct[k] = v
			k, v, digits = k+1, 0, 0
			if c == ':' {
				idx := (oct[1]-1)<<16 | oct[2]<<8 | oct[3]
				if oct[0] == 127 && oct[1] >= 1 && idx < len(s.nodes) {
					if n := s.nodes[idx]; n.addrStr == addr {
						return n
					}
				}
				return s.byAddr[addr]
			}
		default:
			return s.byAddr[addr]
		}
	}
	return s.byAddr[addr]
}

// nameAt is the name of the node at addr, or addr itself.
func (s *Simulation) nameAt(addr string) string {
	if n := s.nodeAt(addr); n != nil {
		return n.name
	}
	return addr
}

// delay is the one-way delay of something node h sends, drawn from h's
// network random source.
func (s *Simulation) delay(h *simNode) time.Duration {
	d := s.cfg.Latency
	if s.cfg.Jitter > 0 {
		d += time.Duration(s.rngOf(h).Int64N(int64(s.cfg.Jitter) + 1))
	}
	return d
}

// rngOf is the random source of the network's choices about what node h
// sends: the simulation's own, or with Workers h's own, so that the draws
// do not depend on how nodes are spread over the workers.
func (s *Simulation) rngOf(h *simNode) *rand.Rand {
	if h.rng != nil {
		return h.rng
	}
	return s.rng
}
