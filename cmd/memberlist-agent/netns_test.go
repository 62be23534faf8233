//go:build linux

// TestNetnsFaults runs five agents on a real network: five network
// namespaces whose veth links meet on a bridge in a sixth, with faults made
// by nftables inside the namespaces. With 20% random loss on every link for
// a minute, no node may be declared dead; then a 2 | 3 partition must be
// detected on both sides; then, once healed, every node must see every
// other alive again by itself (ReconnectInterval). The figures (detection
// times, suspicions, time to re-merge) are logged for -v.
//
// It needs root, ip (iproute2) and nft, and skips with the reason where any
// is missing. Nothing outside the namespaces it creates is touched, and they
// are removed when it ends, pass or fail; a killed run's leftovers are
// removed by the next run.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/swimgo/memberlist"
	"golang.org/x/sys/unix"
)

const (
	// netnsPrefix starts the name of every namespace the test makes,
	// followed by the test process's pid, so that concurrent runs keep apart
	// and a dead run's namespaces can be told from a live one's.
	netnsPrefix = "mlagent-"

	// labNet holds the nodes' addresses, 10.213.0.K for node nK; it exists
	// only inside the test's namespaces.
	labNet = "10.213.0."

	labNodes      = 5
	labGossipPort = 7946
	labHTTPPort   = 7980

	// lossPercent of the IP packets entering each node on its link are
	// dropped, for lossStretch before the partition and to the end.
	lossPercent = 20
	lossStretch = 60 * time.Second

	// detectWait bounds the wait for each side of the partition to declare
	// the other dead. The LAN profile's suspicion timeout for five nodes is
	// 4 to 24 s after a failed probe.
	detectWait = 60 * time.Second

	// labReconnect is the agents' -reconnect-interval, a third of the LAN
	// profile's 30 s, to keep the test short.
	labReconnect = 10 * time.Second

	// mergeWait bounds the wait for every node to see every other alive
	// after the heal: two reconnect intervals and room for the refutations.
	mergeWait = 2*labReconnect + 25*time.Second

	// labBudget is how long the test needs at most; with less time left
	// before go test's -timeout it skips rather than leave namespaces
	// behind when the timeout kills it.
	labBudget = 5 * time.Minute
)

func TestNetnsFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five agents in network namespaces for about two minutes")
	}
	if d, ok := t.Deadline(); ok && time.Until(d) < labBudget {
		t.Skipf("needs up to %v and the -timeout leaves %v", labBudget, time.Until(d).Round(time.Second))
	}
	requireNetLab(t)
	removeStaleNamespaces(t)
	lab := newNetLab(t, labNodes)
	bin := buildAgent(t)

	evs := &eventLog{}
	agents := make([]*labAgent, labNodes)
	for i := range agents {
		var join []string
		if i > 0 {
			join = []string{labAddr(1, labGossipPort)}
		}
		agents[i] = startLabAgent(t, bin, lab, i+1, evs, join)
	}
	all := names(agents)
	allAlive := func(_ *labAgent, ms []member) bool { return len(ms) == len(all) && allState(ms, all, "alive") }
	t.Logf("%d agents in namespaces, -profile lan -reconnect-interval %v", labNodes, labReconnect)

	// Formation, on a clean network.
	start := time.Now()
	waitViews(t, agents, 30*time.Second, allAlive)
	t.Logf("formation: every node sees all %d alive after %.1fs", labNodes, time.Since(start).Seconds())

	// Loss on every link: no node may be declared dead.
	lossStart := lab.setLoss(t, lossPercent)
	sleepWatching(t, agents, lossStretch)
	lossEnd := time.Now()
	lossDeaths := evs.deaths(lossStart, lossEnd)
	for _, d := range lossDeaths {
		t.Errorf("under %d%% loss, %s declared %s dead %.1fs into the stretch (%s)",
			lossPercent, d.observer, d.node, d.at.Sub(lossStart).Seconds(), evs.why(d))
	}
	for _, a := range agents {
		if ms := a.members(t); len(ms) != len(all) || hasState(ms, all, "dead") {
			t.Errorf("after the loss stretch %s reads %s", a.name, statesOf(ms))
		}
	}
	t.Logf("loss: %d%% on every link for %v: %d false deaths (want 0); %d suspicions raised, %d refuted by the suspect",
		lossPercent, lossStretch, len(lossDeaths),
		evs.count(lossStart, lossEnd, "Suspect ", " has failed"), evs.count(lossStart, lossEnd, "Refuting a suspect message"))

	// Partition 2 | 3, the loss still on: each side must declare the
	// other dead.
	sideA, sideB := agents[:2], agents[2:]
	partStart := lab.partition(t, sideA, sideB)
	cross := crossPairs(sideA, sideB)
	var detected map[[2]string]time.Time
	deadline := partStart.Add(detectWait)
	for {
		checkRunning(t, agents)
		detected = evs.firstDeaths(partStart, cross)
		if len(detected) == len(cross) {
			break
		}
		if time.Now().After(deadline) {
			var missing []string
			for _, p := range cross {
				if _, ok := detected[p]; !ok {
					missing = append(missing, p[0]+" of "+p[1])
				}
			}
			t.Fatalf("partition not detected within %v: no dead event for %s", detectWait, strings.Join(missing, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, a := range agents {
		other := names(sideB)
		if slices.Contains(other, a.name) {
			other = names(sideA)
		}
		if ms := a.members(t); !allState(ms, other, "dead") {
			t.Errorf("during the partition %s reads %s, want %v dead", a.name, statesOf(ms), other)
		}
	}
	t.Logf("partition %v | %v: %v see the other side dead after %s; %v after %s",
		names(sideA), names(sideB), names(sideA), detectedBy(detected, sideA, partStart),
		names(sideB), detectedBy(detected, sideB, partStart))

	// Hold the partition until every node has stopped gossiping to the
	// members it declared dead (GossipToTheDeadTime after the death): a
	// heal before then is re-merged by that gossip, as in the reference,
	// and would not need the reconnect attempts this test is about.
	var lastDeath time.Time
	for _, at := range detected {
		if at.After(lastDeath) {
			lastDeath = at
		}
	}
	sleepWatching(t, agents, time.Until(lastDeath.Add(memberlist.DefaultLANConfig().GossipToTheDeadTime+2*time.Second)))
	partEnd := time.Now()
	// Deaths inside a side come from the loss alone; they are reported,
	// not failed on: the loss stretch is where the test asserts none.
	inside := evs.deathsWithin(partStart, partEnd, sideA, sideB)
	t.Logf("partition held %.1fs past the last detection: %d deaths declared inside a side, %d reconnect attempts failed",
		partEnd.Sub(lastDeath).Seconds(), len(inside), evs.count(partStart, partEnd, "Reconnect to failed member "))
	for _, d := range inside {
		t.Logf("  %s declared %s dead %.1fs into the partition (%s)", d.observer, d.node, d.at.Sub(partStart).Seconds(), evs.why(d))
	}

	// Heal, the loss still on: with no call from the application every
	// node must see every other alive again.
	healStart := lab.heal(t)
	waitViews(t, agents, mergeWait, allAlive)
	mergeEnd := time.Now()
	t.Logf("heal: every node sees all %d alive %.1fs after the heal; %d reconnect exchanges succeeded by then, %d transient deaths while merging",
		labNodes, mergeEnd.Sub(healStart).Seconds(), evs.count(healStart, mergeEnd, "Exchanged state with failed member "),
		len(evs.deaths(healStart, mergeEnd)))
}

// requireNetLab skips the test where namespaces cannot be made.
func requireNetLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: creating network namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)")
	}
	for _, tool := range []struct{ name, pkg string }{{"ip", "iproute2"}, {"nft", "nftables"}} {
		if _, err := exec.LookPath(tool.name); err != nil {
			t.Skipf("%s is not installed (apt-get install -y %s; .ci/run does)", tool.name, tool.pkg)
		}
	}
}

// netLab is the test's network: the node namespaces, one per node, each
// with eth0 at 10.213.0.K/24, and the bridge namespace joining them.
type netLab struct {
	bridge string
	nodes  []string
}

func labAddr(k, port int) string { return labNet + strconv.Itoa(k) + ":" + strconv.Itoa(port) }

