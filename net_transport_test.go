// Tests for NetTransport over real loopback sockets, the advertise-address
// choice, and the shared transportInbox.

package memberlist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitLimit bounds every wait on a channel; it is a failure bound, not a
// pause: tests proceed as soon as the event happens.
const waitLimit = 5 * time.Second

// syncBuffer is a log sink the test can read while goroutines write to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLoopbackTransport(t *testing.T, seams netTransportSeams) (*NetTransport, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	nt, err := newNetTransport(&NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"},
		Logger:    log.New(logs, "", 0),
	}, seams)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nt.Shutdown() })
	return nt, logs
}

func loopbackAddr(nt *NetTransport) string {
	return fmt.Sprintf("127.0.0.1:%d", nt.GetAutoBindPort())
}

func recvPacket(t *testing.T, ch <-chan *Packet) *Packet {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(waitLimit):
		t.Fatal("no packet arrived")
		return nil
	}
}

func recvStream(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(waitLimit):
		t.Fatal("no stream arrived")
		return nil
	}
}

// waitUntil spins, yielding, until cond holds; waitLimit bounds it.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		runtime.Gosched()
	}
}

// requireGoroutinesBack waits, boundedly and without sleeping, until no
// more goroutines run than before and none is a transport loop.
func requireGoroutinesBack(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		stacks := make([]byte, 1<<20)
		stacks = stacks[:runtime.Stack(stacks, true)]
		loops := bytes.Contains(stacks, []byte("acceptLoop")) || bytes.Contains(stacks, []byte("readLoop"))
		if !loops && runtime.NumGoroutine() <= before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left: %d, was %d\n%s", runtime.NumGoroutine(), before, stacks)
		}
		runtime.Gosched()
	}
}

// exchange writes msg on one end and reads it on the other, bounded by a
// deadline on both.
func exchange(t *testing.T, from, to net.Conn, msg string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	require.NoError(t, from.SetDeadline(deadline))
	require.NoError(t, to.SetDeadline(deadline))
	errc := make(chan error, 1)
	go func() {
		_, err := from.Write([]byte(msg))
		errc <- err
	}()
	got := make([]byte, len(msg))
	_, err := io.ReadFull(to, got)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	require.Equal(t, msg, string(got))
}

// checkStreamRoundTrip opens a stream with dial, takes it off the target's
// streams, and passes a request and its answer through it.
func checkStreamRoundTrip(t *testing.T, dial func() (net.Conn, error), streams <-chan net.Conn) {
	t.Helper()
	out, err := dial()
	require.NoError(t, err)
	defer func() { _ = out.Close() }()
	in := recvStream(t, streams)
	defer func() { _ = in.Close() }()

	exchange(t, out, in, "push-pull request")
	exchange(t, in, out, "push-pull response")
}

func TestNetTransportPacketRoundTrip(t *testing.T) {
	a, _ := newLoopbackTransport(t, defaultNetTransportSeams())
	b, _ := newLoopbackTransport(t, defaultNetTransportSeams())

	cases := []struct {
		name string
		size int
		send func(msg []byte) (time.Time, error)
	}{
		{"WriteTo one byte", 1, func(m []byte) (time.Time, error) { return a.WriteTo(m, loopbackAddr(b)) }},
		{"WriteToAddress with name", 1400, func(m []byte) (time.Time, error) {
			return a.WriteToAddress(m, Address{Addr: loopbackAddr(b), Name: "b"})
		}},
		{"near the UDP maximum", 60000, func(m []byte) (time.Time, error) { return a.WriteTo(m, loopbackAddr(b)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := bytes.Repeat([]byte{0xA5}, tc.size)
			before := time.Now()
			sent, err := tc.send(msg)
			require.NoError(t, err)
			require.False(t, sent.Before(before))

			p := recvPacket(t, b.PacketCh())
			after := time.Now()
			assert.Equal(t, msg, p.Buf)
			assert.Equal(t, tc.size, cap(p.Buf), "a queued packet must not pin the 64 KiB read buffer")
			from, ok := p.From.(*net.UDPAddr)
			require.True(t, ok, "From is %T", p.From)
			assert.Equal(t, a.GetAutoBindPort(), from.Port)
			assert.True(t, from.IP.IsLoopback())
			assert.False(t, p.Timestamp.Before(before))
			assert.False(t, p.Timestamp.After(after))
		})
	}
}

func TestNetTransportIPv6Loopback(t *testing.T) {
	for _, bind := range []string{"::1", "[::1]"} {
		t.Run(bind, func(t *testing.T) {
			nt, err := NewNetTransport(&NetTransportConfig{BindAddrs: []string{bind}})
			if err != nil {
				t.Skipf("no IPv6 loopback here: %v", err)
			}
			defer func() { _ = nt.Shutdown() }()

			addr := net.JoinHostPort("::1", fmt.Sprint(nt.GetAutoBindPort()))
			_, err = nt.WriteTo([]byte("six"), addr)
			require.NoError(t, err)
			assert.Equal(t, "six", string(recvPacket(t, nt.PacketCh()).Buf))

			ip, port, err := nt.FinalAdvertiseAddr("", 0)
			require.NoError(t, err)
			assert.True(t, ip.Equal(net.IPv6loopback))
			assert.Equal(t, nt.GetAutoBindPort(), port)
		})
	}
}

func TestNetTransportDropsEmptyPackets(t *testing.T) {
	b, logs := newLoopbackTransport(t, defaultNetTransportSeams())
	raw, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: b.GetAutoBindPort()})
	require.NoError(t, err)
	defer func() { _ = raw.Close() }()

	_, err = raw.Write(nil)
	require.NoError(t, err)
	_, err = raw.Write([]byte("x"))
	require.NoError(t, err)

	assert.Equal(t, "x", string(recvPacket(t, b.PacketCh()).Buf))
	assert.Contains(t, logs.String(), "too short")
}

