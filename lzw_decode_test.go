package memberlist

import (
	"bytes"
	"compress/lzw"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// stdExpand is what compress/lzw's reader makes of src.
func stdExpand(src []byte) ([]byte, error) {
	return io.ReadAll(lzw.NewReader(bytes.NewReader(src), lzw.LSB, lzwLitWidth))
}

// checkExpand checks that lzwExpand and compress/lzw agree on src: the same
// bytes, or both refuse it.
func checkExpand(t *testing.T, name string, src []byte) {
	t.Helper()
	want, wantErr := stdExpand(src)
	got, n, more, err := lzwExpand([]byte("prefix"), src, -1, false)
	if more || n != len(got) {
		t.Fatalf("%s: more %v, n %d of %d bytes without a limit", name, more, n, len(got))
	}
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%s: error %v, compress/lzw's %v", name, err, wantErr)
	}
	if err == nil && !bytes.Equal(got[6:], want) {
		t.Fatalf("%s: %d bytes out, compress/lzw's %d, or different", name, len(got)-6, len(want))
	}
	if errors.Is(wantErr, io.ErrUnexpectedEOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%s: error %v, want io.ErrUnexpectedEOF as compress/lzw's", name, err)
	}
}

func TestLZWExpandMatchesStdlib(t *testing.T) {
	for name, src := range lzwInputs() {
		checkExpand(t, name, lzwCompress(nil, src))
		// The same stream cut short: refused by both.
		if c := lzwCompress(nil, src); len(c) > 1 {
			checkExpand(t, name+"/cut", c[:len(c)/2])
			checkExpand(t, name+"/last-byte", c[:len(c)-1])
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		b := make([]byte, rng.IntN(600))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		checkExpand(t, fmt.Sprintf("garbage-%d", i), b)
		// A valid stream with one byte flipped.
		c := lzwCompress(nil, testPushPullState(1+i%20))
		c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
		checkExpand(t, fmt.Sprintf("flipped-%d", i), c)
	}
	// A stream that does not start with a clear code is read as if it did.
	checkExpand(t, "no-clear", []byte{'a', 0x02, 0x04})
}

func TestLZWExpandLimits(t *testing.T) {
	src := bytes.Repeat([]byte("abcdefgh"), 10_000)
	c := lzwCompress(nil, src)
	for _, limit := range []int{0, 1, 7, 1000, len(src) - 1} {
		out, n, more, err := lzwExpand(nil, c, limit, false)
		if err != nil || !more || len(out) > limit || n != len(out) || !bytes.Equal(out, src[:len(out)]) {
			t.Fatalf("limit %d: %d bytes (n %d), more %v, %v", limit, len(out), n, more, err)
		}
	}
	out, n, more, err := lzwExpand(nil, c, len(src), false)
	if err != nil || more || n != len(src) || !bytes.Equal(out, src) {
		t.Fatalf("limit at the size: %d bytes, more %v, %v", n, more, err)
	}
	// Counting keeps little in memory.
	out, n, more, err = lzwExpand(nil, c, -1, true)
	if err != nil || more || n != len(src) || len(out) >= 1<<14+1<<12 {
		t.Fatalf("discarding: n %d, %d kept, more %v, %v", n, len(out), more, err)
	}
	out, n, more, err = lzwExpand(nil, c, 5000, true)
	if err != nil || !more || n > 5000 || len(out) > 5000 {
		t.Fatalf("discarding to a limit: n %d, %d kept, more %v, %v", n, len(out), more, err)
	}
}

// FuzzLZWExpand checks the decoder against compress/lzw on any input.
func FuzzLZWExpand(f *testing.F) {
	f.Add(lzwCompress(nil, []byte("aaaaaaaaaaaaaaaaaaaa")))
	f.Add(lzwCompress(nil, testPushPullState(3)))
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, src []byte) { checkExpand(t, "fuzz", src) })
}

func BenchmarkLZWExpand(b *testing.B) {
	for _, in := range lzwBenchInputs(b) {
		c := lzwCompress(nil, in.src)
		b.Run(in.name+"/ours", func(b *testing.B) {
			b.SetBytes(int64(len(in.src)))
			b.ReportAllocs()
			dst := make([]byte, 0, len(in.src))
			for b.Loop() {
				_, _, _, _ = lzwExpand(dst[:0], c, -1, false)
			}
		})
		b.Run(in.name+"/compress-lzw", func(b *testing.B) {
			b.SetBytes(int64(len(in.src)))
			b.ReportAllocs()
			dst := make([]byte, len(in.src))
			r := lzw.NewReader(nil, lzw.LSB, lzwLitWidth).(*lzw.Reader)
			for b.Loop() {
				r.Reset(bytes.NewReader(c), lzw.LSB, lzwLitWidth)
				_, _ = io.ReadFull(r, dst)
			}
		})
	}
}
