// This file owns the commands of the transcript tests (see
// transcript_test.go for the file format): a Simulation driven one command
// at a time, with every node's delegates and sends recorded, so that each
// command prints what happened during it in virtual time.
//
// Output lines, in the order they happened:
//
//	t=1.204s a sees c suspect              a member table changed (states=)
//	t=1.204s a: NotifyLeave c              a delegate was called (events=)
//	t=1.204s a -> b ping(seq=3) + alive(c inc=2)     a datagram was sent (msgs=)
//	t=1.204s a => b push/pull join nodes=1 (...)     a stream was opened (msgs=)
//
// Sends are printed when they leave the sender, with "dropped" when the
// network lost them. Times are virtual time since the simulation started.
//
// Commands:
//
//	new-sim seed=1 latency=1ms jitter=0 loss=0   first, if at all
//	add-nodes n=3 | add-nodes a b [veto-merge=true conflicts=true meta=M
//	          reclaim=D pushpull=D gossip-to-dead=D]
//	join a b [c...]          a starts a join push/pull with b (and c...)
//	crash a [b...]; leave a [b...]; partition a,b | c,d; heal
//	run-for 2s; run-until-converged [limit=1m]
//	deliver to=a [from=ip:port|node] alive node=x inc=1 [addr=ip port=p meta=M]
//	deliver to=a suspect|dead node=x inc=1 from=y   (also ping, ack)
//	deliver to=a             with one message per input line: a compound
//	state; members a
//	log msgs=on|off|a,b states=... events=... max=60   (sticky)

package memberlist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// tsFilter says which lines of one kind to print: none, all, or those that
// involve one of only.
type tsFilter struct {
	on   bool
	only []string
}

func (f tsFilter) match(names ...string) bool {
	if !f.on {
		return false
	}
	if f.only == nil {
		return true
	}
	for _, n := range names {
		if slices.Contains(f.only, n) {
			return true
		}
	}
	return false
}

func (f tsFilter) String() string {
	switch {
	case !f.on:
		return "off"
	case f.only == nil:
		return "on"
	}
	return strings.Join(f.only, ",")
}

func parseFilter(v string) (tsFilter, error) {
	switch v {
	case "on":
		return tsFilter{on: true}, nil
	case "off":
		return tsFilter{}, nil
	case "":
		return tsFilter{}, errors.New("empty filter: want on, off or node names a,b")
	}
	return tsFilter{on: true, only: strings.Split(v, ",")}, nil
}

// tsNodeOpts configures the nodes of one add-nodes command.
type tsNodeOpts struct {
	vetoMerge    bool
	conflicts    bool
	meta         string
	reclaim      time.Duration
	pushPull     time.Duration
	gossipToDead time.Duration
	reconnect    *time.Duration // ReconnectInterval, when given (0s disables)
}

// tsEnv is the state of one transcript.
type tsEnv struct {
	sim     *Simulation
	names   []string          // simulated nodes, in AddNode order
	addrOf  map[string]string // simulated node -> "ip:port"
	extra   []string          // members only crafted messages spoke of
	crashed map[string]bool
	left    map[string]bool
	adding  tsNodeOpts // options of the nodes being added

	msgs, states, events tsFilter
	maxLines             int

	out       []string // the running command's lines
	traceSeen int      // how much of sim.Trace is printed
}

func newTsEnv() *tsEnv {
	return &tsEnv{
		addrOf:   map[string]string{},
		crashed:  map[string]bool{},
		left:     map[string]bool{},
		states:   tsFilter{on: true},
		events:   tsFilter{on: true},
		maxLines: 60,
	}
}

