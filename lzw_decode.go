// This file holds the LZW decoder of compressed messages, the other half of
// lzw_encode.go: what compress/lzw's reader (LSB, 8-bit literals) accepts,
// it expands to the same bytes, and what it refuses, this refuses, in one
// pass over a byte slice with no allocation but the output.

package memberlist

import (
	"errors"
	"io"
	"math"
	"sync"
)

// errLZWCode is a code the dictionary does not hold yet: the stream is not
// LZW, or not whole.
var errLZWCode = errors.New("lzw: invalid code")

// lzwDecoder holds a dictionary: entry c (from 258) is entry prefix[c]
// followed by the byte suffix[c]. Only entries assigned by the stream being
// read are ever looked at, so a reused decoder needs no clearing.
type lzwDecoder struct {
	prefix [1 << 12]uint16
	suffix [1 << 12]uint8
	stack  [1 << 12]uint8 // an entry's bytes, written last first
}

var lzwDecoders = sync.Pool{New: func() any { return new(lzwDecoder) }}

// lzwExpand appends to dst what the LZW stream src expands to, reading up to
// its end code. With limit at zero or more it stops as soon as the output
// would pass limit bytes in all and reports more; with discard it keeps at
// most the last few kilobytes in dst (to count, not to keep), and n is then
// the whole output's length. A stream that ends before its end code gives
// io.ErrUnexpectedEOF; a code it has not defined yet, errLZWCode.
func lzwExpand(dst, src []byte, limit int, discard bool) (out []byte, n int, more bool, err error) {
	d := lzwDecoders.Get().(*lzwDecoder)
	out, n, more, err = d.expand(dst, src, limit, discard)
	lzwDecoders.Put(d)
	return out, n, more, err
}

func (d *lzwDecoder) expand(dst, src []byte, limit int, discard bool) ([]byte, int, bool, error) {
	const invalid = 0xffff
	var (
		bits     uint64
		nBits    uint
		width    uint          = lzwLitWidth + 1
		hi       uint16        = lzwEOF // the last code defined
		overflow uint16        = 1 << (lzwLitWidth + 1)
		last     uint16        = invalid // the previous code, when it may prefix an entry
		pos      int                     // next byte of src
		counted  int                     // bytes dropped from dst when discarding
		most     = math.MaxInt           // the capacity dst may grow to
	)
	if limit >= 0 && !discard {
		most = len(dst) + limit
	}
	for {
		for nBits < width {
			if pos == len(src) {
				return dst, counted + len(dst), false, io.ErrUnexpectedEOF
			}
			bits |= uint64(src[pos]) << nBits
			pos++
			nBits += 8
		}
		code := uint16(bits & (1<<width - 1))
		bits >>= width
		nBits -= width

		var first uint8 // the first byte of what code expands to
		switch {
		case code < lzwClear:
			first = uint8(code)
			if limit >= 0 && counted+len(dst)+1 > limit {
				return dst, counted + len(dst), true, nil
			}
			if len(dst) == cap(dst) {
				dst = lzwGrow(dst, 1, most)
			}
			dst = append(dst, first)
		case code == lzwClear:
			width, hi, overflow, last = lzwLitWidth+1, lzwEOF, 1<<(lzwLitWidth+1), invalid
			continue
		case code == lzwEOF:
			return dst, counted + len(dst), false, nil
		case code <= hi:
			i := len(d.stack)
			c := code
			if code == hi && last != invalid {
				// The entry being defined: the previous code's bytes and
				// their own first byte.
				c = last
				for c >= lzwClear {
					c = d.prefix[c]
				}
				i--
				d.stack[i] = uint8(c)
				c = last
			}
			for c >= lzwClear {
				if i == 0 {
					return dst, counted + len(dst), false, errLZWCode
				}
				i--
				d.stack[i] = d.suffix[c]
				c = d.prefix[c]
			}
			if i == 0 {
				return dst, counted + len(dst), false, errLZWCode
			}
			i--
			d.stack[i] = uint8(c)
			first = uint8(c)
			if limit >= 0 && counted+len(dst)+len(d.stack)-i > limit {
				return dst, counted + len(dst), true, nil
			}
			if k := len(d.stack) - i; len(dst)+k > cap(dst) {
				dst = lzwGrow(dst, k, most)
			}
			dst = append(dst, d.stack[i:]...)
		default:
			return dst, counted + len(dst), false, errLZWCode
		}
		if last != invalid {
			d.suffix[hi] = first
			d.prefix[hi] = last
		}
		last, hi = code, hi+1
		if hi >= overflow {
			if width == 12 {
				// The dictionary is full until the next clear code.
				last = invalid
				hi--
			} else {
				width++
				overflow <<= 1
			}
		}
		if discard && len(dst) >= 1<<14 {
			counted += len(dst)
			dst = dst[:0]
		}
	}
}

// lzwGrow returns dst with room for k more bytes: twice its capacity, but
// never more than most (unless k needs it), so that an output bounded by a
// limit never holds much more memory than the limit.
func lzwGrow(dst []byte, k, most int) []byte {
	n := min(max(2*cap(dst), len(dst)+k, 512), max(most, len(dst)+k))
	return append(make([]byte, 0, n), dst...)
}
