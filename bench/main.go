// This file owns the parent side: the plan of scenarios, running each job in a child
// process with a timeout, interleaving the libraries, and the Markdown table.

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// plan is every size and duration of a run.
type plan struct {
	steadyN      []int
	steadyWindow time.Duration
	steadySettle time.Duration
	procsN       int // processes of one node each
	procsWindow  time.Duration
	procsSettle  time.Duration
	convergeN    []int
	convergeRuns int // per library, interleaved A B B A
	detectN      int
	detectWait   time.Duration
	scaleStart   int
	scaleCap     int
	scaleWait    time.Duration
	scaleBudget  time.Duration // no new scale step starts after this
	scaleTries   int           // tries of a step before N is deemed too large
	microN       int
	runs         int // per library for steady, detect and micro
	total        time.Duration
}

var fullPlan = plan{
	steadyN: []int{16, 64}, steadyWindow: 20 * time.Second, steadySettle: 3 * time.Second,
	procsN: 16, procsWindow: 20 * time.Second, procsSettle: 3 * time.Second,
	convergeN: []int{8, 32, 128}, convergeRuns: 4,
	detectN: 32, detectWait: 90 * time.Second,
	scaleStart: 32, scaleCap: 2048, scaleWait: 60 * time.Second, scaleBudget: 8 * time.Minute, scaleTries: 2,
	microN: 10000,
	runs:   2,
	total:  45 * time.Minute,
}

var shortPlan = plan{
	steadyN: []int{4}, steadyWindow: 2 * time.Second, steadySettle: 500 * time.Millisecond,
	procsN: 16, procsWindow: 2 * time.Second, procsSettle: 500 * time.Millisecond,
	convergeN: []int{4}, convergeRuns: 1,
	detectN: 4, detectWait: 30 * time.Second,
	scaleStart: 8, scaleCap: 16, scaleWait: 10 * time.Second, scaleBudget: 15 * time.Second, scaleTries: 1,
	microN: 1000,
	runs:   1,
	total:  65 * time.Second,
}

func main() {
	if spec := os.Getenv(childEnv); spec != "" {
		childMain(spec)
		return
	}
	short := flag.Bool("short", false, "every scenario at tiny sizes and durations; exit non-zero if any figure is missing")
	only := flag.String("only", "", "comma-separated scenarios to run (steady,procs,converge,detect,scale,micro); all by default")
	flag.Parse()

	p := fullPlan
	if *short {
		p = shortPlan
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.total)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: cannot find my own binary:", err)
		os.Exit(2)
	}
	b := &bench{ctx: ctx, exe: exe, short: *short, tab: newTable()}
	want := func(s string) bool {
		return *only == "" || slices.Contains(strings.Split(*only, ","), s)
	}

	start := time.Now()
	if want("steady") {
		for _, n := range p.steadyN {
			b.pairs(p.runs, job{Kind: "steady", N: n, Window: p.steadyWindow, Settle: p.steadySettle, Deadline: 2 * time.Minute})
		}
	}
	if want("procs") {
		b.pairs(p.runs, job{Kind: "procs", N: p.procsN, Window: p.procsWindow, Settle: p.procsSettle, Deadline: 60 * time.Second})
	}
	if want("converge") {
		for _, n := range p.convergeN {
			b.pairs(p.convergeRuns, job{Kind: "converge", N: n, Deadline: 60 * time.Second})
		}
	}
	if want("detect") {
		b.pairs(p.runs, job{Kind: "detect", N: p.detectN, Settle: time.Second, Deadline: p.detectWait})
	}
	if want("scale") {
		b.scaleSearch(p)
	}
	if want("micro") {
		b.pairs(p.runs, job{Kind: "micro", N: p.microN, Short: *short})
	}
	elapsed := time.Since(start)

	b.print(os.Stdout, p, elapsed)
	fmt.Fprintf(os.Stderr, "bench: done in %v\n", elapsed.Round(time.Second))
	if *short {
		if missing := b.missing(); len(missing) > 0 {
			fmt.Fprintln(os.Stderr, "bench -short: figures not produced:")
			for _, m := range missing {
				fmt.Fprintln(os.Stderr, "  "+m)
			}
			os.Exit(1)
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintf(os.Stderr, "bench: overall timeout of %v reached\n", p.total)
		os.Exit(1)
	}
}

type bench struct {
	ctx   context.Context
	exe   string
	short bool
	tab   *table
	flip  bool
	errs  []string
}

