// This file owns the scenarios: how a cluster is formed, which fault each
// scenario injects and when, and the loop that drives the simulation in
// virtual time, samples the time series and reports progress. It uses the
// library's public API only.

package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/swimgo/memberlist"
)

// scenarios, in the order the usage lists them.
var scenarios = []struct {
	name, doc string
}{
	{"formation", "N nodes join through 3 seeds, one every 10 ms"},
	{"crash", "after formation, -faulty nodes (default 1) crash"},
	{"leave", "after formation, -faulty nodes (default 1) leave and shut down, and one new node joins"},
	{"partition", "after formation, the cluster splits in two halves; they heal at -heal (default half of -duration)"},
	{"loss", "after formation, steady state at -loss (default 0.1)"},
	{"slow", "after formation, -faulty nodes (default 1%) stall 5 s every 30 s"},
	{"restart", "after formation, every node crashes at a random time within one minute and restarts 2 s later"},
	{"flaky", "after formation, -faulty nodes (default 1%) lose 80% of their packets, both ways"},
	{"oneway", "after formation, -faulty nodes (default 10) lose all inbound packets 20 s on, 20 s off"},
}

func scenarioNames() []string {
	var out []string
	for _, s := range scenarios {
		out = append(out, s.name)
	}
	return out
}

// starts are the values of -start.
var starts = []string{"joins", "converged"}

// Fixed parts of the scenarios.
const (
	joinSpacing    = 10 * time.Millisecond // formation: one join every
	formationLimit = 5 * time.Minute       // fault scenarios: longest wait for convergence after the last join
	sampleEvery    = time.Second           // the time series' step
	stallFor       = 5 * time.Second
	stallEvery     = 30 * time.Second
	restartWithin  = time.Minute
	restartDown    = 2 * time.Second
	flakyLoss      = 0.8
	onewayPeriod   = 20 * time.Second
)

// sample is one row of the time series.
type sample struct {
	at                time.Duration
	live              int
	seenMin, seenMax  int
	seenMean          float64
	known             float64 // fraction of eligible nodes that know the headline event
	suspicions, fp    int
	packets, bytes    uint64
	pushPulls         uint64
	distinctViewSizes int
}

// result is a finished run.
type result struct {
	p        params
	m        *metrics
	names    []string
	headline *event
	series   []sample
	formed   time.Duration // when the last node had joined and every node saw every other (-1: never)
	faultAt  time.Duration
	end      time.Duration
	stopped  bool // interrupted before the end the flags ask for
	stats    []memberlist.SimNodeStats
	atFault  []memberlist.SimNodeStats // counters when the fault phase began
	faulty   []int
	notes    []string // scenario-specific findings, name=value
	heap     uint64   // bytes in use at the end, the simulation alive
	watches  []*watch
}

type action struct {
	at time.Duration
	do func()
}

// runner drives one run.
type runner struct {
	p       params
	sim     *memberlist.Simulation
	m       *metrics
	names   []string
	rng     *rand.Rand
	actions []action
	res     *result
	prog    *progress
}

func simulate(p params, progressOut io.Writer) (*result, error) {
	total := p.n
	if p.scenario == "leave" {
		total++ // the node that joins while others leave
	}
	names := make([]string, total)
	for i := range names {
		names[i] = fmt.Sprintf("node-%05d", i)
	}
	m := newMetrics(names)
	r := &runner{p: p, m: m, names: names, rng: rand.New(rand.NewPCG(p.seed, 0x5ce7a110)),
		res: &result{p: p, m: m, names: names, formed: -1}}
	r.prog = newProgress(progressOut)
	r.sim = memberlist.NewSimulation(memberlist.SimConfig{
		Seed:         p.seed,
		Latency:      p.latency,
		Jitter:       p.jitter,
		PacketLoss:   p.loss,
		LossyStreams: p.tcpLoss,
		Workers:      p.workers,
		OnTransition: m.transition,
		Config:       func(string) *memberlist.Config { return p.config() },
	})
	if err := r.form(); err != nil {
		return nil, err
	}
	r.res.faultAt = r.sim.Elapsed()
	m.faultAt = r.res.faultAt
	r.res.atFault = r.allStats()
	m.startChurn()
	if err := r.inject(); err != nil {
		return nil, err
	}
	end := r.res.faultAt + p.duration
	if p.scenario == "formation" {
		end = max(p.duration, r.sim.Elapsed())
	}
	r.runTo(end)
	r.prog.done()
	r.res.end = r.sim.Elapsed()
	r.res.stats = r.allStats()
	r.res.watches = m.watches
	r.res.heap = heapInUse() // while the simulation is alive
	if p.memOut != nil {
		if err := pprof.Lookup("heap").WriteTo(p.memOut, 0); err != nil {
			return nil, fmt.Errorf("-memprofile: %w", err)
		}
	}
	return r.res, nil
}

func (r *runner) allStats() []memberlist.SimNodeStats {
	out := make([]memberlist.SimNodeStats, len(r.names))
	for i, name := range r.names {
		out[i], _ = r.sim.Stats(name)
	}
	return out
}

