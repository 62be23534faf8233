package memberlist

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// eventLog collects a node's events and lets a test wait for one.
type eventLog struct {
	owner  string
	mu     sync.Mutex
	events []NodeEvent
	wake   chan struct{}
}

func newEventLog() *eventLog { return &eventLog{wake: make(chan struct{}, 1)} }

func (l *eventLog) add(e NodeEventType, n *Node) {
	l.mu.Lock()
	l.events = append(l.events, NodeEvent{Event: e, Node: n})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *eventLog) NotifyJoin(n *Node)   { l.add(NodeJoin, n) }
func (l *eventLog) NotifyLeave(n *Node)  { l.add(NodeLeave, n) }
func (l *eventLog) NotifyUpdate(n *Node) { l.add(NodeUpdate, n) }

func (l *eventLog) has(e NodeEventType, name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.events {
		if ev.Event == e && ev.Node.Name == name {
			return true
		}
	}
	return false
}

// waitFor waits until the log has event e for name, or fails after limit.
func (l *eventLog) waitFor(t *testing.T, e NodeEventType, name string, limit time.Duration) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for !l.has(e, name) {
		select {
		case <-l.wake:
		case <-deadline.C:
			l.mu.Lock()
			var seen []string
			for _, ev := range l.events {
				seen = append(seen, ev.Event.String()+":"+ev.Node.Name)
			}
			l.mu.Unlock()
			t.Fatalf("%s saw no %v event for %s within %v; it saw %v", l.owner, e, name, limit, seen)
		}
	}
}

func localTestConfig(name string) *Config {
	c := DefaultLocalConfig()
	c.Name = name
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.LogOutput = io.Discard
	return c
}

// startLocalNodes creates n nodes on loopback named prefix0, prefix1, ...,
// each with an event log; mod, when set, adjusts node i's config first.
// Every node is shut down when the test ends.
func startLocalNodes(t *testing.T, n int, prefix string, mod func(i int, c *Config)) ([]*Memberlist, []*eventLog) {
	t.Helper()
	nodes := make([]*Memberlist, 0, n)
	logs := make([]*eventLog, n)
	t.Cleanup(func() {
		for _, m := range nodes {
			_ = m.Shutdown()
		}
	})
	for i := range n {
		c := localTestConfig(fmt.Sprintf("%s%d", prefix, i))
		if mod != nil {
			mod(i, c)
		}
		logs[i] = newEventLog()
		logs[i].owner = c.Name
		c.Events = logs[i]
		m, err := Create(c)
		require.NoError(t, err)
		nodes = append(nodes, m)
	}
	return nodes, logs
}

// TestLoopbackCluster5 runs five nodes on real loopback sockets: they join,
// one crashes and is detected, one leaves and is seen to leave, and every
// goroutine is gone after Shutdown.
func TestLoopbackCluster5(t *testing.T) {
	before := runtime.NumGoroutine()
	const n = 5
	nodes, logs := startLocalNodes(t, n, "n", nil)
	seed := fmt.Sprintf("127.0.0.1:%d", nodes[0].config.BindPort)
	for i := 1; i < n; i++ {
		addr := seed
		if i == 2 {
			// An unqualified DNS name works as well as an IP.
			addr = fmt.Sprintf("localhost:%d", nodes[0].config.BindPort)
		}
		got, err := nodes[i].Join([]string{addr})
		require.NoError(t, err)
		require.Equal(t, 1, got)
	}
	for i := range n {
		for j := range n {
			logs[i].waitFor(t, NodeJoin, fmt.Sprintf("n%d", j), 30*time.Second)
		}
	}
	for _, m := range nodes {
		require.Equal(t, n, m.NumMembers())
	}

	// Crash n4: everyone else must declare it failed. Gossip may miss a
	// node with the Local preset's low retransmit limit; push/pull repairs
	// that within PushPullInterval (15 s), hence the bounds.
	require.NoError(t, nodes[4].Shutdown())
	for i := range 4 {
		logs[i].waitFor(t, NodeLeave, "n4", 30*time.Second)
	}

	// n3 leaves gracefully: the others see it as left.
	require.NoError(t, nodes[3].Leave(5*time.Second))
	for i := range 3 {
		logs[i].waitFor(t, NodeLeave, "n3", 30*time.Second)
	}
	for i := range 3 {
		for _, member := range nodes[i].Members() {
			require.NotEqual(t, "n3", member.Name)
		}
	}

	for _, m := range nodes {
		require.NoError(t, m.Shutdown())
	}
	requireGoroutinesBack(t, before)
}

