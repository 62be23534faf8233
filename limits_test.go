package memberlist

import (
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	"github.com/stretchr/testify/require"
)

// reserveRig is a node under a slot-exhaustion attack on loopback: outsiders
// on 127.0.0.101 and up, which no member advertises, hold streams open; the
// node's member n1 advertises 127.0.0.20. Every wait is for a state of the
// node, not for time: a stream it accepted is either tracked (it is being
// served) or counted as refused, so the rig knows when the node has decided
// on every stream it was sent.
type reserveRig struct {
	t     *testing.T
	m     *Memberlist
	peer  *Memberlist
	sink  *metrics.InmemSink
	addr  string
	conns []net.Conn

	// Since the last mark: the streams sent to the node, and how many
	// the node served (served, a count of the node's) and refused
	// (tcp.rejected) at the mark.
	dialed     int
	served     func() int
	servedBase int
	base       float64
}

var (
	reserveMemberIP = net.IPv4(127, 0, 0, 20)
	reserveNodeIP   = net.IPv4(127, 0, 0, 1)
)

// reserveOutsider is the address of outsider i.
func reserveOutsider(i int) net.IP { return net.IPv4(127, 0, 0, byte(101+i%150)) }

func newReserveRig(t *testing.T) *reserveRig {
	if l, err := net.Listen("tcp", net.JoinHostPort(reserveMemberIP.String(), "0")); err != nil {
		t.Skipf("cannot bind %v (only Linux routes all of 127/8 to loopback): %v", reserveMemberIP, err)
	} else {
		_ = l.Close()
	}
	sink := installInmemSink(t)
	nodes, logs := startLocalNodes(t, 2, "reserve", func(i int, c *Config) {
		c.MetricLabels = []metrics.Label{{Name: "node", Value: c.Name}}
		c.TCPTimeout = 30 * time.Second // idle streams stay open through the test
		c.PushPullInterval = time.Hour  // the only streams are the test's
		c.DisableTcpPings = true
		c.SuspicionMult = 10 // a loaded -race runner must not lose the peer
		if i == 1 {
			c.BindAddr = reserveMemberIP.String()
		}
	})
	r := &reserveRig{t: t, m: nodes[0], peer: nodes[1], sink: sink,
		addr: net.JoinHostPort(reserveNodeIP.String(), fmt.Sprint(nodes[0].config.BindPort))}
	t.Cleanup(r.closeAll)
	_, err := r.peer.Join([]string{r.addr})
	require.NoError(t, err)
	logs[0].waitFor(t, NodeJoin, r.peer.config.Name, 10*time.Second)
	r.quiet(0)
	return r
}

// rejected is the node's tcp.rejected count for reason ("" for all).
func (r *reserveRig) rejected(reason string) float64 {
	return tcpRejectedCount(r.sink, r.m.config.Name, reason)
}

// tcpRejectedCount is the memberlist.tcp.rejected count of the node whose
// node label is node, for reason ("" for all).
func tcpRejectedCount(sink *metrics.InmemSink, node, reason string) float64 {
	key := "memberlist.tcp.rejected;node=" + node + ";reason=" + reason
	var sum float64
	for _, iv := range sink.Data() {
		iv.RLock()
		for k, v := range iv.Counters {
			if k == key || (reason == "" && strings.HasPrefix(k, key)) {
				sum += v.Sum
			}
		}
		iv.RUnlock()
	}
	return sum
}

// held is how many inbound streams the node is serving.
func (r *reserveRig) held() int {
	r.m.connsMu.Lock()
	defer r.m.connsMu.Unlock()
	n := 0
	for c := range r.m.conns {
		if a, ok := c.LocalAddr().(*net.TCPAddr); ok && a.Port == r.m.config.BindPort {
			n++
		}
	}
	return n
}

// mark starts counting streams sent, served and refused afresh.
func (r *reserveRig) mark(served func() int) {
	r.dialed, r.served, r.servedBase, r.base = 0, served, served(), r.rejected("")
}

// quiet waits until the node serves n inbound streams, once those it has
// answered are closed.
func (r *reserveRig) quiet(n int) {
	r.t.Helper()
	require.Eventually(r.t, func() bool { return r.held() == n }, 10*time.Second, time.Millisecond)
}

// dial opens a stream to the node from ip and sends it first, if any.
func (r *reserveRig) dial(ip net.IP, first []byte) net.Conn {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", r.addr)
	require.NoError(r.t, err)
	r.conns = append(r.conns, c)
	r.dialed++
	if first != nil {
		_, err = c.Write(first)
		require.NoError(r.t, err)
	}
	return c
}