func TestNetTransportStreamRoundTrip(t *testing.T) {
	a, _ := newLoopbackTransport(t, defaultNetTransportSeams())
	b, _ := newLoopbackTransport(t, defaultNetTransportSeams())

	dials := []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"DialTimeout", func() (net.Conn, error) { return a.DialTimeout(loopbackAddr(b), waitLimit) }},
		{"DialAddressTimeout", func() (net.Conn, error) {
			return a.DialAddressTimeout(Address{Addr: loopbackAddr(b), Name: "b"}, waitLimit)
		}},
	}
	for _, tc := range dials {
		t.Run(tc.name, func(t *testing.T) {
			checkStreamRoundTrip(t, tc.dial, b.StreamCh())
		})
	}
}

func TestNetTransportDialFailureNamesAddress(t *testing.T) {
	a, _ := newLoopbackTransport(t, defaultNetTransportSeams())
	// Borrow a port nobody listens on: open and close a listener.
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	dead := l.Addr().String()
	require.NoError(t, l.Close())

	_, err = a.DialAddressTimeout(Address{Addr: dead, Name: "gone"}, waitLimit)
	require.Error(t, err)
	assert.Contains(t, err.Error(), dead)
	assert.Contains(t, err.Error(), "gone")
}

func TestNetTransportAutoBindPortShared(t *testing.T) {
	nt, _ := newLoopbackTransport(t, defaultNetTransportSeams())
	port := nt.GetAutoBindPort()
	require.NotZero(t, port)
	assert.Equal(t, port, nt.tcpListeners[0].Addr().(*net.TCPAddr).Port)
	assert.Equal(t, port, nt.udpConns[0].LocalAddr().(*net.UDPAddr).Port)
}

func TestNetTransportAutoPortRetry(t *testing.T) {
	taken := fmt.Errorf("bind: %w", syscall.EADDRINUSE)
	cases := []struct {
		name      string
		bindPort  int
		udpFails  int
		wantErr   bool
		wantCalls int
	}{
		{"auto port, UDP taken twice", 0, 2, false, 3},
		{"auto port, UDP always taken", 0, 1000, true, autoPortAttempts},
		{"fixed port is not retried", 1, 1, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tcps []*net.TCPListener
			udpCalls := 0
			seams := defaultNetTransportSeams()
			seams.listenTCP = func(a *net.TCPAddr) (*net.TCPListener, error) {
				// Always bind the kernel's pick: the test port may be in use.
				l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: a.IP})
				if err == nil {
					tcps = append(tcps, l)
				}
				return l, err
			}
			realUDP := seams.listenUDP
			seams.listenUDP = func(a *net.UDPAddr) (*net.UDPConn, error) {
				udpCalls++
				if udpCalls <= tc.udpFails {
					return nil, taken
				}
				return realUDP(a)
			}

			nt, err := newNetTransport(&NetTransportConfig{
				BindAddrs: []string{"127.0.0.1"}, BindPort: tc.bindPort, Logger: log.New(io.Discard, "", 0),
			}, seams)
			assert.Equal(t, tc.wantCalls, udpCalls)
			if tc.wantErr {
				require.Error(t, err)
				assert.ErrorIs(t, err, syscall.EADDRINUSE)
				assert.Contains(t, err.Error(), "UDP listener on 127.0.0.1:")
			} else {
				require.NoError(t, err)
				defer func() { _ = nt.Shutdown() }()
			}

			// Every listener from a failed attempt must be closed. Each
			// attempt listens on TCP before UDP.
			require.Len(t, tcps, tc.wantCalls)
			failed := tcps
			if !tc.wantErr {
				failed = tcps[:len(tcps)-1]
			}
			for _, l := range failed {
				_ = l.SetDeadline(time.Now()) // an open listener times out at once
				_, err := l.Accept()
				assert.ErrorIs(t, err, net.ErrClosed)
			}
		})
	}
}

