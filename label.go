// label.go owns the label header: the optional cleartext prefix that tags
// every packet and stream with the cluster's label, so that clusters sharing
// a network (and even a key) ignore each other's traffic.
//
// Header layout, identical for packets and streams:
//
//	[hasLabelMsg: 1 byte = 244] [label length: 1 byte, 1..255] [label bytes]
//
// 244 is far above every message type and encryption version, so a labelled
// payload can never be mistaken for an unlabelled one.
package memberlist

import (
	"errors"
	"fmt"
	"io"
	"net"
)

// LabelMaxSize is the longest label, in bytes, that fits the header's one-byte
// length field.
const LabelMaxSize = 255

// hasLabelMsgByte marks a label header. It is the wire's hasLabelMsg message
// type, kept as a plain byte so this file stands on its own.
const hasLabelMsgByte byte = 244

var (
	errLabelTooLong   = errors.New("label is too long")
	errLabelEmpty     = errors.New("label header cannot be empty when present")
	errLabelTruncated = errors.New("cannot decode label: header is truncated")
)

// labelOverhead is how many bytes the header for label adds to a packet.
func labelOverhead(label string) int {
	if label == "" {
		return 0
	}
	return 2 + len(label)
}

// checkLabel refuses labels the one-byte length field cannot carry.
func checkLabel(label string) error {
	if len(label) > LabelMaxSize {
		return fmt.Errorf("%w: label %q is %d bytes, use at most %d", errLabelTooLong, label, len(label), LabelMaxSize)
	}
	return nil
}

// appendLabelHeader appends the header for a non-empty label to dst.
func appendLabelHeader(dst []byte, label string) []byte {
	dst = append(dst, hasLabelMsgByte, byte(len(label)))
	return append(dst, label...)
}

// AddLabelHeaderToPacket returns buf prefixed with the header for label. An
// empty label means "unlabelled", and buf is returned unchanged.
func AddLabelHeaderToPacket(buf []byte, label string) ([]byte, error) {
	if label == "" {
		return buf, nil
	}
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	out := make([]byte, 0, labelOverhead(label)+len(buf))
	out = appendLabelHeader(out, label)
	return append(out, buf...), nil
}

// RemoveLabelHeaderFromPacket splits a received packet into its label and the
// rest of the packet. A packet without a header comes back unchanged with an
// empty label. The returned packet shares buf's memory.
func RemoveLabelHeaderFromPacket(buf []byte) (newBuf []byte, label string, err error) {
	if len(buf) == 0 || buf[0] != hasLabelMsgByte {
		return buf, "", nil
	}
	if len(buf) < 2 {
		return nil, "", fmt.Errorf("%w: packet ends after the label marker", errLabelTruncated)
	}
	size := int(buf[1])
	if size == 0 {
		return nil, "", errLabelEmpty
	}
	if len(buf) < 2+size {
		return nil, "", fmt.Errorf("%w: packet has %d label bytes, header says %d", errLabelTruncated, len(buf)-2, size)
	}
	return buf[2+size:], string(buf[2 : 2+size]), nil
}

// AddLabelHeaderToStream writes the header for label to conn, before anything
// else is sent on it. An empty label writes nothing.
func AddLabelHeaderToStream(conn net.Conn, label string) error {
	if label == "" {
		return nil
	}
	if err := checkLabel(label); err != nil {
		return err
	}
	var header [2 + LabelMaxSize]byte
	if _, err := conn.Write(appendLabelHeader(header[:0], label)); err != nil {
		return fmt.Errorf("writing stream label header: %w", err)
	}
	return nil
}

