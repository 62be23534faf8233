// This file owns the procs scenario: one node per process, as deployed. The parent
// starts N children of one library (job Kind "node"), the first the seed and every
// other joining it, waits until each child's node sees all N, then tells them all at
// once to measure, so their windows overlap; each child measures its own process,
// and keeps its node running until the parent closes its stdin, so no node sees
// another leave during its window.

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The lines between the parent and a node child. On stdout the child writes
// lineAddr and its node's "host:port" once the node runs, lineConverged once the
// node sees all N members, and then its result as one JSON line (also when it
// fails, at any point, after which it exits). On stdin the parent writes lineGo
// when every child has converged, and closes stdin once every result is in; then
// the child shuts its node down and exits.
const (
	lineAddr      = "addr "
	lineConverged = "converged"
	lineGo        = "go"
)

// procsGrace is how long the children get to shut their nodes down and exit
// once stdin is closed, before they are killed.
const procsGrace = 15 * time.Second

// The figures each node child reports of its own process, per second of its window
// where a rate.
const (
	procCPU     = "CPU (ms/s)"
	procAllocs  = "allocations (/s)"
	procPackets = "UDP packets sent (/s)"
	procBytes   = "UDP bytes sent (/s)"
	procStreams = "streams opened (/min)"
	procHeap    = "heap in use (KiB)"
	procRSS     = "max RSS (MiB)"
)

// procs runs j.N node children of j.Impl, one node each, and returns their
// figures combined: the mean per process, and for CPU also the min and max. Every
// child is gone when it returns; on failure they are killed.
func (b *bench) procs(j job) (figs []fig, err error) {
	if j.N < 2 {
		return nil, fmt.Errorf("procs needs at least 2 processes, got %d", j.N)
	}
	ctx, cancel := context.WithTimeout(b.ctx, jobTimeout(nodeJob(j, 0, ""))+10*time.Second)
	defer cancel()
	var ps []*proc
	defer func() {
		if err != nil {
			cancel() // kill at once: a failed run's figures are not wanted
		}
		if stopErr := stopProcs(ps, cancel); err == nil && stopErr != nil {
			figs, err = nil, stopErr
		}
	}()

	// What the machine is busy with before any child runs, subtracted
	// from the machine figure below.
	idleRate, idleErr := busyRate(procsIdleWindow)

	deadline := time.Now().Add(j.Deadline)
	seed, err := startProc(ctx, b.exe, nodeJob(j, 0, ""))
	if err != nil {
		return nil, fmt.Errorf("start the seed: %w", err)
	}
	ps = append(ps, seed)
	line, err := seed.expect(lineAddr, deadline)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	addr := strings.TrimPrefix(line, lineAddr)
	for i := 1; i < j.N; i++ {
		p, err := startProc(ctx, b.exe, nodeJob(j, i, addr))
		if err != nil {
			return nil, fmt.Errorf("start node %d: %w", i, err)
		}
		ps = append(ps, p)
	}
	for i, p := range ps {
		if _, err := p.expect(lineConverged, deadline); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
	}
	for i, p := range ps {
		if _, err := io.WriteString(p.stdin, lineGo+"\n"); err != nil {
			return nil, fmt.Errorf("node %d: tell it to go: %w", i, err)
		}
	}
	results := make([][]fig, len(ps))
	resultDeadline := time.Now().Add(j.Settle + j.Window + 30*time.Second)
	// The machine's busy time over about the children's window (they start
	// theirs after Settle).
	time.Sleep(j.Settle)
	rate, busyErr := busyRate(j.Window)
	for i, p := range ps {
		if results[i], err = p.result(resultDeadline); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
	}
	figs, err = combineProcs(j.N, results)
	if err == nil && idleErr == nil && busyErr == nil {
		figs = append(figs, fig{
			Name:  fmt.Sprintf("procs %d processes of 1 node, machine CPU busy per process (ms/s)", j.N),
			Value: max(0, rate-idleRate) * 1000 / float64(j.N),
			// Zero when the machine got quieter than before the children
			// started: other load, not this figure, moved.
			ZeroOK: true,
		})
	}
	return figs, err
}

// procsIdleWindow is how long procs measures the machine before starting
// its children, for the machine's busy time without them.
const procsIdleWindow = 2 * time.Second

// busyRate sleeps for d and returns the machine's busy seconds per second of
// it (see machineBusy).
func busyRate(d time.Duration) (float64, error) {
	b0, err := machineBusy()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	time.Sleep(d)
	b1, err := machineBusy()
	if err != nil {
		return 0, err
	}
	return (b1 - b0).Seconds() / time.Since(start).Seconds(), nil
}

// machineBusy is the time all CPUs of the machine have spent other than idle
// since boot, from /proc/stat: what every process and the kernel used,
// including the cost of waking an idle CPU, which a process's own rusage
// may not be charged for on a virtual machine. An error where /proc/stat is
// missing or unreadable; the figure is then left out.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy uint64
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		// user nice system idle iowait irq softirq; not steal (another
		// guest's time), guest and guest_nice (already in user and nice)
		if i != 3 && i != 4 && i < 7 {
			busy += n
		}
	}
	const userHz = 100 // USER_HZ, 100 on every Linux architecture Go runs on
	return time.Duration(busy) * (time.Second / userHz), nil
}