// newNetLab builds the network for n nodes. A first step that fails for
// want of kernel support or privilege skips the test; later failures fail
// it.
func newNetLab(t *testing.T, n int) *netLab {
	t.Helper()
	base := fmt.Sprintf("%s%d-", netnsPrefix, os.Getpid())
	lab := &netLab{bridge: base + "br"}
	for k := 1; k <= n; k++ {
		lab.nodes = append(lab.nodes, base+"n"+strconv.Itoa(k))
	}
	t.Cleanup(func() {
		for _, ns := range append([]string{lab.bridge}, lab.nodes...) {
			if err := deleteNamespace(ns); err != nil {
				t.Errorf("removing namespace %s: %v", ns, err)
			}
		}
	})

	// Probes: each of these is the first use of a kernel feature.
	if err := ipRun("netns", "add", lab.bridge); err != nil {
		t.Skipf("cannot create a network namespace (a container without CAP_SYS_ADMIN?): %v", err)
	}
	if err := ipRun("-n", lab.bridge, "link", "add", "br0", "type", "bridge"); err != nil {
		t.Skipf("cannot create a bridge: %v", err)
	}
	if err := nftRun(lab.bridge, "add table inet mlprobe\ndelete table inet mlprobe\n"); err != nil {
		t.Skipf("nftables does not work in a namespace: %v", err)
	}
	if err := inNamespace(lab.bridge, func() error { return nil }); err != nil {
		t.Skipf("cannot enter a network namespace from the test: %v", err)
	}

	must := func(args ...string) {
		t.Helper()
		if err := ipRun(args...); err != nil {
			t.Fatal(err)
		}
	}
	must("-n", lab.bridge, "link", "set", "br0", "up")
	for i, ns := range lab.nodes {
		k := strconv.Itoa(i + 1)
		must("netns", "add", ns)
		must("-n", ns, "link", "set", "lo", "up")
		must("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "v"+k, "netns", lab.bridge)
		must("-n", lab.bridge, "link", "set", "v"+k, "master", "br0")
		must("-n", lab.bridge, "link", "set", "v"+k, "up")
		must("-n", ns, "addr", "add", labNet+k+"/24", "dev", "eth0")
		must("-n", ns, "link", "set", "eth0", "up")
	}
	return lab
}

// setLoss drops pct% of the IP packets arriving on each node's link, at
// random: every link loses pct% each way. It returns when the rules were
// first loaded, in any namespace.
func (l *netLab) setLoss(t *testing.T, pct int) time.Time {
	t.Helper()
	rules := fmt.Sprintf(`table inet mlloss {
	chain input {
		type filter hook input priority 0; policy accept;
		iifname "eth0" numgen random mod 100 < %d drop
	}
}
`, pct)
	scripts := map[string]string{}
	for _, ns := range l.nodes {
		scripts[ns] = rules
	}
	return nftEach(t, scripts)
}

// partition makes each node drop every packet from the other side. It
// returns when the first node began to.
func (l *netLab) partition(t *testing.T, a, b []*labAgent) time.Time {
	t.Helper()
	scripts := map[string]string{}
	for _, side := range [][2][]*labAgent{{a, b}, {b, a}} {
		var from []string
		for _, o := range side[1] {
			from = append(from, o.ip)
		}
		rules := fmt.Sprintf(`table inet mlpart {
	chain input {
		type filter hook input priority -10; policy accept;
		iifname "eth0" ip saddr { %s } drop
	}
}
`, strings.Join(from, ", "))
		for _, ag := range side[0] {
			scripts[ag.ns] = rules
		}
	}
	return nftEach(t, scripts)
}

// heal removes the partition; the loss stays. It returns when the first
// node began to hear the other side again.
func (l *netLab) heal(t *testing.T) time.Time {
	t.Helper()
	scripts := map[string]string{}
	for _, ns := range l.nodes {
		scripts[ns] = "delete table inet mlpart\n"
	}
	return nftEach(t, scripts)
}

// nftEach loads each namespace's script, all at once so that a change
// reaches every node within a few milliseconds of the first, and returns
// when it started.
func nftEach(t *testing.T, scripts map[string]string) time.Time {
	t.Helper()
	start := time.Now()
	errs := make(chan error, len(scripts))
	for ns, script := range scripts {
		go func() { errs <- nftRun(ns, script) }()
	}
	for range scripts {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return start
}

func ipRun(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// nftRun loads an nft script in namespace ns.
func nftRun(ns, script string) error {
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft in %s: %v: %s\nscript:\n%s", ns, err, strings.TrimSpace(string(out)), script)
	}
	return nil
}

// deleteNamespace kills what still runs in ns and removes it. A namespace
// that does not exist is not an error.
func deleteNamespace(ns string) error {
	if _, err := os.Stat(netnsPath(ns)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	return ipRun("netns", "delete", ns)
}

// removeStaleNamespaces removes namespaces left by test runs that were
// killed before their cleanup ran: those with our prefix whose pid is gone.
func removeStaleNamespaces(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(netnsDir())
	if err != nil {
		return // no namespace was ever made here
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), netnsPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue // that run is alive
		}
		if err := deleteNamespace(e.Name()); err != nil {
			t.Logf("stale namespace %s not removed: %v", e.Name(), err)
		} else {
			t.Logf("removed stale namespace %s", e.Name())
		}
	}
}

// netnsDir is where ip netns keeps its named namespaces.
func netnsDir() string {
	if _, err := os.Stat("/run/netns"); err == nil {
		return "/run/netns"
	}
	return "/var/run/netns"
}

func netnsPath(ns string) string { return netnsDir() + "/" + ns }

// inNamespace runs fn on an OS thread moved into namespace ns, then moves
// the thread back. fn runs on its own goroutine locked to that thread; if
// the way back fails the goroutine exits still locked, and the runtime
// throws the thread away rather than reuse it in the wrong namespace.
// Sockets fn opens stay in ns for their whole life.
func inNamespace(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer home.Close()
		target, err := os.Open(netnsPath(ns))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns back from %s: %w", ns, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// nsHTTPClient is an HTTP client whose connections are opened inside
// namespace ns, where the test process cannot otherwise reach.
func nsHTTPClient(ns string) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNamespace(ns, func() error {
			// No Happy Eyeballs: the socket must be made on this thread,
			// not on a goroutine the dialer starts.
			d := net.Dialer{FallbackDelay: -1}
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dial}}
}

// labEvent is one log line of interest from an agent.
type labEvent struct {
	at       time.Time
	observer string // the agent that logged it
	msg      string
	node     string // member join / leave: the member
	state    string
}

// eventLog gathers the agents' log lines, as they come.
type eventLog struct {
	mu  sync.Mutex
	evs []labEvent
}

func (l *eventLog) add(e labEvent) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

func (l *eventLog) between(from, to time.Time) []labEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []labEvent
	for _, e := range l.evs {
		if !e.at.Before(from) && !e.at.After(to) {
			out = append(out, e)
		}
	}
	return out
}

