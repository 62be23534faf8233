// This file owns the transcript test runner: it reads the scenario files in
// testdata/transcripts, runs each command against a Simulation (see
// transcript_cmds_test.go) and compares what happened with the block written
// under the command. `go test -run TestTranscripts -rewrite` writes the
// blocks anew; review the diff before committing it.
//
// A file is a sequence of commands. Each is one line, `name arg key=value`,
// optionally followed by input lines, then a line `----`, then the expected
// output, then a blank line. Lines starting with # and blank lines between
// commands are comments and are kept as they are on rewrite. An output block
// never contains a blank line, so a blank line always ends it.

package memberlist

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var rewriteTranscripts = flag.Bool("rewrite", false, "rewrite the expected output of the transcript tests in testdata/transcripts")

const transcriptDir = "testdata/transcripts"

// TestTranscripts runs every scenario file in testdata/transcripts.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(transcriptDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no transcripts in %s", transcriptDir)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			runTranscript(t, path)
		})
	}
}

// tsCommand is one command of a transcript and the text around it.
type tsCommand struct {
	before []string // comment and blank lines before the command
	line   int      // 1-based line of the command in the file
	cmd    string
	input  []string
	want   []string
}

// tsFile is a parsed transcript: its commands, then what trails the last.
type tsFile struct {
	cmds  []*tsCommand
	after []string
}

func parseTranscript(path, text string) (*tsFile, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	f := &tsFile{}
	var pending []string
	for i := 0; i < len(lines); {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			pending = append(pending, l)
			i++
			continue
		}
		c := &tsCommand{before: pending, line: i + 1, cmd: l}
		pending = nil
		i++
		for ; i < len(lines) && lines[i] != "----"; i++ {
			if strings.TrimSpace(lines[i]) == "" {
				return nil, fmt.Errorf("%s:%d: command %q has no ---- line before the blank line", path, c.line, c.cmd)
			}
			c.input = append(c.input, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("%s:%d: command %q has no ---- line", path, c.line, c.cmd)
		}
		i++ // the ---- line
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			c.want = append(c.want, lines[i])
		}
		if i < len(lines) {
			i++ // the blank line that ends the block
		}
		f.cmds = append(f.cmds, c)
	}
	f.after = pending
	return f, nil
}

func (f *tsFile) String() string {
	var b strings.Builder
	for _, c := range f.cmds {
		for _, l := range c.before {
			b.WriteString(l + "\n")
		}
		b.WriteString(c.cmd + "\n")
		for _, l := range c.input {
			b.WriteString(l + "\n")
		}
		b.WriteString("----\n")
		for _, l := range c.want {
			b.WriteString(l + "\n")
		}
		b.WriteString("\n")
	}
	for _, l := range f.after {
		b.WriteString(l + "\n")
	}
	// One blank line closes the last block; more would grow on every rewrite.
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func runTranscript(t *testing.T, path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseTranscript(path, string(raw))
	if err != nil {
		t.Fatal(err)
	}
	env := newTsEnv()
	for _, c := range f.cmds {
		got, err := env.run(c.cmd, c.input)
		if err != nil {
			// A malformed command is a broken transcript, not an outcome.
			t.Fatalf("%s:%d: %s: %v", path, c.line, c.cmd, err)
		}
		if *rewriteTranscripts {
			c.want = got
			continue
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s:%d: output of %q differs (-want +got):\n%s", path, c.line, c.cmd, lineDiff(c.want, got))
		}
	}
	if *rewriteTranscripts {
		if out := f.String(); out != string(raw) {
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// lineDiff is a unified-style line diff of want and got (longest common
// subsequence; blocks are short).
func lineDiff(want, got []string) string {
	n, m := len(want), len(got)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if want[i] == got[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && want[i] == got[j]:
			b.WriteString("  " + want[i] + "\n")
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			b.WriteString("- " + want[i] + "\n")
			i++
		default:
			b.WriteString("+ " + got[j] + "\n")
			j++
		}
	}
	return b.String()
}

// TestTranscriptParseRoundTrip checks that parsing then printing a file
// gives it back unchanged, which is what keeps -rewrite from reformatting
// the comments and spacing people wrote.
func TestTranscriptParseRoundTrip(t *testing.T) {
	text := "# story\n\nnew-sim seed=2\n----\nok\n\n# next\nrun-for 1s\nin\n----\nt=0.500 a sees b alive\nx\n\n# tail\n"
	f, err := parseTranscript("x.txt", text)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.String(); got != text {
		t.Fatalf("round trip changed the file:\n%s", lineDiff(strings.Split(text, "\n"), strings.Split(got, "\n")))
	}
	if len(f.cmds) != 2 || f.cmds[1].line != 8 || len(f.cmds[1].input) != 1 || len(f.cmds[1].want) != 2 {
		t.Fatalf("parsed %+v", f.cmds)
	}
	if _, err := parseTranscript("x.txt", "run-for 1s\n\n"); err == nil {
		t.Fatal("a command without ---- parsed")
	}
}