// run performs one command and returns its output lines. An error means the
// command itself is malformed; what the simulation refuses is output.
func (e *tsEnv) run(cmd string, input []string) ([]string, error) {
	fields := strings.Fields(cmd)
	name, args := fields[0], fields[1:]
	e.out = nil
	if e.sim != nil {
		e.traceSeen = len(e.sim.Trace)
	}
	var err error
	switch name {
	case "new-sim":
		err = e.cmdNewSim(args)
	case "log":
		err = e.cmdLog(args)
	case "add-nodes":
		err = e.cmdAddNodes(args)
	case "join":
		err = e.cmdJoin(args)
	case "crash", "leave":
		err = e.cmdCrashLeave(name, args)
	case "partition":
		err = e.cmdPartition(args)
	case "heal":
		err = noArgs(args, func() { e.simulation().Heal() })
	case "run-for":
		err = e.cmdRunFor(args)
	case "run-until-converged":
		err = e.cmdRunUntilConverged(args)
	case "deliver":
		err = e.cmdDeliver(args, input)
	case "state":
		err = noArgs(args, e.cmdState)
	case "members":
		err = e.cmdMembers(args)
	default:
		err = fmt.Errorf("unknown command %q", name)
	}
	if err != nil {
		return nil, err
	}
	if name != "deliver" && len(input) > 0 {
		return nil, fmt.Errorf("%s takes no input lines", name)
	}
	e.flushTrace()
	out := e.out
	if len(out) == 0 {
		out = []string{"ok"}
	}
	if len(out) > e.maxLines {
		more := len(out) - e.maxLines
		out = append(out[:e.maxLines:e.maxLines], fmt.Sprintf("... %d more lines (log max=N shows more)", more))
	}
	return out, nil
}

func noArgs(args []string, f func()) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %v", args)
	}
	f()
	return nil
}

// kvArgs splits key=value arguments off positional ones and checks that
// every key is one the command knows.
func kvArgs(args []string, known ...string) (pos []string, kv map[string]string, err error) {
	kv = map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			pos = append(pos, a)
			continue
		}
		if !slices.Contains(known, k) {
			return nil, nil, fmt.Errorf("unknown key %q (known: %s)", k, strings.Join(known, ", "))
		}
		kv[k] = v
	}
	return pos, kv, nil
}

func parseUint32(kv map[string]string, key string, def uint32) (uint32, error) {
	v, ok := kv[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s=%s: %w", key, v, err)
	}
	return uint32(n), nil
}

func parseDuration(kv map[string]string, key string, def time.Duration) (time.Duration, error) {
	v, ok := kv[key]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%s: %w", key, v, err)
	}
	return d, nil
}

func parseBool(kv map[string]string, key string) (bool, error) {
	v, ok := kv[key]
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%s: %w", key, v, err)
	}
	return b, nil
}

// ---------------------------------------------------------------------------
// Output

func tsTime(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("t=%d.%03ds", ms/1000, ms%1000)
}

func (e *tsEnv) printf(format string, args ...any) {
	e.out = append(e.out, fmt.Sprintf(format, args...))
}

// flushTrace prints the member table changes not yet printed. Every other
// kind of line flushes first, so that lines keep the order things happened.
func (e *tsEnv) flushTrace() {
	if e.sim == nil {
		return
	}
	for _, tr := range e.sim.Trace[e.traceSeen:] {
		if e.states.match(tr.Observer) {
			e.printf("%s %s sees %s %s", tsTime(tr.At), tr.Observer, tr.Member, tr.State)
		}
	}
	e.traceSeen = len(e.sim.Trace)
}

func (e *tsEnv) event(node, format string, args ...any) {
	e.flushTrace()
	if e.events.match(node) {
		e.printf("%s %s: %s", tsTime(e.sim.Elapsed()), node, fmt.Sprintf(format, args...))
	}
}

// memberExtras describes a member's address when it is not the one the
// simulation gave the node of that name, and its metadata when it has any.
func (e *tsEnv) memberExtras(name string, ip []byte, port uint16, meta []byte) string {
	s := ""
	if addr := joinHostPort(ip, port); addr != e.addrOf[name] {
		s += " addr=" + addr
	}
	if len(meta) > 0 {
		s += " meta=" + string(meta)
	}
	return s
}

func (e *tsEnv) nodeDesc(n *Node) string {
	return n.Name + e.memberExtras(n.Name, n.Addr, n.Port, n.Meta)
}

