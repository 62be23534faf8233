// fuzz_security_test.go fuzzes every decoder in security.go and label.go:
// none may panic, and whatever they accept must agree with the encoders.
// Seed corpora live in testdata/fuzz/<FuzzName>/.
package memberlist

import (
	"bytes"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"testing"
)

// fuzzKeys are the keys every decrypt fuzzer tries, one of each AES size,
// plus an invalid one that must simply be skipped.
var fuzzKeys = [][]byte{{1, 2, 3}, testKey16, testKey24, testKey32}

func FuzzDecryptPayload(f *testing.F) {
	for _, vsn := range allVersions {
		for _, key := range fuzzKeys[1:] {
			var buf bytes.Buffer
			if err := encryptPayloadWithNonce(vsn, key, testNonce, []byte("seed message"), []byte("lbl"), &buf); err != nil {
				f.Fatal(err)
			}
			f.Add(buf.Bytes(), []byte("lbl"))
		}
	}
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0}, []byte(nil))
	f.Add([]byte{2, 0, 0}, []byte("x"))
	f.Add(make([]byte, 45), []byte{})

	f.Fuzz(func(t *testing.T, msg, data []byte) {
		orig := bytes.Clone(msg)
		plain, err := decryptPayload(fuzzKeys, msg, data)
		if !bytes.Equal(orig, msg) {
			t.Fatal("decryptPayload modified its input")
		}
		if err != nil {
			if plain != nil {
				t.Fatal("plaintext returned with an error")
			}
			return
		}
		vsn := encryptionVersion(msg[0])
		if vsn > maxEncryptionVersion {
			t.Fatalf("accepted version %d", vsn)
		}
		if encryptedLength(vsn, len(plain)) > len(msg) {
			t.Fatalf("plaintext of %d bytes from a %d-byte payload", len(plain), len(msg))
		}
	})
}

func FuzzPayloadRoundTrip(f *testing.F) {
	f.Add(uint8(0), uint8(0), []byte("hello"), []byte("lbl"))
	f.Add(uint8(1), uint8(2), []byte{}, []byte{})
	f.Add(uint8(0), uint8(1), bytes.Repeat([]byte{16}, 16), []byte(nil))

	f.Fuzz(func(t *testing.T, v, k uint8, msg, data []byte) {
		vsn := encryptionVersion(v % 2)
		key := fuzzKeys[1+int(k)%3]
		var buf bytes.Buffer
		if err := encryptPayload(crand.Reader, vsn, key, msg, data, &buf); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != encryptedLength(vsn, len(msg)) {
			t.Fatalf("sealed %d bytes, encryptedLength says %d", buf.Len(), encryptedLength(vsn, len(msg)))
		}
		plain, err := decryptPayload(fuzzKeys, buf.Bytes(), data)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(plain, msg) {
			t.Fatalf("round trip changed the message: %x -> %x", msg, plain)
		}
	})
}

func FuzzDecryptStream(f *testing.F) {
	for _, vsn := range allVersions {
		framed, err := encryptStreamWithNonce(vsn, testKey16, testNonce, []byte("push pull"), "lbl")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(framed[1:], "lbl")
	}
	f.Add([]byte{}, "")
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, "")
	f.Add([]byte{0, 0, 0, 1, 1}, "x")

	const maxSize = 1 << 16
	f.Fuzz(func(t *testing.T, in []byte, label string) {
		r := bytes.NewReader(in)
		plain, err := decryptStream(fuzzKeys, r, label, maxSize)
		consumed := len(in) - r.Len()
		if consumed > 4+maxSize {
			t.Fatalf("read %d bytes with a %d-byte limit", consumed, maxSize)
		}
		if err != nil {
			return
		}
		declared := int(binary.BigEndian.Uint32(in))
		if consumed != 4+declared {
			t.Fatalf("consumed %d bytes for a %d-byte message", consumed, declared)
		}
		// What opened must be what the encoder seals to this size.
		if sealed := encryptedLength(encryptionVersion(in[4]), len(plain)); sealed != declared {
			t.Fatalf("plaintext of %d bytes from a %d-byte message; sealing it takes %d", len(plain), declared, sealed)
		}
	})
}

func FuzzRemoveLabelHeaderFromPacket(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{244})
	f.Add([]byte{244, 0})
	f.Add([]byte{244, 3, 'a', 'b'})
	f.Add([]byte{244, 2, 'h', 'i', 0, 1, 2})
	f.Add([]byte{1, 2, 3})

	f.Fuzz(func(t *testing.T, buf []byte) {
		orig := bytes.Clone(buf)
		rest, label, err := RemoveLabelHeaderFromPacket(buf)
		if !bytes.Equal(orig, buf) {
			t.Fatal("RemoveLabelHeaderFromPacket modified its input")
		}
		if err != nil {
			if rest != nil || label != "" {
				t.Fatal("results returned with an error")
			}
			return
		}
		if len(label) > LabelMaxSize {
			t.Fatalf("label of %d bytes", len(label))
		}
		// Putting the label back must give the original packet.
		again, err := AddLabelHeaderToPacket(rest, label)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, buf) {
			t.Fatalf("re-adding label %q gave %x, want %x", label, again, buf)
		}
	})
}

func FuzzRemoveLabelHeaderFromStream(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{244}, uint8(1))
	f.Add([]byte{244, 2, 'h', 'i', 0, 1, 2}, uint8(3))
	f.Add([]byte{7, 1, 2}, uint8(0))

	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		// Vary how many bytes each Read returns to exercise every split.
		var src = bytes.NewReader(in)
		conn := readerConn{r: &chunkReader{r: src, n: 1 + int(chunk)%8}}
		got, label, err := RemoveLabelHeaderFromStream(conn)

		// A stream already in memory (the simulator's) is cut without a
		// copy, to the same answers.
		held, heldLabel, heldErr := RemoveLabelHeaderFromStream(&simConn{r: &memReader{b: bytes.Clone(in)}})
		if fmt.Sprint(err) != fmt.Sprint(heldErr) || label != heldLabel {
			t.Fatalf("held stream gave (%q, %v), stream gave (%q, %v)", heldLabel, heldErr, label, err)
		}
		if err != nil {
			return
		}
		rest := readAllConn(t, got)
		if heldRest := readAllConn(t, held); !bytes.Equal(rest, heldRest) {
			t.Fatalf("held stream left %x, stream left %x", heldRest, rest)
		}
		wantRest, wantLabel, wantErr := RemoveLabelHeaderFromPacket(in)
		if wantErr != nil {
			t.Fatalf("stream accepted what the packet parser refuses: %v", wantErr)
		}
		if label != wantLabel || !bytes.Equal(rest, wantRest) {
			t.Fatalf("stream gave (%q, %x), packet gave (%q, %x)", label, rest, wantLabel, wantRest)
		}
	})
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r *bytes.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

func readAllConn(t *testing.T, c interface{ Read([]byte) (int, error) }) []byte {
	t.Helper()
	var out bytes.Buffer
	if _, err := out.ReadFrom(c); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
