// Command wiregen captures golden wire vectors from the reference implementation,
// hashicorp/memberlist v0.7.0, so the root module can prove its encoders and decoders
// against the exact bytes the reference puts on the wire without ever importing it.
//
// The reference's encoders are unexported, so nothing is constructed here: wiregen runs
// small reference clusters on loopback over a capturing Transport, provokes each kind of
// traffic (joins, probes, indirect probes with and without a reachable target, TCP
// fallback pings, gossip, leaves, crashes, user messages, a stream error), and writes the
// first datagram or stream of each kind it sees. Each file is hex (32 bytes a line) after
// '#' comment lines that say what it is and what it decodes to.
//
// Regenerate (from the interop module):
//
//	cd interop && go run ./cmd/wiregen            # writes ../testdata/golden/*.hex
//	cd interop && go run ./cmd/wiregen -out DIR
//
// Vectors carry live details (ports, sequence numbers, incarnations, AES-GCM nonces from
// crypto/rand), so a regeneration changes bytes but not structure; consumers should
// check structure and the decoded fields in each header, not compare across runs. The
// encryption key is fixed (see keyV0/keyV1) and printed in the header of every
// encrypted vector; the nonce is bytes 1..12 of the encrypted payload.
package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"github.com/swimgo/memberlist/interop/internal/capconn"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	ml "github.com/hashicorp/memberlist"

	"github.com/swimgo/memberlist/interop/internal/wire"
)

var (
	keyV1 = []byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}
	keyV0 = keyV1
)

const label = "golden-label"

func main() {
	out := flag.String("out", filepath.Join("..", "testdata", "golden"), "directory to write the .hex vectors into")
	verbose := flag.Bool("v", false, "print the reference's logs")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatalf("wiregen: %v", err)
	}
	g := &gen{out: *out, verbose: *verbose, written: map[string]bool{}}
	steps := []struct {
		name string
		run  func() error
	}{
		{"plain", g.plain},
		{"compressed", g.compressed},
		{"labelled", g.labelled},
		{"encrypted-v1", g.encryptedV1},
		{"encrypted-v0", g.encryptedV0},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			log.Fatalf("wiregen: %s: %v", s.name, err)
		}
	}
	names := make([]string, 0, len(g.written))
	for n := range g.written {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Printf("wrote %d vectors to %s: %s\n", len(names), *out, strings.Join(names, " "))
}

type gen struct {
	out     string
	verbose bool
	written map[string]bool
}

// capture is everything one scenario's nodes sent.
type capture struct {
	mu      sync.Mutex
	names   map[string]string // addr -> node name
	packets []datagram
	streams []stream
	dropUDP map[[2]string]bool
}

type datagram struct {
	from, to string
	raw      []byte
}

type stream struct {
	from, to string
	reply    bool
	raw      []byte
}

func newCapture() *capture {
	return &capture{names: map[string]string{}, dropUDP: map[[2]string]bool{}}
}

func (c *capture) name(addr, given string) string {
	if given != "" {
		return given
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.names[addr]; ok {
		return n
	}
	return addr
}

func (c *capture) block(a, b string) {
	c.mu.Lock()
	c.dropUDP[[2]string{a, b}], c.dropUDP[[2]string{b, a}] = true, true
	c.mu.Unlock()
}

// capTransport records what its node sends; datagrams to blocked peers are recorded and
// then dropped, which is how probes are pushed onto the indirect and TCP paths.
type capTransport struct {
	*ml.NetTransport
	c    *capture
	self string
}

func (t *capTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, ml.Address{Addr: addr})
}

func (t *capTransport) WriteToAddress(b []byte, a ml.Address) (time.Time, error) {
	to := t.c.name(a.Addr, a.Name)
	t.c.mu.Lock()
	t.c.packets = append(t.c.packets, datagram{from: t.self, to: to, raw: append([]byte(nil), b...)})
	drop := t.c.dropUDP[[2]string{t.self, to}]
	t.c.mu.Unlock()
	if drop {
		return time.Now(), nil
	}
	return t.NetTransport.WriteToAddress(b, a)
}

