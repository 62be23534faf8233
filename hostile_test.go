// hostile_test.go is the hostile-input suite: a working five-node cluster on
// real loopback sockets, and one of its nodes (the target) fed what an
// outsider can send to its ports: floods of random datagrams, truncated and
// oversize ones, lying length fields, decompression bombs, deeply nested
// msgpack, slow and surplus streams, the wrong key, the wrong label and
// traffic from outside CIDRsAllowed. After each attack the suite checks that
// the rejections were counted; at the end, that the membership never changed
// (no member left, no bogus member ever appeared) and that the process's
// goroutines and heap (the five nodes share it) came back to where they
// were. Each attack logs the peaks it caused.
//
// Only 127.0.0.1 is bound, except for the one socket on 127.0.0.2 that plays
// a host outside CIDRsAllowed. Nothing sleeps: the suite waits for real
// sockets with deadlines, and uses a ping the target must answer as a
// barrier (its event loop reads packets in arrival order), followed by a
// call that has it handle the news it read (see sync).

package memberlist

import (
	"bytes"
	"compress/lzw"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	// hostileSeed fixes every random byte the suite sends.
	hostileSeed = 0x5eed_0010

	// hostileWait bounds every wait for a real-socket outcome. It is
	// generous: each wait ends as soon as its outcome comes, and with the
	// race detector on a machine whose cores were busy with other work, the
	// target once took longer than 10 s to close the last of the lzw bombs
	// over TCP (each waits for one of two decompression turns).
	hostileWait = 30 * time.Second

	// hostileMaxUDP is the largest IPv4 datagram payload.
	hostileMaxUDP = 65507

	// At rest after the attacks, the process may hold this many goroutines
	// and heap bytes more than before them: room for a push/pull or probe
	// in flight and for the metrics the attacks created.
	hostileGoroutineSlack = 5
	hostileHeapSlack      = 8 << 20

	// During the attacks the live heap may not grow by more than this: two
	// stream decompressions at their 40 MiB bound, and room for the
	// collector's lag. Before decompression was bounded, eight bombs on
	// eight streams took it past 770 MiB.
	hostilePeakHeap = 192 << 20
)

// hostile is one attacked cluster.
type hostile struct {
	t      *testing.T
	nodes  []*Memberlist
	logs   []*eventLog
	sink   *metrics.InmemSink
	target *Memberlist
	name   string // the target's name; its metrics carry node=name
	ports  map[uint16]bool

	udpAddr *net.UDPAddr
	tcpAddr string
	atk     *net.UDPConn // the attacker's datagram socket, connected to the target
	seq     uint32       // the barrier's ping sequence
	rng     *rand.Rand

	watch *resourceWatch
	base  restFigures
}

// attackers counts the suite's own goroutines (one per attacking stream),
// which the resource figures leave out so they show the target's.
var attackers atomic.Int64

// runAttackers runs f(0) ... f(n-1) in n goroutines counted as attackers,
// and returns once they are over. They stay counted until the goroutine
// count is back where it was (or hostileWait has passed): a goroutine that
// has returned is still counted by the runtime until it has exited, and
// hundreds of them exit at once.
func runAttackers(n int, f func(i int)) {
	before := runtime.NumGoroutine()
	attackers.Add(int64(n))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(hostileWait)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	attackers.Add(-int64(n))
}

// installInmemSink makes an InmemSink go-metrics' global sink for the test.
func installInmemSink(t *testing.T) *metrics.InmemSink {
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	conf := metrics.DefaultConfig("")
	conf.EnableHostname = false
	conf.EnableRuntimeMetrics = false
	conf.EnableServiceLabel = false
	_, err := metrics.NewGlobal(conf, sink)
	require.NoError(t, err)
	t.Cleanup(func() {
		conf := metrics.DefaultConfig("")
		conf.EnableRuntimeMetrics = false
		_, _ = metrics.NewGlobal(conf, &metrics.BlackholeSink{})
	})
	return sink
}

