// This file owns what a run reports: the summary (a deterministic list of
// figures, printed as a table and written as summary.csv), the CSV files,
// the output folder written all at once, and the progress line.

package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/swimgo/memberlist"
)

// figure is one line of the summary.
type figure struct {
	name, value, doc string
}

func secs(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

func num(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) }

// summarize computes the run's figures. Nothing in it depends on the wall
// clock or the machine.
func summarize(r *result) []figure {
	p, m := r.p, r.m
	var f []figure
	add := func(name, value, doc string) { f = append(f, figure{name, value, doc}) }
	sets := []string{}
	for _, s := range p.sets {
		sets = append(sets, fmt.Sprintf("%s=%v", s.field, s.value.Interface()))
	}
	add("scenario", p.scenario, "")
	add("nodes", strconv.Itoa(p.n), "")
	if p.start != "joins" {
		add("start", p.start, "every node started knowing every other (Simulation.Converge)")
	}
	add("seed", strconv.FormatUint(p.seed, 10), "")
	add("profile", p.profile, "")
	add("lifeguard", strconv.FormatBool(p.lifeguard), "")
	add("set", strings.Join(sets, " "), "-set overrides")
	add("loss", num(p.loss), "datagram loss probability")
	add("latency_s", secs(p.latency), "")
	add("jitter_s", secs(p.jitter), "")
	if len(r.faulty) > 0 {
		add("faulty_nodes", strconv.Itoa(len(r.faulty)), "nodes the fault hits")
	}
	if p.scenario != "formation" {
		add("formed_s", secs(r.formed), "virtual time until every node saw every other")
		add("fault_at_s", secs(r.faultAt), "virtual time the fault phase began")
	}
	add("end_s", secs(r.end), "virtual time at the end")
	if r.stopped {
		add("stopped_early", "yes", "interrupted at end_s, before the end -duration asks for: figures so far")
	}

	// Events, by kind.
	byKind := map[string][]*event{}
	for _, e := range m.events {
		byKind[e.kind] = append(byKind[e.kind], e)
	}
	for _, kind := range []string{"join", "leave", "death"} {
		evs := byKind[kind]
		if len(evs) == 0 {
			continue
		}
		for i, label := range []string{"t50", "t99", "t100"} {
			var ds []time.Duration
			never := 0
			for _, e := range evs {
				if e.thr[i] < 0 {
					never++
					continue
				}
				ds = append(ds, e.thr[i])
			}
			ds = sortedCopy(ds)
			what := fmt.Sprintf("time until a %s is known by %s of the live nodes", kind, []string{"50%", "99%", "100%"}[i])
			if len(evs) == 1 {
				add(kind+"_"+label+"_s", secs(quantile(ds, 1)), what)
				continue
			}
			add(kind+"_"+label+"_median_s", secs(quantile(ds, 0.5)), what+", median over events")
			add(kind+"_"+label+"_max_s", secs(quantile(ds, 1)), what+", worst event")
			if never > 0 {
				add(kind+"_"+label+"_never", strconv.Itoa(never), "events never known that widely")
			}
		}
		if kind == "leave" {
			other := 0
			for _, e := range evs {
				other += e.other
			}
			add("leave_seen_dead", strconv.Itoa(other), "observers that marked a leaver dead before they heard it left")
		}
		if kind == "death" {
			var all []time.Duration
			missed := 0
			first := time.Duration(-1)
			for _, e := range evs {
				all = append(all, e.times...)
				missed += e.target - e.count
				if e.suspect >= 0 && (first < 0 || e.suspect < first) {
					first = e.suspect
				}
			}
			all = sortedCopy(all)
			add("first_suspicion_s", secs(first), "after the crash")
			add("detect_min_s", secs(quantile(all, 0)), "crash detection latency over observers")
			add("detect_median_s", secs(quantile(all, 0.5)), "")
			add("detect_p99_s", secs(quantile(all, 0.99)), "")
			add("detect_max_s", secs(quantile(all, 1)), "")
			add("detect_missed", strconv.Itoa(missed), "live observers that never marked a crashed node dead")
		}
	}
	for _, w := range r.watches {
		add(strings.ReplaceAll(w.name, "-", "_")+"_s", secs(w.at), "time until "+w.name+", since it was armed")
	}
	for _, n := range r.notes {
		k, v, _ := strings.Cut(n, "=")
		add(k, v, "")
	}

	add("false_positive_members", strconv.Itoa(m.fpNum), "running, unharmed nodes declared dead by an unharmed node")
	add("false_positive_declarations", strconv.Itoa(m.fpDecl), "declarations of death about running, unharmed nodes, by unharmed nodes")
	if (len(r.faulty) > 0 && p.scenario != "crash" && p.scenario != "leave") || m.side != nil {
		add("harmed_members_declared_dead", strconv.Itoa(m.harmedNum), "running nodes the fault hits (or across the partition), declared dead by anyone")
		add("harmed_declarations", strconv.Itoa(m.harmedDecl), "")
		add("declarations_by_harmed_nodes", strconv.Itoa(m.byHarmedDecl), "deaths of running nodes declared in the views of nodes the fault hits")
	}
	add("suspicions", strconv.Itoa(m.suspicions), "suspicions raised (observer, member)")
	add("suspicions_refuted", strconv.Itoa(m.refuted), "suspicions that ended alive")
	add("rejoined_after_dead", strconv.Itoa(m.flaps), "members back in a view after being dead there, fault phase")
	if p.scenario != "formation" {
		add("distinct_view_sizes", strconv.Itoa(m.numSizes), "distinct member counts nodes running since the fault phase began had in it (view churn)")
	}
	lo, mean, hi := m.seenStats()
	add("members_seen_min", strconv.Itoa(lo), "at the end, over live nodes")
	add("members_seen_mean", num(mean), "")
	add("members_seen_max", strconv.Itoa(hi), "")
	add("views_missing_live_member", strconv.Itoa(m.missing()), "(observer, member) pairs, both running, where the observer does not count the member, at the end")

	// Traffic in the fault phase (formation: the whole run), per node that
	// ran and per second.
	span := (r.end - r.faultAt).Seconds()
	if p.scenario == "formation" {
		span = r.end.Seconds()
	}
	var pk, by, pp, sb, rr uint64
	for i := range r.stats {
		a, b := r.stats[i], r.atFault[i]
		if p.scenario == "formation" {
			b = memberlist.SimNodeStats{}
		}
		pk += a.PacketsSent - b.PacketsSent
		by += a.BytesSent - b.BytesSent
		pp += a.PushPulls - b.PushPulls
		sb += a.StreamBytes - b.StreamBytes
		rr += a.RefutationsRelayed - b.RefutationsRelayed
	}
	nodes := float64(len(r.stats))
	if span > 0 {
		add("packets_per_node_s", num(float64(pk)/nodes/span), "datagrams sent")
		add("bytes_per_node_s", num(float64(by)/nodes/span), "datagram bytes sent")
		add("push_pulls_per_node_min", num(float64(pp)/nodes/span*60), "push/pull exchanges started (joins included)")
		add("stream_bytes_per_node_s", num(float64(sb)/nodes/span), "")
		if rr > 0 {
			add("refutations_relayed_per_node_s", num(float64(rr)/nodes/span), "datagrams of packets_per_node_s that relayed a refutation (RelayRefutations)")
		}
	}
	return f
}

