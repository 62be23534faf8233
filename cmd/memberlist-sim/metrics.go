// This file owns what a run measures, aggregated on the fly from the
// simulation's transitions so that memory stays O(N) per tracked event and
// O(N^2) bits at most (one bit per observer and member), never a list of
// transitions.

package main

import (
	"math"
	"slices"
	"time"

	"github.com/swimgo/memberlist"
)

// bitset is a fixed-size set of small integers.
type bitset []uint64

func newBitset(n int) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) has(i int) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b bitset) set(i int)      { b[i>>6] |= 1 << (i & 63) }
func (b bitset) unset(i int)    { b[i>>6] &^= 1 << (i & 63) }
func (b bitset) clearRange(i, n int) {
	for j := i; j < i+n; j++ {
		b.unset(j)
	}
}

// event is one fact spreading through the cluster: a member joined (is
// known), left, or died. It is known by an observer from the first
// transition that shows it; the thresholds are the times (since the event)
// at which 50%, 99% and 100% of the eligible observers (live when it
// happened, the member itself aside) knew it.
type event struct {
	kind     string // "join", "leave", "death"
	member   int
	at       time.Duration
	eligible bitset
	target   int
	seen     bitset
	count    int
	thr      [3]time.Duration // -1 until reached
	keep     bool             // keep every observer's time (the infection curve)
	times    []time.Duration  // since at, in order
	suspect  time.Duration    // death: first suspicion since at, -1 if none
	other    int              // leave: observers that saw it dead instead
}

var fractions = [3]float64{0.5, 0.99, 1}

func (e *event) knows(s memberlist.NodeStateType) bool {
	switch e.kind {
	case "join":
		return s == memberlist.StateAlive || s == memberlist.StateSuspect
	case "leave":
		return s == memberlist.StateLeft
	default:
		return s == memberlist.StateDead
	}
}

// metrics is everything a run measures.
type metrics struct {
	n     int // nodes, the node at index n-1 included
	names []string
	index map[string]int

	now     time.Duration // of the last transition or sample
	faultAt time.Duration // when the scenario's fault phase began

	up     bitset // the process runs
	left   bitset // it left the cluster
	faulty bitset // the scenario harms it (stall, loss) while it runs

	// in says whether observer o counts member m among its members (alive
	// or suspect): bit o*n+m. members[o] is the count, hist[k] how many live
	// observers count k.
	in      bitset
	members []int
	hist    []int
	live    int

	// View churn: the distinct member counts live observers had since the
	// fault phase began, over the observers running since then (a node that
	// starts later builds its view from nothing, which is not churn).
	settled   bitset
	sizes     bitset
	numSizes  int
	countSize bool

	// side, in a partition, is each node's side: a death declared across
	// the cut is not a false positive.
	side []int8

	events   []*event
	byMember map[int][]*event

	// False positives: declarations of death about a running, unharmed
	// member; and about a running member the scenario harms.
	fpDecl       int
	fpMembers    bitset
	fpNum        int
	harmedDecl   int
	harmedNum    int
	harmed       bitset
	byHarmedDecl int // declarations of death by a harmed observer about a running node
	suspicions   int
	refuted      int
	// bit o*n+m: o holds m suspect. Bits, not a map: a partition of
	// 10,000 nodes holds 50 million suspicions at once.
	openSuspect bitset
	flaps       int    // a member back in an observer's view after it was dead there, during the fault phase
	wasDead     bitset // bit o*n+m: o saw m dead, during the fault phase

	// A condition on the histogram and when it first held since it was
	// armed: "every live node sees k members", for convergence.
	watches []*watch
}

type watch struct {
	name  string
	armed time.Duration
	cond  func() bool
	at    time.Duration // -1 until it held
}

func newMetrics(names []string) *metrics {
	n := len(names)
	m := &metrics{
		n:           n,
		names:       names,
		index:       make(map[string]int, n),
		up:          newBitset(n),
		left:        newBitset(n),
		faulty:      newBitset(n),
		in:          newBitset(n * n),
		wasDead:     newBitset(n * n),
		members:     make([]int, n),
		hist:        make([]int, n+1),
		sizes:       newBitset(n + 1),
		settled:     newBitset(n),
		byMember:    make(map[int][]*event),
		fpMembers:   newBitset(n),
		harmed:      newBitset(n),
		openSuspect: newBitset(n * n),
	}
	for i, name := range names {
		m.index[name] = i
	}
	return m
}

// started records that node i's process started, knowing only itself.
func (m *metrics) started(i int) {
	if m.up.has(i) {
		m.stopped(i)
	}
	m.in.clearRange(i*m.n, m.n)
	m.wasDead.clearRange(i*m.n, m.n)
	m.members[i] = 0
	m.up.set(i)
	m.settled.unset(i)
	m.live++
	m.hist[0]++
}

// stopped records that node i's process stopped (a crash, or a shutdown
// after leaving).
func (m *metrics) stopped(i int) {
	if !m.up.has(i) {
		return
	}
	m.up.unset(i)
	m.live--
	m.hist[m.members[i]]--
	m.check()
}

func (m *metrics) sawSize(o, k int) {
	if m.countSize && m.settled.has(o) && !m.sizes.has(k) {
		m.sizes.set(k)
		m.numSizes++
	}
}

// startChurn starts counting distinct view sizes, from the sizes now.
func (m *metrics) startChurn() {
	m.countSize = true
	for i := range m.n {
		if m.up.has(i) {
			m.settled.set(i)
			m.sawSize(i, m.members[i])
		}
	}
}

