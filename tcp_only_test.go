// Tests for tcp_only.go: packet streams are told from ordinary streams
// without losing a byte of the latter, and a TCP-only cluster on loopback
// detects a crash without sending a single UDP packet.

package memberlist

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTCPOnlyStreams(t *testing.T) {
	for _, label := range []string{"", "cluster-x"} {
		t.Run(fmt.Sprintf("label=%q", label), func(t *testing.T) {
			before := runtime.NumGoroutine()
			var network MockNetwork
			conf := DefaultLocalConfig()
			conf.Label = label
			innerA, innerB := network.NewTransport("a"), network.NewTransport("b")
			a := newTCPOnlyTransport(innerA, conf, discardLogger(), 1001)
			b := newTCPOnlyTransport(innerB, conf, discardLogger(), 1002)
			defer func() {
				require.NoError(t, a.Shutdown())
				require.NoError(t, b.Shutdown())
				requireGoroutinesBack(t, before)
			}()
			to := Address{Addr: innerB.addr.Addr, Name: "b"}

			// Packets arrive whole and in order, over one stream.
			for i := range 3 {
				_, err := a.WriteToAddress([]byte{byte(pingMsg), byte(i), 0xff}, to)
				require.NoError(t, err)
			}
			for i := range 3 {
				p := recvPacket(t, b.PacketCh())
				assert.Equal(t, []byte{byte(pingMsg), byte(i), 0xff}, p.Buf)
			}
			waitUntil(t, "a counts 3 sent packets", func() bool { return a.framesSent.Load() == 3 })
			assert.EqualValues(t, 3, b.framesReceived.Load())

			// An ordinary stream, labelled or not, comes out of StreamCh
			// byte for byte, even when its first bytes were peeked at.
			for _, body := range [][]byte{{byte(pushPullMsg), 1, 2, 3}, {byte(errMsg)}, {byte(userMsg)}} {
				conn, err := a.DialAddressTimeout(to, time.Second)
				require.NoError(t, err)
				go func() {
					_ = AddLabelHeaderToStream(conn, label)
					_, _ = conn.Write(body)
					_ = conn.Close()
				}()
				got := recvStream(t, b.StreamCh())
				rest, gotLabel, err := RemoveLabelHeaderFromStream(got)
				require.NoError(t, err)
				assert.Equal(t, label, gotLabel)
				all, err := io.ReadAll(rest)
				require.NoError(t, err)
				assert.Equal(t, body, all)
				_ = got.Close()
			}

			// A packet stream with a lying length is closed, and delivers
			// nothing.
			conn, err := innerA.DialAddressTimeout(to, time.Second)
			require.NoError(t, err)
			var hdr []byte
			if label != "" {
				hdr = appendLabelHeader(hdr, label)
			}
			hdr = append(hdr, tcpOnlyPacketMarker, 0x03, 0xe9)
			hdr = binary.BigEndian.AppendUint32(hdr, 1<<30)
			go func() { _, _ = conn.Write(append(hdr, 1, 2, 3)) }()
			_, err = io.ReadAll(conn) // ends when b closes its end
			require.NoError(t, err)
			select {
			case p := <-b.PacketCh():
				t.Fatalf("got packet %v from a bad frame", p.Buf)
			default:
			}
		})
	}
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// udpCounter is a NetTransport that counts what it is asked to send as UDP.
type udpCounter struct {
	*NetTransport
	writes atomic.Int64
}

func (u *udpCounter) WriteTo(b []byte, addr string) (time.Time, error) {
	u.writes.Add(1)
	return u.NetTransport.WriteTo(b, addr)
}

func (u *udpCounter) WriteToAddress(b []byte, a Address) (time.Time, error) {
	u.writes.Add(1)
	return u.NetTransport.WriteToAddress(b, a)
}

// TestTCPOnlyCluster forms three TCP-only nodes on loopback, crashes one
// and sees the others declare it dead; no node sends a UDP packet.
func TestTCPOnlyCluster(t *testing.T) {
	before := runtime.NumGoroutine()
	const n = 3
	counters := make([]*udpCounter, n)
	nodes, logs := startLocalNodes(t, n, "t", func(i int, c *Config) {
		nt, err := NewNetTransport(&NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: 0, Logger: discardLogger()})
		require.NoError(t, err)
		counters[i] = &udpCounter{NetTransport: nt}
		c.Transport = counters[i]
		c.TCPOnly = true
		c.Label = "tcp-only-test"
		c.ProbeInterval = 300 * time.Millisecond
		c.ProbeTimeout = 150 * time.Millisecond
	})
	for i := 1; i < n; i++ {
		_, err := nodes[i].Join([]string{nodes[0].LocalNode().Address()})
		require.NoError(t, err)
	}
	for i := range n {
		for j := range n {
			logs[i].waitFor(t, NodeJoin, fmt.Sprintf("t%d", j), 30*time.Second)
		}
	}

	// Probes and acks travel over packet streams in every direction.
	for i, m := range nodes {
		tr := m.transport.(*tcpOnlyTransport)
		waitUntil(t, fmt.Sprintf("t%d sends and receives packets", i), func() bool {
			return tr.framesSent.Load() > 0 && tr.framesReceived.Load() > 0
		})
	}

	// Crash t2: no Leave, so the others must find out by probing it.
	require.NoError(t, nodes[2].Shutdown())
	for i := range 2 {
		logs[i].waitFor(t, NodeLeave, "t2", 30*time.Second)
		logs[i].mu.Lock()
		for _, ev := range logs[i].events {
			if ev.Event == NodeLeave {
				assert.Equal(t, StateDead, ev.Node.State, "t%d sees t2 as dead, not left", i)
			}
		}
		logs[i].mu.Unlock()
	}

	for i, m := range nodes {
		require.NoError(t, m.Shutdown())
		assert.Zero(t, counters[i].writes.Load(), "t%d sent UDP packets", i)
	}
	requireGoroutinesBack(t, before)
}

// A packet queued just before Shutdown still goes out, as a datagram would
// have before WriteToAddress returned: a Leave's last broadcast is such a
// packet.
func TestTCPOnlyShutdownFlushes(t *testing.T) {
	before := runtime.NumGoroutine()
	var network MockNetwork
	conf := DefaultLocalConfig()
	innerA, innerB := network.NewTransport("a"), network.NewTransport("b")
	a := newTCPOnlyTransport(innerA, conf, discardLogger(), 1001)
	b := newTCPOnlyTransport(innerB, conf, discardLogger(), 1002)
	_, err := a.WriteToAddress([]byte{byte(deadMsg), 7}, Address{Addr: innerB.addr.Addr, Name: "b"})
	require.NoError(t, err)
	require.NoError(t, a.Shutdown())
	p := recvPacket(t, b.PacketCh())
	assert.Equal(t, []byte{byte(deadMsg), 7}, p.Buf)
	_, err = a.WriteToAddress([]byte{byte(deadMsg)}, Address{Addr: innerB.addr.Addr, Name: "b"})
	require.Error(t, err, "nothing is queued once Shutdown began")
	require.NoError(t, b.Shutdown())
	requireGoroutinesBack(t, before)
}