// decided waits until the node has decided on every stream sent since the
// mark: it serves each one or has counted it refused. (The streams served
// at the mark are still served.)
func (r *reserveRig) decided() {
	r.t.Helper()
	require.Eventually(r.t, func() bool {
		return r.served()-r.servedBase+int(r.rejected("")-r.base) == r.dialed
	}, 10*time.Second, time.Millisecond, "the node decides on every stream")
}

func (r *reserveRig) closeAll() {
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.conns = nil
}

// closedByPeer reports whether the node closes conn within wait.
func closedByPeer(conn net.Conn, wait time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	var b [1]byte
	_, err := conn.Read(b[:])
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// memberPushPull sends a push/pull from ip as a peer would and requires the
// node's answer.
func (r *reserveRig) memberPushPull(ip net.IP) {
	r.t.Helper()
	pp, err := encodePushPull(false, nil, nil, false)
	require.NoError(r.t, err)
	req, err := encodeRequest(r.m.config, crand.Reader, pp)
	require.NoError(r.t, err)
	c := r.dial(ip, req)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	reply, err := readReply(r.m.config, discardMetrics{}, c)
	require.NoError(r.t, err, "a member's push/pull from %v is answered", ip)
	require.Equal(r.t, pushPullMsg, reply.t)
	require.NotEmpty(r.t, reply.states)
}

// Outsiders holding streams open, from as many addresses as it takes to
// fill the node, get at most maxInboundStreams-memberStreamReserve of its
// slots: the rest are its members', who still exchange state with it.
func TestMemberStreamReserve(t *testing.T) {
	r := newReserveRig(t)
	outsiderSlots := maxInboundStreams - memberStreamReserve

	// Eight addresses open maxStreamsPerSource idle streams each, as many
	// as the node has slots.
	r.mark(r.held)
	for a := range maxInboundStreams / maxStreamsPerSource {
		for range maxStreamsPerSource {
			r.dial(reserveOutsider(a), nil)
		}
	}
	r.decided()
	held := r.held()
	t.Logf("%d idle streams from 8 outsiders: %d served, %.0f refused", r.dialed, held, r.rejected("reserved"))
	require.LessOrEqual(t, held, outsiderSlots, "outsiders hold no member slot")
	require.Equal(t, float64(r.dialed-held), r.rejected("reserved"))

	// Streams arriving at once may have seen each other's slots taken
	// for a moment; one at a time, outsiders fill their share exactly, and
	// the next is refused.
	r.mark(r.held)
	for r.rejected("") == r.base {
		require.LessOrEqual(t, r.dialed, outsiderSlots-held, "an outsider is refused once outsiders hold their share")
		r.dial(reserveOutsider(8+r.dialed), nil)
		r.decided()
	}
	require.Equal(t, outsiderSlots, r.held())
	require.Equal(t, r.base+1, r.rejected("reserved"))
	require.True(t, closedByPeer(r.conns[len(r.conns)-1], 5*time.Second), "the refused stream is closed")
	require.False(t, closedByPeer(r.conns[0], 10*time.Millisecond), "outsiders' streams within their share stay open")

	// Members take the other slots: idle streams from the member's
	// address and from the node's own, then a push/pull from each.
	r.mark(r.held)
	for range maxStreamsPerSource - 1 {
		r.dial(reserveMemberIP, nil)
		r.dial(reserveNodeIP, nil)
	}
	r.decided()
	require.Equal(t, maxInboundStreams-2, r.held())
	require.Equal(t, r.base, r.rejected(""), "no member stream is refused")
	r.memberPushPull(reserveMemberIP)
	got, err := r.peer.Join([]string{r.addr}) // from 127.0.0.1, in the last slot
	require.NoError(t, err)
	require.Equal(t, 1, got)
	require.Equal(t, r.base, r.rejected(""), "no member stream is refused")

	// An outsider is still refused.
	r.quiet(maxInboundStreams - 2)
	r.mark(r.held)
	r.dial(reserveOutsider(200), nil)
	r.decided()
	require.Equal(t, r.base+1, r.rejected("reserved"))
}

// Outsiders stalling in push/pulls get at most
// maxPushPullRequests-memberPushPullReserve of them: members still
// exchange state.
func TestMemberPushPullReserve(t *testing.T) {
	r := newReserveRig(t)
	outsiderPushPulls := maxPushPullRequests - memberPushPullReserve
	pending := func() int { return int(r.m.pushPullReqs.Load()) }
	stall := []byte{byte(pushPullMsg)} // and nothing more

	// Outsiders from two addresses open push/pulls and stall, one at a
	// time, until one is refused.
	r.mark(pending)
	for r.rejected("") == r.base {
		require.LessOrEqual(t, r.dialed, outsiderPushPulls, "an outsider's push/pull is refused once outsiders hold their share")
		r.dial(reserveOutsider(r.dialed%2), stall)
		r.decided()
	}
	require.Equal(t, outsiderPushPulls, pending())
	require.Equal(t, r.base+1, r.rejected("reserved"))
	require.True(t, closedByPeer(r.conns[len(r.conns)-1], 5*time.Second), "the refused push/pull is closed")

	// A member's push/pull gets through, from its address and from the
	// node's own (the peer's join).
	r.memberPushPull(reserveMemberIP)
	got, err := r.peer.Join([]string{r.addr})
	require.NoError(t, err)
	require.Equal(t, 1, got)
	require.Equal(t, r.base+1, r.rejected(""), "no member push/pull is refused")

	// With members' push/pulls pending too, outsiders are still held to
	// their share.
	for range memberPushPullReserve / 2 {
		r.dial(reserveMemberIP, stall)
	}
	require.Eventually(t, func() bool { return pending() == outsiderPushPulls+memberPushPullReserve/2 },
		10*time.Second, time.Millisecond)
	r.mark(pending)
	r.dial(reserveOutsider(2), stall)
	r.decided()
	require.Equal(t, r.base+1, r.rejected("reserved"))
}

// A datagram that finds NetTransport's inbound queue full waits for room
// (the kernel's socket buffer holds what arrives meanwhile), and the wait is
// counted in memberlist.udp.queue_full and logged at DEBUG.
func TestUDPQueueFullCounted(t *testing.T) {
	sink := installInmemSink(t)
	seams := defaultNetTransportSeams()
	seams.packetQueue = 1
	logs := &syncBuffer{}
	nt, err := newNetTransport(&NetTransportConfig{
		BindAddrs:    []string{"127.0.0.1"},
		Logger:       log.New(logs, "", 0),
		MetricLabels: []metrics.Label{{Name: "node", Value: "q"}},
	}, seams)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nt.Shutdown() })

	raw, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: nt.GetAutoBindPort()})
	require.NoError(t, err)
	defer func() { _ = raw.Close() }()
	for _, p := range []string{"a", "b", "c"} {
		_, err = raw.Write([]byte(p))
		require.NoError(t, err)
	}
	queueFull := func() float64 {
		var sum float64
		for _, iv := range sink.Data() {
			iv.RLock()
			if v, ok := iv.Counters["memberlist.udp.queue_full;node=q"]; ok {
				sum += v.Sum
			}
			iv.RUnlock()
		}
		return sum
	}
	require.Eventually(t, func() bool { return queueFull() >= 1 }, 10*time.Second, time.Millisecond)
	require.Contains(t, logs.String(), "[DEBUG] memberlist: UDP packet queue is full (1 packets)")
	for _, want := range []string{"a", "b", "c"} {
		require.Equal(t, want, string(recvPacket(t, nt.PacketCh()).Buf), "no packet is lost")
	}
}

