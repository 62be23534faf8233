package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string // in the one error line
	}{
		{[]string{"-scenario", "nope"}, []string{`unknown scenario "nope"`, "formation, crash, leave, partition, loss, slow, restart, flaky, oneway"}},
		{[]string{"-bogus"}, []string{"-bogus", "-scenario"}},
		{[]string{"-n", "x"}, []string{"-n", "invalid value"}},
		{[]string{"-n", "1"}, []string{"-n 1", "2 to"}},
		{[]string{"-loss", "1.5"}, []string{"-loss 1.5", "0 to 1"}},
		{[]string{"-profile", "moon"}, []string{`unknown profile "moon"`, "lan, wan, local"}},
		{[]string{"-set", "Nope=1"}, []string{`"Nope"`, "ProbeInterval", "SuspicionMult"}},
		{[]string{"-set", "Name=x"}, []string{`"Name"`}},
		{[]string{"-set", "ProbeInterval=fast"}, []string{"ProbeInterval=fast", "duration"}},
		{[]string{"-set", "SuspicionMult=-x"}, []string{"SuspicionMult", "integer"}},
		{[]string{"-set", "ProbeInterval"}, []string{"Field=value"}},
		{[]string{"-set", "ProbeInterval=0s"}, []string{"not valid", "ProbeInterval"}},
		{[]string{"-faulty", "100"}, []string{"-faulty 100"}},
		{[]string{"-duration", "0s"}, []string{"-duration"}},
		{[]string{"extra"}, []string{`"extra"`}},
		{[]string{"-start", "warm"}, []string{`unknown -start "warm"`, "joins, converged"}},
		{[]string{"-scenario", "formation", "-start", "converged"}, []string{"-start converged", "-start joins"}},
		{[]string{"-n", "3", "-out", filepath.Join(file, "sub")}, []string{"-out", "sub"}},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append(tc.args, "-quiet"), &stdout, &stderr)
		if code != 2 {
			t.Errorf("%v: exit code %d, want 2 (stderr %q)", tc.args, code, stderr.String())
			continue
		}
		msg := stderr.String()
		if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "memberlist-sim: ") {
			t.Errorf("%v: want one error line, got %q", tc.args, msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%v: error %q does not mention %q", tc.args, msg, w)
			}
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: printed %q on bad input", tc.args, stdout.String())
		}
	}
}

func TestSetAndLifeguard(t *testing.T) {
	p, err := parse([]string{"-set", "SuspicionMult=6", "-set", "ProbeInterval=2s", "-set", "DisableTcpPings=true", "-lifeguard=false", "-profile", "wan"})
	if err != nil {
		t.Fatal(err)
	}
	c := p.config()
	if c.SuspicionMult != 6 || c.ProbeInterval.String() != "2s" || !c.DisableTcpPings {
		t.Fatalf("-set not applied: %+v", c)
	}
	if c.AwarenessMaxMultiplier != 1 || c.SuspicionMaxTimeoutMult != 1 {
		t.Fatal("-lifeguard=false must set both multipliers to 1")
	}
	if c.GossipNodes != 4 { // the WAN preset's
		t.Fatalf("-profile wan not applied: GossipNodes=%d", c.GossipNodes)
	}
}

// readDir returns every file of dir, by name.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func TestRunWritesSameFiles(t *testing.T) {
	base := t.TempDir()
	args := func(out, seed string) []string {
		return []string{"-n", "12", "-scenario", "crash", "-duration", "30s", "-loss", "0.05", "-seed", seed, "-out", out, "-quiet"}
	}
	runOK := func(a []string) string {
		var stdout, stderr bytes.Buffer
		if code := run(a, &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", a, code, stderr.String())
		}
		return stdout.String()
	}
	out1, out2, out3 := filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c")
	summary := runOK(args(out1, "1"))
	for _, w := range []string{"detect_median_s", "false_positive_members", "packets_per_node_s", "wall_s", "heap_per_node_kb"} {
		if !strings.Contains(summary, w) {
			t.Errorf("summary lacks %s:\n%s", w, summary)
		}
	}
	runOK(args(out2, "1"))
	runOK(args(out3, "2"))
	a, b, c := readDir(t, out1), readDir(t, out2), readDir(t, out3)
	var names []string
	for k := range a {
		names = append(names, k)
	}
	slices.Sort(names)
	want := []string{"detection.svg", "events.csv", "infection.csv", "infection.svg", "members.svg", "nodes.csv", "summary.csv", "timeseries.csv"}
	if !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	for _, k := range names {
		if !bytes.Equal(a[k], b[k]) {
			t.Errorf("%s differs between two runs with the same flags", k)
		}
	}
	if bytes.Equal(a["timeseries.csv"], c["timeseries.csv"]) {
		t.Error("another seed wrote the same time series")
	}
	if strings.Contains(string(a["summary.csv"]), "wall") {
		t.Error("wall time must not be written to -out")
	}
	// Running again into the same folder replaces the files and leaves no
	// temporary folder behind.
	runOK(args(out1, "1"))
	if got := readDir(t, out1); len(got) != len(want) {
		t.Errorf("after a second run the folder holds %d entries, want %d", len(got), len(want))
	}
}

// -scaling draws one plot from earlier runs' -out folders and simulates
// nothing; it names what is wrong with its input.
func TestScaling(t *testing.T) {
	var dirs []string
	for _, n := range []string{"20", "40"} {
		dir := filepath.Join(t.TempDir(), "leave-"+n)
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-n", n, "-scenario", "leave", "-start", "converged", "-duration", "10s", "-quiet", "-out", dir}, &stdout, &stderr); code != 0 {
			t.Fatalf("run of %s nodes: exit %d, %s", n, code, stderr.String())
		}
		dirs = append(dirs, dir)
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-scaling", strings.Join(dirs, ","), "-out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("-scaling: exit %d, %s", code, stderr.String())
	}
	svg, err := os.ReadFile(filepath.Join(out, "scaling.svg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"join known by 100%", "leave known by 50%", "Serf"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("scaling.svg does not show %q", want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-scaling", dirs[0]}, "-scaling needs -out"},
		{[]string{"-scaling", filepath.Join(out, "nope"), "-out", out}, "summary.csv"},
	} {
		stdout.Reset()
		stderr.Reset()
		if code := run(tc.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
