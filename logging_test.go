// Tests for logging.go: the "from=" rendering of peer addresses.

package memberlist

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLogAddress(t *testing.T) {
	tests := []struct {
		name string
		addr net.Addr
		want string
	}{
		{"nil", nil, "from=<unknown address>"},
		{"udp v4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7946}, "from=127.0.0.1:7946"},
		{"tcp v6", &net.TCPAddr{IP: net.IPv6loopback, Port: 80}, "from=[::1]:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, LogAddress(tt.addr))
		})
	}
}

func TestLogStringAddress(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "from=<unknown address>"},
		{"127.0.0.1:7946", "from=127.0.0.1:7946"},
		{"node-a", "from=node-a"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, LogStringAddress(tt.in))
		})
	}
}

func TestLogConn(t *testing.T) {
	assert.Equal(t, "from=<unknown address>", LogConn(nil))

	// net.Pipe gives a real net.Conn with no network behind it.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	assert.Equal(t, "from=pipe", LogConn(a))
}
