// Command memberlist-sim runs a simulated cluster of memberlist nodes in
// virtual time — the library's real protocol core, thousands of nodes in
// one process — through a scenario (formation, a crash, a partition, loss,
// stalled or flaky nodes…) and reports how fast membership changes spread,
// how fast failures are detected, how many healthy nodes are wrongly
// declared dead, and what it costs per node.
//
//	go run ./cmd/memberlist-sim -n 1000 -scenario crash -loss 0.05 -seed 1 -duration 2m -out DIR
//
// It prints a summary table; with -out it writes CSV files and SVG plots
// into DIR. The same flags give byte-identical files; wall time and memory
// are printed only. Bad input exits with code 2 and one line naming it.
//
// Run with -h for the flags; docs/simulation.md describes the model, the
// scenarios and the metrics.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/swimgo/memberlist"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// params is a run's parsed flags.
type params struct {
	n         int
	scenario  string
	seed      uint64
	duration  time.Duration
	loss      float64
	latency   time.Duration
	jitter    time.Duration
	profile   string
	sets      []setting
	lifeguard bool
	faulty    int
	heal      time.Duration
	out       string
	quiet     bool
	tcpLoss   bool
	workers   int
	cpuProf   string
	memProf   string
	// memOut receives the heap profile -memprofile asks for, written at
	// the end of the run while the simulation is alive.
	memOut  io.Writer
	start   string
	scaling string
	// stop, when it delivers, ends the run early (an interrupt): the
	// scenario stops at the next whole virtual second and reports so far.
	stop <-chan os.Signal
}

// setting is one -set Field=value.
type setting struct {
	field string
	value reflect.Value
}

type setFlags struct{ list *[]string }

func (s setFlags) String() string {
	if s.list == nil {
		return ""
	}
	return strings.Join(*s.list, ",")
}
func (s setFlags) Set(v string) error { *s.list = append(*s.list, v); return nil }

// usageError is bad input: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func badInput(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