// newHostile starts and joins the cluster; mod adjusts every node's config
// after the suite's own settings.
func newHostile(t *testing.T, prefix string, mod func(c *Config)) *hostile {
	sink := installInmemSink(t)
	nodes, logs := startLocalNodes(t, 5, prefix, func(i int, c *Config) {
		c.MetricLabels = []metrics.Label{{Name: "node", Value: c.Name}}
		c.CIDRsAllowed = []net.IPNet{{IP: net.IPv4(127, 0, 0, 1).To4(), Mask: net.CIDRMask(32, 32)}}
		// On loopback the attacker shares 127.0.0.1 with the real peers,
		// so while it holds its share of stream slots their fallback pings
		// may be refused too, and a busy machine under -race may miss
		// probes: suspicions get time to be refuted, so that what the
		// test sees is the attacks' effect, not the runner's load.
		c.SuspicionMult = 10
		if mod != nil {
			mod(c)
		}
	})
	// Each node joins every node before it, so that every pair has
	// exchanged state directly: the Local preset's gossip alone may miss a
	// node until the next push/pull, seconds later.
	var seeds []string
	for i, m := range nodes {
		if i > 0 {
			got, err := m.Join(seeds)
			require.NoError(t, err)
			require.Equal(t, i, got)
		}
		seeds = append(seeds, fmt.Sprintf("127.0.0.1:%d", m.config.BindPort))
	}
	for i := range nodes {
		for _, m := range nodes {
			logs[i].waitFor(t, NodeJoin, m.config.Name, hostileWait)
		}
	}

	h := &hostile{
		t: t, nodes: nodes, logs: logs, sink: sink,
		target: nodes[0], name: nodes[0].config.Name,
		ports: map[uint16]bool{},
		rng:   rand.New(rand.NewPCG(hostileSeed, uint64(len(prefix)))),
		seq:   1 << 31,
	}
	for _, m := range nodes {
		h.ports[uint16(m.config.BindPort)] = true
	}
	port := h.target.config.BindPort
	h.udpAddr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	h.tcpAddr = h.udpAddr.String()
	atk, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, h.udpAddr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = atk.Close() })
	h.atk = atk

	h.sync()
	h.base = settle(t, restFigures{goroutines: 1 << 30, heap: 1 << 62}, 0, 0)
	h.watch = startResourceWatch(h.base)
	t.Cleanup(h.watch.stop)
	t.Logf("at rest before the attacks: %s", h.base)
	return h
}

// ---------------------------------------------------------------------------
// Resource figures

// restFigures is the process's goroutines (less the suite's attackers) and
// heap after a collection.
type restFigures struct {
	goroutines int
	heap       uint64
}

func (f restFigures) String() string {
	return fmt.Sprintf("%d goroutines, heap %.1f MiB", f.goroutines, float64(f.heap)/(1<<20))
}

func readRest() restFigures {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return restFigures{goroutines: runtime.NumGoroutine() - int(attackers.Load()), heap: ms.HeapAlloc}
}

// settle waits, boundedly, until the figures are within the slacks of
// base, and returns them. With a huge base it just returns the figures
// once two readings in a row agree on the goroutine count.
func settle(t *testing.T, base restFigures, gSlack int, hSlack uint64) restFigures {
	t.Helper()
	deadline := time.Now().Add(hostileWait)
	prev := readRest()
	for {
		now := readRest()
		if now.goroutines <= base.goroutines+gSlack && now.heap <= base.heap+hSlack && now.goroutines == prev.goroutines {
			return now
		}
		if time.Now().After(deadline) {
			stacks := make([]byte, 1<<20)
			stacks = stacks[:runtime.Stack(stacks, true)]
			t.Fatalf("not back at rest after %v: %s, was %s\n%s", hostileWait, now, base, stacks)
		}
		prev = now
		runtime.Gosched()
	}
}