func printSummary(w io.Writer, r *result, f []figure, wall time.Duration, heap uint64) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, x := range f {
		if x.doc != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", x.name, x.value, x.doc)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t\n", x.name, x.value)
		}
	}
	fmt.Fprintf(tw, "wall_s\t%.1f\twall time of the run (not written to -out)\n", wall.Seconds())
	fmt.Fprintf(tw, "wall_per_virtual_s\t%.3f\t\n", wall.Seconds()/max(r.end.Seconds(), 1e-9))
	fmt.Fprintf(tw, "heap_mb\t%.1f\theap in use after the run\n", float64(heap)/(1<<20))
	fmt.Fprintf(tw, "heap_per_node_kb\t%.1f\t\n", float64(heap)/1024/float64(len(r.names)))
	tw.Flush()
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// outDir writes files into a hidden folder inside the target and moves
// them into place only when every one is written.
type outDir struct {
	dir, tmp string
	names    []string
}

func openOut(dir string) (*outDir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, badInput("-out %s: cannot create the folder: %v", dir, err)
	}
	tmp, err := os.MkdirTemp(dir, ".memberlist-sim-")
	if err != nil {
		return nil, badInput("-out %s: cannot write there: %v", dir, err)
	}
	return &outDir{dir: dir, tmp: tmp}, nil
}

func (o *outDir) write(name string, data []byte) error {
	o.names = append(o.names, name)
	return os.WriteFile(filepath.Join(o.tmp, name), data, 0o644)
}

func (o *outDir) commit() error {
	for _, n := range o.names {
		if err := os.Rename(filepath.Join(o.tmp, n), filepath.Join(o.dir, n)); err != nil {
			return err
		}
	}
	return os.Remove(o.tmp)
}

// abandon removes what is left of the temporary folder.
func (o *outDir) abandon() { _ = os.RemoveAll(o.tmp) }

func csvBytes(rows [][]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.WriteAll(rows)
	return b.Bytes()
}