func TestNetTransportFixedPortInUse(t *testing.T) {
	a, _ := newLoopbackTransport(t, defaultNetTransportSeams())
	_, err := NewNetTransport(&NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"}, BindPort: a.GetAutoBindPort(), Logger: log.New(io.Discard, "", 0),
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TCP listener on "+loopbackAddr(a))
}

func TestNewNetTransportRejectsBadConfig(t *testing.T) {
	cases := []struct {
		name   string
		config *NetTransportConfig
		want   string
	}{
		{"nil config", nil, "config is nil"},
		{"no bind address", &NetTransportConfig{}, "at least one bind address"},
		{"host name", &NetTransportConfig{BindAddrs: []string{"localhost"}}, `"localhost" is not an IP address`},
		{"zone on IPv4", &NetTransportConfig{BindAddrs: []string{"127.0.0.1%lo"}}, "only IPv6"},
		{"negative port", &NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: -1}, "out of range"},
		{"port too large", &NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: 65536}, "out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nt, err := NewNetTransport(tc.config)
			require.Error(t, err)
			assert.Nil(t, nt)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseIPWithZone(t *testing.T) {
	cases := []struct {
		in       string
		wantIP   string
		wantZone string
		wantErr  bool
	}{
		{"127.0.0.1", "127.0.0.1", "", false},
		{"0.0.0.0", "0.0.0.0", "", false},
		{"::1", "::1", "", false},
		{"[::1]", "::1", "", false},
		{"fe80::1%eth0", "fe80::1", "eth0", false},
		{"[fe80::1%eth0]", "fe80::1", "eth0", false},
		{"fe80::1%", "", "", true},
		{"10.0.0.1%eth0", "", "", true},
		{"example.com", "", "", true},
		{"127.0.0.1:7946", "", "", true},
		{"", "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			ip, zone, err := parseIPWithZone(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), fmt.Sprintf("%q", tc.in))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantIP, ip.String())
			assert.Equal(t, tc.wantZone, zone)
		})
	}
}

func TestNetTransportFinalAdvertiseAddr(t *testing.T) {
	nt, _ := newLoopbackTransport(t, defaultNetTransportSeams())
	bound := nt.GetAutoBindPort()
	cases := []struct {
		name     string
		ip       string
		port     int
		wantIP   string
		wantPort int
		wantErr  string
	}{
		{"nothing given: the bind address", "", 0, "127.0.0.1", bound, ""},
		{"port without ip is ignored", "", 1234, "127.0.0.1", bound, ""},
		{"explicit IPv4", "10.1.2.3", 7946, "10.1.2.3", 7946, ""},
		{"explicit ip, zero port: the bound port", "10.1.2.3", 0, "10.1.2.3", bound, ""},
		{"explicit IPv6 with zone", "fe80::1%eth0", 7946, "fe80::1", 7946, ""},
		{"not an IP", "node-a.example", 7946, "", 0, `"node-a.example" is not an IP address`},
		{"port out of range", "10.1.2.3", 70000, "", 0, "out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ip, port, err := nt.FinalAdvertiseAddr(tc.ip, tc.port)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantIP, ip.String())
			if v4 := net.ParseIP(tc.wantIP).To4(); v4 != nil {
				assert.Len(t, ip, net.IPv4len, "IPv4 must be advertised in 4-byte form")
			}
			assert.Equal(t, tc.wantPort, port)
		})
	}
}