// tsDelegates records what a node's core tells its delegates.
type tsDelegates struct {
	e    *tsEnv
	node string
	meta []byte
}

func (d *tsDelegates) NotifyJoin(n *Node)   { d.e.event(d.node, "NotifyJoin %s", d.e.nodeDesc(n)) }
func (d *tsDelegates) NotifyLeave(n *Node)  { d.e.event(d.node, "NotifyLeave %s", n.Name) }
func (d *tsDelegates) NotifyUpdate(n *Node) { d.e.event(d.node, "NotifyUpdate %s", d.e.nodeDesc(n)) }

func (d *tsDelegates) NotifyConflict(existing, other *Node) {
	d.e.event(d.node, "NotifyConflict %s known at %s, claimed by %s",
		existing.Name, existing.Address(), other.Address())
}

func (d *tsDelegates) NotifyMerge(peers []*Node) error {
	names := make([]string, len(peers))
	for i, p := range peers {
		names[i] = p.Name
	}
	d.e.event(d.node, "NotifyMerge refused [%s]", strings.Join(names, " "))
	return errors.New("transcript: merge vetoed")
}

// The node Delegate exists only to advertise metadata.
func (d *tsDelegates) NodeMeta(int) []byte                 { return d.meta }
func (d *tsDelegates) NotifyMsg([]byte)                    {}
func (d *tsDelegates) GetBroadcasts(int, int) [][]byte     { return nil }
func (d *tsDelegates) LocalState(bool) []byte              { return nil }
func (d *tsDelegates) MergeRemoteState(buf []byte, _ bool) {}

// ---------------------------------------------------------------------------
// Building and reading the wire

// tsPushPull is a decoded push/pull stream.
type tsPushPull struct {
	join   bool
	states []pushNodeState
}