// add starts node i.
func (r *runner) add(i int) error {
	r.m.now = r.sim.Elapsed()
	r.m.started(i)
	return r.sim.AddNode(r.names[i])
}

// seeds picks k running nodes other than self at random, as seeds to join.
func (r *runner) seeds(self, k int) []string {
	var out []string
	for tries := 0; len(out) < k && tries < 20*k; tries++ {
		j := r.rng.IntN(r.p.n)
		if j == self || !r.m.up.has(j) || r.m.left.has(j) || slices.Contains(out, r.names[j]) {
			continue
		}
		out = append(out, r.names[j])
	}
	return out
}

// form starts the cluster: three seeds that join each other, then the other
// nodes one every joinSpacing, each joining through the three seeds. In
// formation every join is an event; otherwise the run waits (at most
// formationLimit after the last join) until every node sees every other.
func (r *runner) form() error {
	n := r.p.n
	if r.p.start == "converged" {
		for i := range n {
			if err := r.add(i); err != nil {
				return err
			}
		}
		r.prog.phase("converged start", 0, 0)
		r.prog.say(fmt.Sprintf("converged start: each of %d nodes merges the other %d (10,000 nodes take minutes)", n, n-1))
		if err := r.sim.Converge(r.names[:n]...); err != nil {
			return err
		}
		r.res.formed = r.sim.Elapsed()
		// One probe interval before the fault, so that the nodes' timers
		// run as in a cluster that has been up a while.
		r.step(r.sim.Elapsed() + r.p.config().ProbeInterval)
		return nil
	}
	formation := r.p.scenario == "formation"
	seeds := min(3, n)
	for i := range seeds {
		if err := r.add(i); err != nil {
			return err
		}
		if formation {
			r.m.track("join", i, i == 0)
		}
	}
	for i := 1; i < seeds; i++ {
		if err := r.sim.Join(r.names[i], r.names[:i]...); err != nil {
			return err
		}
	}
	for i := seeds; i < n; i++ {
		at := time.Duration(i-seeds+1) * joinSpacing
		r.actions = append(r.actions, action{at: at, do: func() {
			if err := r.add(i); err != nil {
				panic(err) // names are unique; a config error shows at the first node
			}
			if formation {
				// The infection curve follows the middle joiner and the last.
				e := r.m.track("join", i, i == n/2 || i == n-1)
				if i == n-1 {
					r.res.headline = e
				}
			}
			_ = r.sim.Join(r.names[i], r.names[:seeds]...)
		}})
	}
	w := r.m.watchFor("formed", func() bool { return r.m.live == n && r.m.hist[n] == n })
	if formation {
		r.res.headline = r.m.events[len(r.m.events)-1]
		return nil // the joins are the scenario
	}
	lastJoin := time.Duration(n-seeds) * joinSpacing
	r.prog.phase("formation (joins, then until every node sees every other)", r.sim.Elapsed(), lastJoin)
	for r.sim.Elapsed() < lastJoin+formationLimit && (w.at < 0 || r.sim.Elapsed() < lastJoin) {
		r.step(r.sim.Elapsed() + sampleEvery)
	}
	if w.at >= 0 {
		r.res.formed = w.at
	}
	r.m.watches = nil
	return nil
}