// nodeJob is the job of node child i of a procs run, seed the first node's
// address ("" for the first itself).
func nodeJob(j job, i int, seed string) job {
	j.Kind = "node"
	j.Index = i
	j.Seed = seed
	return j
}

// combineProcs turns each child's figures into the table's: the mean of each over
// the children, and the min and max of CPU.
func combineProcs(n int, results [][]fig) ([]fig, error) {
	p := fmt.Sprintf("procs %d processes of 1 node, per process: ", n)
	var out []fig
	for _, f := range results[0] {
		vals := make([]float64, len(results))
		for i, r := range results {
			if vals[i] = figValue(r, f.Name); math.IsNaN(vals[i]) {
				return nil, fmt.Errorf("node %d reported no %q", i, f.Name)
			}
		}
		if f.Name != procCPU {
			out = append(out, fig{Name: p + f.Name, Value: mean(vals), ZeroOK: f.ZeroOK})
			continue
		}
		out = append(out,
			fig{Name: p + "CPU mean (ms/s)", Value: mean(vals)},
			fig{Name: p + "CPU min (ms/s)", Value: slices.Min(vals)},
			fig{Name: p + "CPU max (ms/s)", Value: slices.Max(vals)},
		)
	}
	return out, nil
}

func mean(vs []float64) float64 {
	var s float64
	for _, v := range vs {
		s += v
	}
	return s / float64(len(vs))
}

// proc is one running node child: its stdin, and its stdout as lines.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // closed when stdout ends
}

// startProc re-executes the bench binary as the node child of j; ctx's end kills it.
func startProc(ctx context.Context, exe string, j job) (*proc, error) {
	spec, err := json.Marshal(&j)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
	go func() {
		defer close(p.lines)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			p.lines <- s.Text()
		}
	}()
	return p, nil
}

// next returns the child's next line on stdout, waiting until deadline.
func (p *proc) next(deadline time.Time) (string, error) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case line, ok := <-p.lines:
		if !ok {
			return "", errors.New("exited early")
		}
		return line, nil
	case <-t.C:
		return "", errors.New("no word within the deadline")
	}
}

// expect waits until deadline for the line that begins with want, skipping
// lineAddr lines when not waiting for one. A result instead is the child's failure.
func (p *proc) expect(want string, deadline time.Time) (string, error) {
	for {
		line, err := p.next(deadline)
		if err != nil {
			return "", fmt.Errorf("waiting for %q: %w", strings.TrimSpace(want), err)
		}
		switch {
		case strings.HasPrefix(line, want):
			return line, nil
		case strings.HasPrefix(line, lineAddr):
			continue
		case strings.HasPrefix(line, "{"):
			if _, err := parseResult(line); err != nil {
				return "", err
			}
			return "", fmt.Errorf("result before %q", strings.TrimSpace(want))
		}
		return "", fmt.Errorf("unexpected line %q", line)
	}
}

// result waits until deadline for the child's result and returns its figures.
func (p *proc) result(deadline time.Time) ([]fig, error) {
	line, err := p.expect("{", deadline)
	if err != nil {
		return nil, err
	}
	return parseResult(line)
}

func parseResult(line string) ([]fig, error) {
	var r result
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return nil, fmt.Errorf("bad result %q: %w", line, err)
	}
	if r.Err != "" {
		return r.Figs, errors.New(r.Err)
	}
	return r.Figs, nil
}

// stopProcs closes every child's stdin, upon which each shuts its node down and
// exits, and waits for them all; it kills them (kill ends their context) if they
// are not all gone within procsGrace. It returns the first failed exit.
func stopProcs(ps []*proc, kill context.CancelFunc) error {
	for _, p := range ps {
		_ = p.stdin.Close()
	}
	errs := make(chan error, 1)
	go func() {
		var first error
		for i, p := range ps {
			if err := p.cmd.Wait(); err != nil && first == nil {
				first = fmt.Errorf("node %d: %w", i, err)
			}
			for range p.lines {
			}
		}
		errs <- first
	}()
	select {
	case err := <-errs:
		return err
	case <-time.After(procsGrace):
		kill()
		<-errs
		return fmt.Errorf("node children still running %v after stdin closed; killed", procsGrace)
	}
}