// order returns the libraries' indexes for runs runs of each, A B B A ..., with
// the first library alternating between calls so neither always goes first.
func (b *bench) order(runs int) []int {
	first, second := 0, 1
	if b.flip {
		first, second = 1, 0
	}
	b.flip = !b.flip
	var out []int
	for i := range runs {
		if i%2 == 0 {
			out = append(out, first, second)
		} else {
			out = append(out, second, first)
		}
	}
	return out
}

// pairs runs j runs times for each library, interleaved, into the table.
func (b *bench) pairs(runs int, j job) {
	for _, i := range b.order(runs) {
		figs, err := b.run(i, j)
		if err != nil {
			continue
		}
		b.tab.add(i, figs)
	}
}

// run runs j for library i in a fresh child process (procs: in N of them).
func (b *bench) run(i int, j job) ([]fig, error) {
	j.Impl = impls()[i].name
	fmt.Fprintf(os.Stderr, "bench: %-8s %-9s N=%-5d ", j.Kind, j.Impl, j.N)
	t0 := time.Now()
	run := b.child
	if j.Kind == "procs" {
		run = b.procs
	}
	figs, err := run(j)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAILED after %v: %v\n", time.Since(t0).Round(time.Millisecond), err)
		b.errs = append(b.errs, fmt.Sprintf("%s %s N=%d: %v", j.Kind, j.Impl, j.N, err))
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "%v\n", time.Since(t0).Round(time.Millisecond))
	return figs, nil
}

func (b *bench) child(j job) ([]fig, error) {
	spec, err := json.Marshal(&j)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(b.ctx, jobTimeout(j)+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		if runErr != nil {
			return nil, fmt.Errorf("child: %w", runErr)
		}
		return nil, fmt.Errorf("child wrote no result: %w", err)
	}
	if r.Err != "" {
		return r.Figs, fmt.Errorf("%s", r.Err)
	}
	if runErr != nil {
		return r.Figs, fmt.Errorf("child: %w", runErr)
	}
	return r.Figs, nil
}

// scaleSearch doubles N on each library's in-memory network until it no longer
// converges within the deadline, the cap is reached, or the time budget is spent.
// The table gets each library's largest N, and time and heap per node at the
// largest N both reached.
func (b *bench) scaleSearch(p plan) {
	t0 := time.Now()
	largest := [2]int{}
	alive := [2]bool{true, true}
	results := map[int][2][]fig{}
	n := p.scaleStart
	for ; n <= p.scaleCap && (alive[0] || alive[1]); n *= 2 {
		if time.Since(t0) > p.scaleBudget || b.ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "bench: scale search stops before N=%d: time budget of %v spent\n", n, p.scaleBudget)
			break
		}
		var step [2][]fig
		for _, i := range b.order(1) {
			if !alive[i] {
				continue
			}
			// Convergence by gossip alone is a matter of chance near the limit,
			// so a failed step gets a second try.
			var figs []fig
			for try := 0; try < p.scaleTries && !converged(figs, n); try++ {
				figs, _ = b.run(i, job{Kind: "scale", N: n, Deadline: p.scaleWait})
			}
			if !converged(figs, n) {
				alive[i] = false
				continue
			}
			largest[i] = n
			step[i] = figs
		}
		results[n] = step
	}
	capNote := fmt.Sprintf("scale: largest N converged within %v, in memory (doubling from %d, cap %d, tries per step %d)", p.scaleWait, p.scaleStart, p.scaleCap, p.scaleTries)
	for i := range 2 {
		// Zero is an honest answer: not even the smallest cluster converged
		// in time (the reference's in-memory network often loses a member
		// at start-up, and a loaded machine makes it likelier).
		b.tab.add(i, []fig{{Name: capNote, Value: float64(largest[i]), ZeroOK: true}})
	}
	both := min(largest[0], largest[1])
	if both == 0 {
		return
	}
	for i := range 2 {
		for _, f := range results[both][i] {
			if strings.HasSuffix(f.Name, "converged") {
				continue
			}
			b.tab.add(i, []fig{{Name: strings.Replace(f.Name, "scale ", "scale, in memory, ", 1), Value: f.Value, ZeroOK: f.ZeroOK}})
		}
	}
}

func converged(figs []fig, n int) bool {
	return figValue(figs, fmt.Sprintf("scale %d nodes: converged", n)) == 1
}

func figValue(figs []fig, name string) float64 {
	for _, f := range figs {
		if f.Name == name {
			return f.Value
		}
	}
	return math.NaN()
}

// table collects every run's figures by name, in the order they first appear.
type table struct {
	names  []string
	vals   map[string]*[2][]float64
	zeroOK map[string]bool
}