// decodeRecord takes apart what a simulated node sent into message structs
// (*ping, *alive, ..., *tsPushPull). It is the only code that reads recorded
// buffers, so a change of framing is fixed here.
func decodeRecord(r simRecord) ([]any, error) {
	if r.stream {
		// Requests and answers, as the simulator frames them for a config
		// without label, compression or encryption: the bare message.
		if len(r.buf) == 0 {
			return nil, errors.New("empty stream message")
		}
		m, err := decodeStreamBody(messageType(r.buf[0]), bytes.NewReader(r.buf[1:]))
		if err != nil {
			return nil, err
		}
		switch m.t {
		case pushPullMsg:
			return []any{&tsPushPull{join: m.join, states: m.states}}, nil
		case pingMsg:
			return []any{&m.ping}, nil
		case ackRespMsg:
			return []any{&m.ack}, nil
		case errMsg:
			return nil, fmt.Errorf("error answer: %s", m.err)
		default:
			return nil, fmt.Errorf("unexpected stream message type %s", m.t)
		}
	}
	var out []any
	var walk func(b []byte) error
	walk = func(b []byte) error {
		if len(b) == 0 {
			return errors.New("empty message")
		}
		t, body := messageType(b[0]), b[1:]
		switch t {
		case hasCrcMsg:
			inner, err := checkCRC(body)
			if err != nil {
				return err
			}
			return walk(inner)
		case compoundMsg:
			parts, truncated, err := splitCompound(nil, body)
			if err != nil {
				return err
			}
			for _, p := range parts {
				if err := walk(p); err != nil {
					return err
				}
			}
			if truncated > 0 {
				return fmt.Errorf("compound lost %d parts", truncated)
			}
			return nil
		case compressMsg:
			plain, err := decompressPayload(body)
			if err != nil {
				return err
			}
			return walk(plain)
		case userMsg:
			out = append(out, t)
			return nil
		}
		// Only a stream carries an error answer.
		v := newForType(t)
		if v == nil || t == errMsg {
			return fmt.Errorf("unexpected message type %s", t)
		}
		if err := decodeMsg(body, v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	}
	return out, walk(r.buf)
}

func (e *tsEnv) describeMsg(to string, m any) string {
	switch m := m.(type) {
	case *ping:
		if m.Node != to {
			return fmt.Sprintf("ping(seq=%d node=%s)", m.SeqNo, m.Node)
		}
		return fmt.Sprintf("ping(seq=%d)", m.SeqNo)
	case *indirectPingReq:
		return fmt.Sprintf("indirect-ping(seq=%d target=%s nack=%t)", m.SeqNo, m.Node, m.Nack)
	case *ackResp:
		return fmt.Sprintf("ack(seq=%d)", m.SeqNo)
	case *nackResp:
		return fmt.Sprintf("nack(seq=%d)", m.SeqNo)
	case *alive:
		return fmt.Sprintf("alive(%s inc=%d%s)", m.Node, m.Incarnation, e.memberExtras(m.Node, m.Addr, m.Port, m.Meta))
	case *suspect:
		return fmt.Sprintf("suspect(%s inc=%d by=%s)", m.Node, m.Incarnation, m.From)
	case *dead:
		return fmt.Sprintf("dead(%s inc=%d by=%s)", m.Node, m.Incarnation, m.From)
	case *tsPushPull:
		var b strings.Builder
		b.WriteString("push/pull")
		if m.join {
			b.WriteString(" join")
		}
		fmt.Fprintf(&b, " nodes=%d (", len(m.states))
		for i, st := range m.states {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %s inc=%d%s", st.Name, st.State, st.Incarnation, e.memberExtras(st.Name, st.Addr, st.Port, st.Meta))
		}
		b.WriteString(")")
		return b.String()
	}
	return fmt.Sprint(m)
}

func (e *tsEnv) observe(r simRecord) {
	e.flushTrace()
	if !e.msgs.match(r.from, r.to) {
		return
	}
	arrow := "->"
	if r.stream {
		arrow = "=>"
	}
	var parts []string
	msgs, err := decodeRecord(r)
	for _, m := range msgs {
		parts = append(parts, e.describeMsg(r.to, m))
	}
	if err != nil {
		parts = append(parts, fmt.Sprintf("undecodable(%v)", err))
	}
	line := fmt.Sprintf("%s %s %s %s %s", tsTime(r.at), r.from, arrow, r.to, strings.Join(parts, " + "))
	if r.dropped {
		line += " dropped"
	}
	e.out = append(e.out, line)
}

// buildMsg encodes one crafted message from a spec such as
// `alive node=x inc=3 addr=127.0.0.99 port=7946 meta=v1`.
func (e *tsEnv) buildMsg(spec []string) ([]byte, error) {
	if len(spec) == 0 {
		return nil, errors.New("missing message type")
	}
	typ := spec[0]
	known := map[string][]string{
		"alive":   {"node", "inc", "addr", "port", "meta"},
		"suspect": {"node", "inc", "from"},
		"dead":    {"node", "inc", "from"},
		"ping":    {"node", "seq"},
		"ack":     {"seq"},
	}[typ]
	if known == nil {
		return nil, fmt.Errorf("cannot craft a %q message (alive, suspect, dead, ping, ack)", typ)
	}
	pos, kv, err := kvArgs(spec[1:], known...)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("unexpected %v in a %s message", pos, typ)
	}
	node := kv["node"]
	if node == "" && typ != "ack" {
		return nil, fmt.Errorf("%s needs node=", typ)
	}
	if node != "" && e.addrOf[node] == "" && !slices.Contains(e.extra, node) {
		e.extra = append(e.extra, node)
	}
	inc, err := parseUint32(kv, "inc", 1)
	if err != nil {
		return nil, err
	}
	seq, err := parseUint32(kv, "seq", 1)
	if err != nil {
		return nil, err
	}
	from := kv["from"]
	if (typ == "suspect" || typ == "dead") && from == "" {
		return nil, fmt.Errorf("%s needs from= (the accuser; the node itself for a leave)", typ)
	}
	switch typ {
	case "alive":
		host := kv["addr"]
		if host == "" {
			if host, _, err = net.SplitHostPort(e.addrOf[node]); err != nil {
				return nil, fmt.Errorf("alive for %s needs addr=, it is not a simulated node", node)
			}
		}
		ip := net.ParseIP(host).To4()
		if ip == nil {
			return nil, fmt.Errorf("addr=%s is not an IPv4 address", host)
		}
		port, err := parseUint32(kv, "port", 7946)
		if err != nil {
			return nil, err
		}
		var meta []byte
		if m := kv["meta"]; m != "" {
			meta = []byte(m)
		}
		a := alive{Incarnation: inc, Node: node, Addr: ip, Port: uint16(port), Meta: meta,
			Vsn: DefaultLANConfig().BuildVsnArray()}
		return encodeMsg(aliveMsg, &a, false)
	case "suspect":
		return encodeMsg(suspectMsg, &suspect{Incarnation: inc, Node: node, From: from}, false)
	case "dead":
		return encodeMsg(deadMsg, &dead{Incarnation: inc, Node: node, From: from}, false)
	case "ping":
		return encodeMsg(pingMsg, &ping{SeqNo: seq, Node: node}, false)
	default:
		return encodeMsg(ackRespMsg, &ackResp{SeqNo: seq}, false)
	}
}