// deaths lists the members declared dead (not left) in [from, to].
func (l *eventLog) deaths(from, to time.Time) []labEvent {
	var out []labEvent
	for _, e := range l.between(from, to) {
		if e.msg == "member leave" && e.state == "dead" {
			out = append(out, e)
		}
	}
	return out
}

// deathsWithin lists the deaths in [from, to] of members on the
// observer's own side.
func (l *eventLog) deathsWithin(from, to time.Time, a, b []*labAgent) []labEvent {
	side := map[string]int{}
	for _, x := range a {
		side[x.name] = 1
	}
	for _, x := range b {
		side[x.name] = 2
	}
	var out []labEvent
	for _, d := range l.deaths(from, to) {
		if side[d.observer] == side[d.node] {
			out = append(out, d)
		}
	}
	return out
}

// firstDeaths gives, for each (observer, member) pair, the first time since
// from that the observer declared the member dead.
func (l *eventLog) firstDeaths(from time.Time, pairs [][2]string) map[[2]string]time.Time {
	want := map[[2]string]bool{}
	for _, p := range pairs {
		want[p] = true
	}
	out := map[[2]string]time.Time{}
	for _, d := range l.deaths(from, time.Now().Add(time.Hour)) {
		p := [2]string{d.observer, d.node}
		if _, seen := out[p]; want[p] && !seen {
			out[p] = d.at
		}
	}
	return out
}

// why says what made d's observer declare the member dead: its own
// suspicion timing out (with the line that says so), or a dead message from
// another member.
func (l *eventLog) why(d labEvent) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.evs) - 1; i >= 0; i-- {
		e := l.evs[i]
		if e.observer == d.observer && !e.at.After(d.at) && d.at.Sub(e.at) < time.Second &&
			strings.HasPrefix(e.msg, "Marking "+d.node+" as failed") {
			return e.msg
		}
	}
	return "told by another member"
}

// count counts the lines in [from, to] whose message holds every part.
func (l *eventLog) count(from, to time.Time, parts ...string) int {
	n := 0
	for _, e := range l.between(from, to) {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(e.msg, p)
		}
		if ok {
			n++
		}
	}
	return n
}

func crossPairs(a, b []*labAgent) [][2]string {
	var out [][2]string
	for _, x := range a {
		for _, y := range b {
			out = append(out, [2]string{x.name, y.name}, [2]string{y.name, x.name})
		}
	}
	return out
}

