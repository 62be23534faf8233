//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package memberlist

import (
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUDPAddrOf(t *testing.T) {
	assert.Equal(t, "10.1.2.3:7946", udpAddrOf(&syscall.SockaddrInet4{Port: 7946, Addr: [4]byte{10, 1, 2, 3}}).String())
	assert.Equal(t, "[::1]:7946", udpAddrOf(&syscall.SockaddrInet6{Port: 7946, Addr: [16]byte{15: 1}}).String())
	zoned := udpAddrOf(&syscall.SockaddrInet6{Port: 1, Addr: [16]byte{0: 0xfe, 1: 0x80, 15: 1}, ZoneId: 1}).(*net.UDPAddr)
	assert.NotEmpty(t, zoned.Zone, "a link-local source keeps its zone")
	assert.Nil(t, udpAddrOf(&syscall.SockaddrUnix{Name: "x"}))
}