func run(args []string, stdout, stderr io.Writer) int {
	p, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "memberlist-sim: %v\n", err)
		return 2
	}
	if p.scaling != "" {
		return drawScaling(p, stdout, stderr)
	}
	var out *outDir
	if p.out != "" {
		if out, err = openOut(p.out); err != nil {
			fmt.Fprintf(stderr, "memberlist-sim: %v\n", err)
			return 2
		}
		defer out.abandon()
	}
	tuneGC()
	progressTo := stderr
	if p.quiet {
		progressTo = io.Discard
	}
	if p.cpuProf != "" {
		f, err := os.Create(p.cpuProf)
		if err != nil {
			fmt.Fprintf(stderr, "memberlist-sim: -cpuprofile: %v\n", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "memberlist-sim: -cpuprofile: %v\n", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	if p.memProf != "" {
		f, err := os.Create(p.memProf)
		if err != nil {
			fmt.Fprintf(stderr, "memberlist-sim: -memprofile: %v\n", err)
			return 2
		}
		defer f.Close()
		p.memOut = f
	}
	// The first interrupt (or SIGTERM) stops the run at the next whole
	// virtual second and reports what it has; a second one kills it.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	p.stop = sig
	start := time.Now()
	res, err := simulate(p, progressTo)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "memberlist-sim: %v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "memberlist-sim: %v\n", err)
		return 1
	}
	wall := time.Since(start)
	sum := summarize(res)
	printSummary(stdout, res, sum, wall, res.heap)
	if out != nil {
		if err := writeFiles(out, res, sum); err != nil {
			fmt.Fprintf(stderr, "memberlist-sim: %v\n", err)
			return 1
		}
		if err := out.commit(); err != nil {
			fmt.Fprintf(stderr, "memberlist-sim: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s\n", p.out)
	}
	return 0
}

// drawScaling is the -scaling mode: scaling.svg into -out, from the runs
// -scaling names, and no simulation.
func drawScaling(p params, stdout, stderr io.Writer) int {
	if p.out == "" {
		fmt.Fprintf(stderr, "memberlist-sim: -scaling needs -out, the folder to write scaling.svg into\n")
		return 2
	}
	svg, err := scalingPlot(strings.Split(p.scaling, ","))
	if err != nil {
		fmt.Fprintf(stderr, "memberlist-sim: %v\n", err)
		return 2
	}
	out, err := openOut(p.out)
	if err != nil {
		fmt.Fprintf(stderr, "memberlist-sim: %v\n", err)
		return 2
	}
	defer out.abandon()
	if err := out.write("scaling.svg", svg); err != nil {
		fmt.Fprintf(stderr, "memberlist-sim: %v\n", err)
		return 1
	}
	if err := out.commit(); err != nil {
		fmt.Fprintf(stderr, "memberlist-sim: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(p.out, "scaling.svg"))
	return 0
}

// tuneGC trades memory for speed: a simulation allocates fast and keeps a
// large live heap, and at Go's default GOGC=100 the collector takes a
// quarter of the CPU. Unless GOGC or GOMEMLIMIT say otherwise, the heap
// may grow to five times the live data (GOGC=400) but no further than
// 60% of the machine's memory, where the collector works harder instead.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if total := memTotal(); total > 0 {
			debug.SetMemoryLimit(total / 10 * 6)
		}
	}
}

// memTotal is the machine's memory in bytes, from /proc/meminfo, or 0.
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

var profiles = []string{"lan", "wan", "local"}

func parse(args []string) (params, error) {
	fs := flag.NewFlagSet("memberlist-sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var p params
	var sets []string
	var seed int64
	declare(fs, &p, &sets, &seed)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return p, err
		}
		return p, badInput("%v (flags: %s; -h for help)", err, flagNames(fs))
	}
	if fs.NArg() > 0 {
		return p, badInput("unexpected argument %q: every input is a flag (flags: %s)", fs.Arg(0), flagNames(fs))
	}
	p.seed = uint64(seed)
	if !slices.Contains(scenarioNames(), p.scenario) {
		return p, badInput("unknown scenario %q: want one of %s", p.scenario, strings.Join(scenarioNames(), ", "))
	}
	if !slices.Contains(profiles, p.profile) {
		return p, badInput("unknown profile %q: want one of %s", p.profile, strings.Join(profiles, ", "))
	}
	if !slices.Contains(starts, p.start) {
		return p, badInput("unknown -start %q: want one of %s", p.start, strings.Join(starts, ", "))
	}
	if p.start == "converged" && p.scenario == "formation" {
		return p, badInput("-start converged skips the formation that the formation scenario studies: use -start joins with it")
	}
	if p.workers < 0 || p.workers > 256 {
		return p, badInput("-workers %d: want 0 to 256", p.workers)
	}
	if p.workers > 0 && p.latency <= 0 {
		return p, badInput("-workers %d needs a -latency above 0 (or -workers 0)", p.workers)
	}
	if p.n < 2 || p.n > 1<<20 {
		return p, badInput("-n %d: want 2 to %d nodes", p.n, 1<<20)
	}
	if p.duration <= 0 {
		return p, badInput("-duration %v: want a positive duration such as 2m", p.duration)
	}
	lossSet := false
	fs.Visit(func(f *flag.Flag) { lossSet = lossSet || f.Name == "loss" })
	if !lossSet && p.scenario == "loss" {
		p.loss = 0.1
	}
	if !(p.loss >= 0 && p.loss <= 1) {
		return p, badInput("-loss %v: want a probability from 0 to 1", p.loss)
	}
	if p.latency < 0 || p.jitter < 0 {
		return p, badInput("-latency and -jitter must not be negative")
	}
	if p.faulty < 0 || p.faulty >= p.n {
		return p, badInput("-faulty %d: want 1 to %d (fewer than -n)", p.faulty, p.n-1)
	}
	if p.heal < 0 {
		return p, badInput("-heal %v must not be negative", p.heal)
	}
	for _, s := range sets {
		st, err := parseSetting(s)
		if err != nil {
			return p, err
		}
		p.sets = append(p.sets, st)
	}
	// A node with this configuration must start.
	probe := memberlist.NewSimulation(memberlist.SimConfig{Config: func(string) *memberlist.Config { return p.config() }})
	if err := probe.AddNode("check"); err != nil {
		return p, badInput("the configuration is not valid: %v (check -profile and -set)", err)
	}
	return p, nil
}

func flagNames(fs *flag.FlagSet) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, "-"+f.Name) })
	return strings.Join(names, " ")
}

// settable lists the Config fields -set may change: numbers, durations and
// booleans, except the addresses the simulation assigns.
func settable() map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	t := reflect.TypeFor[memberlist.Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Name == "BindPort" || f.Name == "AdvertisePort" {
			continue
		}
		switch f.Type.Kind() {
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
			out[f.Name] = f
		}
	}
	return out
}

func settableNames() string {
	var names []string
	for n := range settable() {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

var durationType = reflect.TypeFor[time.Duration]()

func parseSetting(s string) (setting, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return setting{}, badInput("-set %q: want Field=value, with Field one of %s", s, settableNames())
	}
	f, ok := settable()[name]
	if !ok {
		return setting{}, badInput("-set: unknown or unsettable Config field %q: want one of %s", name, settableNames())
	}
	v := reflect.New(f.Type).Elem()
	bad := func(want string) error {
		return badInput("-set %s=%s: bad value: want %s", name, val, want)
	}
	switch {
	case f.Type == durationType:
		d, err := time.ParseDuration(val)
		if err != nil {
			return setting{}, bad("a duration such as 200ms or 1m")
		}
		v.SetInt(int64(d))
	case f.Type.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return setting{}, bad("true or false")
		}
		v.SetBool(b)
	case v.CanInt():
		i, err := strconv.ParseInt(val, 10, f.Type.Bits())
		if err != nil {
			return setting{}, bad(fmt.Sprintf("an integer of %d bits", f.Type.Bits()))
		}
		v.SetInt(i)
	case v.CanUint():
		u, err := strconv.ParseUint(val, 10, f.Type.Bits())
		if err != nil {
			return setting{}, bad(fmt.Sprintf("a non-negative integer of %d bits", f.Type.Bits()))
		}
		v.SetUint(u)
	default:
		x, err := strconv.ParseFloat(val, f.Type.Bits())
		if err != nil {
			return setting{}, bad("a number")
		}
		v.SetFloat(x)
	}
	return setting{field: name, value: v}, nil
}