// RemoveLabelHeaderFromStream reads the label header, if any, from the start
// of conn and returns a conn that yields the rest of the stream, plus the
// label (empty when the stream has no header). Bytes read past the header are
// not lost: the returned conn replays them first.
//
// On error the caller still owns conn and must close it.
func RemoveLabelHeaderFromStream(conn net.Conn) (net.Conn, string, error) {
	if h, ok := conn.(heldStream); ok {
		return removeHeldLabel(conn, h.held())
	}
	r := labelReader{conn: conn, buf: make([]byte, 0, 2+LabelMaxSize)}

	// A stream closed before its first byte has nothing to replay.
	if err := r.fill(1); err != nil {
		if errors.Is(err, io.EOF) && len(r.buf) == 0 {
			return conn, "", nil
		}
		return nil, "", fmt.Errorf("reading stream label header: %w", err)
	}
	if r.buf[0] != hasLabelMsgByte {
		return r.rest(0), "", nil
	}

	if err := r.fill(2); err != nil {
		return nil, "", r.truncated(err)
	}
	size := int(r.buf[1])
	if size == 0 {
		return nil, "", errLabelEmpty
	}
	if err := r.fill(2 + size); err != nil {
		return nil, "", r.truncated(err)
	}
	return r.rest(2 + size), string(r.buf[2 : 2+size]), nil
}

// removeHeldLabel is RemoveLabelHeaderFromStream for a stream already in
// memory, m: the header is cut from m's bytes, and conn itself, not a copy
// of what follows the header, yields the rest. Its answers are those of the
// general path, errors included.
func removeHeldLabel(conn net.Conn, m *memReader) (net.Conn, string, error) {
	b := m.b
	if len(b) == 0 || b[0] != hasLabelMsgByte {
		return conn, "", nil
	}
	if len(b) < 2 {
		return nil, "", (&labelReader{buf: b}).truncated(io.EOF)
	}
	size := int(b[1])
	if size == 0 {
		return nil, "", errLabelEmpty
	}
	if len(b) < 2+size {
		return nil, "", (&labelReader{buf: b}).truncated(io.EOF)
	}
	m.b = b[2+size:]
	return conn, string(b[2 : 2+size]), nil
}

// labelReader reads at most one header's worth of bytes from a conn, asking
// for no more than is already available, so it never blocks waiting for
// bytes past the header.
type labelReader struct {
	conn net.Conn
	buf  []byte
}

// fill reads until at least n bytes are buffered. A conn that keeps returning
// nothing and no error is given up on rather than spun on forever.
func (r *labelReader) fill(n int) error {
	const maxEmptyReads = 100
	for empty := 0; len(r.buf) < n; {
		got, err := r.conn.Read(r.buf[len(r.buf):cap(r.buf)])
		r.buf = r.buf[:len(r.buf)+got]
		if len(r.buf) >= n {
			return nil
		}
		if err != nil {
			return err
		}
		if got == 0 {
			if empty++; empty >= maxEmptyReads {
				return io.ErrNoProgress
			}
		}
	}
	return nil
}

// truncated turns an early end of stream into the label truncation error.
func (r *labelReader) truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: stream ended after %d header bytes", errLabelTruncated, len(r.buf))
	}
	return fmt.Errorf("reading stream label header: %w", err)
}

// rest returns a conn that yields the buffered bytes after offset, then the
// rest of the stream. Without leftover bytes it is the original conn, which
// keeps type assertions such as *net.TCPConn working for the caller.
func (r *labelReader) rest(offset int) net.Conn {
	if offset >= len(r.buf) {
		return r.conn
	}
	return &prefixedConn{Conn: r.conn, prefix: r.buf[offset:]}
}

// prefixedConn is a conn with some bytes already read from it: Read returns
// those first, then reads from the conn.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

// Read drains the already-read bytes before touching the conn, so callers see
// the stream exactly as it was sent.
func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.prefix) == 0 {
		return c.Conn.Read(p)
	}
	n := copy(p, c.prefix)
	c.prefix = c.prefix[n:]
	if len(c.prefix) == 0 {
		c.prefix = nil // let the header buffer be collected
	}
	return n, nil
}

// inboundLabel decides whether a packet or stream that arrived with label
// got is for this node, and returns the label to authenticate it with. With
// SkipInboundLabelCheck a peer sends no label (a proxy in front of us strips
// it) and ours is assumed.
func (c *Config) inboundLabel(got string) (string, error) {
	if c.SkipInboundLabelCheck {
		if got != "" {
			return "", errors.New("unexpected double label header")
		}
		return c.Label, nil
	}
	if got != c.Label {
		return "", fmt.Errorf("unacceptable label %q", got)
	}
	return got, nil
}
