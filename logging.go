// This file owns the helpers that render a peer's address in log lines, so
// every message about a remote node names it the same way.

package memberlist

import "net"

// unknownPeer stands in for a peer whose address is not known.
const unknownPeer = "from=<unknown address>"

// LogAddress renders addr as "from=<address>" for a log line, or
// "from=<unknown address>" when addr is nil, so log searches can key on the
// same prefix whatever the transport.
func LogAddress(addr net.Addr) string {
	if addr == nil {
		return unknownPeer
	}
	return "from=" + addr.String()
}

// LogStringAddress is LogAddress for an address already in text form, such
// as "10.0.0.1:7946"; the empty string counts as unknown.
func LogStringAddress(addr string) string {
	if addr == "" {
		return unknownPeer
	}
	return "from=" + addr
}

// LogConn is LogAddress for the remote end of conn; a nil conn counts as
// unknown.
func LogConn(conn net.Conn) string {
	if conn == nil {
		return unknownPeer
	}
	return LogAddress(conn.RemoteAddr())
}
