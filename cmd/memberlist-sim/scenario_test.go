package main

import (
	"io"
	"os"
	"strconv"
	"testing"
	"time"
)

// small runs a scenario on a small cluster and returns its figures by name.
func small(t *testing.T, scenario string, n int, d time.Duration, edit func(*params)) map[string]string {
	t.Helper()
	p, err := parse([]string{"-n", strconv.Itoa(n), "-scenario", scenario, "-duration", d.String(), "-seed", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&p)
	}
	res, err := simulate(p, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	figs := map[string]string{}
	for _, f := range summarize(res) {
		figs[f.name] = f.value
	}
	return figs
}

func num_(t *testing.T, figs map[string]string, name string) float64 {
	t.Helper()
	v, ok := figs[name]
	if !ok {
		t.Fatalf("no figure %s in %v", name, figs)
	}
	if v == "never" {
		return -1
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("figure %s=%q: %v", name, v, err)
	}
	return x
}

func TestScenarioFormation(t *testing.T) {
	f := small(t, "formation", 30, 20*time.Second, nil)
	if num_(t, f, "formed_s") < 0 {
		t.Fatal("the cluster never formed")
	}
	if num_(t, f, "join_t100_max_s") < 0 {
		t.Fatal("some join was never known by every node")
	}
	if got := num_(t, f, "members_seen_min"); got != 30 {
		t.Fatalf("a node sees %v members at the end, want 30", got)
	}
}

func TestScenarioCrash(t *testing.T) {
	f := small(t, "crash", 30, time.Minute, func(p *params) { p.loss = 0.05 })
	if num_(t, f, "detect_missed") != 0 || num_(t, f, "all_detected_s") < 0 {
		t.Fatalf("the crash was not detected by every node: %v", f)
	}
	// At 30 nodes the suspicion timeout is 4 x log10(30) x 1 s, about 5.9 s;
	// nobody may declare the death sooner after the crash.
	if d := num_(t, f, "detect_min_s"); d < 5.9 {
		t.Fatalf("a node declared the crashed node dead %v s after the crash, before the shortest suspicion timeout", d)
	}
	if num_(t, f, "false_positive_members") != 0 {
		t.Fatalf("a healthy node was declared dead: %v", f)
	}
}

func TestScenarioLeave(t *testing.T) {
	f := small(t, "leave", 30, 30*time.Second, nil)
	if num_(t, f, "leave_t100_s") < 0 || num_(t, f, "join_t100_s") < 0 {
		t.Fatalf("the leave or the join did not reach everyone: %v", f)
	}
	if num_(t, f, "members_seen_min") != 30 || num_(t, f, "members_seen_max") != 30 {
		t.Fatalf("views at the end: %v", f)
	}
}

func TestScenarioPartition(t *testing.T) {
	// Healed soon after the split, within GossipToTheDeadTime: the halves
	// hear each other refute and merge again.
	f := small(t, "partition", 20, 90*time.Second, func(p *params) { p.heal = 30 * time.Second })
	if num_(t, f, "split_s") < 0 {
		t.Fatalf("the halves never each saw only themselves: %v", f)
	}
	if num_(t, f, "harmed_members_declared_dead") != 20 {
		t.Fatalf("every node should be declared dead across the cut: %v", f)
	}
	if num_(t, f, "false_positive_members") != 0 {
		t.Fatalf("a node was declared dead by its own side: %v", f)
	}
	t.Logf("merged after heal: %s s", f["merged_after_heal_s"])
}

func TestScenarioLoss(t *testing.T) {
	f := small(t, "loss", 20, time.Minute, nil)
	if f["loss"] != "0.100" {
		t.Fatalf("the loss scenario defaults to 10%% loss, got %s", f["loss"])
	}
	if num_(t, f, "views_missing_live_member") != 0 {
		t.Fatalf("views are incomplete at the end: %v", f)
	}
}

func TestScenarioSlow(t *testing.T) {
	f := small(t, "slow", 20, time.Minute, nil)
	if num_(t, f, "harmed_members_declared_dead") != 0 {
		t.Fatalf("a node stalled for 5 s was declared dead: %v", f)
	}
	if num_(t, f, "suspicions") == 0 || num_(t, f, "suspicions_refuted") == 0 {
		t.Fatalf("a stalled node should be suspected and refute: %v", f)
	}
}

func TestScenarioRestart(t *testing.T) {
	f := small(t, "restart", 20, 90*time.Second, nil)
	if num_(t, f, "converged_after_last_restart_s") < 0 {
		t.Fatalf("the cluster did not converge after every node restarted: %v", f)
	}
	if num_(t, f, "views_missing_live_member") != 0 {
		t.Fatalf("live nodes missing from views at the end: %v", f)
	}
}

func TestScenarioFlaky(t *testing.T) {
	f := small(t, "flaky", 20, time.Minute, nil)
	if num_(t, f, "suspicions") == 0 {
		t.Fatalf("a node losing 80%% of its packets was never suspected: %v", f)
	}
}

func TestScenarioOneway(t *testing.T) {
	f := small(t, "oneway", 30, 90*time.Second, func(p *params) { p.faulty = 3 })
	if num_(t, f, "harmed_members_declared_dead") == 0 {
		t.Fatalf("nodes that hear nothing for 20 s should be declared dead: %v", f)
	}
	if num_(t, f, "rejoined_after_dead") == 0 {
		t.Fatalf("deaf nodes should come back once they hear again: %v", f)
	}
}

// A converged start skips the formation: the fault comes one probe interval
// after the start, and the crash is detected as after joins.
func TestScenarioCrashConverged(t *testing.T) {
	f := small(t, "crash", 30, time.Minute, func(p *params) { p.start = "converged" })
	if got := num_(t, f, "formed_s"); got != 0 {
		t.Fatalf("formed_s %v, want 0", got)
	}
	if got := num_(t, f, "fault_at_s"); got != 1 {
		t.Fatalf("fault_at_s %v, want 1 (one probe interval)", got)
	}
	if num_(t, f, "detect_missed") != 0 || num_(t, f, "detect_min_s") < 5.9 || num_(t, f, "false_positive_members") != 0 {
		t.Fatalf("crash after a converged start: %v", f)
	}
}

// An interrupt stops the scenario at the next whole virtual second and the
// run still reports, saying that it stopped early.
func TestInterruptReportsSoFar(t *testing.T) {
	stop := make(chan os.Signal, 1)
	stop <- os.Interrupt
	f := small(t, "crash", 20, time.Minute, func(p *params) { p.stop = stop })
	if got := f["stopped_early"]; got != "yes" {
		t.Fatalf("stopped_early = %q, want yes", got)
	}
	if end, at := num_(t, f, "end_s"), num_(t, f, "fault_at_s"); end != at {
		t.Fatalf("an interrupt before the fault phase ended the run at %v s, want the fault's %v s", end, at)
	}
	if _, ok := small(t, "crash", 20, 5*time.Second, nil)["stopped_early"]; ok {
		t.Fatal("a run that was not interrupted says it stopped early")
	}
}