// detectedBy renders when side's observers declared the other side dead:
// the last and the first of their detections, in seconds after t0.
func detectedBy(detected map[[2]string]time.Time, side []*labAgent, t0 time.Time) string {
	var ds []float64
	for p, at := range detected {
		if slices.ContainsFunc(side, func(a *labAgent) bool { return a.name == p[0] }) {
			ds = append(ds, at.Sub(t0).Seconds())
		}
	}
	return fmt.Sprintf("%.1fs (first %.1fs)", slices.Max(ds), slices.Min(ds))
}

// labAgent is one agent running in its namespace.
type labAgent struct {
	*agentProc // http is set before it starts: its address in the namespace
	ns         string
	ip         string
	client     *http.Client
}

func names(as []*labAgent) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.name
	}
	return out
}

// startLabAgent starts node nK in its namespace and waits for it to say it
// started. Its membership lines go to evs.
func startLabAgent(t *testing.T, bin string, lab *netLab, k int, evs *eventLog, join []string) *labAgent {
	t.Helper()
	a := &labAgent{
		agentProc: &agentProc{name: "n" + strconv.Itoa(k), http: labAddr(k, labHTTPPort)},
		ns:        lab.nodes[k-1],
		ip:        labNet + strconv.Itoa(k),
		client:    nsHTTPClient(lab.nodes[k-1]),
	}
	args := []string{"netns", "exec", a.ns, bin, "-name", a.name, "-bind", labAddr(k, labGossipPort),
		"-http", a.http, "-profile", "lan", "-reconnect-interval", labReconnect.String(),
		"-log-format", "json", "-log-level", "debug"}
	for _, j := range join {
		args = append(args, "-join", j)
	}
	// ip netns exec execs the agent, so the pid is the agent's, and it dies
	// with the test process even when that is killed.
	a.cmd = exec.Command("ip", args...)
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runAgent(t, a.agentProc, func(line string) bool {
		var rec struct {
			Time  time.Time `json:"time"`
			Msg   string    `json:"msg"`
			Node  string    `json:"node"`
			State string    `json:"state"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			return false
		}
		evs.add(labEvent{at: rec.Time, observer: a.name, msg: rec.Msg, node: rec.Node, state: rec.State})
		return rec.Msg == "agent started"
	})
	return a
}

func (a *labAgent) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := a.client.Get("http://" + a.http + path)
	if err != nil {
		t.Fatalf("GET %s of %s: %v", path, a.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s of %s: HTTP %d, %v", path, a.name, resp.StatusCode, err)
	}
	return body
}

// members reads the agent's /members.
func (a *labAgent) members(t *testing.T) []member {
	t.Helper()
	var ms []member
	if body := a.get(t, "/members"); json.Unmarshal(body, &ms) != nil {
		t.Fatalf("/members of %s is not JSON:\n%s", a.name, body)
	}
	return ms
}

// allState reports whether every one of names is listed in ms in state.
func allState(ms []member, names []string, state string) bool {
	for _, n := range names {
		if !slices.ContainsFunc(ms, func(m member) bool { return m.Name == n && m.State == state }) {
			return false
		}
	}
	return true
}

// hasState reports whether any one of names is listed in ms in state.
func hasState(ms []member, names []string, state string) bool {
	return slices.ContainsFunc(ms, func(m member) bool { return m.State == state && slices.Contains(names, m.Name) })
}

// waitViews polls every agent's /members until ok holds for all of them at
// once, or fails the test after wait.
func waitViews(t *testing.T, agents []*labAgent, wait time.Duration, ok func(*labAgent, []member) bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		checkRunning(t, agents)
		var bad []string
		for _, a := range agents {
			if ms := a.members(t); !ok(a, ms) {
				bad = append(bad, a.name+": "+statesOf(ms))
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("views not as wanted after %v:\n%s", wait, strings.Join(bad, "\n"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkRunning fails the test if an agent has exited.
func checkRunning(t *testing.T, agents []*labAgent) {
	t.Helper()
	for _, a := range agents {
		select {
		case <-a.done:
			t.Fatalf("agent %s exited: %v", a.name, a.err)
		default:
		}
	}
}

// sleepWatching waits d, failing early if an agent exits.
func sleepWatching(t *testing.T, agents []*labAgent, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		checkRunning(t, agents)
		time.Sleep(min(time.Second, time.Until(end)))
	}
}
