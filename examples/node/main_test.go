// This file runs the node example as real processes: three copies on
// loopback form a cluster, one is killed, and the survivors must report it.

package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testTimeout bounds the whole test, build included.
const testTimeout = 60 * time.Second

func TestThreeProcessesFormAClusterAndNoticeAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example and runs three processes on loopback")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH; cannot build the example")
	}
	start := time.Now()
	deadline := time.After(testTimeout)

	bin := filepath.Join(t.TempDir(), "node")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build of the example failed:\n%s", out)
	t.Logf("built the example in %v", time.Since(start).Round(time.Millisecond))

	names := []string{"n1", "n2", "n3"}
	ports := freePorts(t, len(names))
	seed := "127.0.0.1:" + strconv.Itoa(ports[0])

	procs := make([]*child, len(names))
	for i, name := range names {
		args := []string{"-local", "-members-every", "500ms", "-name", name, "-port", strconv.Itoa(ports[i])}
		if i > 0 {
			args = append(args, "-join", seed)
		}
		procs[i] = startChild(t, bin, name, args...)
		if i == 0 {
			// A node reports its own join once it listens; joiners
			// started earlier would find the seed's port closed.
			procs[0].await(t, deadline, "event=join name="+name+" addr=127.0.0.1")
		}
	}

	for _, p := range procs {
		for _, other := range names {
			if other != p.name {
				p.await(t, deadline, "event=join name="+other+" addr=127.0.0.1")
			}
		}
	}
	procs[0].await(t, deadline, "members: n1,n2,n3")
	t.Logf("cluster formed after %v", time.Since(start).Round(time.Millisecond))

	victim := procs[2]
	killed := time.Now()
	require.NoError(t, victim.cmd.Process.Kill(), "SIGKILL %s", victim.name)
	for _, p := range procs[:2] {
		p.await(t, deadline, "event=leave name="+victim.name+" addr=127.0.0.1")
		t.Logf("%s reported %s gone %v after the kill", p.name, victim.name, time.Since(killed).Round(time.Millisecond))
	}

	// A polite stop: SIGTERM makes the node Leave, so the last peer hears
	// about it directly, and the process exits cleanly.
	leaver, last := procs[1], procs[0]
	require.NoError(t, leaver.cmd.Process.Signal(syscall.SIGTERM), "SIGTERM %s", leaver.name)
	last.await(t, deadline, "event=leave name="+leaver.name+" addr=127.0.0.1")
	require.NoError(t, leaver.wait(t, deadline), "%s must exit 0 after SIGTERM", leaver.name)
}

// child is one running copy of the example with its stdout split into lines.
type child struct {
	name   string
	cmd    *exec.Cmd
	lines  chan string   // stdout lines, closed at EOF
	stderr *lockedBuffer // memberlist's log, shown when the test fails
	seen   []string      // lines consumed so far, for failure messages
	eof    chan struct{} // closed once stdout is fully read

	waitOnce sync.Once
	waitErr  error
}

func startChild(t *testing.T, bin, name string, args ...string) *child {
	t.Helper()
	c := &child{
		name:   name,
		cmd:    exec.Command(bin, args...),
		lines:  make(chan string, 256),
		stderr: &lockedBuffer{},
	}
	c.cmd.Stderr = c.stderr
	stdout, err := c.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, c.cmd.Start(), "start %s", name)

	done := make(chan struct{})
	c.eof = make(chan struct{})
	go func() {
		defer close(c.eof)
		defer close(c.lines)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			select {
			case c.lines <- s.Text():
			case <-done:
				// Nobody reads any more; keep draining so the child never
				// blocks on a full pipe.
			}
		}
	}()

	t.Cleanup(func() {
		close(done)
		_ = c.cmd.Process.Kill()
		_ = c.wait(t, time.After(5*time.Second))
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", name, strings.Join(c.seen, "\n"), name, c.stderr.String())
		}
	})
	return c
}

// wait reaps the child once its stdout is closed; Wait must not run while
// the reader still uses the pipe. Later calls return the first result.
func (c *child) wait(t *testing.T, deadline <-chan time.Time) error {
	t.Helper()
	select {
	case <-c.eof:
	case <-deadline:
		t.Fatalf("%s did not exit in time", c.name)
	}
	c.waitOnce.Do(func() { c.waitErr = c.cmd.Wait() })
	return c.waitErr
}

// await returns once the child has printed a line equal to want, whether
// earlier or from now on: events arrive in no fixed order. It fails the test
// if the child exits first or the overall deadline passes.
func (c *child) await(t *testing.T, deadline <-chan time.Time, want string) {
	t.Helper()
	if slices.Contains(c.seen, want) {
		return
	}
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("%s exited before printing %q", c.name, want)
			}
			// Repeats of the periodic member list add nothing to a
			// failure report.
			if n := len(c.seen); n > 0 && c.seen[n-1] == line {
				continue
			}
			c.seen = append(c.seen, line)
			if line == want {
				return
			}
		case <-deadline:
			t.Fatalf("%s did not print %q within %v", c.name, want, testTimeout)
		}
	}
}

// freePorts finds n distinct ports free for both TCP and UDP on 127.0.0.1,
// since a node listens on both. Another process could take one before the
// child binds it; on a test machine that race is rare enough to accept.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var holds []io.Closer
	defer func() {
		for _, h := range holds {
			_ = h.Close()
		}
	}()
	for attempts := 0; len(ports) < n; attempts++ {
		require.Less(t, attempts, 100, "no free TCP+UDP port pair on 127.0.0.1")
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		holds = append(holds, tl)
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		holds = append(holds, ul)
		ports = append(ports, port)
	}
	return ports
}

// lockedBuffer collects a child's stderr, written by exec's copying
// goroutine and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
