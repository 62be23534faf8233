// This file owns LZW compression, the reference's only algorithm: of
// packets (with pooled coders) and of stream messages, and their bounded
// expansion, which never holds much more memory than its output.

package memberlist

import (
	"bytes"
	"compress/lzw"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// compressPayload LZW-compresses inp and returns a whole compressMsg.
func compressPayload(inp []byte, newTimeFormat bool) ([]byte, error) {
	return compressWith(inp, newTimeFormat, false)
}

// compressPacket is compressPayload for a datagram, with a pooled coder.
func compressPacket(inp []byte, newTimeFormat bool) ([]byte, error) {
	return compressWith(inp, newTimeFormat, true)
}

// compressWith is compressPayload with a pooled coder or a fresh one.
// Datagrams are small and, while news flows, many a second, so they use
// the pool; streams (a push/pull every half minute) make their own, so
// that the pool is empty, and off the heap, once nothing but probes flows.
func compressWith(inp []byte, newTimeFormat, pooled bool) ([]byte, error) {
	var z flushBuffer
	w := getLZWWriter(&z, pooled)
	defer putLZWWriter(w, pooled)
	if _, err := w.Write(inp); err != nil {
		return nil, fmt.Errorf("compress payload: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compress payload: %w", err)
	}
	return encodeMsg(compressMsg, &compress{Algo: lzwAlgo, Buf: z.Bytes()}, newTimeFormat)
}

// flushBuffer is a bytes.Buffer with the Flush method the LZW writer looks
// for: without it, the writer wraps its destination in a 4 KiB bufio.Writer
// on every use.
type flushBuffer struct{ bytes.Buffer }

func (*flushBuffer) Flush() error { return nil }

// LZW coders are kept for reuse: each holds tables of tens of kilobytes
// (a writer about 64 KiB), which a node would otherwise allocate for every
// packet it compresses or expands, several a second per node with the
// presets' EnableCompression.
var (
	lzwWriters = sync.Pool{New: func() any { return lzw.NewWriter(nil, lzw.LSB, lzwLitWidth) }}
	lzwReaders = sync.Pool{New: func() any { return lzw.NewReader(nil, lzw.LSB, lzwLitWidth) }}
)

// getLZWWriter returns an LZW writer to dst, from the pool when pooled.
func getLZWWriter(dst io.Writer, pooled bool) *lzw.Writer {
	if !pooled {
		return lzw.NewWriter(dst, lzw.LSB, lzwLitWidth).(*lzw.Writer)
	}
	w := lzwWriters.Get().(*lzw.Writer)
	w.Reset(dst, lzw.LSB, lzwLitWidth)
	return w
}

// putLZWWriter is done with w: back to the pool, holding nothing of its
// last use, when it came from there.
func putLZWWriter(w *lzw.Writer, pooled bool) {
	if !pooled {
		return
	}
	w.Reset(nil, lzw.LSB, lzwLitWidth)
	lzwWriters.Put(w)
}

// getLZWReader returns an LZW reader of src, from the pool when pooled.
func getLZWReader(src []byte, pooled bool) *lzw.Reader {
	if !pooled {
		return lzw.NewReader(bytes.NewReader(src), lzw.LSB, lzwLitWidth).(*lzw.Reader)
	}
	r := lzwReaders.Get().(*lzw.Reader)
	r.Reset(bytes.NewReader(src), lzw.LSB, lzwLitWidth)
	return r
}

// putLZWReader is done with r; see putLZWWriter.
func putLZWReader(r *lzw.Reader, pooled bool) {
	_ = r.Close()
	if !pooled {
		return
	}
	r.Reset(nil, lzw.LSB, lzwLitWidth)
	lzwReaders.Put(r)
}

// decompressPayload decodes msg, the body after the compressMsg type byte,
// and returns the message it wraps, type byte first.
func decompressPayload(msg []byte) ([]byte, error) {
	return decompressPayloadLimited(msg, maxDecompressedSize)
}

// decompressPayloadLimited is decompressPayload refusing anything that
// expands beyond limit bytes.
func decompressPayloadLimited(msg []byte, limit int64) ([]byte, error) {
	var c compress
	if err := decodeMsg(msg, &c); err != nil {
		return nil, fmt.Errorf("decompress payload: %w", err)
	}
	return decompressLimited(&c, limit, true)
}

// decompressBuffer expands c, refusing anything over maxDecompressedSize so
// that a small packet cannot balloon into gigabytes.
func decompressBuffer(c *compress) ([]byte, error) {
	return decompressLimited(c, maxDecompressedSize, false)
}

// inflateDirect is how much decompressLimited expands into a buffer that
// grows as it goes. A message that expands further is measured first and
// then expanded again into a buffer of exactly its size: twice the work,
// for the rare large message, but memory never exceeds the output's size
// by more than inflateDirect, and a bomb past the limit is refused having
// held no more than inflateDirect.
const inflateDirect = 1 << 20

// decompressLimited is decompressBuffer with the bound as a parameter, and
// pooled LZW readers when pooled (see compressWith).
func decompressLimited(c *compress, limit int64, pooled bool) ([]byte, error) {
	if c.Algo != lzwAlgo {
		return nil, fmt.Errorf("decompress payload: unknown algorithm %d; the peer runs an incompatible version", c.Algo)
	}
	limit = max(limit, 0)
	direct := min(limit, inflateDirect)
	out, more, err := inflateUpTo(c.Buf, int(direct), pooled)
	if err != nil {
		return nil, err
	}
	if !more {
		return out, nil
	}
	if direct < limit {
		// Measure, then expand into a buffer of exactly that size.
		out = nil
		r := getLZWReader(c.Buf, pooled)
		n, err := io.CopyN(io.Discard, r, limit+1)
		putLZWReader(r, pooled)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("decompress payload: %w; drop the message", err)
		}
		if n <= limit {
			out = make([]byte, n)
			r = getLZWReader(c.Buf, pooled)
			_, err = io.ReadFull(r, out)
			putLZWReader(r, pooled)
			if err != nil {
				return nil, fmt.Errorf("decompress payload: %w; drop the message", err)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("decompress payload: expands beyond the %d byte limit; drop the message", limit)
}

// inflateUpTo expands the LZW stream src into a buffer that grows with the
// output, up to max bytes. more says the output goes on past max; out is
// then incomplete.
func inflateUpTo(src []byte, max int, pooled bool) (out []byte, more bool, err error) {
	r := getLZWReader(src, pooled)
	defer putLZWReader(r, pooled)
	// LZW rarely expands more than a few times; start there and double,
	// never past max+1 (one byte past max proves there is more).
	out = make([]byte, 0, min(max+1, 4*len(src)+512))
	for {
		if len(out) == cap(out) {
			if len(out) > max {
				return out[:max], true, nil
			}
			out = slices.Grow(out, min(len(out), max+1-len(out)))
		}
		n, err := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if errors.Is(err, io.EOF) {
			if len(out) > max {
				return out[:max], true, nil
			}
			return out, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("decompress payload: %w; drop the message", err)
		}
	}
}
