// This file owns the implementation-neutral half of the mixed-cluster harness: node
// options and timings, the user delegate and event log every node gets, the fabric that
// filters and sniffs traffic between nodes, raw loopback injection, and bounded waits.
// Everything that names a memberlist package type lives in impl_ref_test.go (and its
// generated twin impl_ours_test.go).
package interop

import (
	"bytes"
	"fmt"
	"github.com/swimgo/memberlist/interop/internal/capconn"
	"io"
	"net"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swimgo/memberlist/interop/internal/wire"
)

// impl is one implementation under test: it knows how to start a node of its kind.
type impl struct {
	name  string
	start func(c *cluster, o nodeOpts) (*node, error)
}

// direction pairs the implementation that seeds or acts (a) with its peer (b). Every
// scenario runs once each way so that both encoders meet both decoders.
type direction struct {
	name string
	a, b impl
}

func directions() []direction {
	return []direction{
		{name: "ours-acts", a: oursImpl, b: refImpl},
		{name: "ref-acts", a: refImpl, b: oursImpl},
	}
}

// timing holds the protocol clocks, scaled down from DefaultLocalConfig so scenarios end
// in seconds while keeping the same ratios between probe, gossip and suspicion.
type timing struct {
	ProbeInterval, ProbeTimeout, GossipInterval, PushPullInterval time.Duration
	TCPTimeout, GossipToTheDead                                   time.Duration
	SuspicionMult, SuspicionMaxTimeoutMult, RetransmitMult        int
	IndirectChecks, GossipNodes                                   int
}

func fastTiming() timing {
	return timing{
		ProbeInterval:           500 * time.Millisecond,
		ProbeTimeout:            250 * time.Millisecond,
		GossipInterval:          100 * time.Millisecond,
		PushPullInterval:        2 * time.Second,
		TCPTimeout:              2 * time.Second,
		GossipToTheDead:         10 * time.Second,
		SuspicionMult:           3,
		SuspicionMaxTimeoutMult: 2,
		RetransmitMult:          3,
		IndirectChecks:          3,
		GossipNodes:             3,
	}
}

// nodeOpts is what a scenario asks of a node, whatever its implementation.
type nodeOpts struct {
	Name          string
	IP            string // loopback address to bind; 127.0.0.1 when empty
	Port          int    // 0 picks a free port
	Label         string
	PV            uint8    // protocol version; 0 keeps the default (2)
	Keys          [][]byte // keyring, primary first; nil disables encryption
	NoCompression bool
	Meta          string
	Timing        timing
	LocalState    func(join bool) []byte
	// QuietJoinMerge sets ours' Config.QuietJoinMerge; the reference has no
	// such option and ignores it.
	QuietJoinMerge bool
	// RefutationsFirst sets ours' Config.RefutationsFirst (the order in
	// which ours sends its gossip); the reference ignores it.
	RefutationsFirst bool
}

// nodeView is a copy of what a node knows about a member, taken at event time so no
// pointer into either implementation's tables is ever held (the reference races on them).
type nodeView struct {
	Name                         string
	Addr                         string
	Port                         uint16
	Meta                         string
	State                        int
	PMin, PMax, PCur             uint8
	DMin, DMax, DCur             uint8
	FromEvent, FromMembersNative bool
}

func (v nodeView) String() string {
	return fmt.Sprintf("%s@%s:%d meta=%q state=%d vsn=[%d %d %d %d %d %d]", v.Name, v.Addr, v.Port,
		v.Meta, v.State, v.PMin, v.PMax, v.PCur, v.DMin, v.DMax, v.DCur)
}

// nodeAPI is the exported surface shared by both implementations, with package types
// replaced by neutral ones.
type nodeAPI interface {
	Join(addrs []string) (int, error)
	Leave(timeout time.Duration) error
	Shutdown() error
	NumMembers() int
	UpdateNode(timeout time.Duration) error
	SendBestEffort(to nodeView, msg []byte) error
	SendReliable(to nodeView, msg []byte) error
	// Members returns the implementation's own member list as copies. ok is false for
	// the reference, whose Members() hands out pointers it later mutates without locks.
	Members() (views []nodeView, ok bool)
	QueueBroadcast(msg []byte)
	AddKey(k []byte) error
	UseKey(k []byte) error
	RemoveKey(k []byte) error
	ProtocolVersion() uint8
}

