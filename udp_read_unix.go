//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

// This file owns how the UDP listener reads a datagram on Unix: into a
// buffer borrowed only for the system call, not held while waiting.

package memberlist

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"syscall"
)

// readBufs lends the 64 KiB buffers datagrams are read into. A reader that
// owned one would hold it (on its stack, which then grows to 128 KiB) for
// as long as it waits, which is nearly always: more than a whole node's
// other memory. Borrowed for the system call only, a process needs about
// one per thread reading at that instant, whatever its number of nodes.
var readBufs = sync.Pool{New: func() any { return new([udpPacketBufSize]byte) }}

// datagramReader returns what reads c's next datagram: its bytes (a copy
// of their length) and its source. It waits in the runtime's poller for
// the socket to be readable, then reads with a borrowed buffer.
func datagramReader(c *net.UDPConn) func() ([]byte, net.Addr, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return ownBufferReader(c)
	}
	var (
		data []byte
		from net.Addr
		rerr error
	)
	read := func(fd uintptr) bool {
		buf := readBufs.Get().(*[udpPacketBufSize]byte)
		n, sa, err := syscall.Recvfrom(int(fd), buf[:], 0)
		data, from, rerr = nil, nil, err
		if err == nil {
			data = make([]byte, n) // its capacity n, not a size class's
			copy(data, buf[:n])
			from = udpAddrOf(sa)
		}
		readBufs.Put(buf)
		// On EAGAIN, wait until readable and try again.
		return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK && err != syscall.EINTR
	}
	return func() ([]byte, net.Addr, error) {
		if err := rc.Read(read); err != nil {
			return nil, nil, err // closed: wraps net.ErrClosed
		}
		if rerr != nil {
			return nil, nil, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: rerr}
		}
		if from == nil {
			return nil, nil, errors.New("datagram from an address that is not IPv4 or IPv6")
		}
		return data, from, nil
	}
}

// udpAddrOf converts a source address as the system call gives it; nil if
// it is neither IPv4 nor IPv6.
func udpAddrOf(sa syscall.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.UDPAddr{IP: net.IPv4(sa.Addr[0], sa.Addr[1], sa.Addr[2], sa.Addr[3]), Port: sa.Port}
	case *syscall.SockaddrInet6:
		a := &net.UDPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
		if sa.ZoneId != 0 {
			a.Zone = strconv.FormatUint(uint64(sa.ZoneId), 10)
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a
	}
	return nil
}