func (t *capTransport) DialTimeout(addr string, d time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(ml.Address{Addr: addr}, d)
}

func (t *capTransport) DialAddressTimeout(a ml.Address, d time.Duration) (net.Conn, error) {
	conn, err := t.NetTransport.DialAddressTimeout(a, d)
	if err != nil {
		return nil, err
	}
	c, from, to := t.c, t.self, t.c.name(a.Addr, a.Name)
	return capconn.New(conn, func(wrote, read []byte) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(wrote) > 0 {
			c.streams = append(c.streams, stream{from: from, to: to, raw: wrote})
		}
		if len(read) > 0 {
			c.streams = append(c.streams, stream{from: to, to: from, reply: true, raw: read})
		}
	}), nil
}

type msgDelegate struct {
	mu   sync.Mutex
	meta []byte
	msgs [][]byte
	bq   *ml.TransmitLimitedQueue
}

func (d *msgDelegate) NodeMeta(int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.meta
}
func (d *msgDelegate) NotifyMsg(b []byte) {
	d.mu.Lock()
	d.msgs = append(d.msgs, append([]byte(nil), b...))
	d.mu.Unlock()
}
func (d *msgDelegate) GetBroadcasts(o, l int) [][]byte { return d.bq.GetBroadcasts(o, l) }
func (d *msgDelegate) LocalState(join bool) []byte     { return []byte("golden user state") }
func (d *msgDelegate) MergeRemoteState([]byte, bool)   {}

type userBroadcast []byte

func (b userBroadcast) Invalidates(ml.Broadcast) bool { return false }
func (b userBroadcast) Message() []byte               { return b }
func (b userBroadcast) Finished()                     {}

type refNode struct {
	name string
	addr string
	m    *ml.Memberlist
	d    *msgDelegate
	node ml.Node // a copy of how peers address it
}

type nodeSpec struct {
	name, ip    string
	port        int
	pv          uint8
	compression bool
	label       string
	key         []byte
}

func (g *gen) start(c *capture, s nodeSpec) (*refNode, error) {
	var logOut io.Writer = io.Discard
	if g.verbose {
		logOut = os.Stderr
	}
	logger := log.New(logOut, s.name+" ", log.Lmicroseconds)
	if s.ip == "" {
		s.ip = "127.0.0.1"
	}
	nt, err := ml.NewNetTransport(&ml.NetTransportConfig{BindAddrs: []string{s.ip}, BindPort: s.port, Logger: logger})
	if err != nil {
		return nil, err
	}
	port := nt.GetAutoBindPort()
	addr := net.JoinHostPort(s.ip, strconv.Itoa(port))
	c.mu.Lock()
	c.names[addr] = s.name
	c.mu.Unlock()

	d := &msgDelegate{meta: []byte("meta of " + s.name)}
	d.bq = &ml.TransmitLimitedQueue{NumNodes: func() int { return 3 }, RetransmitMult: 3}
	conf := ml.DefaultLocalConfig()
	conf.Name = s.name
	conf.BindAddr, conf.BindPort = s.ip, port
	conf.AdvertiseAddr, conf.AdvertisePort = s.ip, port
	conf.Transport = &capTransport{NetTransport: nt, c: c, self: s.name}
	conf.Logger = logger
	conf.Delegate = d
	conf.EnableCompression = s.compression
	conf.Label = s.label
	conf.ProbeInterval = 400 * time.Millisecond
	conf.ProbeTimeout = 200 * time.Millisecond
	conf.GossipInterval = 100 * time.Millisecond
	conf.SuspicionMult = 2
	conf.SuspicionMaxTimeoutMult = 2
	conf.PushPullInterval = time.Second
	if s.pv != 0 {
		conf.ProtocolVersion = s.pv
	}
	if s.key != nil {
		kr, err := ml.NewKeyring(nil, s.key)
		if err != nil {
			return nil, err
		}
		conf.Keyring = kr
	}
	m, err := ml.Create(conf)
	if err != nil {
		_ = nt.Shutdown()
		return nil, err
	}
	return &refNode{
		name: s.name, addr: addr, m: m, d: d,
		node: ml.Node{Name: s.name, Addr: net.ParseIP(s.ip).To4(), Port: uint16(port), PMin: 1, PMax: 5, PCur: conf.ProtocolVersion},
	}, nil
}

