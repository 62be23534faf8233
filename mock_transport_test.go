// Tests for MockNetwork and MockTransport: in-memory packets and streams,
// drops like UDP, shutdown, and concurrent use.

package memberlist

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireNoPacket fails if ch holds a packet; deliveries are synchronous,
// so there is nothing to wait for.
func requireNoPacket(t *testing.T, ch <-chan *Packet) {
	t.Helper()
	select {
	case p := <-ch:
		t.Fatalf("unexpected packet %q from %v", p.Buf, p.From)
	default:
	}
}

func TestMockNetworkAddresses(t *testing.T) {
	var n MockNetwork // the zero value must work
	a := n.NewTransport("a")
	b := n.NewTransport("b")
	assert.Equal(t, "127.0.0.1:1", a.addr.String())
	assert.Equal(t, "127.0.0.1:2", b.addr.String())

	for i, tr := range []*MockTransport{a, b} {
		ip, port, err := tr.FinalAdvertiseAddr("10.0.0.1", 7946)
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1", ip.String())
		assert.Equal(t, i+1, port)
	}

	var addr net.Addr = &MockAddress{Addr: "127.0.0.1:9", Name: "x"}
	assert.Equal(t, "mock", addr.Network())
	assert.Equal(t, "127.0.0.1:9", addr.String())
}

func TestMockTransportPacketRoundTrip(t *testing.T) {
	var n MockNetwork
	a := n.NewTransport("a")
	b := n.NewTransport("b")

	cases := []struct {
		name string
		send func(msg []byte) (time.Time, error)
	}{
		{"WriteTo by address", func(m []byte) (time.Time, error) { return a.WriteTo(m, "127.0.0.1:2") }},
		{"WriteToAddress by name", func(m []byte) (time.Time, error) {
			return a.WriteToAddress(m, Address{Addr: "10.9.9.9:1", Name: "b"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := []byte("ping")
			sent, err := tc.send(msg)
			require.NoError(t, err)
			msg[0] = 'X' // the sender may reuse its buffer at once

			p := recvPacket(t, b.PacketCh())
			assert.Equal(t, "ping", string(p.Buf))
			assert.Equal(t, sent, p.Timestamp)
			from, ok := p.From.(*MockAddress)
			require.True(t, ok, "From is %T", p.From)
			assert.Equal(t, MockAddress{Addr: "127.0.0.1:1", Name: "a"}, *from)
			requireNoPacket(t, a.PacketCh())
		})
	}
}

// A packet to a transport that does not exist (or no longer does) is an
// error, as in the reference; an unknown name does not fall back to the
// address.
func TestMockTransportNoRoute(t *testing.T) {
	var n MockNetwork
	a := n.NewTransport("a")
	b := n.NewTransport("b")
	gone := n.NewTransport("gone")
	require.NoError(t, gone.Shutdown())

	cases := []struct {
		name string
		to   Address
	}{
		{"unknown address", Address{Addr: "127.0.0.1:99"}},
		{"unknown name and address", Address{Addr: "127.0.0.1:99", Name: "nobody"}},
		{"shut-down transport by address", Address{Addr: gone.addr.Addr}},
		{"shut-down transport by name", Address{Addr: gone.addr.Addr, Name: "gone"}},
		{"unknown name, known address", Address{Addr: b.addr.Addr, Name: "nobody"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.WriteToAddress([]byte("lost"), tc.to)
			require.ErrorContains(t, err, "no route")
			for _, tr := range []*MockTransport{a, b, gone} {
				requireNoPacket(t, tr.PacketCh())
			}
		})
	}
}

func TestMockTransportDialExpiredTimeout(t *testing.T) {
	var n MockNetwork
	a := n.NewTransport("a")
	n.NewTransport("b")
	_, err := a.DialAddressTimeout(Address{Name: "b"}, -time.Second)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
}

func TestMockTransportFullQueueDropsWithoutBlocking(t *testing.T) {
	var n MockNetwork
	a := n.NewTransport("a")
	b := n.NewTransport("b")

	done := make(chan error, 1)
	go func() {
		for i := range mockPacketQueue + 10 {
			if _, err := a.WriteTo([]byte{byte(i)}, b.addr.Addr); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitLimit):
		t.Fatal("WriteTo blocked on a full queue")
	}
	assert.Len(t, b.PacketCh(), mockPacketQueue)
	assert.Equal(t, []byte{0}, recvPacket(t, b.PacketCh()).Buf, "the oldest packets are kept")
}

func TestMockTransportStreamRoundTrip(t *testing.T) {
	var n MockNetwork
	a := n.NewTransport("a")
	b := n.NewTransport("b")

	dials := []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"DialTimeout", func() (net.Conn, error) { return a.DialTimeout(b.addr.Addr, waitLimit) }},
		{"DialAddressTimeout by name", func() (net.Conn, error) {
			return a.DialAddressTimeout(Address{Addr: "10.9.9.9:1", Name: "b"}, 0)
		}},
	}
	for _, tc := range dials {
		t.Run(tc.name, func(t *testing.T) {
			checkStreamRoundTrip(t, tc.dial, b.StreamCh())
		})
	}
}