// mockCluster starts n nodes on a MockNetwork inside the caller's synctest
// bubble and joins them to the first.
func mockCluster(t *testing.T, n int, mod func(*Config)) ([]*Memberlist, []*eventLog) {
	var network MockNetwork
	nodes := make([]*Memberlist, n)
	logs := make([]*eventLog, n)
	for i := range n {
		name := fmt.Sprintf("m%d", i)
		c := DefaultLocalConfig()
		c.Name = name
		c.LogOutput = io.Discard
		c.Transport = network.NewTransport(name)
		logs[i] = newEventLog()
		c.Events = logs[i]
		if mod != nil {
			mod(c)
		}
		m, err := Create(c)
		require.NoError(t, err)
		nodes[i] = m
	}
	seed := nodes[0].LocalNode().Address()
	for i := 1; i < n; i++ {
		_, err := nodes[i].Join([]string{"m0/" + seed})
		require.NoError(t, err)
	}
	return nodes, logs
}

func shutdownAll(nodes []*Memberlist) {
	for _, m := range nodes {
		_ = m.Shutdown()
	}
}

// virtualWait lets virtual time pass inside a synctest bubble.
func virtualWait(d time.Duration) {
	<-time.After(d)
}

// virtualUntil lets virtual time pass in steps until cond holds or limit
// has passed, and reports whether cond held. Gossip may miss a node now and
// then with the Local preset's retransmit limit; push/pull repairs that
// within PushPullInterval, so tests wait for the outcome, not a fixed time.
func virtualUntil(cond func() bool, limit time.Duration) bool {
	for waited := time.Duration(0); !cond(); waited += 100 * time.Millisecond {
		if waited >= limit {
			return false
		}
		virtualWait(100 * time.Millisecond)
	}
	return true
}

func allSee(nodes []*Memberlist, n int) func() bool {
	return func() bool {
		for _, m := range nodes {
			if m.NumMembers() != n {
				return false
			}
		}
		return true
	}
}

// TestMockClusterSynctest runs ten nodes of the real shell on a MockNetwork
// in a synctest bubble: time is virtual, so failure detection takes no wall
// time, and the bubble proves no goroutine outlives Shutdown.
func TestMockClusterSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes, logs := mockCluster(t, 10, nil)
		defer shutdownAll(nodes)
		require.True(t, virtualUntil(allSee(nodes, 10), time.Minute), "10 nodes did not converge in a virtual minute")

		require.NoError(t, nodes[9].Shutdown())
		require.True(t, virtualUntil(allSee(nodes[:9], 9), time.Minute), "m9's failure was not detected in a virtual minute")
		for i := range 9 {
			require.True(t, logs[i].has(NodeLeave, "m9"), "m%d did not see m9 fail", i)
		}

		require.NoError(t, nodes[8].Leave(time.Second))
		require.True(t, virtualUntil(allSee(nodes[:8], 8), time.Minute), "m8's leave did not reach everyone in a virtual minute")
		for i := range 8 {
			require.True(t, logs[i].has(NodeLeave, "m8"), "m%d did not see m8 leave", i)
		}
		shutdownAll(nodes)
	})
}

type msgDelegate struct {
	mu    sync.Mutex
	meta  []byte
	msgs  []string
	state string
	got   []string
	bq    *TransmitLimitedQueue
}