// waitUntil polls cond for at most d.
func waitUntil(d time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func (g *gen) cluster(c *capture, specs ...nodeSpec) ([]*refNode, error) {
	var nodes []*refNode
	for _, s := range specs {
		n, err := g.start(c, s)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes[1:] {
		if _, err := n.m.Join([]string{nodes[0].addr}); err != nil {
			return nil, fmt.Errorf("%s join: %w", n.name, err)
		}
	}
	err := waitUntil(5*time.Second, "convergence", func() bool {
		for _, n := range nodes {
			if n.m.NumMembers() != len(nodes) {
				return false
			}
		}
		return true
	})
	return nodes, err
}

func shutdown(nodes []*refNode) {
	for _, n := range nodes {
		_ = n.m.Shutdown()
	}
}

// ---- selection and writing ----

type keyed struct {
	keys [][]byte
	note string
}

// pickPacket returns the first datagram from the capture that decodes and satisfies
// pred.
func pickPacket(c *capture, k keyed, pred func(d datagram, msgs []wire.Msg) bool) (datagram, []wire.Msg, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range c.packets {
		msgs, err := wire.DecodePacket(d.raw, k.keys)
		if err != nil || len(msgs) == 0 {
			continue
		}
		if pred(d, msgs) {
			return d, msgs, true
		}
	}
	return datagram{}, nil, false
}

func pickStream(c *capture, k keyed, pred func(s stream, st *wire.Stream) bool) (stream, *wire.Stream, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.streams {
		st, err := wire.DecodeStream(s.raw, k.keys)
		if err != nil {
			continue
		}
		if pred(s, st) {
			return s, st, true
		}
	}
	return stream{}, nil, false
}

// single matches a datagram holding exactly one message of type t, with no compound
// framing or compression (CRC allowed when crc says so).
func single(t byte, crc bool) func(datagram, []wire.Msg) bool {
	return func(_ datagram, msgs []wire.Msg) bool {
		e := msgs[0].Env
		return len(msgs) == 1 && msgs[0].Type == t && !e.Compound && !e.Compressed && e.CRC == crc
	}
}

func describeMsg(m wire.Msg) string {
	if m.Type == wire.User {
		return fmt.Sprintf("user payload %q", m.Body)
	}
	v, err := m.Decoded()
	switch {
	case err != nil:
		return fmt.Sprintf("%s (undecodable: %v)", wire.TypeName(m.Type), err)
	case v == nil:
		return fmt.Sprintf("%s body % x", wire.TypeName(m.Type), m.Body)
	}
	return fmt.Sprintf("%s %+v", wire.TypeName(m.Type), v)
}

func describeEnv(e wire.Envelope) string {
	return fmt.Sprintf("label=%q encrypted=%v encryption-version=%d crc=%v compressed=%v compound=%v",
		e.Label, e.Encrypted, e.EncVersion, e.CRC, e.Compressed, e.Compound)
}

func describeStream(s *wire.Stream) []string {
	out := []string{"envelope: " + describeEnv(s.Env), "message: " + wire.TypeName(s.Type)}
	switch {
	case s.PushPull != nil:
		out = append(out, fmt.Sprintf("push/pull header: %+v", s.PushPull.Header))
		for _, n := range s.PushPull.Nodes {
			out = append(out, fmt.Sprintf("  node: Name=%s Addr=%v Port=%d Meta=%q Incarnation=%d State=%d Vsn=%v",
				n.Name, net.IP(n.Addr), n.Port, n.Meta, n.Incarnation, n.State, n.Vsn))
		}
		out = append(out, fmt.Sprintf("user state: %q", s.PushPull.UserState))
	case s.User != nil:
		out = append(out, fmt.Sprintf("user payload: %q", s.User))
	case s.Ping != nil:
		out = append(out, fmt.Sprintf("ping: %+v", *s.Ping))
	case s.Ack != nil:
		out = append(out, fmt.Sprintf("ack: %+v", *s.Ack))
	case s.Err != nil:
		out = append(out, fmt.Sprintf("err: %+v", *s.Err))
	}
	return out
}

func (g *gen) write(name, what string, k keyed, detail []string, raw []byte) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s: %s\n", name, what)
	fmt.Fprintf(&b, "# captured from hashicorp/memberlist v0.7.0 by interop/cmd/wiregen (cd interop && go run ./cmd/wiregen)\n")
	if k.note != "" {
		fmt.Fprintf(&b, "# %s\n", k.note)
	}
	for _, d := range detail {
		fmt.Fprintf(&b, "# %s\n", d)
	}
	fmt.Fprintf(&b, "# %d bytes\n", len(raw))
	for i := 0; i < len(raw); i += 32 {
		end := min(i+32, len(raw))
		b.WriteString(hex.EncodeToString(raw[i:end]))
		b.WriteByte('\n')
	}
	g.written[name] = true
	return os.WriteFile(filepath.Join(g.out, name+".hex"), b.Bytes(), 0o644)
}

func (g *gen) writePacket(c *capture, k keyed, name, what string, pred func(datagram, []wire.Msg) bool) error {
	var (
		d    datagram
		msgs []wire.Msg
		ok   bool
	)
	_ = waitUntil(5*time.Second, name, func() bool { d, msgs, ok = pickPacket(c, k, pred); return ok })
	if !ok {
		return fmt.Errorf("no datagram captured for %s (%s)", name, what)
	}
	detail := []string{fmt.Sprintf("sent by %s to %s", d.from, d.to), "envelope: " + describeEnv(msgs[0].Env)}
	for _, m := range msgs {
		detail = append(detail, "message: "+describeMsg(m))
	}
	return g.write(name, what, k, detail, d.raw)
}

func (g *gen) writeStream(c *capture, k keyed, name, what string, pred func(stream, *wire.Stream) bool) error {
	var (
		s  stream
		st *wire.Stream
		ok bool
	)
	_ = waitUntil(5*time.Second, name, func() bool { s, st, ok = pickStream(c, k, pred); return ok })
	if !ok {
		return fmt.Errorf("no stream captured for %s (%s)", name, what)
	}
	dir := "written by the dialer"
	if s.reply {
		dir = "written back by the listener"
	}
	detail := append([]string{fmt.Sprintf("stream %s, from %s to %s", dir, s.from, s.to)}, describeStream(st)...)
	return g.write(name, what, k, detail, s.raw)
}

// ---- scenarios ----

func (g *gen) plain() error {
	c := newCapture()
	nodes, err := g.cluster(c,
		nodeSpec{name: "golden-a"}, nodeSpec{name: "golden-b"}, nodeSpec{name: "golden-c"}, nodeSpec{name: "golden-d"})
	if err != nil {
		return err
	}
	defer shutdown(nodes)
	a, b, cc, dd := nodes[0], nodes[1], nodes[2], nodes[3]

	// User messages: one addressed without versions (no CRC), one to a node that
	// understands protocol 5 (CRC), and one over a stream.
	bn := b.node
	bn.PMax = 0
	if err := a.m.SendBestEffort(&bn, []byte("golden best-effort")); err != nil {
		return err
	}
	bn.PMax = 5
	if err := a.m.SendBestEffort(&bn, []byte("golden best-effort with crc")); err != nil {
		return err
	}
	if err := a.m.SendReliable(&bn, []byte("golden reliable")); err != nil {
		return err
	}
	// A metadata update produces a fresh alive broadcast.
	a.d.mu.Lock()
	a.d.meta = []byte("updated meta of golden-a")
	a.d.mu.Unlock()
	if err := a.m.UpdateNode(2 * time.Second); err != nil {
		return err
	}

	// Indirect probes: a cannot reach c over UDP, b can, so b relays and acks;
	// d cannot reach c either, so when a probes c through d, d answers with a nack.
	c.block("golden-a", "golden-c")
	c.block("golden-d", "golden-c")
	k := keyed{}
	if err := waitUntil(10*time.Second, "indirect ping, forwarded ack, nack and TCP ping", func() bool {
		_, _, ind := pickPacket(c, k, func(d datagram, m []wire.Msg) bool { return hasType(m, wire.IndirectPing) })
		_, _, nack := pickPacket(c, k, func(d datagram, m []wire.Msg) bool { return hasType(m, wire.Nack) })
		_, _, tping := pickStream(c, k, func(_ stream, s *wire.Stream) bool { return s.Ping != nil })
		_, _, tack := pickStream(c, k, func(_ stream, s *wire.Stream) bool { return s.Ack != nil })
		return ind && nack && tping && tack
	}); err != nil {
		return err
	}
	c.mu.Lock()
	c.dropUDP = map[[2]string]bool{}
	c.mu.Unlock()

	// A leave (dead from itself) and a crash (suspect, then dead from others).
	if err := dd.m.Leave(2 * time.Second); err != nil {
		return err
	}
	_ = dd.m.Shutdown()
	_ = cc.m.Shutdown()
	if err := waitUntil(10*time.Second, "crash detection", func() bool { return a.m.NumMembers() == 2 && b.m.NumMembers() == 2 }); err != nil {
		return err
	}

	// A stream error: an encrypted stream to a node without encryption.
	if err := captureErrStream(c, a.addr); err != nil {
		return err
	}

	steps := []struct {
		name, what string
		pred       func(datagram, []wire.Msg) bool
	}{
		{"ping", "probe datagram (bare ping)", single(wire.Ping, false)},
		{"ack", "ack datagram answering a probe", single(wire.Ack, false)},
		{"indirect-ping", "indirect probe request", func(d datagram, m []wire.Msg) bool { return m[0].Type == wire.IndirectPing }},
		{"nack", "nack from an intermediary that could not reach the target", func(d datagram, m []wire.Msg) bool {
			return hasType(m, wire.Nack)
		}},
		{"alive", "alive broadcast alone in a gossip datagram (gossip carries a CRC to protocol-5 peers)", func(d datagram, m []wire.Msg) bool {
			return len(m) == 1 && m[0].Type == wire.Alive && !m[0].Env.Compound
		}},
		{"probe-suspect-crc", "probe of a suspect node: compound of ping and suspect, with a CRC header", func(d datagram, m []wire.Msg) bool {
			return len(m) == 2 && m[0].Env.CRC && m[0].Type == wire.Ping && m[1].Type == wire.Suspect
		}},
		{"suspect", "suspect broadcast about a crashed node", func(d datagram, m []wire.Msg) bool { return hasType(m, wire.Suspect) }},
		{"dead-leave", "dead message a leaving node sends about itself (From == Node)", func(d datagram, m []wire.Msg) bool {
			for _, x := range m {
				if dm, err := x.Dead(); err == nil && x.Type == wire.Dead && dm.From == dm.Node {
					return true
				}
			}
			return false
		}},
		{"dead-crash", "dead message declaring a crashed node (From != Node)", func(d datagram, m []wire.Msg) bool {
			for _, x := range m {
				if dm, err := x.Dead(); err == nil && x.Type == wire.Dead && dm.From != dm.Node {
					return true
				}
			}
			return false
		}},
		{"user", "best-effort user message to a peer addressed without versions", func(d datagram, m []wire.Msg) bool {
			return len(m) == 1 && m[0].Type == wire.User && !m[0].Env.CRC && string(m[0].Body) == "golden best-effort"
		}},
		{"user-crc", "best-effort user message to a protocol-5 peer", func(d datagram, m []wire.Msg) bool {
			return len(m) == 1 && m[0].Type == wire.User && m[0].Env.CRC
		}},
		{"compound", "compound datagram (several messages piggybacked)", func(d datagram, m []wire.Msg) bool {
			return len(m) > 1 && m[0].Env.Compound
		}},
	}
	for _, s := range steps {
		if err := g.writePacket(c, k, s.name, s.what, s.pred); err != nil {
			return err
		}
	}
	streams := []struct {
		name, what string
		pred       func(stream, *wire.Stream) bool
	}{
		{"stream-pushpull-join", "push/pull a joiner sends (Join=true)", func(s stream, st *wire.Stream) bool {
			return !s.reply && st.PushPull != nil && st.PushPull.Header.Join
		}},
		{"stream-pushpull-join-reply", "push/pull the seed answers a join with", func(s stream, st *wire.Stream) bool {
			return s.reply && st.PushPull != nil && st.PushPull.Header.Join
		}},
		{"stream-pushpull", "periodic push/pull (Join=false)", func(s stream, st *wire.Stream) bool {
			return !s.reply && st.PushPull != nil && !st.PushPull.Header.Join && len(st.PushPull.Nodes) >= 3
		}},
		{"stream-user", "reliable user message", func(s stream, st *wire.Stream) bool { return st.User != nil }},
		{"stream-ping", "TCP fallback ping", func(s stream, st *wire.Stream) bool { return st.Ping != nil }},
		{"stream-ack", "ack answering a TCP fallback ping", func(s stream, st *wire.Stream) bool { return st.Ack != nil }},
		{"stream-err", "error reply to an encrypted stream sent to a node without encryption", func(s stream, st *wire.Stream) bool {
			return st.Err != nil
		}},
	}
	for _, s := range streams {
		if err := g.writeStream(c, k, s.name, s.what, s.pred); err != nil {
			return err
		}
	}
	return nil
}

func hasType(msgs []wire.Msg, t byte) bool {
	for _, m := range msgs {
		if m.Type == t {
			return true
		}
	}
	return false
}

// captureErrStream opens a raw stream that claims to be encrypted and records what the
// reference writes back.
func captureErrStream(c *capture, addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write([]byte{wire.Encrypt, 0, 0, 0, 1, 0}); err != nil {
		return err
	}
	reply, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	c.mu.Lock()
	c.streams = append(c.streams, stream{from: c.names[addr], to: "raw client", reply: true, raw: reply})
	c.mu.Unlock()
	return nil
}

func (g *gen) compressed() error {
	c := newCapture()
	nodes, err := g.cluster(c, nodeSpec{name: "golden-a", compression: true}, nodeSpec{name: "golden-b", compression: true})
	if err != nil {
		return err
	}
	defer shutdown(nodes)
	bn := nodes[1].node
	bn.PMax = 0
	long := strings.Repeat("golden compressible payload ", 8)
	if err := nodes[0].m.SendBestEffort(&bn, []byte(long)); err != nil {
		return err
	}
	k := keyed{}
	if err := waitUntil(5*time.Second, "periodic push/pull", func() bool {
		_, _, ok := pickStream(c, k, func(s stream, st *wire.Stream) bool { return st.PushPull != nil && !st.PushPull.Header.Join })
		return ok
	}); err != nil {
		return err
	}
	if err := g.writePacket(c, k, "compressed-user", "LZW-compressed datagram holding a user message", func(d datagram, m []wire.Msg) bool {
		return len(m) == 1 && m[0].Env.Compressed && m[0].Type == wire.User
	}); err != nil {
		return err
	}
	return g.writeStream(c, k, "stream-compressed-pushpull", "LZW-compressed push/pull stream", func(s stream, st *wire.Stream) bool {
		return !s.reply && st.Env.Compressed && st.PushPull != nil
	})
}

func (g *gen) labelled() error {
	c := newCapture()
	nodes, err := g.cluster(c, nodeSpec{name: "golden-a", label: label}, nodeSpec{name: "golden-b", label: label})
	if err != nil {
		return err
	}
	defer shutdown(nodes)
	bn := nodes[1].node
	bn.PMax = 0
	if err := nodes[0].m.SendBestEffort(&bn, []byte("golden labelled")); err != nil {
		return err
	}
	k := keyed{note: "label: " + label}
	if err := g.writePacket(c, k, "labelled-user", "user message datagram with a label header", func(d datagram, m []wire.Msg) bool {
		return len(m) == 1 && m[0].Type == wire.User && m[0].Env.Label == label
	}); err != nil {
		return err
	}
	return g.writeStream(c, k, "stream-labelled-pushpull", "push/pull stream with a label header", func(s stream, st *wire.Stream) bool {
		return !s.reply && st.Env.Label == label && st.PushPull != nil
	})
}

func (g *gen) encryptedV1() error {
	c := newCapture()
	nodes, err := g.cluster(c, nodeSpec{name: "golden-a", key: keyV1}, nodeSpec{name: "golden-b", key: keyV1})
	if err != nil {
		return err
	}
	defer shutdown(nodes)
	bn := nodes[1].node
	bn.PMax = 0
	if err := nodes[0].m.SendBestEffort(&bn, []byte("golden encrypted v1")); err != nil {
		return err
	}
	k := keyed{keys: [][]byte{keyV1}, note: "key (AES-128): " + hex.EncodeToString(keyV1)}
	if err := g.writePacket(c, k, "encrypted-v1-user", "user message datagram, AES-GCM encryption version 1 (protocol version 2)", func(d datagram, m []wire.Msg) bool {
		return len(m) == 1 && m[0].Type == wire.User && m[0].Env.Encrypted && m[0].Env.EncVersion == 1
	}); err != nil {
		return err
	}
	return g.writeStream(c, k, "stream-encrypted-v1-pushpull", "encrypted push/pull stream, encryption version 1", func(s stream, st *wire.Stream) bool {
		return !s.reply && st.Env.Encrypted && st.PushPull != nil
	})
}

// encryptedV0 needs protocol version 1, which carries no ports, so both nodes share
// one port on two loopback addresses.
func (g *gen) encryptedV0() error {
	port, err := commonPort("127.0.0.21", "127.0.0.22")
	if err != nil {
		return err
	}
	c := newCapture()
	nodes, err := g.cluster(c,
		nodeSpec{name: "golden-a", ip: "127.0.0.21", port: port, pv: 1, key: keyV0, label: ""},
		nodeSpec{name: "golden-b", ip: "127.0.0.22", port: port, pv: 1, key: keyV0})
	if err != nil {
		return err
	}
	defer shutdown(nodes)
	bn := nodes[1].node
	bn.PMax = 0
	if err := nodes[0].m.SendBestEffort(&bn, []byte("golden encrypted v0")); err != nil {
		return err
	}
	k := keyed{keys: [][]byte{keyV0}, note: "key (AES-128): " + hex.EncodeToString(keyV0)}
	if err := g.writePacket(c, k, "encrypted-v0-user", "user message datagram, AES-GCM encryption version 0 with PKCS7 padding (protocol version 1)", func(d datagram, m []wire.Msg) bool {
		return len(m) == 1 && m[0].Type == wire.User && m[0].Env.Encrypted && m[0].Env.EncVersion == 0
	}); err != nil {
		return err
	}
	return g.writeStream(c, k, "stream-encrypted-v0-pushpull", "encrypted push/pull stream, encryption version 0", func(s stream, st *wire.Stream) bool {
		return !s.reply && st.Env.Encrypted && st.Env.EncVersion == 0 && st.PushPull != nil
	})
}

func commonPort(ips ...string) (int, error) {
	for try := 0; try < 50; try++ {
		l, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		ok := true
		for _, ip := range ips {
			a := net.JoinHostPort(ip, strconv.Itoa(port))
			tl, e1 := net.Listen("tcp", a)
			ul, e2 := net.ListenPacket("udp", a)
			if tl != nil {
				_ = tl.Close()
			}
			if ul != nil {
				_ = ul.Close()
			}
			ok = ok && e1 == nil && e2 == nil
		}
		if ok {
			return port, nil
		}
	}
	return 0, errors.New("no port free on every address")
}
