// This file owns reading msgpack values from a stream without trusting it:
// exactly one value at a time, never past it, never longer than a limit
// or nested deeper than maxMsgpackDepth, and memory that follows the bytes
// that arrive rather than the lengths a peer claims.

package memberlist

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// readChunk is how much we read at once when a peer announces a large
// length: memory then follows the bytes that really arrive, not the claim.
const readChunk = 64 * 1024

// readFull reads exactly n bytes from r, growing the buffer as data arrives.
func readFull(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, readChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), len(buf)))
		}
		end := min(cap(buf), n)
		k, err := io.ReadFull(r, buf[len(buf):end])
		buf = buf[:len(buf)+k]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("got %d of %d bytes: %w", len(buf), n, err)
		}
	}
	return buf, nil
}

// readMsgpackValue appends to dst the bytes of exactly one msgpack value read
// from r and returns the result. It never reads past the value, rejects values
// longer than limit or nested deeper than maxMsgpackDepth, and asks r only for
// bytes it knows it needs, so a lying length costs no memory.
func readMsgpackValue(r io.Reader, dst []byte, limit int) ([]byte, error) {
	if mr, ok := r.(*memReader); ok {
		return mr.readMsgpackValue(dst, limit)
	}
	if br, ok := r.(*bufio.Reader); ok {
		if v, ok, err := peekMsgpackValue(br, dst, limit); ok || err != nil {
			return v, err
		}
	}
	var s msgpackScanner
	buf := dst[:0]
	for {
		done, need, err := s.scan(buf, limit)
		if err != nil {
			return nil, err
		}
		if done {
			return buf, nil
		}
		// Read what is needed, in chunks that at most double the buffer.
		need = min(need, max(len(buf), readChunk))
		buf = slices.Grow(buf, need)
		k, err := io.ReadFull(r, buf[len(buf):len(buf)+need])
		buf = buf[:len(buf)+k]
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// memReader reads a message already whole in memory (decrypted,
// decompressed, or a simulator's stream): readMsgpackValue finds each value
// in one scan over the bytes instead of reading it piece by piece, and
// decodePushPull decodes its entries as views of the bytes (see
// streamMsg.hold). Whoever makes a memReader must therefore leave its bytes
// alone while what was decoded from them is in use.
type memReader struct {
	b []byte
}

// Len is the number of bytes not yet read.
func (m *memReader) Len() int { return len(m.b) }

// held makes a memReader a heldStream: it is its own.
func (m *memReader) held() *memReader { return m }

// heldStream is a stream whose unread bytes are all in memory, in a
// memReader: the simulator's streams. Reading one needs no buffer in
// between (see readStreamBy and RemoveLabelHeaderFromStream).
type heldStream interface {
	held() *memReader
}

func (m *memReader) Read(p []byte) (int, error) {
	if len(m.b) == 0 {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, m.b)
	m.b = m.b[n:]
	return n, nil
}

// readMsgpackValue is readMsgpackValue for bytes in memory: a value cut
// short by the end of them is io.ErrUnexpectedEOF, as from a stream. It
// returns a view of the bytes; dst is not used.
func (m *memReader) readMsgpackValue(_ []byte, limit int) ([]byte, error) {
	if len(m.b) == 0 {
		return nil, io.EOF
	}
	var s msgpackScanner
	done, _, err := s.scan(m.b, limit)
	if err != nil {
		return nil, err
	}
	if !done {
		return nil, io.ErrUnexpectedEOF
	}
	// A view, not a copy: the message is the caller's to keep, and the
	// capacity stops an append from writing over the next value.
	v := m.b[:s.pos:s.pos]
	m.b = m.b[s.pos:]
	return v, nil
}

// heldBytes returns what r already holds in memory past its position, ready
// to be read without a copy: the rest of a memReader's message, or a
// bufio.Reader's buffered bytes. It returns nil for any other reader, or
// when nothing is held.
func heldBytes(r io.Reader) []byte {
	switch r := r.(type) {
	case *memReader:
		return r.b
	case *bufio.Reader:
		if n := r.Buffered(); n > 0 {
			b, _ := r.Peek(n)
			return b
		}
	}
	return nil
}

// discardHeld consumes n bytes of those heldBytes(r) returned.
func discardHeld(r io.Reader, n int) {
	switch r := r.(type) {
	case *memReader:
		r.b = r.b[n:]
	case *bufio.Reader:
		_, _ = r.Discard(n)
	}
}

// peekMsgpackValue is readMsgpackValue's fast path for a value that r
// already holds whole in its buffer, as most values of a push/pull do: one
// scan over the buffered bytes and one copy, instead of a read per header.
// ok is false, with nothing consumed, when the buffer holds only part of
// the value.
func peekMsgpackValue(r *bufio.Reader, dst []byte, limit int) (v []byte, ok bool, err error) {
	n := r.Buffered()
	if n == 0 {
		return nil, false, nil
	}
	b, _ := r.Peek(n)
	var s msgpackScanner
	done, _, err := s.scan(b, limit)
	if err != nil {
		return nil, false, err
	}
	if !done {
		return nil, false, nil
	}
	v = append(dst[:0], b[:s.pos]...)
	_, _ = r.Discard(s.pos)
	return v, true, nil
}

// msgpackScanner finds where one msgpack value ends without decoding it. It
// is resumable: scan consumes whole items (a header and any raw payload) and
// reports how many more bytes it needs, so the caller can feed it from a
// stream. The zero value is ready to scan a fresh value.
type msgpackScanner struct {
	pos     int // bytes of buf already consumed
	depth   int // open containers, plus one for the top-level slot
	started bool
	// left[i] is how many items the i-th open container still expects;
	// left[0] is the single top-level value.
	left [maxMsgpackDepth + 1]int64
}

// scan advances over buf, which must start with the bytes already passed to
// earlier calls. It returns done when a whole value is consumed (its length
// is s.pos), or the number of extra bytes needed to make progress.
func (s *msgpackScanner) scan(buf []byte, limit int) (done bool, need int, err error) {
	if !s.started {
		s.started = true
		s.depth = 1
		s.left[0] = 1
	}
	for s.depth > 0 {
		if s.pos >= len(buf) {
			return false, 1, s.checkLimit(int64(s.pos)+1, limit)
		}
		hdrLen, payload, items, err := msgpackItem(buf[s.pos:])
		if err != nil {
			return false, 0, err
		}
		if err := s.checkLimit(int64(s.pos)+int64(hdrLen)+payload+items, limit); err != nil {
			return false, 0, err
		}
		end := s.pos + hdrLen + int(payload)
		if end > len(buf) {
			return false, end - len(buf), nil
		}
		s.pos = end
		s.left[s.depth-1]--
		if items > 0 {
			if s.depth > maxMsgpackDepth {
				return false, 0, fmt.Errorf("msgpack value nests deeper than %d levels", maxMsgpackDepth)
			}
			s.left[s.depth] = items
			s.depth++
		}
		for s.depth > 0 && s.left[s.depth-1] == 0 {
			s.depth--
		}
	}
	return true, 0, nil
}

func (s *msgpackScanner) checkLimit(atLeast int64, limit int) error {
	if atLeast > int64(limit) {
		return fmt.Errorf("msgpack value runs past its %d byte limit", limit)
	}
	return nil
}

// msgpackItem decodes the header at the start of b. hdrLen is the header's
// size, payload the raw bytes that follow it (strings, binaries, numbers,
// extensions), items the number of child values a container opens (a map
// counts keys and values). When b is too short to hold the header it still
// returns the header's full length so the caller can ask for more.
func msgpackItem(b []byte) (hdrLen int, payload, items int64, err error) {
	c := b[0]
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixint, nil, bool
		return 1, 0, 0, nil
	case c <= 0x8f: // fixmap
		return 1, 0, 2 * int64(c&0x0f), nil
	case c <= 0x9f: // fixarray
		return 1, 0, int64(c & 0x0f), nil
	case c <= 0xbf: // fixstr
		return 1, int64(c & 0x1f), 0, nil
	}
	// Everything else has a fixed extra header, possibly with a length.
	var extra, lenBytes int
	var fixed int64
	kind := 0 // 0 raw, 1 array, 2 map
	switch c {
	case 0xc4, 0xd9: // bin8, str8
		extra, lenBytes = 1, 1
	case 0xc5, 0xda: // bin16, str16
		extra, lenBytes = 2, 2
	case 0xc6, 0xdb: // bin32, str32
		extra, lenBytes = 4, 4
	case 0xc7: // ext8: length then type
		extra, lenBytes, fixed = 2, 1, 0
	case 0xc8: // ext16
		extra, lenBytes = 3, 2
	case 0xc9: // ext32
		extra, lenBytes = 5, 4
	case 0xca: // float32
		fixed = 4
	case 0xcb: // float64
		fixed = 8
	case 0xcc, 0xd0: // uint8, int8
		fixed = 1
	case 0xcd, 0xd1:
		fixed = 2
	case 0xce, 0xd2:
		fixed = 4
	case 0xcf, 0xd3:
		fixed = 8
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1..16, plus a type byte
		fixed = 1 + int64(1)<<(c-0xd4)
	case 0xdc: // array16
		extra, lenBytes, kind = 2, 2, 1
	case 0xdd: // array32
		extra, lenBytes, kind = 4, 4, 1
	case 0xde: // map16
		extra, lenBytes, kind = 2, 2, 2
	case 0xdf: // map32
		extra, lenBytes, kind = 4, 4, 2
	default: // 0xc1 is reserved and never valid
		return 0, 0, 0, fmt.Errorf("invalid msgpack byte 0x%02x", c)
	}
	hdrLen = 1 + extra
	if lenBytes == 0 {
		return hdrLen, fixed, 0, nil
	}
	if len(b) < hdrLen {
		// Not enough to read the length yet: report only the header.
		return hdrLen, 0, 0, nil
	}
	var n int64
	switch lenBytes {
	case 1:
		n = int64(b[1])
	case 2:
		n = int64(binary.BigEndian.Uint16(b[1:]))
	case 4:
		n = int64(binary.BigEndian.Uint32(b[1:]))
	}
	switch kind {
	case 1:
		return hdrLen, 0, n, nil
	case 2:
		return hdrLen, 0, 2 * n, nil
	}
	return hdrLen, n, 0, nil
}