// resourceWatch samples the goroutine count and the live heap while the
// attacks run and keeps the highest of each.
type resourceWatch struct {
	base      restFigures
	mu        sync.Mutex
	peak      restFigures // since the last reset
	peakAll   restFigures
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func startResourceWatch(base restFigures) *resourceWatch {
	w := &resourceWatch{base: base, peak: base, peakAll: base, quit: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *resourceWatch) run() {
	defer close(w.done)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	var ms runtime.MemStats
	for i := 0; ; i++ {
		select {
		case <-w.quit:
			return
		case <-tick.C:
		}
		// A sample taken while attackers come or go would count some of
		// them as the target's; skip it.
		a := attackers.Load()
		g := runtime.NumGoroutine() - int(a) - 1 // less this one
		if attackers.Load() != a {
			continue
		}
		var heap uint64
		if i%4 == 0 { // ReadMemStats stops the world; every 8 ms is enough
			runtime.ReadMemStats(&ms)
			heap = ms.HeapAlloc
		}
		w.mu.Lock()
		w.peak.goroutines = max(w.peak.goroutines, g)
		w.peak.heap = max(w.peak.heap, heap)
		w.peakAll.goroutines = max(w.peakAll.goroutines, g)
		w.peakAll.heap = max(w.peakAll.heap, heap)
		w.mu.Unlock()
	}
}

// reset returns the peaks since the last reset and starts new ones.
func (w *resourceWatch) reset() restFigures {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.peak
	w.peak = w.base
	return p
}

func (w *resourceWatch) all() restFigures {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peakAll
}

func (w *resourceWatch) stop() {
	w.closeOnce.Do(func() { close(w.quit) })
	<-w.done
}

// attack runs one named attack as a subtest and logs its peaks.
func (h *hostile) attack(name string, f func(t *testing.T)) {
	runtime.GC() // so that the last attack's garbage does not count as this one's peak
	h.watch.reset()
	parent := h.t
	parent.Run(name, func(t *testing.T) {
		h.t = t // so that a failed barrier fails the attack, not its parent
		defer func() { h.t = parent }()
		f(t)
	})
	p := h.watch.reset()
	h.t.Logf("%-34s peak: %4d goroutines (+%d), heap %6.1f MiB (+%.1f)", name,
		p.goroutines, p.goroutines-h.base.goroutines,
		float64(p.heap)/(1<<20), float64(int64(p.heap)-int64(h.base.heap))/(1<<20))
}

// finish checks what must hold after every attack: membership as it was,
// no bogus member ever reported, rest figures back near the baseline.
func (h *hostile) finish() {
	t := h.t
	h.sync()
	want := map[string]bool{}
	for _, m := range h.nodes {
		want[m.config.Name] = true
	}
	for _, m := range h.nodes {
		members := m.Members()
		assert.Len(t, members, len(h.nodes), "%s's members", m.config.Name)
		for _, n := range members {
			assert.True(t, want[n.Name], "%s sees member %q", m.config.Name, n.Name)
			assert.Equal(t, StateAlive, n.State, "%s sees %s as %v", m.config.Name, n.Name, n.State)
		}
	}
	for _, l := range h.logs {
		l.mu.Lock()
		for _, ev := range l.events {
			n := ev.Node
			assert.NotEqual(t, NodeLeave, ev.Event, "%s saw %s leave", l.owner, n.Name)
			assert.True(t, want[n.Name], "%s saw %v for %q", l.owner, ev.Event, n.Name)
			assert.True(t, n.Addr.Equal(net.IPv4(127, 0, 0, 1)), "%s saw %s at %v", l.owner, n.Name, n.Addr)
			assert.True(t, h.ports[n.Port], "%s saw %s at port %d", l.owner, n.Name, n.Port)
		}
		l.mu.Unlock()
	}

	peak := h.watch.all()
	h.watch.stop()
	rest := settle(t, h.base, hostileGoroutineSlack, hostileHeapSlack)
	t.Logf("before the attacks: %s; peak during them: %d goroutines, heap %.1f MiB; at rest after: %s",
		h.base, peak.goroutines, float64(peak.heap)/(1<<20), rest)
	assert.LessOrEqual(t, peak.heap, h.base.heap+hostilePeakHeap, "heap peak during the attacks")
}

// ---------------------------------------------------------------------------
// Sending

// sync is the barrier: it pings the target and waits for the ack, then has
// the target handle the news still waiting in its handoff queues. The
// target's loop reads packets in the order they arrive, so once the ack is
// back every datagram sent before has been read (or lost to a full socket
// buffer, as UDP may); their news may still wait, as the loop answers
// probes first.
func (h *hostile) sync() {
	h.t.Helper()
	h.syncAck()
	require.NoError(h.t, h.target.do(func(c *core) { c.flushHandoff() }))
}

// syncAck pings the target and waits for the ack.
func (h *hostile) syncAck() {
	h.t.Helper()
	h.seq++
	msg, err := encodeMsg(pingMsg, &ping{SeqNo: h.seq, Node: h.name}, false)
	require.NoError(h.t, err)
	pkt, err := sealPacket(h.target.config, crand.Reader, msg, false)
	require.NoError(h.t, err)
	buf := make([]byte, 1<<16)
	deadline := time.Now().Add(hostileWait)
	for time.Now().Before(deadline) {
		_, err := h.atk.Write(pkt)
		require.NoError(h.t, err)
		_ = h.atk.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, err := h.atk.Read(buf)
			if err != nil {
				break // resend: UDP may have lost either way
			}
			if packetHasAck(h.target.config, buf[:n], h.seq) {
				return
			}
		}
	}
	h.t.Fatalf("the target did not answer ping %d within %v", h.seq, hostileWait)
}

// packetHasAck reports whether a datagram the target sent carries the ack
// for seq.
func packetHasAck(cfg *Config, buf []byte, seq uint32) bool {
	buf, _, err := RemoveLabelHeaderFromPacket(buf)
	if err != nil {
		return false
	}
	if keys, _ := cfg.inboundKeys(); len(keys) > 0 {
		if buf, err = decryptPayload(keys, buf, []byte(cfg.Label)); err != nil {
			return false
		}
	}
	return msgHasAck(buf, seq, 0)
}

func msgHasAck(buf []byte, seq uint32, depth int) bool {
	if len(buf) == 0 || depth > maxNesting {
		return false
	}
	switch messageType(buf[0]) {
	case hasCrcMsg:
		body, err := checkCRC(buf[1:])
		return err == nil && msgHasAck(body, seq, depth+1)
	case compressMsg:
		plain, err := decompressPayload(buf[1:])
		return err == nil && msgHasAck(plain, seq, depth+1)
	case compoundMsg:
		parts, _, err := splitCompound(nil, buf[1:])
		if err != nil {
			return false
		}
		for _, p := range parts {
			if msgHasAck(p, seq, depth+1) {
				return true
			}
		}
	case ackRespMsg:
		var a ackResp
		return decodeMsg(buf[1:], &a) == nil && a.SeqNo == seq
	}
	return false
}

// send writes raw datagrams to the target from the attacker's socket.
func (h *hostile) send(pkts ...[]byte) {
	h.t.Helper()
	for _, p := range pkts {
		_, err := h.atk.Write(p)
		require.NoError(h.t, err)
	}
}

// flood sends n random datagrams, each after prefix, in batches that the
// socket buffers hold, with a barrier after each.
func (h *hostile) flood(n int, prefix []byte) {
	h.t.Helper()
	const batch = 250
	for sent := 0; sent < n; {
		for i := 0; i < batch && sent < n; i, sent = i+1, sent+1 {
			h.send(append(bytes.Clone(prefix), randomDatagram(h.rng)...))
		}
		h.sync()
	}
}

// msg encodes one message the way the wire does.
func (h *hostile) msg(t messageType, v any) []byte {
	h.t.Helper()
	b, err := encodeMsg(t, v, false)
	require.NoError(h.t, err)
	return b
}

// sealed frames msg as cfg would send it: label, encryption, no compression.
func sealAs(t *testing.T, cfg *Config, msg []byte) []byte {
	t.Helper()
	c := *cfg
	c.EnableCompression = false
	b, err := sealPacket(&c, crand.Reader, msg, false)
	require.NoError(t, err)
	return b
}

// streamResult is how one attacking stream ended.
type streamResult struct {
	reply  []byte
	closed time.Duration // from dial to the target closing the stream
	err    error         // a dial error, or the target never closed it
}

// streams opens one stream per payload to addr from local (nil: any
// address), all at once, writes the payload, half-closes unless keepOpen,
// and reads until the target closes the stream or limit passes.
func streams(local *net.TCPAddr, addr string, payloads [][]byte, keepOpen bool, limit time.Duration) []streamResult {
	out := make([]streamResult, len(payloads))
	runAttackers(len(payloads), func(i int) {
		out[i] = oneStream(local, addr, payloads[i], keepOpen, limit)
	})
	return out
}

func oneStream(local *net.TCPAddr, addr string, payload []byte, keepOpen bool, limit time.Duration) streamResult {
	d := net.Dialer{Timeout: limit}
	if local != nil {
		d.LocalAddr = local
	}
	start := time.Now()
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return streamResult{err: err}
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(start.Add(limit))
	_, _ = c.Write(payload) // the target may close before taking it all
	if !keepOpen {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	reply, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return streamResult{reply: reply, err: fmt.Errorf("the target kept the stream open for %v", limit)}
	}
	return streamResult{reply: reply, closed: time.Since(start)}
}

// requireClosed checks that the target closed every stream by itself.
func requireClosed(t *testing.T, rs []streamResult) {
	t.Helper()
	for i, r := range rs {
		require.NoError(t, r.err, "stream %d", i)
	}
}

// ---------------------------------------------------------------------------
// Metrics

// counter is the sum of the target's counters named name whose reason label
// is one of reasons (all of them when none is given).
func (h *hostile) counter(name string, reasons ...string) float64 {
	names := []string{name}
	if name == anyRejected {
		names = []string{udpRejected, tcpRejected, msgRejected}
	}
	var sum float64
	for _, iv := range h.sink.Data() {
		iv.RLock()
		for k, v := range iv.Counters {
			ours := false
			for _, n := range names {
				prefix := n + ";node=" + h.name
				ours = ours || k == prefix || strings.HasPrefix(k, prefix+";")
			}
			if !ours {
				continue
			}
			if len(reasons) > 0 {
				found := false
				for _, r := range reasons {
					found = found || strings.HasSuffix(k, ";reason="+r)
				}
				if !found {
					continue
				}
			}
			sum += v.Sum
		}
		iv.RUnlock()
	}
	return sum
}

// counted runs f and returns how much the counter grew meanwhile.
func (h *hostile) counted(name string, f func(), reasons ...string) float64 {
	before := h.counter(name, reasons...)
	f()
	return h.counter(name, reasons...) - before
}

const (
	anyRejected = "" // for counter: every kind below
	udpRejected = "memberlist.udp.rejected"
	tcpRejected = "memberlist.tcp.rejected"
	msgRejected = "memberlist.msg.rejected"
)

// ---------------------------------------------------------------------------
// Payloads

// randomDatagram is a datagram of random bytes, often shaped like the start
// of a real message so that it gets past the first checks.
func randomDatagram(rng *rand.Rand) []byte {
	n := 1 + rng.IntN(1400)
	if rng.IntN(64) == 0 {
		n = 1 + rng.IntN(hostileMaxUDP)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	switch rng.IntN(4) {
	case 0: // a real message type, garbage after it
		b[0] = byte(rng.IntN(int(errMsg) + 1))
	case 1: // a real type and a msgpack map header
		b[0] = byte(rng.IntN(int(errMsg) + 1))
		if n > 1 {
			b[1] = 0x80 | byte(rng.IntN(16))
		}
	case 2: // a compound whose parts are random
		b[0] = byte(compoundMsg)
	}
	return b
}

// compressedMsg wraps an LZW stream in a compressMsg.
func (h *hostile) compressedMsg(lzwData []byte) []byte {
	return h.msg(compressMsg, &compress{Algo: lzwAlgo, Buf: lzwData})
}

// lzwOf compresses b as a sender would.
func lzwOf(t *testing.T, b []byte) []byte {
	var z bytes.Buffer
	w := lzw.NewWriter(&z, lzw.LSB, lzwLitWidth)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return z.Bytes()
}

// nested is a msgpack value nested depth arrays deep.
func nested(depth int) []byte {
	b := bytes.Repeat([]byte{0x91}, depth) // fixarray of one
	return append(b, 0xc0)
}

// ---------------------------------------------------------------------------
// The suite

func TestHostileInput(t *testing.T) {
	h := newHostile(t, "h", nil)
	flood := 20000
	if testing.Short() {
		flood = 2000
	}

	h.attack("random datagrams", func(t *testing.T) {
		n := h.counted(anyRejected, func() { h.flood(flood, nil) })
		t.Logf("%d random datagrams: %.0f rejections counted", flood, n)
		assert.GreaterOrEqual(t, n, float64(flood)/2)
	})

	h.attack("truncated and oversize datagrams", func(t *testing.T) {
		valid := [][]byte{
			h.msg(pingMsg, &ping{SeqNo: 7, Node: h.name}),
			h.msg(indirectPingMsg, &indirectPingReq{SeqNo: 8, Target: []byte{127, 0, 0, 1}, Port: 1, Node: "nobody", Nack: true}),
			h.msg(suspectMsg, &suspect{Incarnation: 1, Node: "nobody", From: "nobody"}),
			h.msg(deadMsg, &dead{Incarnation: 1, Node: "nobody", From: "nobody"}),
			h.msg(aliveMsg, &alive{Incarnation: 1, Node: "ghost", Addr: []byte{127, 0, 0, 1}, Port: 1, Vsn: []uint8{1, 5, 5, 0, 0, 0}}),
		}
		valid = append(valid, addCRC(valid[0]), h.compressedMsg(lzwOf(t, valid[4])))
		var pkts [][]byte
		for _, v := range valid {
			for i := 1; i < len(v); i++ {
				pkts = append(pkts, v[:i:i])
			}
		}
		big := make([]byte, hostileMaxUDP)
		for i := range big {
			big[i] = byte(h.rng.Uint32())
		}
		lying := bytes.Clone(big)
		lying[0], lying[1] = byte(compoundMsg), 255
		for i := range 255 {
			binary.BigEndian.PutUint16(lying[2+2*i:], 0xffff)
		}
		bin32 := append([]byte{byte(compressMsg), 0x82, 0xa4, 'A', 'l', 'g', 'o', 0x00, 0xa3, 'B', 'u', 'f', 0xc6}, 0xff, 0xff, 0xff, 0xff)
		pkts = append(pkts, []byte{}, []byte{}, big, lying, append(bin32, big[:hostileMaxUDP-len(bin32)]...),
			append([]byte{byte(hasCrcMsg), 0, 0, 0, 0}, big[:hostileMaxUDP-5]...))
		n := h.counted(udpRejected, func() {
			h.send(pkts...)
			h.sync()
		})
		t.Logf("%d datagrams: %.0f rejections counted", len(pkts), n)
		assert.GreaterOrEqual(t, n, float64(len(pkts)-len(valid)))
	})

	h.attack("bogus members", func(t *testing.T) {
		bogus := []alive{
			{Incarnation: 1, Node: "", Addr: []byte{127, 0, 0, 1}, Port: 1},
			{Incarnation: 1, Node: "ghost-noaddr", Port: 1},
			{Incarnation: 1, Node: "ghost-3", Addr: []byte{127, 0, 0}, Port: 1},
			{Incarnation: 1, Node: "ghost-17", Addr: bytes.Repeat([]byte{1}, 17), Port: 1},
		}
		n := h.counted(msgRejected, func() {
			for i := range bogus {
				h.send(h.msg(aliveMsg, &bogus[i]))
			}
			h.sync()
		}, "alive", "cidr")
		assert.Equal(t, float64(len(bogus)), n)
	})

	h.attack("deeply nested msgpack", func(t *testing.T) {
		deep := nested(hostileMaxUDP - 2)
		compound := []byte{byte(compoundMsg), 255}
		part := append([]byte{byte(suspectMsg)}, nested(200)...)
		for range 255 {
			compound = binary.BigEndian.AppendUint16(compound, uint16(len(part)))
		}
		for range 255 {
			compound = append(compound, part...)
		}
		pkts := [][]byte{
			append([]byte{byte(aliveMsg)}, deep...),
			append([]byte{byte(pingMsg)}, bytes.Repeat([]byte{0x81, 0xa1, 'a'}, 20000)...),
			compound,
		}
		n := h.counted(udpRejected, func() {
			h.send(pkts...)
			h.sync()
		})
		assert.GreaterOrEqual(t, n, float64(2+255))

		payloads := [][]byte{
			append([]byte{byte(pushPullMsg)}, nested(1<<20)...),
			append([]byte{byte(pingMsg)}, nested(1<<16)...),
			append([]byte{byte(userMsg)}, nested(1<<16)...),
		}
		n = h.counted(tcpRejected, func() {
			requireClosed(t, streams(nil, h.tcpAddr, payloads, false, hostileWait))
		})
		assert.Equal(t, float64(len(payloads)), n)
	})

	h.attack("lzw bombs over udp", func(t *testing.T) {
		// Single bombs from 1 MiB up to what the largest datagram holds
		// (150 MB), and compounds of 255 small ones (16 KiB each). They go
		// in small batches, a barrier after each, as a steady attacker's
		// would arrive: the point is that the target stays a member while
		// it takes them, not how fast its queue overflows.
		singles, compounds, batch := 100, 20, 10
		if simRace || testing.Short() {
			singles, compounds, batch = 20, 4, 2 // the race detector slows LZW tenfold
		}
		var pkts [][]byte
		for i := range singles {
			b := h.compressedMsg(lzwZeros(1<<20 + i*(150<<20)/singles))
			if len(b) > hostileMaxUDP {
				break
			}
			pkts = append(pkts, b)
		}
		small := h.compressedMsg(lzwZeros(16 << 10))
		comp := []byte{byte(compoundMsg), 255}
		for range 255 {
			comp = binary.BigEndian.AppendUint16(comp, uint16(len(small)))
		}
		for range 255 {
			comp = append(comp, small...)
		}
		require.Less(t, len(comp), hostileMaxUDP)
		nSingles := len(pkts)
		for range compounds {
			pkts = append(pkts, comp)
		}
		start := time.Now()
		n := h.counted(udpRejected, func() {
			for i := 0; i < len(pkts); i += batch {
				h.send(pkts[i:min(i+batch, len(pkts))]...)
				h.sync()
			}
		}, "compression")
		t.Logf("%d bombs handled in %v", len(pkts), time.Since(start))
		// Every single bomb, and in each compound every part past the
		// datagram's decompression budget, is refused.
		inBudget := int(packetInflateBudget(h.target.config, len(comp)) / (16 << 10))
		assert.Equal(t, float64(nSingles+compounds*(255-inBudget)), n)
	})

	h.attack("push/pull lies over tcp", func(t *testing.T) {
		header := func(hdr pushPullHeader) []byte {
			return append([]byte{byte(pushPullMsg)}, mp(t, &hdr)...)
		}
		var payloads [][]byte
		for range 20 {
			payloads = append(payloads,
				header(pushPullHeader{Nodes: 1_000_000_000}),
				header(pushPullHeader{Nodes: maxPushStateNodes}),
				header(pushPullHeader{Nodes: -1}),
				header(pushPullHeader{UserStateLen: 1<<31 - 1}),
				append(header(pushPullHeader{Nodes: 2}), mp(t, &pushNodeState{Name: "ghost", Addr: []byte{127, 0, 0, 1}, Port: 1})...),
				append([]byte{byte(userMsg)}, mp(t, &userMsgHeader{UserMsgLen: 1 << 30})...),
				append([]byte{byte(compressMsg), 0x82, 0xa4, 'A', 'l', 'g', 'o', 0x00, 0xa3, 'B', 'u', 'f', 0xc6, 0xff, 0xff, 0xff, 0xf0}, 1, 2, 3),
				[]byte{byte(encryptMsg), 0xff, 0xff, 0xff, 0xff},
			)
		}
		n := h.counted(tcpRejected, func() {
			requireClosed(t, streams(nil, h.tcpAddr, payloads, false, hostileWait))
		})
		assert.Equal(t, float64(len(payloads)), n)
	})

	h.attack("lzw bombs over tcp", func(t *testing.T) {
		over := h.compressedMsg(lzwZeros(maxDecompressedSize + 1))
		exact := h.compressedMsg(lzwZeros(maxDecompressedSize)) // expands, then fails to decode
		payloads := [][]byte{over, over, over, over, over, over, exact, exact}
		if simRace || testing.Short() {
			payloads = [][]byte{over, over, over, exact}
		}
		start := time.Now()
		n := h.counted(tcpRejected, func() {
			requireClosed(t, streams(nil, h.tcpAddr, payloads, false, hostileWait))
		})
		t.Logf("%d bombs handled in %v", len(payloads), time.Since(start))
		// A peer's push/pull may be refused too while the bombs hold
		// both decompression turns: under the race detector, a turn lasts
		// longer than TCPTimeout.
		assert.GreaterOrEqual(t, n, float64(len(payloads)))
	})

	h.attack("slow streams", func(t *testing.T) {
		if testing.Short() {
			t.Skip("takes seconds")
		}
		// Each stream sends a push/pull a byte a second; the target must
		// close every one once TCPTimeout has passed.
		msg := append([]byte{byte(pushPullMsg)}, mp(t, &pushPullHeader{Nodes: 1})...)
		const n = 300
		timeout := h.target.config.TCPTimeout
		var closedLate atomic.Int64
		before := h.counter(tcpRejected, "timeout", "push_pull_limit", "source_limit")
		timedOut := h.counted(tcpRejected, func() {
			runAttackers(n, func(int) {
				if !slowStream(h.tcpAddr, msg, timeout+3*time.Second) {
					closedLate.Add(1)
				}
			})
		}, "timeout")
		assert.Zero(t, closedLate.Load(), "streams the target kept open past TCPTimeout")
		// Those past the per-source or push/pull bound are refused at
		// once; the others time out. (A peer's stream meanwhile may be
		// refused too: on loopback every peer shares the attacker's
		// address.)
		assert.GreaterOrEqual(t, timedOut, float64(min(maxPushPullRequests, maxStreamsPerSource)))
		assert.GreaterOrEqual(t, h.counter(tcpRejected, "timeout", "push_pull_limit", "source_limit")-before, float64(n))
	})

	h.attack("more streams than the cap", func(t *testing.T) {
		if testing.Short() {
			t.Skip("takes a second")
		}
		// Idle streams beyond the caps (one source may hold
		// maxStreamsPerSource, all sources maxInboundStreams) must be
		// closed at once; the others when TCPTimeout passes, which no
		// stream accepted can beat: its deadline runs from after its dial
		// began.
		const extra = 100
		timeout := h.target.config.TCPTimeout
		payloads := make([][]byte, maxInboundStreams+extra)
		timedOut := h.counter(tcpRejected, "timeout")
		rs := streams(nil, h.tcpAddr, payloads, true, timeout+3*time.Second)
		requireClosed(t, rs)
		// The accepted ones time out: their requests never came.
		assert.GreaterOrEqual(t, h.counter(tcpRejected, "timeout")-timedOut, float64(maxStreamsPerSource/2))
		early := 0
		for _, r := range rs {
			if r.closed < timeout {
				early++
			}
		}
		assert.GreaterOrEqual(t, early, len(payloads)-maxStreamsPerSource)
	})

	h.attack("wrong label", func(t *testing.T) {
		other := *h.target.config
		other.Label = "another-cluster"
		pkt := sealAs(t, &other, h.msg(pingMsg, &ping{SeqNo: 9, Node: h.name}))
		n := h.counted(udpRejected, func() {
			h.send(pkt, []byte{hasLabelMsgByte}, []byte{hasLabelMsgByte, 0}, []byte{hasLabelMsgByte, 200, 'x'})
			h.sync()
		}, "label")
		assert.Equal(t, 4.0, n)
		req, err := encodeRequest(&other, crand.Reader, append([]byte{byte(pushPullMsg)}, mp(t, &pushPullHeader{})...))
		require.NoError(t, err)
		n = h.counted(tcpRejected, func() {
			requireClosed(t, streams(nil, h.tcpAddr, [][]byte{req, {hasLabelMsgByte, 0}, {hasLabelMsgByte, 10, 'x'}}, false, hostileWait))
		}, "label")
		assert.Equal(t, 3.0, n)
	})

	h.attack("disallowed source address", func(t *testing.T) {
		h.outsider(t)
	})

	h.finish()
}

// slowStream sends msg a byte a second on a fresh stream and reports
// whether the target closed the stream before limit.
func slowStream(addr string, msg []byte, limit time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, limit)
	if err != nil {
		return false
	}
	defer func() { _ = c.Close() }()
	end := time.Now().Add(limit)
	var one [1]byte
	for i := 0; time.Now().Before(end); i++ {
		if i < len(msg) {
			_ = c.SetWriteDeadline(end)
			if _, err := c.Write(msg[i : i+1]); err != nil {
				return true
			}
		}
		// The read is the pacing: a second, or less if the target closes.
		pace := time.Now().Add(time.Second)
		if pace.After(end) {
			pace = end
		}
		_ = c.SetReadDeadline(pace)
		if _, err := c.Read(one[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return true
		}
	}
	return false
}

// outsider sends, from 127.0.0.2, which CIDRsAllowed leaves out, messages
// the target would otherwise act on: a ping, an alive for a new node at an
// allowed address, and a push/pull carrying such a node. None may be
// answered or acted on.
func (h *hostile) outsider(t *testing.T) {
	outside := net.IPv4(127, 0, 0, 2)
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: outside}, h.udpAddr)
	if err != nil {
		t.Skipf("cannot bind %v (only Linux routes all of 127/8 to loopback): %v", outside, err)
	}
	defer func() { _ = conn.Close() }()
	cfg := h.target.config
	pkts := [][]byte{
		sealAs(t, cfg, h.msg(pingMsg, &ping{SeqNo: 11, Node: h.name})),
		sealAs(t, cfg, h.msg(aliveMsg, &alive{Incarnation: 1, Node: "intruder", Addr: []byte{127, 0, 0, 1}, Port: 1, Vsn: []uint8{1, 5, 5, 0, 0, 0}})),
	}
	n := h.counted(udpRejected, func() {
		for _, p := range pkts {
			_, err := conn.Write(p)
			require.NoError(t, err)
		}
		h.sync()
	}, "cidr")
	assert.Equal(t, float64(len(pkts)), n)
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var buf [1 << 16]byte
	got, err := conn.Read(buf[:])
	assert.Error(t, err, "the target answered 127.0.0.2 with %d bytes", got)

	pp, err := encodePushPull(false, []pushNodeState{{Name: "intruder", Addr: []byte{127, 0, 0, 1}, Port: 1, Incarnation: 1, Vsn: []uint8{1, 5, 5, 0, 0, 0}}}, nil, false)
	require.NoError(t, err)
	req, err := encodeRequest(cfg, crand.Reader, pp)
	require.NoError(t, err)
	var rs []streamResult
	n = h.counted(tcpRejected, func() {
		rs = streams(&net.TCPAddr{IP: outside}, h.tcpAddr, [][]byte{req}, false, hostileWait)
	}, "cidr")
	requireClosed(t, rs)
	assert.Empty(t, rs[0].reply, "the target answered a push/pull from 127.0.0.2")
	assert.Equal(t, 1.0, n)
}

