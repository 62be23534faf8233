// This file holds the LZW encoder of compressed messages: the format of
// compress/lzw (least significant bits first, 8-bit literals), which the
// reference writes and reads, in one pass over a byte slice.

package memberlist

import "sync"

// The code space of the format: 256 literals, then a clear code and an
// end code, then the dictionary's codes up to 4095. Codes start 9 bits
// wide and widen by one bit each time the next code to assign needs it.
const (
	lzwClear    = 1 << lzwLitWidth
	lzwEOF      = lzwClear + 1
	lzwMaxCode  = 1<<12 - 1
	lzwHashBits = 14
	lzwHashMask = 1<<lzwHashBits - 1
)

// lzwEncoder finds dictionary entries by open addressing: a slot holds
// prefix<<20 | byte<<12 | code, zero when empty (codes start at 258).
// used lists the slots taken, so that a new dictionary clears only those.
type lzwEncoder struct {
	slots [1 << lzwHashBits]uint32
	used  [1 << 12]uint16
	nUsed int
}

// lzwEncoders keeps encoders (72 KiB each) for reuse.
var lzwEncoders = sync.Pool{New: func() any { return new(lzwEncoder) }}

// lzwCompress appends the LZW stream of src to dst: a clear code, the
// codes, the end code. Its output is byte for byte what compress/lzw's
// writer (LSB, 8-bit literals) makes of src in one Write and a Close.
func lzwCompress(dst, src []byte) []byte {
	e := lzwEncoders.Get().(*lzwEncoder)
	dst = e.compress(dst, src)
	lzwEncoders.Put(e)
	return dst
}

func (e *lzwEncoder) compress(dst, src []byte) []byte {
	var (
		bits  uint64 // pending output, the oldest bit lowest
		nBits uint   // how many bits of bits are pending
		width uint   = lzwLitWidth + 1
	)
	emit := func(code uint32) {
		bits |= uint64(code) << nBits
		nBits += width
		if nBits >= 32 {
			dst = append(dst, byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24))
			bits >>= 32
			nBits -= 32
		}
	}
	emit(lzwClear)
	if len(src) == 0 {
		return e.finish(dst, bits, nBits, width, lzwEOF)
	}
	hi := uint32(lzwEOF)                       // the last code assigned
	overflow := uint32(1) << (lzwLitWidth + 1) // the first code that needs a wider width
	// assign takes the next code, widening codes and starting a new
	// dictionary as the format says; it reports whether the code is free
	// for an entry (false after a clear code).
	assign := func() bool {
		hi++
		if hi == overflow {
			width++
			overflow <<= 1
		}
		if hi == lzwMaxCode {
			emit(lzwClear)
			width = lzwLitWidth + 1
			hi = lzwEOF
			overflow = 1 << (lzwLitWidth + 1)
			e.newDictionary()
			return false
		}
		return true
	}
	code := uint32(src[0])
	for _, x := range src[1:] {
		key := code<<8 | uint32(x)
		h := (key>>12 ^ key) & lzwHashMask
		for {
			s := e.slots[h]
			if s == 0 {
				break
			}
			if s>>12 == key {
				code = s & lzwMaxCode
				goto matched
			}
			h = (h + 1) & lzwHashMask
		}
		// code is the longest match: send it; x starts the next one, and
		// the match and x make a new entry.
		emit(code)
		code = uint32(x)
		if assign() {
			e.slots[h] = key<<12 | hi
			e.used[e.nUsed&lzwMaxCode] = uint16(h)
			e.nUsed++
		}
		continue
	matched:
	}
	// The last match, then the end code, as wide as the code count after
	// the last match makes it.
	emit(code)
	assign()
	e.newDictionary() // leave it empty for the next use
	return e.finish(dst, bits, nBits, width, lzwEOF)
}

// newDictionary forgets every entry, clearing only the slots taken.
func (e *lzwEncoder) newDictionary() {
	for _, h := range e.used[:e.nUsed] {
		e.slots[h] = 0
	}
	e.nUsed = 0
}

// finish sends the last code and flushes the pending bits, the last byte
// padded with zeros.
func (*lzwEncoder) finish(dst []byte, bits uint64, nBits, width uint, last uint32) []byte {
	bits |= uint64(last) << nBits
	nBits += width
	for n := int(nBits); n > 0; n -= 8 {
		dst = append(dst, byte(bits))
		bits >>= 8
	}
	return dst
}
