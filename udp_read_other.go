//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

// This file owns how the UDP listener reads a datagram where the Unix
// reader (udp_read_unix.go) is not built: into a buffer of its own.

package memberlist

import "net"

// datagramReader returns what reads c's next datagram: its bytes (a copy
// of their length) and its source.
func datagramReader(c *net.UDPConn) func() ([]byte, net.Addr, error) {
	return ownBufferReader(c)
}
