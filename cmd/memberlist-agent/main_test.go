// Tests for the agent: three real agent processes on loopback form a
// cluster, serve /members, /health, /metrics and the status page, and leave
// gracefully on SIGTERM; bad flags and unusable addresses exit 2.

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// processWait bounds every wait on a child process: they are real programs
// on real sockets, so the test polls, but never without a limit.
const processWait = 30 * time.Second

// The agent binary is built once per test run, on first use, into binDir;
// TestMain removes it.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildAgent returns the path of the agent binary, building it with go
// build the first time.
func buildAgent(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "memberlist-agent-test"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "memberlist-agent")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// agentProc is one running agent with its JSON log lines.
type agentProc struct {
	name string
	cmd  *exec.Cmd
	bind string // gossip address, from its "agent started" line
	http string // HTTP address, from the same line
	done chan struct{}
	err  error // Wait's result, valid once done is closed

	mu   sync.Mutex
	logs []string
}

func (a *agentProc) logText() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.logs, "\n")
}

// startAgent runs the agent with -bind and -http on free loopback ports and
// waits for its "agent started" line to learn them.
func startAgent(t *testing.T, bin, name string, extra ...string) *agentProc {
	t.Helper()
	args := append([]string{"-name", name, "-bind", "127.0.0.1:0", "-http", "127.0.0.1:0",
		"-profile", "local", "-log-format", "json", "-log-level", "debug"}, extra...)
	a := &agentProc{name: name, cmd: exec.Command(bin, args...)}
	runAgent(t, a, func(line string) bool {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "agent started" {
			return false
		}
		a.bind, _ = rec["bind"].(string)
		a.http, _ = rec["http"].(string)
		return true
	})
	return a
}

// runAgent starts a.cmd, keeps its stderr lines in a.logs and hands each to
// onLine, from one goroutine, until onLine reports the "agent started"
// line; it returns then. The process is killed when the test ends, and its
// logs are printed if the test failed.
func runAgent(t *testing.T, a *agentProc, onLine func(line string) (started bool)) {
	t.Helper()
	a.done = make(chan struct{})
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := false
		for sc.Scan() {
			line := sc.Text()
			a.mu.Lock()
			a.logs = append(a.logs, line)
			a.mu.Unlock()
			if onLine(line) && !once {
				once = true
				close(started)
			}
		}
		a.err = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			_ = a.cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			t.Logf("logs of agent %s:\n%s", a.name, a.logText())
		}
	})
	select {
	case <-started:
	case <-a.done:
		t.Fatalf("agent %s exited before starting: %v\n%s", a.name, a.err, a.logText())
	case <-time.After(processWait):
		t.Fatalf("agent %s did not start in %v\n%s", a.name, processWait, a.logText())
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (a *agentProc) stop(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.done:
	case <-time.After(processWait):
		t.Fatalf("agent %s did not exit within %v of SIGTERM", a.name, processWait)
	}
	if a.err != nil {
		t.Fatalf("agent %s exited with %v, want status 0", a.name, a.err)
	}
	if !strings.Contains(a.logText(), `"msg":"stopped"`) {
		t.Fatalf("agent %s did not log its graceful stop", a.name)
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, body
}

func members(t *testing.T, a *agentProc) []member {
	t.Helper()
	code, body := get(t, "http://"+a.http+"/members")
	if code != http.StatusOK {
		t.Fatalf("/members of %s: HTTP %d", a.name, code)
	}
	var ms []member
	if err := json.Unmarshal(body, &ms); err != nil {
		t.Fatalf("/members of %s: %v\n%s", a.name, err, body)
	}
	return ms
}

// statesOf renders /members as "a=alive b=left", sorted by name (the order
// /members promises).
func statesOf(ms []member) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.Name + "=" + m.State
	}
	return strings.Join(parts, " ")
}