func (d *msgDelegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.meta
}
func (d *msgDelegate) NotifyMsg(b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.msgs = append(d.msgs, string(b))
}
func (d *msgDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	if d.bq == nil {
		return nil
	}
	return d.bq.GetBroadcasts(overhead, limit)
}
func (d *msgDelegate) LocalState(join bool) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return []byte(d.state)
}
func (d *msgDelegate) MergeRemoteState(buf []byte, join bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, string(buf))
}
func (d *msgDelegate) merged() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.got...)
}
func (d *msgDelegate) received() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := append([]string(nil), d.msgs...)
	sort.Strings(out)
	return out
}

type rawBroadcast []byte

func (b rawBroadcast) Invalidates(Broadcast) bool { return false }
func (b rawBroadcast) Message() []byte            { return b }
func (b rawBroadcast) Finished()                  {}

// TestMockMessagesStateAndMeta covers the delegate paths end to end: user
// messages best effort and reliable, user broadcasts, push/pull user state,
// and metadata updates.
func TestMockMessagesStateAndMeta(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dels := make([]*msgDelegate, 3)
		i := 0
		nodes, logs := mockCluster(t, 3, func(c *Config) {
			d := &msgDelegate{meta: []byte("v1"), state: "state-of-" + c.Name}
			d.bq = &TransmitLimitedQueue{NumNodes: func() int { return 3 }, RetransmitMult: 3}
			dels[i] = d
			i++
			c.Delegate = d
		})
		defer shutdownAll(nodes)
		require.True(t, virtualUntil(allSee(nodes, 3), time.Minute))

		// Join exchanged user state both ways.
		require.Contains(t, dels[1].merged(), "state-of-m0")
		require.Contains(t, dels[0].merged(), "state-of-m1")

		to := nodes[0].LocalNode()
		require.NoError(t, nodes[1].SendBestEffort(to, []byte("udp-hello")))
		require.NoError(t, nodes[2].SendReliable(to, []byte("tcp-hello")))
		dels[1].bq.QueueBroadcast(rawBroadcast("gossip-hello"))
		virtualWait(2 * time.Second)
		got := dels[0].received()
		require.Contains(t, got, "udp-hello")
		require.Contains(t, got, "tcp-hello")
		require.Contains(t, dels[2].received(), "gossip-hello")

		// A message too large for one packet is refused, naming the limit.
		big := make([]byte, 2000)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range big {
			big[i] = byte(rng.Uint32()) // random bytes do not compress
		}
		err := nodes[1].SendBestEffort(to, big)
		require.ErrorContains(t, err, "UDPBufferSize (1400)")

		dels[2].mu.Lock()
		dels[2].meta = []byte("v2")
		dels[2].mu.Unlock()
		require.NoError(t, nodes[2].UpdateNode(time.Second))
		virtualWait(2 * time.Second)
		require.True(t, logs[0].has(NodeUpdate, "m2"))
		members := nodes[0].Members()
		m2 := slices.IndexFunc(members, func(m *Node) bool { return m.Name == "m2" })
		require.NotEqual(t, -1, m2, "m0 lost m2")
		require.Equal(t, []byte("v2"), members[m2].Meta)
		shutdownAll(nodes)
	})
}

func TestPingAndHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes, _ := mockCluster(t, 2, nil)
		defer shutdownAll(nodes)
		require.True(t, virtualUntil(allSee(nodes, 2), time.Minute))
		target := nodes[1].LocalNode()
		addr := &net.UDPAddr{IP: target.Addr, Port: int(target.Port)}
		rtt, err := nodes[0].Ping("m1", addr)
		require.NoError(t, err)
		require.Zero(t, rtt, "the mock network has no latency, and the bubble's clock stands still while packets move")

		_, err = nodes[0].Ping("nobody", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1})
		var npe NoPingResponseError
		require.True(t, errors.As(err, &npe), "got %v", err)
		require.Equal(t, 0, nodes[0].GetHealthScore())
		shutdownAll(nodes)
	})
}