func newTable() *table {
	return &table{vals: map[string]*[2][]float64{}, zeroOK: map[string]bool{}}
}

func (t *table) add(i int, figs []fig) {
	for _, f := range figs {
		v, ok := t.vals[f.Name]
		if !ok {
			v = &[2][]float64{}
			t.vals[f.Name] = v
			t.names = append(t.names, f.Name)
		}
		v[i] = append(v[i], f.Value)
		t.zeroOK[f.Name] = t.zeroOK[f.Name] || f.ZeroOK
	}
}

// value is the median of a figure's runs for library i, NaN if it has none.
func (t *table) value(name string, i int) float64 {
	s := slices.Clone(t.vals[name][i])
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// missing lists every figure that was not produced for some library, or is zero
// where zero is impossible, and every failed job.
func (b *bench) missing() []string {
	out := slices.Clone(b.errs)
	for _, name := range b.tab.names {
		for i, im := range impls() {
			v := b.tab.value(name, i)
			if math.IsNaN(v) || math.IsInf(v, 0) || (v == 0 && !b.tab.zeroOK[name]) {
				out = append(out, fmt.Sprintf("%s: %s = %v", name, im.name, v))
			}
		}
	}
	if len(b.tab.names) == 0 {
		out = append(out, "no figure at all")
	}
	return out
}

func (b *bench) print(w *os.File, p plan, elapsed time.Duration) {
	mode := "full"
	if b.short {
		mode = "-short (tiny sizes, figures not meaningful)"
	}
	fmt.Fprintf(w, "### memberlist side by side: ours (github.com/swimgo/memberlist) vs reference (hashicorp/memberlist v0.7.0)\n\n")
	fmt.Fprintf(w, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- Go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "- CPU: %s, %d cores\n", cpuModel(), runtime.NumCPU())
	fmt.Fprintf(w, "- mode: %s; %d run(s) per library per scenario (converge: %d), interleaved A B B A, each in a fresh process; median shown; took %v\n",
		mode, p.runs, p.convergeRuns, elapsed.Round(time.Second))
	fmt.Fprintf(w, "- DefaultLANConfig for both, 127.0.0.1; steady window %v after convergence; procs: %d processes of one node each, window %v\n\n",
		p.steadyWindow, p.procsN, p.procsWindow)
	fmt.Fprintln(w, "| figure | reference | ours | ours/ref |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
	for _, name := range b.tab.names {
		r, o := b.tab.value(name, 0), b.tab.value(name, 1)
		ratio := "n/a"
		if r != 0 && !math.IsNaN(r) && !math.IsNaN(o) {
			ratio = fmt.Sprintf("%.2f", o/r)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", name, num(r), num(o), ratio)
	}
	fmt.Fprint(w, `
How each figure is taken:
- CPU: getrusage (user + system) of the child process over the window, per node per second.
- UDP packets and bytes: counted by a wrapper around each library's own NetTransport
  (WriteTo / WriteToAddress); streams opened: its dials (push/pull, TCP fallback pings).
- heap: HeapInuse after GC, less the child's before any node started, divided by N;
  goroutine stacks: StackInuse the same way (a read buffer that does not escape is
  there, not in the heap).
- procs: N processes of one node each, all measuring at once over the window, each
  its own getrusage, allocations, packets, bytes and HeapInuse after GC (the whole
  process's, not less a base), and ru_maxrss; mean over the N (CPU: also min, max).
  Machine CPU busy: /proc/stat's non-idle time of all CPUs over the same window,
  less the rate measured for 2 s before the children started, divided by N; on a
  VM it also holds the cost of waking idle CPUs, which a process's own getrusage
  is charged for unevenly from run to run. Anything else that starts or stops on
  the machine meanwhile counts too: run it on an idle machine.
- streams opened: the reference's first periodic push/pull comes 30 to 60 s after a
  node starts (a random stagger, then a full interval), so a window that ends sooner
  sees none of its own, only joins' and ours'.
- converge: N-1 nodes join the first, 16 at a time (scale: 8), until every node's
  EventDelegate has seen all N; detect: one node shut down without Leave, until each
  observer's NotifyLeave; leave: Leave on another, until each remaining node's NotifyLeave.
- scale: each library's own MockNetwork, DefaultLANConfig, all in one process.
- micro: testing.Benchmark; allocations count the node's own goroutines during the op.
`)
	if len(b.errs) > 0 {
		fmt.Fprintln(w, "\nFailed runs:")
		for _, e := range b.errs {
			fmt.Fprintf(w, "- %s\n", e)
		}
	}
}

// num prints a figure with about three significant digits, never in exponent form.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