// waitStates polls the agents' /members until each reads want.
func waitStates(t *testing.T, want string, agents ...*agentProc) {
	t.Helper()
	deadline := time.Now().Add(processWait)
	for _, a := range agents {
		for {
			got := statesOf(members(t, a))
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/members of %s reads %q, want %q", a.name, got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func TestAgentCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three agent processes")
	}
	bin := buildAgent(t)
	a := startAgent(t, bin, "a")
	b := startAgent(t, bin, "b", "-join", a.bind)
	// A DNS name works for -join, and a seed that is down is retried.
	c := startAgent(t, bin, "c", "-join", strings.Replace(b.bind, "127.0.0.1", "localhost", 1), "-join", a.bind)
	agents := []*agentProc{a, b, c}

	waitStates(t, "a=alive b=alive c=alive", agents...)

	ms := members(t, a)
	for _, m := range ms {
		if m.Address != "127.0.0.1" || m.Port == 0 || m.Protocol.Max != 5 || m.Protocol.Min != 1 {
			t.Errorf("member %+v: want 127.0.0.1, a port and protocol range 1-5", m)
		}
	}

	t.Run("health", func(t *testing.T) {
		code, body := get(t, "http://"+a.http+"/health")
		var h health
		if err := json.Unmarshal(body, &h); err != nil {
			t.Fatalf("/health: %v\n%s", err, body)
		}
		if (code == http.StatusOK) != (h.Score == 0) {
			t.Errorf("/health answered %d with score %d: want 200 exactly when the score is 0", code, h.Score)
		}
		if h.Name != "a" || h.Members["alive"] != 3 {
			t.Errorf("/health = %+v, want node a with 3 alive members", h)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		// memberlist_gossip and memberlist_probeNode come from timers that
		// run every 100ms and 1s; probes need a second or two to show up.
		want := []string{"memberlist_gossip", "memberlist_probeNode", "memberlist_msg_alive",
			"memberlist_node_instances", "memberlist_agent_members", "memberlist_agent_health_score"}
		var fams map[string]*dto.MetricFamily
		deadline := time.Now().Add(processWait)
		for {
			code, body := get(t, "http://"+a.http+"/metrics")
			if code != http.StatusOK {
				t.Fatalf("/metrics: HTTP %d", code)
			}
			parser := expfmt.NewTextParser(model.UTF8Validation)
			var err error
			fams, err = parser.TextToMetricFamilies(strings.NewReader(string(body)))
			if err != nil {
				t.Fatalf("/metrics is not Prometheus text: %v", err)
			}
			missing := slices.DeleteFunc(slices.Clone(want), func(n string) bool { return fams[n] != nil })
			if len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/metrics lacks %v", missing)
			}
			time.Sleep(200 * time.Millisecond)
		}
		byState := map[string]float64{}
		for _, m := range fams["memberlist_agent_members"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "state" {
					byState[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
		if byState["alive"] != 3 || byState["dead"] != 0 || byState["left"] != 0 || byState["suspect"] != 0 {
			t.Errorf("memberlist_agent_members by state = %v, want 3 alive and no others", byState)
		}
	})

	t.Run("page", func(t *testing.T) {
		dom := dumpDOM(t, "http://"+b.http+"/")
		for _, name := range []string{"a", "b", "c"} {
			if !strings.Contains(dom, `<td class="mono">`+name+`</td>`) {
				t.Errorf("status page has no member %s in its table:\n%s", name, dom)
			}
		}
		if !strings.Contains(dom, "updated ") {
			t.Errorf("the status page's script did not refresh it:\n%s", dom)
		}
	})

	// A graceful stop: c leaves, exits 0, and the others see it as left.
	c.stop(t)
	waitStates(t, "a=alive b=alive c=left", a, b)
	if !strings.Contains(a.logText(), `"msg":"member leave","node":"c"`) {
		t.Errorf("agent a did not log c's leave")
	}
	b.stop(t)
	waitStates(t, "a=alive b=left c=left", a)
	a.stop(t)
}

// TestAgentTCPOnly runs two agents with -tcp-only: they form a cluster
// over streams alone (the library's tests check that no UDP is sent).
func TestAgentTCPOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two agent processes")
	}
	bin := buildAgent(t)
	a := startAgent(t, bin, "a", "-tcp-only", "-label", "tcp")
	b := startAgent(t, bin, "b", "-tcp-only", "-label", "tcp", "-join", a.bind)
	if !strings.Contains(a.logText(), `"tcp_only":true`) {
		t.Errorf("agent a does not report TCP-only mode")
	}
	waitStates(t, "a=alive b=alive", a, b)
	b.stop(t)
	waitStates(t, "a=alive b=left", a)
	a.stop(t)
}

// dumpDOM loads url in headless Chromium, giving the page's script time to
// run, and returns the DOM. It skips the calling (sub)test without Chromium.
func dumpDOM(t *testing.T, url string) string {
	t.Helper()
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("status page not checked in a browser: %s is not installed (apt-get install chromium)", chromium)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-quic", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--dump-dom", url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return string(out)
}

// TestFlagErrors checks that each bad flag or unusable address ends the
// agent with status 2 and one line that names the flag.
func TestFlagErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()

	tests := []struct {
		name string
		args []string
		want string // must appear in the one line
	}{
		{"unknown flag", []string{"-nope"}, "-nope"},
		{"bind without port", []string{"-bind", "127.0.0.1"}, "-bind"},
		{"bind port not a number", []string{"-bind", "127.0.0.1:http"}, "-bind"},
		{"bind host a name", []string{"-bind", "localhost:7946"}, "-bind"},
		{"advertise bad", []string{"-advertise", "x"}, "-advertise"},
		{"join bad", []string{"-join", "nohostport"}, "-join"},
		{"profile", []string{"-profile", "mars"}, "-profile"},
		{"key not base64", []string{"-key", "!!"}, "-key"},
		{"key wrong size", []string{"-key", "c2hvcnQ="}, "-key"},
		{"log format", []string{"-log-format", "xml"}, "-log-format"},
		{"log level", []string{"-log-level", "loud"}, "-log-level"},
		{"http bad", []string{"-http", "7980"}, "-http"},
		{"empty name", []string{"-name", ""}, "-name"},
		{"reconnect interval not a duration", []string{"-reconnect-interval", "soon"}, "-reconnect-interval"},
		{"reconnect interval negative", []string{"-reconnect-interval", "-1s"}, "-reconnect-interval"},
		{"label too long", []string{"-label", strings.Repeat("x", 256)}, "-label"},
		{"stray argument", []string{"127.0.0.1:7946"}, "-join"},
		{"http in use", []string{"-name", "x", "-bind", "127.0.0.1:0", "-http", taken}, "-http " + taken},
		{"bind in use", []string{"-name", "x", "-bind", taken, "-http", "127.0.0.1:0"}, "-bind " + taken},
		{"bind not local", []string{"-name", "x", "-bind", "192.0.2.1:7946", "-http", "127.0.0.1:0"}, "-bind 192.0.2.1:7946"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != 2 {
				t.Fatalf("exit status %d, want 2; stderr:\n%s", code, stderr.String())
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "memberlist-agent: ") {
				t.Fatalf("want one line starting with memberlist-agent:, got %q", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("%q does not name %q", msg, tt.want)
			}
		})
	}
}

// TestFlagErrorsProcess checks the same through the real binary's exit
// status, for one case: the in-process test cannot see os.Exit.
func TestFlagErrorsProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent")
	}
	bin := buildAgent(t)
	cmd := exec.Command(bin, "-profile", "mars")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2", err)
	}
	if got := strings.TrimSpace(string(out)); strings.Contains(got, "\n") || !strings.Contains(got, "-profile") {
		t.Errorf("output %q: want one line naming -profile", got)
	}
}