// TestHostileInputEncrypted attacks a cluster with a key and a label: the
// wrong key, no key, the wrong label, garbage after the right label, a
// lying stream length, and traffic from outside CIDRsAllowed sealed with the
// right key.
func TestHostileInputEncrypted(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, 32)
	h := newHostile(t, "e", func(c *Config) {
		c.SecretKey = key
		c.Label = "hostile-suite"
	})
	cfg := h.target.config
	wrongKey := *cfg
	kr, err := NewKeyring(nil, bytes.Repeat([]byte{0x17}, 32))
	require.NoError(t, err)
	wrongKey.Keyring = kr
	plain := *cfg
	plain.Keyring = nil
	wrongLabel := *cfg
	wrongLabel.Label = "another-cluster"

	ghost := func(name string) []byte {
		return h.msg(aliveMsg, &alive{Incarnation: 1, Node: name, Addr: []byte{127, 0, 0, 1}, Port: 1, Vsn: []uint8{1, 5, 5, 0, 0, 0}})
	}
	pushPull := func(name string) []byte {
		pp, err := encodePushPull(false, []pushNodeState{{Name: name, Addr: []byte{127, 0, 0, 1}, Port: 1, Incarnation: 1, Vsn: []uint8{1, 5, 5, 0, 0, 0}}}, nil, false)
		require.NoError(t, err)
		return pp
	}

	h.attack("wrong key", func(t *testing.T) {
		n := h.counted(udpRejected, func() {
			for range 100 {
				h.send(sealAs(t, &wrongKey, ghost("ghost-key")), sealAs(t, &plain, ghost("ghost-plain")))
			}
			h.sync()
		}, "decrypt")
		assert.Equal(t, 200.0, n)
		var payloads [][]byte
		for _, c := range []*Config{&wrongKey, &plain} {
			req, err := encodeRequest(c, crand.Reader, pushPull("ghost-stream"))
			require.NoError(t, err)
			payloads = append(payloads, req)
		}
		n = h.counted(tcpRejected, func() {
			requireClosed(t, streams(nil, h.tcpAddr, payloads, false, hostileWait))
		}, "decode")
		assert.Equal(t, float64(len(payloads)), n)
	})

	h.attack("wrong label", func(t *testing.T) {
		n := h.counted(udpRejected, func() {
			h.send(sealAs(t, &wrongLabel, ghost("ghost-label")), ghost("ghost-nolabel"))
			h.sync()
		}, "label")
		assert.Equal(t, 2.0, n)
		req, err := encodeRequest(&wrongLabel, crand.Reader, pushPull("ghost-label"))
		require.NoError(t, err)
		n = h.counted(tcpRejected, func() {
			requireClosed(t, streams(nil, h.tcpAddr, [][]byte{req}, false, hostileWait))
		}, "label")
		assert.Equal(t, 1.0, n)
	})

	h.attack("garbage after the label", func(t *testing.T) {
		hdr := appendLabelHeader(nil, cfg.Label)
		const n = 2000
		got := h.counted(udpRejected, func() { h.flood(n, hdr) }, "decrypt")
		assert.GreaterOrEqual(t, got, float64(n)*0.9)
		lie := append(bytes.Clone(hdr), byte(encryptMsg), 0xff, 0xff, 0xff, 0xff)
		lie20 := append(bytes.Clone(hdr), byte(encryptMsg), 0x01, 0x40, 0x00, 0x00) // 20 MiB, then nothing
		got = h.counted(tcpRejected, func() {
			requireClosed(t, streams(nil, h.tcpAddr, [][]byte{lie, lie20}, false, hostileWait))
		}, "decode")
		assert.Equal(t, 2.0, got)
	})

	h.attack("disallowed source address", func(t *testing.T) {
		h.outsider(t)
	})

	h.finish()
}