func ipNets(cidrs ...string) []net.Addr {
	var out []net.Addr
	for _, c := range cidrs {
		ip, n, err := net.ParseCIDR(c)
		if err != nil {
			panic(err)
		}
		n.IP = ip
		out = append(out, n)
	}
	return out
}

func TestChooseAdvertiseAddrOnWildcard(t *testing.T) {
	listErr := errors.New("netlink refused")
	cases := []struct {
		name    string
		bound   net.IP
		addrs   []net.Addr
		listErr error
		wantIP  string
		wantErr string
	}{
		{"IPv4 wildcard picks private", net.IPv4zero, ipNets("8.8.4.4/24", "192.168.1.5/24"), nil, "192.168.1.5", ""},
		{"IPv6 wildcard picks private", net.IPv6unspecified, ipNets("fd00::5/64", "10.0.0.7/8"), nil, "10.0.0.7", ""},
		{"no private: error, never a public address", net.IPv4zero, ipNets("fe80::1/64", "203.0.113.9/24", "198.51.100.1/24"), nil, "", "set AdvertiseAddr"},
		{"nothing usable", net.IPv4zero, ipNets("127.0.0.1/8", "169.254.3.3/16", "::1/128"), nil, "", "set AdvertiseAddr"},
		{"listing fails", net.IPv4zero, nil, listErr, "", "set AdvertiseAddr"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lister := func() ([]net.Addr, error) { return tc.addrs, tc.listErr }
			ip, port, err := chooseAdvertiseAddr("", 0, tc.bound, 7946, lister)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				if tc.listErr != nil {
					assert.ErrorIs(t, err, tc.listErr)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantIP, ip.String())
			assert.Len(t, ip, net.IPv4len)
			assert.Equal(t, 7946, port)
		})
	}
}

// An empty bind address listens on every address, as in the reference.
func TestNetTransportEmptyBindAddrListensEverywhere(t *testing.T) {
	nt, err := NewNetTransport(&NetTransportConfig{BindAddrs: []string{""}, BindPort: 0})
	require.NoError(t, err)
	defer func() { _ = nt.Shutdown() }()
	require.True(t, nt.tcpListeners[0].Addr().(*net.TCPAddr).IP.IsUnspecified())
	conn, err := nt.DialTimeout(fmt.Sprintf("127.0.0.1:%d", nt.GetAutoBindPort()), time.Second)
	require.NoError(t, err)
	_ = conn.Close()
}

func TestParseDefaultRoute(t *testing.T) {
	table := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n" +
		"eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
	assert.Equal(t, "eth0", parseDefaultRoute(table))
	assert.Equal(t, "", parseDefaultRoute("Iface\tDestination\n"))
	assert.Equal(t, "", parseDefaultRoute(""))
}

func TestPickAdvertiseIP(t *testing.T) {
	cases := []struct {
		name  string
		addrs []net.Addr
		want  string
	}{
		{"none", nil, "<nil>"},
		{"RFC 1918 10/8", ipNets("10.9.8.7/8"), "10.9.8.7"},
		{"RFC 1918 172.16/12", ipNets("172.31.0.1/16"), "172.31.0.1"},
		{"172.32 is public", ipNets("172.32.0.1/16"), "<nil>"},
		{"RFC 6598 after a public one", ipNets("198.51.100.4/24", "100.64.1.1/10"), "100.64.1.1"},
		{"100.128 is public, private wins", ipNets("100.128.0.1/16", "192.168.0.9/24"), "192.168.0.9"},
		{"first private wins", ipNets("192.168.0.9/24", "10.0.0.1/8"), "192.168.0.9"},
		{"loopback, link-local, multicast, IPv6 skipped", ipNets("127.0.0.5/8", "169.254.0.1/16", "224.0.0.1/4", "2001:db8::1/64"), "<nil>"},
		{"IPAddr form", []net.Addr{&net.IPAddr{IP: net.ParseIP("10.1.1.1")}}, "10.1.1.1"},
		{"foreign Addr types ignored", []net.Addr{&net.UDPAddr{IP: net.ParseIP("10.1.1.1")}}, "<nil>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, pickAdvertiseIP(tc.addrs).String())
		})
	}
}

func TestNetTransportShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	a, err := NewNetTransport(&NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, Logger: log.New(io.Discard, "", 0)})
	require.NoError(t, err)
	b, err := NewNetTransport(&NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, Logger: log.New(io.Discard, "", 0)})
	require.NoError(t, err)
	defer func() { _ = b.Shutdown() }()

	// Leave a stream unaccepted and a packet unread in a's queues.
	out, err := b.DialTimeout(loopbackAddr(a), waitLimit)
	require.NoError(t, err)
	defer func() { _ = out.Close() }()
	_, err = b.WriteTo([]byte("unread"), loopbackAddr(a))
	require.NoError(t, err)

	require.NoError(t, a.Shutdown())
	require.NoError(t, a.Shutdown(), "a second Shutdown must be harmless")
	require.NoError(t, b.Shutdown())
	requireGoroutinesBack(t, before)

	// The stream nobody accepted ends instead of hanging its dialer.
	require.NoError(t, out.SetReadDeadline(time.Now().Add(waitLimit)))
	_, err = out.Read(make([]byte, 1))
	require.Error(t, err)
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "want end of stream, got %v", err)

	_, err = a.WriteTo([]byte("late"), loopbackAddr(b))
	assert.ErrorIs(t, err, errTransportShutdown)
	_, err = a.DialTimeout(loopbackAddr(b), waitLimit)
	assert.ErrorIs(t, err, errTransportShutdown)
	p1, p2 := net.Pipe()
	defer func() { _ = p2.Close() }()
	assert.ErrorIs(t, a.IngestStream(p1), errTransportShutdown)
}

func TestNetTransportShutdownWithFullQueues(t *testing.T) {
	before := runtime.NumGoroutine()
	seams := defaultNetTransportSeams()
	seams.packetQueue, seams.streamQueue = 1, 0
	nt, err := newNetTransport(&NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, Logger: log.New(io.Discard, "", 0)}, seams)
	require.NoError(t, err)

	raw, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: nt.GetAutoBindPort()})
	require.NoError(t, err)
	defer func() { _ = raw.Close() }()
	for range 3 {
		_, err = raw.Write([]byte("p"))
		require.NoError(t, err)
	}
	var clients []net.Conn
	for range 2 {
		c, err := net.DialTimeout("tcp", loopbackAddr(nt), waitLimit)
		require.NoError(t, err)
		defer func() { _ = c.Close() }()
		clients = append(clients, c)
	}
	// Make sure the reader has taken at least one packet off the socket.
	waitUntil(t, "a packet is queued", func() bool { return len(nt.PacketCh()) == 1 })

	done := make(chan struct{})
	go func() {
		_ = nt.Shutdown()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("Shutdown hung on full queues")
	}
	requireGoroutinesBack(t, before)

	for _, c := range clients {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(waitLimit)))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		require.Error(t, err)
		assert.False(t, errors.As(err, &ne) && ne.Timeout(), "want end of stream, got %v", err)
	}
}

// scriptedListener returns queued Accept results, then blocks until closed.
type scriptedListener struct {
	results chan acceptResult
	calls   chan struct{}
	closed  chan struct{}
	once    sync.Once
}