func TestMockTransportDialErrors(t *testing.T) {
	var n MockNetwork
	a := n.NewTransport("a")
	gone := n.NewTransport("gone")
	require.NoError(t, gone.Shutdown())

	cases := []struct {
		name string
		to   Address
		want string
	}{
		{"unknown address", Address{Addr: "127.0.0.1:99"}, "no route to 127.0.0.1:99"},
		{"shut-down transport", Address{Addr: gone.addr.Addr, Name: "gone"}, "no route to gone (127.0.0.1:2)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := a.DialAddressTimeout(tc.to, waitLimit)
			require.Error(t, err)
			assert.Nil(t, conn)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// fillStreams dials b until its stream queue is full and returns the
// dialers' ends.
func fillStreams(t *testing.T, a, b *MockTransport) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for range mockStreamQueue {
		c, err := a.DialTimeout(b.addr.Addr, waitLimit)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	return conns
}

func TestMockTransportDialWaitsForRoom(t *testing.T) {
	var n MockNetwork
	a := n.NewTransport("a")
	b := n.NewTransport("b")
	queued := fillStreams(t, a, b)
	defer func() {
		for _, c := range queued {
			_ = c.Close()
		}
	}()

	t.Run("times out", func(t *testing.T) {
		_, err := a.DialTimeout(b.addr.Addr, time.Millisecond)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "timed out")
	})

	t.Run("proceeds once the target accepts", func(t *testing.T) {
		dialed := make(chan error, 1)
		go func() {
			c, err := a.DialTimeout(b.addr.Addr, 0)
			if err == nil {
				queued = append(queued, c)
			}
			dialed <- err
		}()
		in := recvStream(t, b.StreamCh())
		defer func() { _ = in.Close() }()
		select {
		case err := <-dialed:
			require.NoError(t, err)
		case <-time.After(waitLimit):
			t.Fatal("dial did not proceed after room was made")
		}
	})

	t.Run("fails when the target shuts down", func(t *testing.T) {
		dialed := make(chan error, 1)
		go func() {
			_, err := a.DialTimeout(b.addr.Addr, 0)
			dialed <- err
		}()
		require.NoError(t, b.Shutdown())
		select {
		case err := <-dialed:
			require.Error(t, err)
		case <-time.After(waitLimit):
			t.Fatal("dial hung on a shut-down target")
		}
	})
}

func TestMockTransportShutdown(t *testing.T) {
	var n MockNetwork
	a := n.NewTransport("a")
	b := n.NewTransport("b")

	// A stream b never accepts must end for its dialer when b goes away.
	out, err := a.DialTimeout(b.addr.Addr, waitLimit)
	require.NoError(t, err)
	defer func() { _ = out.Close() }()
	_, err = a.WriteTo([]byte("unread"), b.addr.Addr)
	require.NoError(t, err)

	require.NoError(t, b.Shutdown())
	require.NoError(t, b.Shutdown(), "a second Shutdown must be harmless")

	// A pipe refuses deadlines once its far end is closed, which is the
	// point; the deadline only bounds the test if it is not.
	_ = out.SetReadDeadline(time.Now().Add(waitLimit))
	_, err = out.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
	requireNoPacket(t, b.PacketCh())

	_, err = b.WriteTo([]byte("late"), a.addr.Addr)
	assert.ErrorIs(t, err, errTransportShutdown)
	_, err = b.DialTimeout(a.addr.Addr, waitLimit)
	assert.ErrorIs(t, err, errTransportShutdown)
	p1, p2 := net.Pipe()
	defer func() { _ = p2.Close() }()
	assert.ErrorIs(t, b.IngestStream(p1), errTransportShutdown)

	// A new transport may take the name over; shutting the old one down
	// again must not unregister the new one.
	b2 := n.NewTransport("b")
	require.NoError(t, b.Shutdown())
	_, err = a.WriteToAddress([]byte("hi"), Address{Addr: b.addr.Addr, Name: "b"})
	require.NoError(t, err)
	assert.Equal(t, "hi", string(recvPacket(t, b2.PacketCh()).Buf))
}

func TestMockTransportIngest(t *testing.T) {
	var n MockNetwork
	a := n.NewTransport("a")

	local, remote := net.Pipe()
	go func() {
		_, _ = remote.Write([]byte("over tcp"))
		_ = remote.Close()
	}()
	from := &MockAddress{Addr: "127.0.0.1:7", Name: "peer"}
	now := time.Unix(1700000000, 0)
	require.NoError(t, a.IngestPacket(local, from, now, true))
	p := recvPacket(t, a.PacketCh())
	assert.Equal(t, "over tcp", string(p.Buf))
	assert.Equal(t, now, p.Timestamp)
	assert.Same(t, from, p.From)

	s1, s2 := net.Pipe()
	defer func() { _ = s2.Close() }()
	require.NoError(t, a.IngestStream(s1))
	got := recvStream(t, a.StreamCh())
	assert.Same(t, s1, got)
	_ = got.Close()
}

func TestMockTransportConcurrentUse(t *testing.T) {
	var n MockNetwork
	const nodes = 8
	var mu sync.Mutex
	var all []*MockTransport
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := n.NewTransport(fmt.Sprintf("node-%d", i))
			mu.Lock()
			all = append(all, tr)
			mu.Unlock()
		}()
	}
	wg.Wait()

	// Every node sends to every address and dials its neighbour while
	// half of them shut down.
	for i, tr := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range nodes {
				_, _ = tr.WriteTo([]byte("gossip"), fmt.Sprintf("127.0.0.1:%d", j+1))
			}
			if c, err := tr.DialTimeout(all[(i+1)%nodes].addr.Addr, time.Millisecond); err == nil {
				_ = c.Close()
			}
			if i%2 == 0 {
				_ = tr.Shutdown()
			}
		}()
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(waitLimit):
		t.Fatal("concurrent senders did not finish")
	}
	for _, tr := range all {
		require.NoError(t, tr.Shutdown())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	assert.Empty(t, n.byAddr)
	assert.Empty(t, n.byName)
}