// config builds one node's configuration: the profile, compression off
// (it costs CPU and changes no protocol behaviour; -set
// EnableCompression=true turns it on), logs discarded, Lifeguard as asked,
// then every -set in order.
func (p params) config() *memberlist.Config {
	var c *memberlist.Config
	switch p.profile {
	case "wan":
		c = memberlist.DefaultWANConfig()
	case "local":
		c = memberlist.DefaultLocalConfig()
	default:
		c = memberlist.DefaultLANConfig()
	}
	c.EnableCompression = false
	c.LogOutput = io.Discard
	if !p.lifeguard {
		c.AwarenessMaxMultiplier = 1
		c.SuspicionMaxTimeoutMult = 1
	}
	rv := reflect.ValueOf(c).Elem()
	for _, s := range p.sets {
		rv.FieldByName(s.field).Set(s.value)
	}
	return c
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: memberlist-sim [flags]")
	fmt.Fprintln(w, "\nRuns a simulated memberlist cluster in virtual time and reports its figures.")
	fmt.Fprintln(w, "\nScenarios:")
	for _, s := range scenarios {
		fmt.Fprintf(w, "  %-10s %s\n", s.name, s.doc)
	}
	fmt.Fprintln(w, "\nFlags:")
	fs := flag.NewFlagSet("memberlist-sim", flag.ContinueOnError)
	var p params
	var sets []string
	var seed int64
	declare(fs, &p, &sets, &seed)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\n-set fields: %s\n", settableNames())
}

// declare defines the flags on fs.
func declare(fs *flag.FlagSet, p *params, sets *[]string, seed *int64) {
	fs.IntVar(&p.n, "n", 100, "number of nodes")
	fs.StringVar(&p.scenario, "scenario", "crash", "scenario: "+strings.Join(scenarioNames(), ", "))
	fs.Int64Var(seed, "seed", 1, "seed of every random choice; the same flags give the same run")
	fs.DurationVar(&p.duration, "duration", 2*time.Minute, "virtual time of the scenario after formation (formation: of the whole run)")
	fs.Float64Var(&p.loss, "loss", 0, "probability that a datagram is lost, 0 to 1 (0.1 in the loss scenario unless set)")
	fs.DurationVar(&p.latency, "latency", time.Millisecond, "one-way latency")
	fs.DurationVar(&p.jitter, "jitter", time.Millisecond, "most random delay added to the latency")
	fs.StringVar(&p.profile, "profile", "lan", "configuration preset: "+strings.Join(profiles, ", "))
	fs.Var(setFlags{sets}, "set", "Field=value: set a numeric, duration or bool Config field (repeatable)")
	fs.BoolVar(&p.lifeguard, "lifeguard", true, "Lifeguard on; false sets AwarenessMaxMultiplier=1 and SuspicionMaxTimeoutMult=1 (the paper's baseline)")
	fs.IntVar(&p.faulty, "faulty", 0, "number of nodes the fault hits (default per scenario)")
	fs.DurationVar(&p.heal, "heal", 0, "partition: when the halves heal, after the split (default half of -duration)")
	fs.StringVar(&p.out, "out", "", "folder for the CSV files and SVG plots (none: summary only)")
	fs.BoolVar(&p.quiet, "quiet", false, "no progress line on stderr")
	fs.StringVar(&p.cpuProf, "cpuprofile", "", "write a CPU profile of the run to this file")
	fs.StringVar(&p.memProf, "memprofile", "", "write a heap profile (what is live at the end of the run, while the simulation is) to this file")
	fs.BoolVar(&p.tcpLoss, "lossy-streams", true, "streams suffer the datagrams' loss, with TCP's retransmission timeouts (SimConfig.LossyStreams)")
	fs.StringVar(&p.scaling, "scaling", "", "comma-separated -out folders of earlier runs: draw scaling.svg into -out (each event's spread against the cluster size, next to Serf's model) and run nothing")
	fs.StringVar(&p.start, "start", "joins", "how the cluster forms before the fault: joins (every node joins through 3 seeds, 10 ms apart, until all see all) or converged (every node starts knowing every other, nothing left to gossip: Simulation.Converge)")
	fs.IntVar(&p.workers, "workers", 0, "goroutines that run the nodes in windows of one latency (SimConfig.Workers); any number from 1 gives the same run, 0 the strictly sequential one, which differs (on 2 cores, parallel runs gain only past a few thousand nodes)")
}