// ---------------------------------------------------------------------------
// Commands

func (e *tsEnv) simulation() *Simulation {
	if e.sim == nil {
		_ = e.cmdNewSim(nil)
	}
	return e.sim
}

// new-sim seed=1 latency=1ms jitter=0 loss=0
func (e *tsEnv) cmdNewSim(args []string) error {
	if e.sim != nil {
		return errors.New("new-sim must come first, and only once")
	}
	pos, kv, err := kvArgs(args, "seed", "latency", "jitter", "loss")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected arguments %v", pos)
	}
	sc := SimConfig{Seed: 1, Latency: time.Millisecond}
	if v, ok := kv["seed"]; ok {
		if sc.Seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("seed=%s: %w", v, err)
		}
	}
	if sc.Latency, err = parseDuration(kv, "latency", sc.Latency); err != nil {
		return err
	}
	if sc.Jitter, err = parseDuration(kv, "jitter", 0); err != nil {
		return err
	}
	if v, ok := kv["loss"]; ok {
		if sc.PacketLoss, err = strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("loss=%s: %w", v, err)
		}
	}
	sc.Config = e.nodeConfig
	e.sim = NewSimulation(sc)
	e.sim.observe = e.observe
	return nil
}

// nodeConfig is the configuration of every simulated node: the defaults of
// a LAN, every event recorded, and the running add-nodes' options.
func (e *tsEnv) nodeConfig(name string) *Config {
	cfg := DefaultLANConfig()
	cfg.EnableCompression = false
	cfg.LogOutput = io.Discard
	o := e.adding
	d := &tsDelegates{e: e, node: name}
	cfg.Events = d
	if o.vetoMerge {
		cfg.Merge = d
	}
	if o.conflicts {
		cfg.Conflict = d
	}
	if o.meta != "" {
		d.meta = []byte(o.meta)
		cfg.Delegate = d
	}
	if o.reclaim > 0 {
		cfg.DeadNodeReclaimTime = o.reclaim
	}
	if o.pushPull > 0 {
		cfg.PushPullInterval = o.pushPull
	}
	if o.reconnect != nil {
		cfg.ReconnectInterval = *o.reconnect
	}
	if o.gossipToDead > 0 {
		cfg.GossipToTheDeadTime = o.gossipToDead
	}
	return cfg
}

// log msgs=off states=on events=on max=60
func (e *tsEnv) cmdLog(args []string) error {
	pos, kv, err := kvArgs(args, "msgs", "states", "events", "max")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected arguments %v", pos)
	}
	for k, f := range map[string]*tsFilter{"msgs": &e.msgs, "states": &e.states, "events": &e.events} {
		if v, ok := kv[k]; ok {
			if *f, err = parseFilter(v); err != nil {
				return fmt.Errorf("%s=: %w", k, err)
			}
		}
	}
	if v, ok := kv["max"]; ok {
		if e.maxLines, err = strconv.Atoi(v); err != nil || e.maxLines < 1 {
			return fmt.Errorf("max=%s: want a positive number", v)
		}
	}
	e.printf("msgs=%s states=%s events=%s max=%d", e.msgs, e.states, e.events, e.maxLines)
	return nil
}

