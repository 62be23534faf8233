// Command cluster shows the whole life of a small memberlist cluster inside one
// process: five nodes on loopback find each other, one crashes and the others
// detect the failure, another leaves politely, and everything shuts down.
//
// Every node gets an EventDelegate, so the output is what each member itself
// observed, in the order it observed it. Timings come from DefaultLocalConfig,
// which makes failure detection take seconds rather than tens of seconds.
//
// Run it from the module root:
//
//	go run ./examples/cluster
//
// It exits 0 once the scenario completes, or 1 with a message naming the
// step that did not finish within a minute.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/swimgo/memberlist"
)

const (
	// clusterSize is large enough that failures are confirmed by several
	// independent peers, small enough that the output stays readable.
	clusterSize = 5

	// overallTimeout bounds the whole scenario so a broken network or
	// library makes the program fail loudly instead of hanging.
	overallTimeout = 60 * time.Second

	// leaveTimeout is how long a graceful Leave may spend making sure its
	// departure was gossiped before giving up.
	leaveTimeout = 5 * time.Second
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// observation is one membership change as reported to one node's delegate.
type observation struct {
	at       time.Time
	observer string
	kind     memberlist.NodeEventType
	node     string
	addr     string
}

// recorder is the EventDelegate of one node. Memberlist calls it while
// holding internal locks, so it must never block: it hands the event to a
// generously buffered channel and counts anything that would not fit.
type recorder struct {
	observer string
	out      chan<- observation
	dropped  *atomic.Int64
}

// NotifyJoin, NotifyLeave and NotifyUpdate make recorder a
// memberlist.EventDelegate.
func (r *recorder) NotifyJoin(n *memberlist.Node)   { r.record(memberlist.NodeJoin, n) }
func (r *recorder) NotifyLeave(n *memberlist.Node)  { r.record(memberlist.NodeLeave, n) }
func (r *recorder) NotifyUpdate(n *memberlist.Node) { r.record(memberlist.NodeUpdate, n) }

func (r *recorder) record(kind memberlist.NodeEventType, n *memberlist.Node) {
	o := observation{
		at:       time.Now(),
		observer: r.observer,
		kind:     kind,
		node:     n.Name,
		addr:     n.Address(),
	}
	select {
	case r.out <- o:
	default:
		r.dropped.Add(1)
	}
}

// cluster drives the scenario and keeps, per observer, what it has seen so
// far; each phase waits until those sets say the phase is complete.
type cluster struct {
	w        io.Writer
	events   chan observation
	dropped  atomic.Int64
	deadline <-chan time.Time

	names   []string
	members map[string]*memberlist.Memberlist
	stopped map[string]bool

	crashed   string
	crashedAt time.Time
	joined    map[string]map[string]bool
	failed    map[string]map[string]bool
	left      map[string]map[string]bool
}

// run plays the scenario, writing what happens to w. It always shuts down
// every node it started, also when it fails part-way.
func run(w io.Writer) error {
	timer := time.NewTimer(overallTimeout)
	defer timer.Stop()

	c := &cluster{
		w:        w,
		events:   make(chan observation, 1024),
		deadline: timer.C,
		members:  make(map[string]*memberlist.Memberlist),
		stopped:  make(map[string]bool),
		joined:   make(map[string]map[string]bool),
		failed:   make(map[string]map[string]bool),
		left:     make(map[string]map[string]bool),
	}
	defer c.shutdownAll()

	if err := c.start(); err != nil {
		return err
	}
	if err := c.await("every node to see every other node join", c.allJoined); err != nil {
		return err
	}

	// The last node crashes: no Leave, so the others only learn of it by
	// failing to probe it, suspecting it and finally declaring it dead.
	crashed := c.names[len(c.names)-1]
	fmt.Fprintf(c.w, "crashing %s (Shutdown without Leave)\n", crashed)
	c.crashed, c.crashedAt = crashed, time.Now()
	if err := c.stop(crashed); err != nil {
		return err
	}
	if err := c.await("every peer to declare "+crashed+" failed", func() bool {
		return c.allSaw(c.failed, crashed)
	}); err != nil {
		return err
	}

	// The next one leaves on purpose: peers hear it directly from its
	// gossip, which is much quicker than failure detection.
	leaver := c.names[len(c.names)-2]
	fmt.Fprintf(c.w, "%s leaves gracefully\n", leaver)
	if err := c.members[leaver].Leave(leaveTimeout); err != nil {
		return fmt.Errorf("%s could not announce its leave within %v; check loopback connectivity: %w", leaver, leaveTimeout, err)
	}
	if err := c.await("every peer to see "+leaver+" leave", func() bool {
		return c.allSaw(c.left, leaver)
	}); err != nil {
		return err
	}
	if err := c.stop(leaver); err != nil {
		return err
	}

	if n := c.dropped.Load(); n > 0 {
		return fmt.Errorf("%d membership events did not fit the buffer and were lost; enlarge the events channel", n)
	}
	if err := c.shutdownAll(); err != nil {
		return err
	}
	fmt.Fprintln(c.w, "all nodes shut down")
	return nil
}

// start creates the nodes one by one, each joining the first, so the cluster
// forms through a single seed the way real deployments usually bootstrap.
func (c *cluster) start() error {
	var seed string
	for i := 1; i <= clusterSize; i++ {
		name := fmt.Sprintf("node-%d", i)
		conf := memberlist.DefaultLocalConfig()
		conf.Name = name
		conf.BindAddr = "127.0.0.1"
		conf.BindPort = 0 // let the OS pick a free port; it becomes the advertised one
		conf.LogOutput = io.Discard
		conf.Events = &recorder{observer: name, out: c.events, dropped: &c.dropped}

		m, err := memberlist.Create(conf)
		if err != nil {
			return fmt.Errorf("create %s on 127.0.0.1: %w", name, err)
		}
		c.names = append(c.names, name)
		c.members[name] = m
		c.joined[name] = make(map[string]bool)
		c.failed[name] = make(map[string]bool)
		c.left[name] = make(map[string]bool)

		local := m.LocalNode()
		fmt.Fprintf(c.w, "started %s on %s\n", name, local.Address())
		if seed == "" {
			seed = local.Address()
			continue
		}
		if _, err := m.Join([]string{seed}); err != nil {
			return fmt.Errorf("%s could not join the seed %s: %w", name, seed, err)
		}
	}
	return nil
}

// await prints observations as they arrive until done reports the phase
// complete or the overall deadline passes.
func (c *cluster) await(what string, done func() bool) error {
	for !done() {
		select {
		case o := <-c.events:
			c.note(o)
		case <-c.deadline:
			return fmt.Errorf("gave up after %v waiting for %s; missing: %s", overallTimeout, what, c.missing())
		}
	}
	return nil
}

// note records and prints one observation. A node seeing its own join or
// leave is expected noise and is not printed.
//
// NotifyLeave is called both when a peer is declared dead and when it left on
// purpose, and the Node it receives does not reliably say which (memberlist
// does not maintain the exported Node.State field). The program knows which
// node it crashed, so that is how it tells a failure from a leave.
func (c *cluster) note(o observation) {
	self := o.observer == o.node
	switch o.kind {
	case memberlist.NodeJoin:
		c.joined[o.observer][o.node] = true
		if !self {
			fmt.Fprintf(c.w, "%s sees %s join (%s)\n", o.observer, o.node, o.addr)
		}
	case memberlist.NodeLeave:
		switch {
		case self:
		case o.node == c.crashed:
			c.failed[o.observer][o.node] = true
			elapsed := o.at.Sub(c.crashedAt).Round(10 * time.Millisecond)
			fmt.Fprintf(c.w, "%s declares %s failed, %v after the crash\n", o.observer, o.node, elapsed)
		default:
			c.left[o.observer][o.node] = true
			fmt.Fprintf(c.w, "%s sees %s leave (%s)\n", o.observer, o.node, o.addr)
		}
	case memberlist.NodeUpdate:
		fmt.Fprintf(c.w, "%s sees %s update (%s)\n", o.observer, o.node, o.addr)
	}
}

func (c *cluster) allJoined() bool {
	for _, observer := range c.names {
		for _, n := range c.names {
			if !c.joined[observer][n] {
				return false
			}
		}
	}
	return true
}

// allSaw reports whether every still-running node other than subject has
// recorded subject in seen.
func (c *cluster) allSaw(seen map[string]map[string]bool, subject string) bool {
	for _, observer := range c.running() {
		if observer != subject && !seen[observer][subject] {
			return false
		}
	}
	return true
}

// missing describes, for a timeout message, which joins have not been seen
// yet, which is the usual culprit when the cluster never converges.
func (c *cluster) missing() string {
	var gaps []string
	for _, observer := range c.running() {
		var unseen []string
		for _, n := range c.names {
			if !c.joined[observer][n] {
				unseen = append(unseen, n)
			}
		}
		if len(unseen) > 0 {
			gaps = append(gaps, fmt.Sprintf("%s has not seen %s join", observer, strings.Join(unseen, ",")))
		}
		failed := keys(c.failed[observer])
		left := keys(c.left[observer])
		gaps = append(gaps, fmt.Sprintf("%s saw failed=[%s] left=[%s]", observer, strings.Join(failed, ","), strings.Join(left, ",")))
	}
	return strings.Join(gaps, "; ")
}

func (c *cluster) running() []string {
	var out []string
	for _, n := range c.names {
		if !c.stopped[n] {
			out = append(out, n)
		}
	}
	return out
}

func (c *cluster) stop(name string) error {
	if c.stopped[name] {
		return nil
	}
	c.stopped[name] = true
	if err := c.members[name].Shutdown(); err != nil {
		return fmt.Errorf("shut down %s: %w", name, err)
	}
	return nil
}

// shutdownAll stops every node still running and reports the first failure;
// it is safe to call more than once.
func (c *cluster) shutdownAll() error {
	var first error
	for _, n := range c.running() {
		if err := c.stop(n); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func keys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