// node is a started member of either implementation.
type node struct {
	impl string
	name string
	ip   string
	port int
	addr string
	api  nodeAPI
	del  *userDelegate
	ev   *eventLog
	log  *logBuf

	mu      sync.Mutex
	stopped bool
}

func (n *node) String() string { return n.impl + ":" + n.name }

func (n *node) view() nodeView {
	return nodeView{Name: n.name, Addr: n.ip, Port: uint16(n.port)}
}

func (n *node) shutdown() error {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return nil
	}
	n.stopped = true
	n.mu.Unlock()
	return n.api.Shutdown()
}

// userDelegate is the Delegate every node runs: settable metadata, a log of received
// user messages and merged remote states, a configurable local state, and broadcasts
// drawn from the implementation's own TransmitLimitedQueue.
type userDelegate struct {
	mu         sync.Mutex
	meta       []byte
	msgs       [][]byte
	merged     []mergedState
	localState func(join bool) []byte
	queue      interface {
		GetBroadcasts(overhead, limit int) [][]byte
	}
}

type mergedState struct {
	Buf  string
	Join bool
}

func (d *userDelegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.meta) > limit {
		return d.meta[:limit]
	}
	return append([]byte(nil), d.meta...)
}

func (d *userDelegate) setMeta(m string) {
	d.mu.Lock()
	d.meta = []byte(m)
	d.mu.Unlock()
}

func (d *userDelegate) NotifyMsg(b []byte) {
	d.mu.Lock()
	d.msgs = append(d.msgs, append([]byte(nil), b...))
	d.mu.Unlock()
}

func (d *userDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	if d.queue == nil {
		return nil
	}
	return d.queue.GetBroadcasts(overhead, limit)
}

func (d *userDelegate) LocalState(join bool) []byte {
	if d.localState == nil {
		return nil
	}
	return d.localState(join)
}

func (d *userDelegate) MergeRemoteState(buf []byte, join bool) {
	d.mu.Lock()
	d.merged = append(d.merged, mergedState{Buf: string(buf), Join: join})
	d.mu.Unlock()
}

func (d *userDelegate) gotMsg(m string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range d.msgs {
		if string(b) == m {
			return true
		}
	}
	return false
}

func (d *userDelegate) gotMerge(pred func(mergedState) bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.merged {
		if pred(m) {
			return true
		}
	}
	return false
}

type eventKind int

const (
	evJoin eventKind = iota
	evLeave
	evUpdate
)

func (k eventKind) String() string { return [...]string{"join", "leave", "update"}[k] }

type event struct {
	Kind eventKind
	Node nodeView
	At   time.Time
}

// eventLog records a node's EventDelegate calls and keeps the member view they imply.
type eventLog struct {
	mu     sync.Mutex
	events []event
	live   map[string]nodeView
}

func newEventLog() *eventLog { return &eventLog{live: map[string]nodeView{}} }

func (l *eventLog) add(k eventKind, v nodeView) {
	v.FromEvent = true
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, event{Kind: k, Node: v, At: time.Now()})
	switch k {
	case evJoin, evUpdate:
		l.live[v.Name] = v
	case evLeave:
		delete(l.live, v.Name)
	}
}

func (l *eventLog) liveViews() map[string]nodeView {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]nodeView, len(l.live))
	for k, v := range l.live {
		out[k] = v
	}
	return out
}

func (l *eventLog) find(k eventKind, pred func(nodeView) bool) (event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Kind == k && pred(e.Node) {
			return e, true
		}
	}
	return event{}, false
}

func (l *eventLog) count(k eventKind, name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == k && e.Node.Name == name {
			n++
		}
	}
	return n
}

// logBuf keeps a node's log lines so a failing test can show them.
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		b.lines = append(b.lines, l)
	}
	if len(b.lines) > 4000 {
		b.lines = append([]string(nil), b.lines[len(b.lines)-3000:]...)
	}
	return len(p), nil
}