// nodeChild runs one node child of a procs run and exits when it is done: its
// figures (or its failure) go to stdout as JSON; on success it then keeps its node
// running until stdin is closed.
func nodeChild(j job) {
	parent := listenParent(os.Stdin)
	figs, nd, err := nodeRun(j, parent)
	var r result
	r.Figs = figs
	if err != nil {
		r.Err = err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(&r); err != nil {
		os.Exit(2)
	}
	if nd == nil {
		return
	}
	if err == nil {
		<-parent.closed
	}
	if err := nd.Shutdown(); err != nil {
		fmt.Fprintf(os.Stderr, "bench child: node %s %d: shutdown: %v\n", j.Impl, j.Index, err)
		os.Exit(1)
	}
}

// parentLink is what the parent says on stdin: goSignal is closed at lineGo,
// closed when stdin ends.
type parentLink struct {
	goSignal chan struct{}
	closed   chan struct{}
}

func listenParent(r io.Reader) *parentLink {
	l := &parentLink{goSignal: make(chan struct{}), closed: make(chan struct{})}
	go func() {
		defer close(l.closed)
		s := bufio.NewScanner(r)
		said := false
		for s.Scan() {
			if s.Text() == lineGo && !said {
				said = true
				close(l.goSignal)
			}
		}
	}()
	return l
}

// wait waits for ch until deadline, failing when the parent hangs up first.
func (l *parentLink) wait(ch <-chan struct{}, deadline time.Time, what string) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-l.closed:
		return fmt.Errorf("parent hung up while waiting for %s", what)
	case <-t.C:
		return fmt.Errorf("no %s within the deadline", what)
	}
}

// nodeRun starts the node, joins the seed, waits until it sees all N and the
// parent says go, then measures its own process over the window. It returns the
// node, when one was started, for the caller to shut down.
func nodeRun(j job, parent *parentLink) ([]fig, node, error) {
	im := implByName(j.Impl)
	name := fmt.Sprintf("proc-%d", j.Index)
	ev := newEvents(name)
	ev.expect(j.N)
	ctr := &counters{}
	nd, err := im.startUDP(name, ev, ctr)
	if err != nil {
		return nil, nil, fmt.Errorf("start: %w", err)
	}
	fmt.Fprintln(os.Stdout, lineAddr+nd.addr())

	deadline := time.Now().Add(j.Deadline)
	if j.Seed != "" {
		if err := joinSeed(nd, j.Seed, deadline); err != nil {
			return nil, nd, err
		}
	}
	if err := parent.wait(ev.converged, deadline, "convergence"); err != nil {
		return nil, nd, fmt.Errorf("%w: sees %d of %d members", err, ev.alive.Load()+1, j.N)
	}
	fmt.Fprintln(os.Stdout, lineConverged)
	if err := parent.wait(parent.goSignal, time.Now().Add(j.Deadline), "go"); err != nil {
		return nil, nd, err
	}
	figs, err := measureProc(j, nd, ctr)
	return figs, nd, err
}

// joinSeed joins the seed, trying again until deadline.
func joinSeed(nd node, seed string, deadline time.Time) error {
	for {
		_, err := nd.Join([]string{seed})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("join %s: %w", seed, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// procsProfileHz is the sampling rate of a node child's CPU profile: at a few
// ms of CPU per second, pprof's 100 Hz takes a handful of samples a window. Even
// so, Linux checks a thread's CPU timer only at a scheduler tick that finds it
// running, so a process that runs in short bursts yields tens of samples, not
// hundreds: a sketch, not a breakdown (perf record -e cpu-clock sees more).
const procsProfileHz = 2000

// measureProc waits j.Settle, then measures this process over j.Window: CPU,
// allocations and what the node sent; then its heap after GC and its max RSS.
// Child 1 (not the seed) writes the window's CPU profile when asked.
func measureProc(j job, nd node, ctr *counters) ([]fig, error) {
	time.Sleep(j.Settle)
	stopProfile := func() {}
	if j.Index == 1 {
		stopProfile = profileWindow("procs-"+j.Impl, procsProfileHz)
	}
	cpu0, pk0, by0, di0, ma0, t0 := cpuTime(), ctr.packets.Load(), ctr.bytes.Load(), ctr.dials.Load(), mallocs(), time.Now()
	time.Sleep(j.Window)
	cpu1, pk1, by1, di1, ma1, t1 := cpuTime(), ctr.packets.Load(), ctr.bytes.Load(), ctr.dials.Load(), mallocs(), time.Now()
	stopProfile()
	heap := heapInuse()
	rss, err := maxRSS()
	if err != nil {
		return nil, err
	}
	if got := nd.NumMembers(); got != j.N {
		return nil, fmt.Errorf("after the window the node sees %d of %d members", got, j.N)
	}
	sec := t1.Sub(t0).Seconds()
	return []fig{
		{Name: procCPU, Value: float64(cpu1-cpu0) / float64(time.Millisecond) / sec},
		{Name: procAllocs, Value: float64(ma1-ma0) / sec},
		{Name: procPackets, Value: float64(pk1-pk0) / sec},
		{Name: procBytes, Value: float64(by1-by0) / sec},
		{Name: procStreams, Value: 60 * float64(di1-di0) / sec, ZeroOK: true},
		{Name: procHeap, Value: float64(heap) / 1024},
		{Name: procRSS, Value: rss},
	}, nil
}

// maxRSS is this process's peak resident set in MiB (ru_maxrss is in KiB on Linux).
func maxRSS() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return float64(ru.Maxrss) / 1024, nil
}
