// Fuzz targets for every wire decoder in net.go. Each must survive any input
// without panicking, and whatever it accepts must survive a re-encode.

package memberlist

import (
	"bufio"
	"bytes"
	"io"
	"reflect"
	"testing"
)

// addGoldenSeeds seeds f with the bodies (type byte stripped) of the named
// reference vectors.
func addGoldenSeeds(f *testing.F, names ...string) {
	for _, n := range names {
		f.Add(golden(f, n)[1:])
	}
}

func FuzzSplitCompound(f *testing.F) {
	addGoldenSeeds(f, "compound")
	f.Add([]byte{2, 0, 1, 0, 9, 'a', 'b'})
	f.Fuzz(func(t *testing.T, buf []byte) {
		parts, trunc, err := splitCompound(nil, buf)
		if err != nil {
			return
		}
		if len(parts)+trunc != int(buf[0]) {
			t.Fatalf("%d parts + %d truncated != %d declared", len(parts), trunc, buf[0])
		}
		if trunc == 0 {
			// Re-framing the parts reproduces the consumed prefix.
			again := makeCompound(parts)
			if !bytes.Equal(again[1:], buf[:len(again)-1]) {
				t.Fatalf("re-encoded compound differs")
			}
		}
	})
}

func FuzzDecodePushPull(f *testing.F) {
	addGoldenSeeds(f, "pushpull")
	f.Add([]byte{0x83, 0xa4, 'J', 'o', 'i', 'n', 0xc3, 0xa5, 'N', 'o', 'd', 'e', 's', 0xce, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, buf []byte) {
		join, states, user, err := decodePushPull(bytes.NewReader(buf), 64)
		// Entries decoded in place, from a message in memory or from a
		// stream's small buffer, read the same as entries read one by one.
		for _, r := range []io.Reader{&memReader{b: buf}, bufio.NewReaderSize(bytes.NewReader(buf), 16)} {
			joinIn, statesIn, userIn, errIn := decodePushPull(r, 64)
			if (err == nil) != (errIn == nil) {
				t.Fatalf("%T: error %v, one by one %v", r, errIn, err)
			}
			if err == nil && (joinIn != join || !reflect.DeepEqual(statesIn, states) || !bytes.Equal(userIn, user)) {
				t.Fatalf("%T: push/pull decoded in place differs", r)
			}
		}
		if err != nil {
			return
		}
		msg, err := encodePushPull(join, states, user, false)
		if err != nil {
			t.Fatalf("re-encode accepted push/pull: %v", err)
		}
		join2, states2, user2, err := decodePushPull(bytes.NewReader(msg[1:]), 64)
		if err != nil {
			t.Fatalf("decode re-encoded push/pull: %v", err)
		}
		if join2 != join || len(states2) != len(states) || !bytes.Equal(user2, user) {
			t.Fatalf("push/pull changed across a round trip")
		}
	})
}

func FuzzDecompress(f *testing.F) {
	addGoldenSeeds(f, "compressed", "pushpull_compressed")
	f.Add([]byte{0x82, 0xa4, 'A', 'l', 'g', 'o', 0x00, 0xa3, 'B', 'u', 'f', 0xa2, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, buf []byte) {
		out, err := decompressPayload(buf)
		if err != nil {
			return
		}
		if len(out) > maxDecompressedSize {
			t.Fatalf("decompressed %d bytes, above the limit", len(out))
		}
		c, err := compressPayload(out, false)
		if err != nil {
			t.Fatalf("recompress: %v", err)
		}
		again, err := decompressPayload(c[1:])
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

func FuzzDecodeMsg(f *testing.F) {
	addGoldenSeeds(f, "ping", "indirect_ping", "ack", "nack", "err", "suspect", "alive", "dead")
	f.Add([]byte{0x81, 0xa3, 'V', 's', 'n', 0xdd, 0xff, 0xff, 0xff, 0xff})
	types := singleBodyTypes()
	f.Fuzz(func(t *testing.T, buf []byte) {
		for _, typ := range types {
			out := newForType(typ)
			if err := decodeMsg(buf, out); err != nil {
				continue
			}
			msg, err := encodeMsg(typ, out, false)
			if err != nil {
				t.Fatalf("re-encode accepted %s: %v", typ, err)
			}
			again := newForType(typ)
			if err := decodeMsg(msg[1:], again); err != nil {
				t.Fatalf("decode re-encoded %s: %v", typ, err)
			}
		}
	})
}