// pickFaulty chooses which nodes the fault hits: -faulty, or the
// scenario's default share, at least one, never a seed.
func (r *runner) pickFaulty(def int) []int {
	k := def
	if r.p.faulty > 0 {
		k = r.p.faulty
	}
	k = min(max(k, 1), r.p.n-1)
	perm := r.rng.Perm(r.p.n)
	var out []int
	for _, i := range perm {
		if len(out) == k {
			break
		}
		if i >= min(3, r.p.n-1) {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	r.res.faulty = out
	return out
}

// inject schedules the scenario's fault phase, from now.
func (r *runner) inject() error {
	t0 := r.sim.Elapsed()
	n := r.p.n
	at := func(d time.Duration, f func()) { r.actions = append(r.actions, action{at: t0 + d, do: f}) }
	m := r.m
	switch r.p.scenario {
	case "formation", "loss":
	case "crash":
		for k, i := range r.pickFaulty(1) {
			m.stopped(i)
			_ = r.sim.Crash(r.names[i])
			e := m.track("death", i, true)
			if k == 0 {
				r.res.headline = e
			}
		}
		m.watchFor("all-detected", m.allSee(n-len(r.res.faulty)))
	case "leave":
		for k, i := range r.pickFaulty(1) {
			m.left.set(i)
			e := m.track("leave", i, true)
			if k == 0 {
				r.res.headline = e
			}
			_ = r.sim.Leave(r.names[i])
			at(time.Second, func() { m.stopped(i); _ = r.sim.Crash(r.names[i]) })
		}
		j := n // the joiner
		if err := r.add(j); err != nil {
			return err
		}
		m.track("join", j, true)
		_ = r.sim.Join(r.names[j], r.seeds(j, 3)...)
	case "partition":
		var a, b []string
		half := n / 2
		m.side = make([]int8, n)
		for i := range n {
			if i < half {
				a = append(a, r.names[i])
			} else {
				b = append(b, r.names[i])
				m.side[i] = 1
			}
		}
		_ = r.sim.Partition(a, b)
		// How many live nodes count exactly their own half.
		splitNodes := func() int {
			if half == n-half {
				return m.hist[half]
			}
			return m.hist[half] + m.hist[n-half]
		}
		m.watchFor("split-50", func() bool { return 2*splitNodes() >= m.live })
		m.watchFor("split-99", func() bool { return 100*splitNodes() >= 99*m.live })
		m.watchFor("split", func() bool { return splitNodes() == m.live })
		heal := r.p.heal
		if heal <= 0 {
			heal = r.p.duration / 2
		}
		r.res.notes = append(r.res.notes, fmt.Sprintf("heal_at_s=%.3f", heal.Seconds()))
		at(heal, func() {
			r.sim.Heal()
			m.watchFor("merged-after-heal", m.allSee(n))
		})
	case "slow":
		for _, i := range r.pickFaulty(n / 100) {
			m.faulty.set(i)
			phase := time.Duration(r.rng.Int64N(int64(stallEvery)))
			for d := phase; d < r.p.duration; d += stallEvery {
				at(d, func() { _ = r.sim.Stall(r.names[i], stallFor) })
			}
		}
	case "restart":
		last := time.Duration(0)
		for i := range n {
			down := time.Duration(r.rng.Int64N(int64(restartWithin)))
			last = max(last, down+restartDown)
			at(down, func() {
				m.stopped(i)
				_ = r.sim.Crash(r.names[i])
			})
			at(down+restartDown, func() {
				m.now = r.sim.Elapsed()
				m.started(i)
				_ = r.sim.Restart(r.names[i])
				_ = r.sim.Join(r.names[i], r.seeds(i, 3)...)
			})
		}
		at(last, func() { m.watchFor("converged-after-last-restart", m.allSee(n)) })
	case "flaky":
		for _, i := range r.pickFaulty(n / 100) {
			m.faulty.set(i)
			_ = r.sim.SetNodeLoss(r.names[i], flakyLoss, flakyLoss)
		}
	case "oneway":
		for _, i := range r.pickFaulty(10) {
			m.faulty.set(i)
			for d := time.Duration(0); d < r.p.duration; d += 2 * onewayPeriod {
				at(d, func() { _ = r.sim.SetNodeLoss(r.names[i], 1, 0) })
				at(d+onewayPeriod, func() { _ = r.sim.SetNodeLoss(r.names[i], 0, 0) })
			}
		}
	}
	slices.SortStableFunc(r.actions, func(a, b action) int { return cmpDur(a.at, b.at) })
	return nil
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// runTo drives the simulation to end, sampling every sampleEvery.
func (r *runner) runTo(end time.Duration) {
	r.prog.phase(r.p.scenario, r.sim.Elapsed(), end)
	for r.sim.Elapsed() < end {
		if r.res.stopped || r.interrupted() {
			r.res.stopped = true
			return
		}
		r.step(min(end, r.sim.Elapsed()+sampleEvery))
	}
}

// interrupted reports whether the run was asked to stop early. After the
// first interrupt, the signals' default action is back: a second one kills
// the process, should reporting take too long.
func (r *runner) interrupted() bool {
	select {
	case <-r.p.stop:
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		return true
	default:
		return false
	}
}

// step runs to t (or the next action before it), performs the actions due,
// and samples at every whole sampleEvery.
func (r *runner) step(t time.Duration) {
	for len(r.actions) > 0 && r.actions[0].at <= t {
		a := r.actions[0]
		r.actions = r.actions[1:]
		if d := a.at - r.sim.Elapsed(); d > 0 {
			r.sim.RunFor(d)
		}
		r.m.now = r.sim.Elapsed()
		a.do()
		r.m.check()
	}
	if d := t - r.sim.Elapsed(); d > 0 {
		r.sim.RunFor(d)
	}
	r.m.now = r.sim.Elapsed()
	if r.m.now%sampleEvery == 0 {
		r.sample()
	}
	r.prog.update(r.m.now)
}

func (r *runner) sample() {
	m := r.m
	s := sample{at: m.now, live: m.live, suspicions: m.suspicions, fp: m.fpDecl, distinctViewSizes: m.numSizes}
	s.seenMin, s.seenMean, s.seenMax = m.seenStats()
	if e := r.res.headline; e != nil && e.target > 0 {
		s.known = float64(e.count) / float64(e.target)
	}
	for _, name := range r.names {
		st, _ := r.sim.Stats(name)
		s.packets += st.PacketsSent
		s.bytes += st.BytesSent
		s.pushPulls += st.PushPulls
	}
	r.res.series = append(r.res.series, s)
}