type acceptResult struct {
	conn net.Conn
	err  error
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	select {
	case l.calls <- struct{}{}:
	default:
	}
	select {
	case r := <-l.results:
		return r.conn, r.err
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *scriptedListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *scriptedListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

type temporaryError struct{}

func (temporaryError) Error() string   { return "too many open files" }
func (temporaryError) Timeout() bool   { return false }
func (temporaryError) Temporary() bool { return true }

func TestAcceptLoopBacksOffAndRecovers(t *testing.T) {
	logs := &syncBuffer{}
	nt := &NetTransport{logger: log.New(logs, "", 0), inbox: newTransportInbox(1, 1)}
	l := &scriptedListener{results: make(chan acceptResult, 4), calls: make(chan struct{}, 1), closed: make(chan struct{})}
	in, out := net.Pipe()
	defer func() { _ = out.Close() }()
	l.results <- acceptResult{err: temporaryError{}}
	l.results <- acceptResult{err: temporaryError{}}
	l.results <- acceptResult{conn: in}

	nt.wg.Add(1)
	go nt.acceptLoop(l)

	got := recvStream(t, nt.StreamCh())
	assert.Same(t, in, got)
	assert.Equal(t, 2, strings.Count(logs.String(), "Error accepting TCP connection"))
	assert.Contains(t, logs.String(), "retrying in 5ms")
	assert.Contains(t, logs.String(), "retrying in 10ms")

	// Errors after shutdown end the loop quietly.
	nt.inbox.close()
	l.results <- acceptResult{err: temporaryError{}}
	nt.wg.Wait()
	assert.Equal(t, 2, strings.Count(logs.String(), "Error accepting TCP connection"))
	_ = got.Close()
}

func TestAcceptLoopStopsDuringBackoff(t *testing.T) {
	nt := &NetTransport{logger: log.New(io.Discard, "", 0), inbox: newTransportInbox(1, 1)}
	l := &scriptedListener{results: make(chan acceptResult, 1), calls: make(chan struct{}, 1), closed: make(chan struct{})}
	l.results <- acceptResult{err: temporaryError{}}
	nt.wg.Add(1)
	go nt.acceptLoop(l)
	<-l.calls
	nt.inbox.close()

	stopped := make(chan struct{})
	go func() {
		nt.wg.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(waitLimit):
		t.Fatal("accept loop did not stop")
	}
}

func TestAcceptBackoff(t *testing.T) {
	cases := []struct{ prev, want time.Duration }{
		{0, 5 * time.Millisecond},
		{5 * time.Millisecond, 10 * time.Millisecond},
		{320 * time.Millisecond, 640 * time.Millisecond},
		{640 * time.Millisecond, time.Second},
		{time.Second, time.Second},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, acceptBackoff(tc.prev), "after %v", tc.prev)
	}
}

func TestNetTransportMetrics(t *testing.T) {
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	conf := metrics.DefaultConfig("")
	conf.EnableHostname = false
	conf.EnableRuntimeMetrics = false
	_, err := metrics.NewGlobal(conf, sink)
	require.NoError(t, err)
	defer func() {
		conf := metrics.DefaultConfig("")
		conf.EnableRuntimeMetrics = false
		_, _ = metrics.NewGlobal(conf, &metrics.BlackholeSink{})
	}()

	nt, err := NewNetTransport(&NetTransportConfig{
		BindAddrs:    []string{"127.0.0.1"},
		MetricLabels: []metrics.Label{{Name: "cluster", Value: "c1"}},
	})
	require.NoError(t, err)
	defer func() { _ = nt.Shutdown() }()
	_, err = nt.WriteTo([]byte("12345"), loopbackAddr(nt))
	require.NoError(t, err)
	recvPacket(t, nt.PacketCh())

	data := sink.Data()
	require.NotEmpty(t, data)
	data[0].RLock()
	defer data[0].RUnlock()
	c, ok := data[0].Counters["memberlist.udp.received;cluster=c1"]
	require.True(t, ok, "counters: %v", data[0].Counters)
	assert.Equal(t, 5.0, c.Sum)
}

func TestInboxIngestPacket(t *testing.T) {
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	now := time.Unix(1700000000, 0)
	cases := []struct {
		name    string
		payload string
		close   bool
		wantErr string
	}{
		{"packet, closed after", "ping", true, ""},
		{"packet, left open", "ping", false, ""},
		{"empty", "", true, "is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newTransportInbox(1, 1)
			local, remote := net.Pipe()
			defer func() { _ = local.Close() }()
			go func() {
				_, _ = remote.Write([]byte(tc.payload))
				_ = remote.Close()
			}()
			err := b.ingestPacket(local, from, now, tc.close)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Contains(t, err.Error(), from.String())
				return
			}
			require.NoError(t, err)
			p := recvPacket(t, b.packets)
			assert.Equal(t, tc.payload, string(p.Buf))
			assert.Equal(t, from, p.From)
			assert.Equal(t, now, p.Timestamp)

			// Reading our own end tells whether ingestPacket closed it.
			_, err = local.Read(make([]byte, 1))
			if tc.close {
				assert.ErrorIs(t, err, io.ErrClosedPipe)
			} else {
				assert.ErrorIs(t, err, io.EOF)
			}
		})
	}
}

func TestInboxRefusesAfterClose(t *testing.T) {
	b := newTransportInbox(1, 1)
	b.close()
	b.close()

	assert.ErrorIs(t, b.deliverPacket(&Packet{Buf: []byte{1}}, true), errTransportShutdown)
	assert.ErrorIs(t, b.deliverPacket(&Packet{Buf: []byte{1}}, false), errTransportShutdown)

	local, remote := net.Pipe()
	defer func() { _ = remote.Close() }()
	assert.ErrorIs(t, b.ingestStream(local), errTransportShutdown)
	_, err := local.Write([]byte("x"))
	assert.ErrorIs(t, err, io.ErrClosedPipe, "a refused stream is closed")

	assert.Error(t, b.ingestStream(nil))
	assert.Error(t, b.ingestPacket(nil, nil, time.Time{}, true))
}