func (b *logBuf) tail(n int, filter func(string) bool) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range b.lines {
		if filter == nil || filter(l) {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

func (b *logBuf) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// sentPacket is one datagram a node handed to its transport, decoded.
type sentPacket struct {
	From, To string
	At       time.Time
	Dropped  bool
	Raw      []byte
	Msgs     []wire.Msg
}

// sentStream is what one side wrote on a stream exchange, decoded. Reply marks bytes
// read back by the dialer, i.e. written by the responder To→From reversed.
type sentStream struct {
	From, To string
	Start    time.Time // when the dialer connected
	At       time.Time // when the dialer closed
	Reply    bool
	Raw      []byte
	S        *wire.Stream
}

// fabric sits between every node's transport and the real sockets. It can drop UDP or
// refuse TCP between chosen nodes (to force indirect probes, TCP fallback or
// suspicion), and it decodes everything sent so tests can assert on the wire.
type fabric struct {
	mu         sync.Mutex
	names      map[string]string // "ip:port" -> node name
	dropUDP    map[[2]string]bool
	refuseTCP  map[[2]string]bool
	isolated   map[string]bool
	keys       [][]byte
	packets    []sentPacket
	streams    []sentStream
	decodeErrs []string
}

func newFabric() *fabric {
	return &fabric{
		names:     map[string]string{},
		dropUDP:   map[[2]string]bool{},
		refuseTCP: map[[2]string]bool{},
		isolated:  map[string]bool{},
	}
}

func (f *fabric) register(addr, name string) {
	f.mu.Lock()
	f.names[addr] = name
	f.mu.Unlock()
}

// addKeys tells the sniffer about keys in use; it tries them in order.
func (f *fabric) addKeys(keys ...[]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		dup := false
		for _, have := range f.keys {
			dup = dup || bytes.Equal(have, k)
		}
		if !dup {
			f.keys = append(f.keys, k)
		}
	}
}

func (f *fabric) nameOf(addr, given string) string {
	if given != "" {
		return given
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, ok := f.names[addr]; ok {
		return n
	}
	return addr
}

// blockUDP drops datagrams both ways between a and b.
func (f *fabric) blockUDP(a, b string) {
	f.mu.Lock()
	f.dropUDP[[2]string{a, b}] = true
	f.dropUDP[[2]string{b, a}] = true
	f.mu.Unlock()
}

// blockTCP refuses stream dials both ways between a and b.
func (f *fabric) blockTCP(a, b string) {
	f.mu.Lock()
	f.refuseTCP[[2]string{a, b}] = true
	f.refuseTCP[[2]string{b, a}] = true
	f.mu.Unlock()
}

// isolate cuts a node off from everyone, both transports, both ways; heal undoes it.
func (f *fabric) isolate(name string) {
	f.mu.Lock()
	f.isolated[name] = true
	f.mu.Unlock()
}

func (f *fabric) heal(name string) {
	f.mu.Lock()
	delete(f.isolated, name)
	f.mu.Unlock()
}

func (f *fabric) cut(m map[[2]string]bool, from, to string) bool {
	return m[[2]string{from, to}] || f.isolated[from] || f.isolated[to]
}

// onPacket decides whether a datagram from a node may leave, and records it.
func (f *fabric) onPacket(from, to string, b []byte) (deliver bool) {
	f.mu.Lock()
	keys := f.keys
	drop := f.cut(f.dropUDP, from, to)
	f.mu.Unlock()
	p := sentPacket{From: from, To: to, At: time.Now(), Dropped: drop, Raw: append([]byte(nil), b...)}
	msgs, err := wire.DecodePacket(p.Raw, keys)
	p.Msgs = msgs
	f.mu.Lock()
	if err != nil {
		f.decodeErrs = append(f.decodeErrs, fmt.Sprintf("packet %s->%s: %v (% x)", from, to, err, head(p.Raw)))
	}
	f.packets = append(f.packets, p)
	f.mu.Unlock()
	return !drop
}

func head(b []byte) []byte {
	if len(b) > 48 {
		return b[:48]
	}
	return b
}

func (f *fabric) allowDial(from, to string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.cut(f.refuseTCP, from, to)
}

func (f *fabric) onStream(from, to string, start time.Time, reply bool, raw []byte) {
	if len(raw) == 0 {
		return
	}
	f.mu.Lock()
	keys := f.keys
	f.mu.Unlock()
	st := sentStream{From: from, To: to, Start: start, At: time.Now(), Reply: reply, Raw: raw}
	s, err := wire.DecodeStream(raw, keys)
	st.S = s
	f.mu.Lock()
	defer f.mu.Unlock()
	// A dialer may stop reading early, so undecodable replies are not evidence of a bug.
	if err != nil && !reply {
		f.decodeErrs = append(f.decodeErrs, fmt.Sprintf("stream %s->%s: %v (% x)", from, to, err, head(raw)))
	}
	f.streams = append(f.streams, st)
}

// dial opens a capturing stream on behalf of node from.
func (f *fabric) dial(from, toAddr, toName string, timeout time.Duration) (net.Conn, error) {
	to := f.nameOf(toAddr, toName)
	if !f.allowDial(from, to) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("interop fabric refuses %s->%s", from, to)}
	}
	c, err := net.DialTimeout("tcp", toAddr, timeout)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	return capconn.New(c, func(wrote, read []byte) {
		f.onStream(from, to, start, false, wrote)
		f.onStream(to, from, start, true, read)
	}), nil
}

