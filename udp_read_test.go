package memberlist

import (
	"bytes"
	"net"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDatagramReaders reads datagrams of several sizes, an empty one
// included, with the platform's reader and with the one that owns its
// buffer: the same bytes, a buffer of exactly their length, the sender's
// address.
func TestDatagramReaders(t *testing.T) {
	readers := map[string]func(*net.UDPConn) func() ([]byte, net.Addr, error){
		"platform":   datagramReader,
		"own buffer": ownBufferReader,
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			rc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			require.NoError(t, err)
			defer rc.Close()
			sc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			require.NoError(t, err)
			defer sc.Close()
			next := mk(rc)
			for _, size := range []int{0, 1, 1400, 65000} {
				msg := bytes.Repeat([]byte{byte(size)}, size)
				_, err := sc.WriteTo(msg, rc.LocalAddr())
				require.NoError(t, err)
				data, from, err := next()
				require.NoError(t, err, "size %d", size)
				assert.Equal(t, msg, data)
				assert.Equal(t, size, cap(data))
				assert.Equal(t, sc.LocalAddr().String(), from.String())
			}
			// Closing the socket ends the reads with net.ErrClosed.
			require.NoError(t, rc.Close())
			_, _, err = next()
			assert.ErrorIs(t, err, net.ErrClosed)
		})
	}
}

// TestReadLoopHoldsNoBuffer checks that a transport waiting for datagrams
// holds no 64 KiB read buffer: its goroutines' stacks stay small. (One on
// the reading goroutine's stack would grow it to 128 KiB.)
func TestReadLoopHoldsNoBuffer(t *testing.T) {
	const n = 16
	stacks := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.StackInuse
	}
	before := stacks()
	for range n {
		tr, _ := newLoopbackTransport(t, defaultNetTransportSeams())
		// One datagram, so that each reader has read at least once.
		_, err := tr.WriteTo([]byte{1}, loopbackAddr(tr))
		require.NoError(t, err)
		recvPacket(t, tr.PacketCh())
	}
	perTransport := (int64(stacks()) - int64(before)) / n
	assert.Less(t, perTransport, int64(48<<10), "each transport's goroutines hold %d bytes of stack", perTransport)
}
