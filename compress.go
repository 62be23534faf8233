// This file owns LZW compression, the reference's only algorithm: of
// packets and of stream messages (the encoder is in lzw_encode.go), and
// their bounded expansion, which never holds much more memory than its
// output.

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

// compressPayload LZW-compresses inp (see lzw_encode.go) and returns a
// whole compressMsg.
func compressPayload(inp []byte, newTimeFormat bool) ([]byte, error) {
	z := lzwCompress(make([]byte, 0, len(inp)/2+16), inp)
	return encodeMsg(compressMsg, &compress{Algo: lzwAlgo, Buf: z}, newTimeFormat)
}

// LZW readers are kept for reuse: each holds tables of tens of kilobytes,
// which a node would otherwise allocate for every packet it expands,
// several a second per node with the presets' EnableCompression. Datagrams
// use the pool; streams (a push/pull every half minute) make their own, so
// that the pool is empty, and off the heap, once nothing but probes flows.
var lzwReaders = sync.Pool{New: func() any { return lzw.NewReader(nil, lzw.LSB, lzwLitWidth) }}

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
// pooled LZW readers when pooled (see lzwReaders).
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