// newTCPOnlyLoopback is a TCP-only wrapper over a NetTransport on
// 127.0.0.1, its metrics labelled node=name, and the address to dial it.
func newTCPOnlyLoopback(t *testing.T, name string, timeout time.Duration) (*tcpOnlyTransport, string) {
	inner, _ := newLoopbackTransport(t, defaultNetTransportSeams())
	conf := DefaultLocalConfig()
	conf.TCPTimeout = timeout
	conf.MetricLabels = []metrics.Label{{Name: "node", Value: name}}
	tr := newTCPOnlyTransport(inner, conf, discardLogger(), inner.GetAutoBindPort())
	t.Cleanup(func() { _ = tr.Shutdown() })
	return tr, loopbackAddr(inner)
}

// In TCP-only mode every inbound stream passes through the wrapper first;
// one source address cannot hold more than tcpOnlyMaxPerSource of its
// slots, so it cannot shut the others out.
func TestTCPOnlyStreamsPerSource(t *testing.T) {
	sink := installInmemSink(t)
	tr, addr := newTCPOnlyLoopback(t, "tcponly", 30*time.Second)
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	dial := func(ip net.IP) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		require.NoError(t, err)
		conns = append(conns, c)
		return c
	}
	held := func(src string) int {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.bySource[src]
	}
	attacker := reserveOutsider(0)
	for range tcpOnlyMaxPerSource {
		dial(attacker)
	}
	require.Eventually(t, func() bool { return held(attacker.String()) == tcpOnlyMaxPerSource }, 10*time.Second, time.Millisecond)
	require.True(t, closedByPeer(dial(attacker), 5*time.Second), "a stream past the per-source cap is closed")
	require.Equal(t, 1.0, tcpRejectedCount(sink, "tcponly", "source_limit"))
	other := dial(reserveOutsider(1))
	require.Eventually(t, func() bool { return held(reserveOutsider(1).String()) == 1 }, 10*time.Second, time.Millisecond)
	require.False(t, closedByPeer(other, 10*time.Millisecond), "another source is still served")
	require.False(t, closedByPeer(conns[0], 10*time.Millisecond), "the streams within the cap stay open")
}