// TestMembersShareNodes checks what Members and LocalNode promise: the
// slice is the caller's, the Nodes are shared and never change, and a
// member's change shows up in the next call as a new Node while a Node
// returned before keeps the old state.
func TestMembersShareNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dels := make([]*msgDelegate, 3)
		i := 0
		nodes, _ := mockCluster(t, 3, func(c *Config) {
			dels[i] = &msgDelegate{meta: []byte("v1")}
			i++
			c.Delegate = dels[i-1]
		})
		defer shutdownAll(nodes)
		require.True(t, virtualUntil(allSee(nodes, 3), time.Minute))

		byName := func(ms []*Node, name string) *Node {
			k := slices.IndexFunc(ms, func(n *Node) bool { return n.Name == name })
			require.NotEqual(t, -1, k, "no %s in %v", name, ms)
			return ms[k]
		}

		// The slice is the caller's: sorting it and overwriting an entry
		// change nothing for the next call. The Nodes are shared.
		first := nodes[0].Members()
		before := slices.Clone(first)
		sort.Slice(first, func(a, b int) bool { return first[a].Name > first[b].Name })
		first[0] = nil
		again := nodes[0].Members()
		require.Equal(t, before, again)
		for k := range again {
			require.Same(t, before[k], again[k])
		}
		require.Same(t, byName(again, "m0"), nodes[0].LocalNode())

		// m1 changes its metadata.
		oldM1 := byName(again, "m1")
		oldLocal := nodes[1].LocalNode()
		dels[1].mu.Lock()
		dels[1].meta = []byte("v2")
		dels[1].mu.Unlock()
		require.NoError(t, nodes[1].UpdateNode(time.Second))
		require.True(t, virtualUntil(func() bool {
			return string(byName(nodes[0].Members(), "m1").Meta) == "v2"
		}, time.Minute))

		// The next calls return a new Node for m1 and the same ones for
		// the others; the Nodes returned before keep their state.
		after := nodes[0].Members()
		newM1 := byName(after, "m1")
		require.NotSame(t, oldM1, newM1)
		require.Equal(t, []byte("v2"), newM1.Meta)
		require.Equal(t, []byte("v1"), oldM1.Meta)
		require.Same(t, byName(before, "m2"), byName(after, "m2"))
		require.Equal(t, []byte("v1"), oldLocal.Meta)
		require.Equal(t, []byte("v2"), nodes[1].LocalNode().Meta)
		require.NotSame(t, oldLocal, nodes[1].LocalNode())
		shutdownAll(nodes)
	})
}

func TestCreateRejectsBadConfig(t *testing.T) {
	c := localTestConfig("x")
	c.ProtocolVersion = 9
	_, err := Create(c)
	require.ErrorContains(t, err, "ProtocolVersion")

	_, err = Create(nil)
	require.Error(t, err)
}

func TestJoinReportsEachFailedAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var network MockNetwork
		c := DefaultLocalConfig()
		c.Name = "a"
		c.LogOutput = io.Discard
		c.Transport = network.NewTransport("a")
		m, err := Create(c)
		require.NoError(t, err)
		defer func() { _ = m.Shutdown() }()
		n, err := m.Join([]string{"127.0.0.1:4001", "127.0.0.1:4002"})
		require.Equal(t, 0, n)
		require.Error(t, err)
		require.True(t, strings.Contains(err.Error(), "127.0.0.1:4001") && strings.Contains(err.Error(), "127.0.0.1:4002"), "error must name each address: %v", err)
		require.NoError(t, m.Shutdown())
	})
}