// add-nodes n=3 | add-nodes a b c, with node options:
// veto-merge=true conflicts=true meta=v1 reclaim=10s pushpull=30s gossip-to-dead=30s
func (e *tsEnv) cmdAddNodes(args []string) error {
	pos, kv, err := kvArgs(args, "n", "veto-merge", "conflicts", "meta", "reclaim", "pushpull", "gossip-to-dead", "reconnect")
	if err != nil {
		return err
	}
	var o tsNodeOpts
	if o.vetoMerge, err = parseBool(kv, "veto-merge"); err != nil {
		return err
	}
	if o.conflicts, err = parseBool(kv, "conflicts"); err != nil {
		return err
	}
	o.meta = kv["meta"]
	if o.reclaim, err = parseDuration(kv, "reclaim", 0); err != nil {
		return err
	}
	if o.pushPull, err = parseDuration(kv, "pushpull", 0); err != nil {
		return err
	}
	if o.gossipToDead, err = parseDuration(kv, "gossip-to-dead", 0); err != nil {
		return err
	}
	if _, ok := kv["reconnect"]; ok {
		d, err := parseDuration(kv, "reconnect", 0)
		if err != nil {
			return err
		}
		o.reconnect = &d
	}
	names := pos
	if v, ok := kv["n"]; ok {
		if len(pos) > 0 {
			return errors.New("give n= or names, not both")
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("n=%s: want a positive number", v)
		}
		for i := range n {
			idx := len(e.names) + i
			name := string(rune('a' + idx))
			if idx >= 26 {
				name = fmt.Sprintf("n%d", idx)
			}
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return errors.New("add-nodes needs n= or names")
	}
	sim := e.simulation()
	e.adding = o
	defer func() { e.adding = tsNodeOpts{} }()
	for _, name := range names {
		if slices.Contains(e.extra, name) {
			return fmt.Errorf("%s is already a crafted member", name)
		}
		idx := len(e.names)
		addr := joinHostPort(net.IPv4(127, byte(1+idx>>16), byte(idx>>8), byte(idx)).To4(), 7946)
		if _, dup := e.addrOf[name]; !dup {
			// Known before AddNode, so the node's own events print plainly.
			e.addrOf[name] = addr
		}
		if err := sim.AddNode(name); err != nil {
			e.printf("error: %v", err)
			continue
		}
		e.names = append(e.names, name)
	}
	return nil
}

// join a b c: a joins b and c.
func (e *tsEnv) cmdJoin(args []string) error {
	if len(args) < 2 {
		return errors.New("join needs a node and at least one peer")
	}
	if err := e.simulation().Join(args[0], args[1:]...); err != nil {
		e.printf("error: %v", err)
	}
	return nil
}

func (e *tsEnv) cmdCrashLeave(cmd string, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s needs node names", cmd)
	}
	sim := e.simulation()
	for _, name := range args {
		var err error
		if cmd == "crash" {
			if err = sim.Crash(name); err == nil {
				e.crashed[name] = true
			}
		} else {
			if err = sim.Leave(name); err == nil {
				e.left[name] = true
			}
		}
		if err != nil {
			e.printf("error: %v", err)
		}
	}
	return nil
}

// partition a,b | c,d
func (e *tsEnv) cmdPartition(args []string) error {
	if len(args) != 3 || args[1] != "|" {
		return errors.New("want partition a,b | c,d")
	}
	if err := e.simulation().Partition(strings.Split(args[0], ","), strings.Split(args[2], ",")); err != nil {
		e.printf("error: %v", err)
	}
	return nil
}

// run-for 2s
func (e *tsEnv) cmdRunFor(args []string) error {
	if len(args) != 1 {
		return errors.New("want run-for DURATION")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return err
	}
	e.simulation().RunFor(d)
	return nil
}

