package memberlist

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// One source address cannot hold more than maxStreamsPerSource inbound
// streams at once: the next is closed unread, while another source still
// gets in.
func TestInboundStreamsPerSource(t *testing.T) {
	nodes, _ := startLocalNodes(t, 1, "src", func(_ int, c *Config) {
		c.TCPTimeout = 20 * time.Second // idle streams stay open through the test
	})
	addr := fmt.Sprintf("127.0.0.1:%d", nodes[0].config.BindPort)

	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	for range maxStreamsPerSource {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	// Wait until the node has taken all of them.
	require.Eventually(t, func() bool {
		nodes[0].connsMu.Lock()
		defer nodes[0].connsMu.Unlock()
		return nodes[0].bySource["127.0.0.1"] == maxStreamsPerSource
	}, 5*time.Second, 10*time.Millisecond)

	extra, err := net.DialTimeout("tcp", addr, time.Second)
	require.NoError(t, err)
	conns = append(conns, extra)
	require.True(t, closedByPeer(extra, 5*time.Second), "a stream past the per-source cap is closed")

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: time.Second}
	other, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	conns = append(conns, other)
	require.False(t, closedByPeer(other, 300*time.Millisecond), "another source is still served")
	require.False(t, closedByPeer(conns[0], 10*time.Millisecond), "the streams within the cap stay open")
}
