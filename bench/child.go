// This file owns the child side: one job (a scenario for one library at one size) run
// in a fresh process, its figures written as JSON to stdout for the parent.

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"
)

// childEnv carries the job to a re-executed bench binary.
const childEnv = "SWIMBENCH_CHILD"

type job struct {
	Kind     string // steady, converge, detect, scale, micro; node: one node of procs
	Impl     string
	N        int
	Window   time.Duration // steady, node: measured window
	Settle   time.Duration // steady, detect, node: wait after convergence
	Deadline time.Duration // convergence and detection deadline
	Short    bool
	Index    int    // node: which of the N processes, 0 the seed
	Seed     string // node: the seed's "host:port" to join, "" for the seed itself
}

// fig is one measured figure. ZeroOK marks figures that may honestly be zero.
type fig struct {
	Name   string
	Value  float64
	ZeroOK bool `json:",omitempty"`
}

type result struct {
	Figs []fig
	Err  string `json:",omitempty"`
}

func implByName(name string) impl {
	for _, im := range impls() {
		if im.name == name {
			return im
		}
	}
	panic("unknown implementation " + name)
}

// childMain runs the job in spec and exits.
func childMain(spec string) {
	var j job
	if err := json.Unmarshal([]byte(spec), &j); err != nil {
		fmt.Fprintln(os.Stderr, "bench child: bad job:", err)
		os.Exit(2)
	}
	if os.Getenv(profileEnv) != "" && j.Kind == "steady" {
		// A heap profile fine enough for a few MB. Only steady writes
		// one: elsewhere the sampling's stack walks would fill the CPU
		// profiles of allocating code.
		runtime.MemProfileRate = 4096
	}
	// The child must end even if a library hangs; the parent kills it later still.
	watchdog := time.AfterFunc(jobTimeout(j), func() {
		fmt.Fprintf(os.Stderr, "bench child: %s %s N=%d: watchdog expired\n", j.Kind, j.Impl, j.N)
		os.Exit(3)
	})
	defer watchdog.Stop()
	if j.Kind == "node" {
		nodeChild(j) // talks to the parent by lines; see procs.go
		return
	}

	var r result
	figs, err := runJob(j)
	r.Figs = figs
	if err != nil {
		r.Err = err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(&r); err != nil {
		os.Exit(2)
	}
}

// jobTimeout bounds a job's child process; the parent allows a little more.
func jobTimeout(j job) time.Duration {
	d := 2*j.Deadline + j.Window + j.Settle + 60*time.Second
	if j.Kind == "detect" {
		d += 2 * j.Deadline
	}
	if j.Kind == "micro" {
		d += 3 * time.Minute
	}
	return d
}

func runJob(j job) ([]fig, error) {
	im := implByName(j.Impl)
	switch j.Kind {
	case "steady":
		return steady(im, j)
	case "converge":
		return converge(im, j)
	case "detect":
		return detect(im, j)
	case "scale":
		return scale(im, j)
	case "micro":
		return micro(im, j)
	}
	return nil, fmt.Errorf("unknown job kind %q", j.Kind)
}

func udpStarter(im impl, ctr *counters) func(string, *events) (node, error) {
	return func(name string, ev *events) (node, error) { return im.startUDP(name, ev, ctr) }
}

// heapInuse returns HeapInuse after a full GC.
func heapInuse() uint64 {
	heap, _ := memInuse()
	return heap
}

// memInuse returns HeapInuse and StackInuse (the goroutines' stacks, which a
// buffer that does not escape lives in) after a full GC.
func memInuse() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// profileEnv names a folder: when set, each steady job writes a CPU profile
// of its measured window there, as steady-IMPL-N.pprof, and node 1 of each
// procs run one of its own process as procs-IMPL.pprof (in both cases the
// first of the job's runs that finds the file absent), for pprof before/after;
// micro writes micro-merge-IMPL.pprof over its push/pull join benchmark and
// micro-pushpull-IMPL.pprof over its push/pull of known members. Each steady
// job also writes the heap it measured as steady-IMPL-N-heap.pprof (sampled
// every 4 KiB, which costs the profiled runs some CPU).
const profileEnv = "SWIMBENCH_CPUPROFILE"

// writeHeapProfile writes a heap profile named name when profileEnv is set
// and the file does not exist yet.
func writeHeapProfile(name string) {
	dir := os.Getenv(profileEnv)
	if dir == "" {
		return
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".pprof"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup("heap").WriteTo(f, 0)
}

// profileWindow starts a CPU profile named name when profileEnv is set, and
// returns what stops it. hz above pprof's fixed 100 samples per CPU second is
// for a process that uses little CPU; the runtime then warns on stderr that
// the rate was set already, and keeps hz.
func profileWindow(name string, hz int) func() {
	dir := os.Getenv(profileEnv)
	if dir == "" {
		return func() {}
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".pprof"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return func() {} // an earlier run of the same job wrote it
	}
	if hz > 100 {
		runtime.SetCPUProfileRate(hz)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		if hz > 100 {
			runtime.SetCPUProfileRate(0)
		}
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// steady measures a converged cluster over real UDP and TCP on 127.0.0.1 while
// nothing changes.
func steady(im impl, j job) ([]fig, error) {
	base, stackBase := memInuse()
	ctr := &counters{}
	c, err := startCluster(j.N, "steady", udpStarter(im, ctr))
	if err != nil {
		return nil, err
	}
	defer c.shutdown()
	if _, err := c.converge(16, j.Deadline); err != nil {
		return nil, err
	}
	time.Sleep(j.Settle)

	stopProfile := profileWindow(fmt.Sprintf("steady-%s-%d", j.Impl, j.N), 0)
	cpu0, pk0, by0, di0, ma0, t0 := cpuTime(), ctr.packets.Load(), ctr.bytes.Load(), ctr.dials.Load(), mallocs(), time.Now()
	time.Sleep(j.Window)
	cpu1, pk1, by1, di1, ma1, t1 := cpuTime(), ctr.packets.Load(), ctr.bytes.Load(), ctr.dials.Load(), mallocs(), time.Now()
	stopProfile()
	heap, stack := memInuse()
	writeHeapProfile(fmt.Sprintf("steady-%s-%d-heap", j.Impl, j.N))

	for i, nd := range c.nodes {
		if got := nd.NumMembers(); got != j.N {
			return nil, fmt.Errorf("after the window node %d sees %d of %d members", i, got, j.N)
		}
	}
	perNodeSec := float64(j.N) * t1.Sub(t0).Seconds()
	p := fmt.Sprintf("steady %d nodes, per node: ", j.N)
	return []fig{
		{Name: p + "CPU (ms/s)", Value: float64(cpu1-cpu0) / float64(time.Millisecond) / perNodeSec},
		{Name: p + "UDP packets sent (/s)", Value: float64(pk1-pk0) / perNodeSec},
		{Name: p + "UDP bytes sent (/s)", Value: float64(by1-by0) / perNodeSec},
		{Name: p + "streams opened (/min)", Value: 60 * float64(di1-di0) / perNodeSec, ZeroOK: true},
		{Name: p + "allocations (/s)", Value: float64(ma1-ma0) / perNodeSec},
		{Name: p + "heap in use (KiB)", Value: (float64(heap) - float64(base)) / float64(j.N) / 1024},
		{Name: p + "goroutine stacks (KiB)", Value: (float64(stack) - float64(stackBase)) / float64(j.N) / 1024},
	}, nil
}

// converge measures how long N-1 nodes joining the first take until every node
// sees all N, over 127.0.0.1.
func converge(im impl, j job) ([]fig, error) {
	c, err := startCluster(j.N, "conv", udpStarter(im, nil))
	if err != nil {
		return nil, err
	}
	defer c.shutdown()
	d, err := c.converge(16, j.Deadline)
	if err != nil {
		return nil, err
	}
	return []fig{{Name: fmt.Sprintf("converge %d nodes (ms)", j.N), Value: ms(d)}}, nil
}

// detect crashes one node of a converged cluster and times each observer's
// NotifyLeave for it; then another node leaves gracefully, timed the same way.
func detect(im impl, j job) ([]fig, error) {
	if j.N < 3 {
		return nil, fmt.Errorf("detect needs at least 3 nodes, got %d", j.N)
	}
	c, err := startCluster(j.N, "det", udpStarter(im, nil))
	if err != nil {
		return nil, err
	}
	defer c.shutdown()
	if _, err := c.converge(16, j.Deadline); err != nil {
		return nil, err
	}
	time.Sleep(j.Settle)

	observers := make([]int, 0, j.N)
	for i := range j.N - 2 {
		observers = append(observers, i)
	}
	crashed, leaver := c.nodes[j.N-1], c.nodes[j.N-2]

	t0 := time.Now()
	if err := crashed.Shutdown(); err != nil {
		return nil, fmt.Errorf("crash %s: %w", crashed.name(), err)
	}
	// The leaver observes the crash too; it leaves only after.
	dets, err := c.waitGone(crashed.name(), append(observers, j.N-2), t0, j.Deadline)
	if err != nil {
		return nil, err
	}

	t1 := time.Now()
	if err := leaver.Leave(5 * time.Second); err != nil {
		return nil, fmt.Errorf("leave %s: %w", leaver.name(), err)
	}
	leaves, err := c.waitGone(leaver.name(), observers, t1, j.Deadline)
	if err != nil {
		return nil, err
	}
	p := fmt.Sprintf("detect %d nodes: crash seen dead", j.N)
	q := fmt.Sprintf("leave %d nodes: seen gone", j.N)
	return []fig{
		{Name: p + ", first observer (ms)", Value: ms(slices.Min(dets))},
		{Name: p + ", median observer (ms)", Value: ms(median(dets))},
		{Name: p + ", last observer (ms)", Value: ms(slices.Max(dets))},
		{Name: q + ", median observer (ms)", Value: ms(median(leaves))},
		{Name: q + ", last observer (ms)", Value: ms(slices.Max(leaves))},
	}, nil
}

// scale starts N nodes on the library's own in-memory network and reports whether
// they converge within the deadline, how fast, and the heap per node.
func scale(im impl, j job) ([]fig, error) {
	base := heapInuse()
	c, err := startCluster(j.N, "scale", im.newMockNet())
	if err != nil {
		return nil, err
	}
	defer c.shutdown()
	p := fmt.Sprintf("scale %d nodes: ", j.N)
	d, err := c.converge(8, j.Deadline)
	if err != nil {
		fmt.Fprintf(os.Stderr, "  %s %s: %v\n", im.name, p, err)
		return []fig{{Name: p + "converged", Value: 0, ZeroOK: true}}, nil
	}
	heap := heapInuse()
	return []fig{
		{Name: p + "converged", Value: 1, ZeroOK: true},
		{Name: p + "time (ms)", Value: ms(d)},
		{Name: p + "heap per node (KiB)", Value: (float64(heap) - float64(base)) / float64(j.N) / 1024},
	}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