// findMsgs returns every leaf message sent matching pred (dropped ones included when
// withDropped).
func (f *fabric) findMsgs(withDropped bool, pred func(p sentPacket, m wire.Msg) bool) []wire.Msg {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []wire.Msg
	for _, p := range f.packets {
		if p.Dropped && !withDropped {
			continue
		}
		for _, m := range p.Msgs {
			if pred(p, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

func (f *fabric) anyMsg(pred func(p sentPacket, m wire.Msg) bool) bool {
	return len(f.findMsgs(true, pred)) > 0
}

func (f *fabric) findStreams(pred func(s sentStream) bool) []sentStream {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sentStream
	for _, s := range f.streams {
		if s.S != nil && pred(s) {
			out = append(out, s)
		}
	}
	return out
}

func (f *fabric) packetsFrom(pred func(p sentPacket) bool) []sentPacket {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sentPacket
	for _, p := range f.packets {
		if pred(p) {
			out = append(out, p)
		}
	}
	return out
}

// trace summarises the last n datagrams and streams, for failure reports.
func (f *fabric) trace(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	type line struct {
		at time.Time
		s  string
	}
	var ls []line
	for _, p := range f.packets {
		var parts []string
		for _, m := range p.Msgs {
			parts = append(parts, describeWire(m))
		}
		drop := ""
		if p.Dropped {
			drop = " DROPPED"
		}
		ls = append(ls, line{p.At, fmt.Sprintf("%s udp %s->%s%s: %s", p.At.Format("15:04:05.000000"), p.From, p.To, drop, strings.Join(parts, " | "))})
	}
	for _, s := range f.streams {
		what := "?"
		if s.S != nil {
			what = wire.TypeName(s.S.Type)
			switch {
			case s.S.Ping != nil:
				what += fmt.Sprintf(" %+v", *s.S.Ping)
			case s.S.Ack != nil:
				what += fmt.Sprintf(" %+v", *s.S.Ack)
			case s.S.PushPull != nil:
				what += fmt.Sprintf(" %+v", s.S.PushPull.Header)
			}
		}
		ls = append(ls, line{s.At, fmt.Sprintf("%s tcp %s->%s reply=%v: %s", s.At.Format("15:04:05.000000"), s.From, s.To, s.Reply, what)})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].at.Before(ls[j].at) })
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.s
	}
	return out
}

func describeWire(m wire.Msg) string {
	v, err := m.Decoded()
	switch {
	case err != nil:
		return wire.TypeName(m.Type) + "(undecodable)"
	case v == nil:
		return wire.TypeName(m.Type)
	}
	return fmt.Sprintf("%s%+v", wire.TypeName(m.Type), v)
}

func (f *fabric) errors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.decodeErrs...)
}

// oursGoroutines returns the stacks of goroutines running code of our library (not of
// this harness, whose package path extends it).
func oursGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/swimgo/memberlist.") {
			out = append(out, g)
		}
	}
	return out
}

