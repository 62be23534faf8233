// This file owns LZW compression, the reference's only algorithm: of
// packets and of stream messages (the encoder is in lzw_encode.go), and
// their bounded expansion, which never holds much more memory than its
// output.

package memberlist

import (
	"fmt"
	"math"
)

// compressPayload LZW-compresses inp (see lzw_encode.go) and returns a
// whole compressMsg.
func compressPayload(inp []byte, newTimeFormat bool) ([]byte, error) {
	z := lzwCompress(make([]byte, 0, len(inp)/2+16), inp)
	return encodeMsg(compressMsg, &compress{Algo: lzwAlgo, Buf: z}, newTimeFormat)
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
	return decompressLimited(&c, limit)
}

// decompressBuffer expands c, refusing anything over maxDecompressedSize so
// that a small packet cannot balloon into gigabytes.
func decompressBuffer(c *compress) ([]byte, error) {
	return decompressLimited(c, maxDecompressedSize)
}

// inflateDirect is how much decompressLimited expands into a buffer that
// grows as it goes. A message that expands further is measured first and
// then expanded again into a buffer of exactly its size: twice the work,
// for the rare large message, but memory never exceeds the output's size
// by more than inflateDirect, and a bomb past the limit is refused having
// held no more than inflateDirect.
const inflateDirect = 1 << 20

// decompressLimited is decompressBuffer with the bound as a parameter.
func decompressLimited(c *compress, limit int64) ([]byte, error) {
	if c.Algo != lzwAlgo {
		return nil, fmt.Errorf("decompress payload: unknown algorithm %d; the peer runs an incompatible version", c.Algo)
	}
	limit = min(max(limit, 0), math.MaxInt32)
	direct := int(min(limit, inflateDirect))
	// LZW rarely expands more than a few times: start there, and let the
	// output grow, to direct bytes at most.
	out, _, more, err := lzwExpand(make([]byte, 0, min(direct, 4*len(c.Buf)+512)), c.Buf, direct, false)
	if err != nil {
		return nil, fmt.Errorf("decompress payload: %w; drop the message", err)
	}
	if !more {
		return out, nil
	}
	if int64(direct) < limit {
		// Measure, then expand into a buffer of exactly that size.
		_, n, more, err := lzwExpand(out[:0], c.Buf, int(limit), true)
		if err != nil {
			return nil, fmt.Errorf("decompress payload: %w; drop the message", err)
		}
		if !more {
			out, _, _, err = lzwExpand(make([]byte, 0, n), c.Buf, n, false)
			if err != nil {
				return nil, fmt.Errorf("decompress payload: %w; drop the message", err)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("decompress payload: expands beyond the %d byte limit; drop the message", limit)
}