// converged says whether every running node sees every simulated node as it
// is: alive if running, left if it left, dead if it crashed.
func (e *tsEnv) converged() bool {
	for _, o := range e.names {
		if e.crashed[o] || e.left[o] {
			continue
		}
		for _, m := range e.names {
			want := StateAlive
			switch {
			case e.left[m]:
				want = StateLeft
			case e.crashed[m]:
				want = StateDead
			}
			if st, ok := e.sim.State(o, m); !ok || st != want {
				return false
			}
		}
	}
	return true
}

// run-until-converged [limit=1m]
func (e *tsEnv) cmdRunUntilConverged(args []string) error {
	pos, kv, err := kvArgs(args, "limit")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected arguments %v", pos)
	}
	limit, err := parseDuration(kv, "limit", time.Minute)
	if err != nil {
		return err
	}
	sim := e.simulation()
	ok := sim.RunUntil(e.converged, limit)
	e.flushTrace()
	if ok {
		e.printf("%s converged", tsTime(sim.Elapsed()))
	} else {
		e.printf("%s not converged after %s", tsTime(sim.Elapsed()), limit)
	}
	return nil
}

// deliver to=a [from=ADDR|node] TYPE key=value..., or the messages as input
// lines (one per line, sent as one compound).
func (e *tsEnv) cmdDeliver(args, input []string) error {
	var own []string
	for len(args) > 0 && strings.Contains(args[0], "=") {
		own, args = append(own, args[0]), args[1:]
	}
	_, kv, err := kvArgs(own, "to", "from")
	if err != nil {
		return err
	}
	to := kv["to"]
	if to == "" {
		return errors.New("deliver needs to=")
	}
	from := kv["from"]
	switch {
	case from == "":
		from = "127.0.0.99:7946"
	case e.addrOf[from] != "":
		from = e.addrOf[from]
	}
	specs := input
	if len(args) > 0 {
		if len(input) > 0 {
			return errors.New("give the message on the command line or as input lines, not both")
		}
		specs = []string{strings.Join(args, " ")}
	}
	if len(specs) == 0 {
		return errors.New("deliver needs a message")
	}
	var msgs [][]byte
	for _, s := range specs {
		m, err := e.buildMsg(strings.Fields(s))
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	buf := msgs[0]
	if len(msgs) > 1 {
		buf = makeCompound(msgs)
	}
	if err := e.simulation().deliver(to, from, buf); err != nil {
		e.printf("error: %v", err)
	}
	return nil
}

// members returns every name the transcript knows of: simulated nodes, then
// members only crafted messages spoke of.
func (e *tsEnv) members() []string {
	return append(slices.Clip(e.names), e.extra...)
}

// state prints each node's view of every member, one row per observer.
func (e *tsEnv) cmdState() {
	sim := e.simulation()
	cols := e.members()
	width := 9
	for _, c := range cols {
		width = max(width, len(c)+1)
	}
	pad := func(s string) string { return s + strings.Repeat(" ", max(1, width-len(s))) }
	row := pad("")
	for _, c := range cols {
		row += pad(c)
	}
	e.printf("%s", strings.TrimRight(row, " "))
	for _, o := range e.names {
		row := pad(o)
		for _, m := range cols {
			cell := "-"
			if st, ok := sim.State(o, m); ok {
				cell = st.String()
			}
			row += pad(cell)
		}
		row = strings.TrimRight(row, " ")
		switch {
		case e.crashed[o]:
			row += "   (crashed)"
		case e.left[o]:
			row += "   (left)"
		}
		e.printf("%s", row)
	}
}

// members x: how x sees each member it knows.
func (e *tsEnv) cmdMembers(args []string) error {
	if len(args) != 1 {
		return errors.New("want members NODE")
	}
	sim := e.simulation()
	for _, m := range e.members() {
		if st, ok := sim.State(args[0], m); ok {
			e.printf("%s %s", m, st)
		}
	}
	e.printf("%d alive or suspect", sim.NumMembers(args[0]))
	return nil
}