// cluster is one scenario's set of nodes on one fabric; it shuts them all down and
// dumps their logs when the test fails.
type cluster struct {
	t     *testing.T
	fab   *fabric
	nodes []*node
}

func newCluster(t *testing.T) *cluster {
	c := &cluster{t: t, fab: newFabric()}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if err := n.shutdown(); err != nil {
				t.Logf("shutdown %s: %v", n, err)
			}
		}
		// Scenarios run one at a time, so any goroutine of our library still alive
		// after Shutdown (and a grace period for in-flight exchanges) leaked here.
		deadline := time.Now().Add(3 * time.Second)
		for {
			leaked := oursGoroutines()
			if len(leaked) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines of our library outlived Shutdown; first:\n%s", len(leaked), leaked[0])
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if t.Failed() {
			for _, n := range c.nodes {
				for _, l := range n.log.tail(60, nil) {
					t.Logf("[%s] %s", n, l)
				}
			}
			for _, e := range c.fab.errors() {
				t.Logf("undecodable: %s", e)
			}
			for _, l := range c.fab.trace(120) {
				t.Logf("wire: %s", l)
			}
		}
	})
	return c
}

func (c *cluster) start(im impl, o nodeOpts) *node {
	c.t.Helper()
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Timing == (timing{}) {
		o.Timing = fastTiming()
	}
	if o.Meta == "" {
		o.Meta = "meta-" + o.Name
	}
	if len(o.Keys) > 0 {
		c.fab.addKeys(o.Keys...)
	}
	n, err := im.start(c, o)
	if err != nil {
		c.t.Fatalf("start %s node %s: %v", im.name, o.Name, err)
	}
	c.fab.register(n.addr, n.name)
	c.nodes = append(c.nodes, n)
	return n
}

// join makes each joiner join seed and fails the test on error.
func (c *cluster) join(seed *node, joiners ...*node) {
	c.t.Helper()
	for _, j := range joiners {
		if _, err := j.api.Join([]string{seed.addr}); err != nil {
			c.t.Fatalf("%s join %s: %v", j, seed, err)
		}
	}
}

// waitMembers waits until every listed node counts want members.
func (c *cluster) waitMembers(nodes []*node, want int, within time.Duration) {
	c.t.Helper()
	waitFor(c.t, within, func() string {
		var bad []string
		for _, n := range nodes {
			if got := n.api.NumMembers(); got != want {
				bad = append(bad, fmt.Sprintf("%s=%d", n, got))
			}
		}
		if len(bad) == 0 {
			return ""
		}
		return fmt.Sprintf("NumMembers want %d: %s", want, strings.Join(bad, " "))
	})
}

// waitFor polls cond (which returns "" when satisfied, or why not) every 20ms until it
// holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %s", within, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holdFor polls cond for the whole window and fails at the first violation.
func holdFor(t testing.TB, window time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) {
		if why := cond(); why != "" {
			t.Fatalf("invariant broken: %s", why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort finds a port free for both TCP and UDP on every ip, for clusters that must
// share one port (protocol version 1 has no per-node port on the wire).
func freePort(t testing.TB, ips ...string) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		l, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		ok := true
		for _, ip := range ips {
			addr := net.JoinHostPort(ip, strconv.Itoa(port))
			tl, err1 := net.Listen("tcp", addr)
			ul, err2 := net.ListenPacket("udp", addr)
			if tl != nil {
				_ = tl.Close()
			}
			if ul != nil {
				_ = ul.Close()
			}
			if err1 != nil || err2 != nil {
				ok = false
				break
			}
		}
		if ok {
			return port
		}
	}
	t.Fatalf("no common free port on %v", ips)
	return 0
}

// rawPushPull plays the initiator of a state exchange from a bare TCP socket, the way
// an old or foreign client would, and returns what the node answered.
func rawPushPull(addr string, msg []byte, timeout time.Duration) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	return io.ReadAll(c)
}

// rawPacket sends one datagram from a throwaway loopback socket.
func rawPacket(addr string, b []byte) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write(b)
	return err
}

// shared across impl files: the node's own entry as every peer should see it.
func expectView(n *node, meta string) nodeView {
	return nodeView{Name: n.name, Addr: n.ip, Port: uint16(n.port), Meta: meta}
}