// track starts an event about member at now; keep keeps every observer's
// time for the infection curve.
func (m *metrics) track(kind string, member int, keep bool) *event {
	e := &event{kind: kind, member: member, at: m.now, eligible: newBitset(m.n), seen: newBitset(m.n),
		thr: [3]time.Duration{-1, -1, -1}, keep: keep, suspect: -1}
	for i := range m.n {
		if m.up.has(i) && !m.left.has(i) && (i != member || kind == "join") {
			e.eligible.set(i)
			e.target++
			if kind == "join" && m.in.has(i*m.n+member) {
				m.advance(e, i, memberlist.StateAlive)
			}
		}
	}
	m.events = append(m.events, e)
	m.byMember[member] = append(m.byMember[member], e)
	return e
}

// transition is SimConfig.OnTransition.
func (m *metrics) transition(tr memberlist.SimTransition) {
	m.now = tr.At
	o, ok1 := m.index[tr.Observer]
	x, ok2 := m.index[tr.Member]
	if !ok1 || !ok2 {
		return
	}
	inNow := tr.State == memberlist.StateAlive || tr.State == memberlist.StateSuspect
	bit := o*m.n + x
	if was := m.in.has(bit); was != inNow {
		if inNow {
			m.in.set(bit)
			m.members[o]++
			if m.wasDead.has(bit) {
				m.wasDead.unset(bit)
				m.flaps++
			}
		} else {
			m.in.unset(bit)
			m.members[o]--
		}
		if m.up.has(o) {
			m.hist[m.members[o]-b2i(inNow)+b2i(!inNow)]--
			m.hist[m.members[o]]++
			m.sawSize(o, m.members[o])
		}
	}
	switch tr.State {
	case memberlist.StateSuspect:
		if !m.openSuspect.has(bit) {
			m.openSuspect.set(bit)
			m.suspicions++
		}
	case memberlist.StateAlive:
		if m.openSuspect.has(bit) {
			m.openSuspect.unset(bit)
			m.refuted++
		}
	case memberlist.StateDead:
		m.openSuspect.unset(bit)
		if m.countSize {
			m.wasDead.set(bit)
		}
		switch {
		case !m.up.has(x) || m.left.has(x) || x == o:
		case m.faulty.has(o):
			// A harmed node's own view: it hears too little to judge.
			m.byHarmedDecl++
		default:
			if m.faulty.has(x) || (m.side != nil && m.side[o] != m.side[x]) {
				m.harmedDecl++
				if !m.harmed.has(x) {
					m.harmed.set(x)
					m.harmedNum++
				}
			} else {
				m.fpDecl++
				if !m.fpMembers.has(x) {
					m.fpMembers.set(x)
					m.fpNum++
				}
			}
		}
	case memberlist.StateLeft:
		m.openSuspect.unset(bit)
	}
	for _, e := range m.byMember[x] {
		m.advance(e, o, tr.State)
	}
	m.check()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (m *metrics) advance(e *event, o int, s memberlist.NodeStateType) {
	if !e.eligible.has(o) || e.seen.has(o) {
		return
	}
	if e.kind == "death" && s == memberlist.StateSuspect && e.suspect < 0 {
		e.suspect = m.now - e.at
	}
	if e.kind == "leave" && s == memberlist.StateDead {
		e.other++
	}
	if !e.knows(s) {
		return
	}
	e.seen.set(o)
	e.count++
	d := m.now - e.at
	if e.keep {
		e.times = append(e.times, d)
	}
	for i, f := range fractions {
		if e.thr[i] < 0 && e.count >= int(math.Ceil(f*float64(e.target))) {
			e.thr[i] = d
		}
	}
}

// watchFor arms a convergence condition from now.
func (m *metrics) watchFor(name string, cond func() bool) *watch {
	w := &watch{name: name, armed: m.now, cond: cond, at: -1}
	m.watches = append(m.watches, w)
	if cond() {
		w.at = 0
	}
	return w
}

func (m *metrics) check() {
	for _, w := range m.watches {
		if w.at < 0 && w.cond() {
			w.at = m.now - w.armed
		}
	}
}

// allSee is a condition: every live node counts k members.
func (m *metrics) allSee(k int) func() bool {
	return func() bool { return k >= 0 && k < len(m.hist) && m.hist[k] == m.live }
}

// seenStats is the least, mean and most members a live node counts.
func (m *metrics) seenStats() (lo int, mean float64, hi int) {
	lo, hi = math.MaxInt, 0
	sum := 0
	for i := range m.n {
		if !m.up.has(i) {
			continue
		}
		c := m.members[i]
		lo, hi = min(lo, c), max(hi, c)
		sum += c
	}
	if m.live == 0 {
		return 0, 0, 0
	}
	return lo, float64(sum) / float64(m.live), hi
}

// missing counts pairs of running nodes where the observer does not count
// the member among its members: views wrong at the end.
func (m *metrics) missing() int {
	k := 0
	for o := range m.n {
		if !m.up.has(o) || m.left.has(o) {
			continue
		}
		for x := range m.n {
			if m.up.has(x) && !m.left.has(x) && !m.in.has(o*m.n+x) {
				k++
			}
		}
	}
	return k
}

// quantile of sorted durations, nearest rank.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return -1
	}
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func sortedCopy(d []time.Duration) []time.Duration {
	c := slices.Clone(d)
	slices.Sort(c)
	return c
}