func writeFiles(o *outDir, r *result, f []figure) error {
	rows := [][]string{{"metric", "value", "meaning"}}
	for _, x := range f {
		rows = append(rows, []string{x.name, x.value, x.doc})
	}
	files := map[string][]byte{"summary.csv": csvBytes(rows)}

	rows = [][]string{{"t_s", "live", "members_seen_min", "members_seen_mean", "members_seen_max", "known_fraction",
		"suspicions", "false_positive_declarations", "packets_per_node_s", "bytes_per_node_s", "push_pulls_total", "distinct_view_sizes"}}
	var prev sample
	for _, s := range r.series {
		dt := (s.at - prev.at).Seconds()
		live := float64(max(s.live, 1))
		rows = append(rows, []string{secs(s.at), strconv.Itoa(s.live), strconv.Itoa(s.seenMin), num(s.seenMean), strconv.Itoa(s.seenMax),
			num(s.known), strconv.Itoa(s.suspicions), strconv.Itoa(s.fp),
			num(float64(s.packets-prev.packets) / live / dt), num(float64(s.bytes-prev.bytes) / live / dt),
			strconv.FormatUint(s.pushPulls, 10), strconv.Itoa(s.distinctViewSizes)})
		prev = s
	}
	files["timeseries.csv"] = csvBytes(rows)

	rows = [][]string{{"node", "running", "faulty", "members_seen", "packets_sent", "bytes_sent", "packets_lost", "oversize",
		"exchanges", "push_pulls", "stream_bytes"}}
	for i, name := range r.names {
		st := r.stats[i]
		rows = append(rows, []string{name, strconv.FormatBool(r.m.up.has(i)), strconv.FormatBool(r.m.faulty.has(i)), strconv.Itoa(r.m.members[i]),
			u64(st.PacketsSent), u64(st.BytesSent), u64(st.PacketsLost), u64(st.Oversize), u64(st.Exchanges), u64(st.PushPulls), u64(st.StreamBytes)})
	}
	files["nodes.csv"] = csvBytes(rows)

	rows = [][]string{{"kind", "member", "at_s", "eligible", "known", "t50_s", "t99_s", "t100_s", "first_suspicion_s"}}
	for _, e := range r.m.events {
		sus := ""
		if e.kind == "death" {
			sus = secs(e.suspect)
		}
		rows = append(rows, []string{e.kind, r.names[e.member], secs(e.at), strconv.Itoa(e.target), strconv.Itoa(e.count),
			secs(e.thr[0]), secs(e.thr[1]), secs(e.thr[2]), sus})
	}
	files["events.csv"] = csvBytes(rows)

	rows = [][]string{{"kind", "member", "rank", "t_s", "fraction"}}
	for _, e := range r.m.events {
		for k, d := range e.times {
			rows = append(rows, []string{e.kind, r.names[e.member], strconv.Itoa(k + 1), secs(d), num(float64(k+1) / float64(e.target))})
		}
	}
	files["infection.csv"] = csvBytes(rows)

	plots, err := drawPlots(r)
	if err != nil {
		return err
	}
	for k, v := range plots {
		files[k] = v
	}
	names := make([]string, 0, len(files))
	for k := range files {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := o.write(k, files[k]); err != nil {
			return fmt.Errorf("write %s: %w", k, err)
		}
	}
	return nil
}

func u64(x uint64) string { return strconv.FormatUint(x, 10) }

// progress prints a line to stderr every few seconds of wall time.
type progress struct {
	w      io.Writer
	start  time.Time
	last   time.Time
	name   string
	target time.Duration
	wrote  bool
	// The ETA extrapolates from the current phase only: a converged start
	// spends minutes before virtual time moves at all.
	phaseWall time.Time
	phaseAt   time.Duration // virtual time when the phase began
}

func newProgress(w io.Writer) *progress {
	now := time.Now()
	return &progress{w: w, start: now, last: now}
}

// phase starts a phase at virtual time from, to end at target.
func (p *progress) phase(name string, from, target time.Duration) {
	p.name, p.target = name, target
	p.phaseWall, p.phaseAt = time.Now(), from
}

// say prints msg as the progress line at once, for a step that makes no
// progress in virtual time.
func (p *progress) say(msg string) {
	fmt.Fprintf(p.w, "\r%s   ", msg)
	p.wrote = true
}

func (p *progress) update(at time.Duration) {
	now := time.Now()
	if now.Sub(p.last) < 2*time.Second {
		return
	}
	p.last = now
	wall := now.Sub(p.start)
	if p.phaseWall.IsZero() {
		p.phaseWall = p.start
	}
	eta := "?"
	if done := at - p.phaseAt; done > 0 && p.target > at {
		eta = (time.Duration(float64(now.Sub(p.phaseWall)) * float64(p.target-at) / float64(done))).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r%s: virtual %s of %s, wall %s, ETA %s   ", p.name, at.Round(time.Second), p.target.Round(time.Second), wall.Round(time.Second), eta)
	p.wrote = true
}

func (p *progress) done() {
	if p.wrote {
		fmt.Fprintln(p.w)
	}
}
