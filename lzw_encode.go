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
// prefix<<20 | byte<<12 | code, plus one (zero is empty). Entries of the
// current dictionary are told from stale ones by gen, so a clear code
// costs nothing.
type lzwEncoder struct {
	slots [1 << lzwHashBits]uint64
	gen   uint64
}

// lzwEncoders keeps encoders (128 KiB each) for reuse.
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
	e.newDictionary()
	gen := e.gen << 32
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
			gen = e.gen << 32
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
			if s&^(1<<32-1) != gen {
				break // empty, or a former dictionary's
			}
			if uint32(s)>>12 == key {
				code = uint32(s) & lzwMaxCode
				goto matched
			}
			h = (h + 1) & lzwHashMask
		}
		// code is the longest match: send it; x starts the next one, and
		// the match and x make a new entry.
		emit(code)
		code = uint32(x)
		if assign() {
			e.slots[h] = gen | uint64(key<<12|hi)
		}
		continue
	matched:
	}
	// The last match, then the end code, as wide as the code count after
	// the last match makes it.
	emit(code)
	assign()
	return e.finish(dst, bits, nBits, width, lzwEOF)
}

// newDictionary forgets every entry: a slot is current only when its top
// 32 bits are the generation, which is never zero.
func (e *lzwEncoder) newDictionary() {
	e.gen++
	if e.gen == 1<<32 {
		clear(e.slots[:])
		e.gen = 1
	}
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