// A TCP-only stream that sends nothing, and a packet stream that trickles
// a frame, are closed once TCPTimeout has passed, and counted.
func TestTCPOnlySlowStreams(t *testing.T) {
	sink := installInmemSink(t)
	const timeout = 300 * time.Millisecond
	_, addr := newTCPOnlyLoopback(t, "tcponly", timeout)
	open := func(first []byte) (net.Conn, time.Time) {
		// Taken before the dial: the server's clock starts when it
		// accepts, which can be before Dial returns here.
		start := time.Now()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		if first != nil {
			_, err = c.Write(first)
			require.NoError(t, err)
		}
		return c, start
	}

	silent, start := open(nil)
	require.True(t, closedByPeer(silent, 10*time.Second), "a silent stream is closed")
	require.GreaterOrEqual(t, time.Since(start), timeout)
	require.Equal(t, 1.0, tcpRejectedCount(sink, "tcponly", "timeout"))

	// A packet stream: marker, port, a frame of 100 bytes of which 10
	// come.
	frame := []byte{tcpOnlyPacketMarker, 0x1f, 0x90, 0, 0, 0, 100}
	frame = append(frame, make([]byte, 10)...)
	trickle, start := open(frame)
	require.True(t, closedByPeer(trickle, 10*time.Second), "a trickled frame is given up")
	require.GreaterOrEqual(t, time.Since(start), timeout)
	require.Less(t, time.Since(start), tcpOnlyIdle, "well before the idle limit")
	require.Equal(t, 2.0, tcpRejectedCount(sink, "tcponly", "timeout"))
}

// The answer to a stream exchange we started is held to the same bounds as
// a request, and one refused for what it holds is counted in
// tcp.rejected{reason="decode"}; a peer that closes or fails to answer is
// not.
func TestExchangeReplyRefusedCounted(t *testing.T) {
	sink := installInmemSink(t)
	nodes, _ := startLocalNodes(t, 1, "xchg", func(_ int, c *Config) {
		c.MetricLabels = []metrics.Label{{Name: "node", Value: c.Name}}
	})
	m := nodes[0]
	req, err := encodePushPull(false, nil, nil, false)
	require.NoError(t, err)

	lying := append([]byte{byte(pushPullMsg)}, mp(t, &pushPullHeader{Nodes: 1_000_000_000})...)
	encrypted := []byte{byte(encryptMsg), 0xff, 0xff, 0xff, 0xff}
	for _, tc := range []struct {
		name    string
		answer  []byte // nil: close without answering
		counted float64
	}{
		{"header claiming a billion nodes", lying, 1},
		{"encrypted answer, no key", encrypted, 1},
		{"no answer", nil, 0},
		{"half an answer", lying[:3], 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer func() { _ = ln.Close() }()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer func() { _ = c.Close() }()
				// Answer, then read the request to its end, so that
				// closing resets nothing the node has yet to read.
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_, _ = c.Write(tc.answer)
				_ = c.(*net.TCPConn).CloseWrite()
				_, _ = io.Copy(io.Discard, c)
			}()
			before := tcpRejectedCount(sink, m.config.Name, "decode")
			_, err = m.exchange(t.Context(), &outExchange{
				to: Address{Addr: ln.Addr().String(), Name: "fake"}, msg: req,
				deadline: time.Now().Add(10 * time.Second),
			})
			require.Error(t, err)
			require.Equal(t, tc.counted, tcpRejectedCount(sink, m.config.Name, "decode")-before, "%v", err)
		})
	}
}