func TestSplitHostPortDefault(t *testing.T) {
	cases := []struct{ in, host, port string }{
		{"127.0.0.1", "127.0.0.1", "7946"},
		{"127.0.0.1:80", "127.0.0.1", "80"},
		{"[::1]:80", "::1", "80"},
		{"::1", "::1", "7946"},
		{"[fe80::1%eth0]", "fe80::1%eth0", "7946"},
		{"[fe80::1%eth0]:5", "fe80::1%eth0", "5"},
		{"localhost", "localhost", "7946"},
		{"db.internal:9", "db.internal", "9"},
	}
	for _, tc := range cases {
		h, p, err := splitHostPortDefault(tc.in, 7946)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.host, h, tc.in)
		require.Equal(t, tc.port, p, tc.in)
	}
	_, _, err := splitHostPortDefault("", 1)
	require.Error(t, err)
	_, _, err = splitHostPortDefault("h:notaport", 1)
	require.Error(t, err)
}

func TestAdvertiseAddrAcceptsNamesAndZones(t *testing.T) {
	got, err := resolveAdvertise("localhost")
	require.NoError(t, err)
	require.True(t, net.ParseIP(got).IsLoopback(), "localhost resolved to %s", got)

	for in, want := range map[string]string{
		"":               "",
		"127.0.0.5":      "127.0.0.5",
		"::1":            "::1",
		"[::1]":          "::1",
		"fe80::1%lo":     "fe80::1%lo",
		"[fe80::1%eth0]": "fe80::1%eth0",
	} {
		got, err := resolveAdvertise(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	// A whole node advertising a DNS name.
	c := localTestConfig("named")
	c.AdvertiseAddr = "localhost"
	m, err := Create(c)
	require.NoError(t, err)
	defer func() { _ = m.Shutdown() }()
	require.True(t, m.LocalNode().Addr.IsLoopback())
}

// shutdownFromDelegate shuts its node down from inside NotifyMsg.
type shutdownFromDelegate struct {
	msgDelegate
	m    *Memberlist
	err  error
	done chan struct{}
}

func (d *shutdownFromDelegate) NotifyMsg(b []byte) {
	_, d.err = d.m.Join([]string{"127.0.0.1:1"})
	_ = d.m.Shutdown()
	close(d.done)
}

// A delegate may call Shutdown; calls that wait for the event loop fail
// fast instead of deadlocking.
func TestDelegateCallsDoNotDeadlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &shutdownFromDelegate{done: make(chan struct{})}
		nodes, _ := mockCluster(t, 2, func(c *Config) {
			if c.Name == "m0" {
				c.Delegate = d
			}
		})
		d.m = nodes[0]
		defer shutdownAll(nodes)
		require.NoError(t, nodes[1].SendReliable(nodes[0].LocalNode(), []byte("stop")))
		<-d.done
		require.ErrorIs(t, d.err, ErrCalledFromDelegate)
		shutdownAll(nodes)
	})
}

// Shutdown returns even while a ChannelEventDelegate nobody reads blocks
// the event loop: it waits shutdownGrace, logs, and gives up on the loop.
func TestShutdownWithBlockedEventChannel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var network MockNetwork
		cfg := func(name string) *Config {
			c := DefaultLocalConfig()
			c.Name = name
			c.LogOutput = io.Discard
			c.Transport = network.NewTransport(name)
			return c
		}
		events := make(chan NodeEvent, 1)
		ca := cfg("a")
		ca.Events = &ChannelEventDelegate{Ch: events}
		a, err := Create(ca) // its own join event fills the buffer
		require.NoError(t, err)
		b, err := Create(cfg("b"))
		require.NoError(t, err)
		go func() { _, _ = b.Join([]string{"a/" + a.LocalNode().Address()}) }()
		synctest.Wait() // a's loop now blocks delivering b's join

		start := time.Now()
		require.NoError(t, a.Shutdown())
		require.Equal(t, shutdownGrace, time.Since(start), "Shutdown waits the grace period, then returns")
		<-events
		<-events // release a's loop so that the bubble can end
		require.NoError(t, b.Shutdown())
	})
}
