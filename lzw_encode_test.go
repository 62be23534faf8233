package memberlist

import (
	"bytes"
	"compress/lzw"
	"fmt"
	"math/rand/v2"
	"testing"
)

// stdLZW is what compress/lzw's writer makes of src in one Write and a Close.
func stdLZW(t testing.TB, src []byte) []byte {
	var buf bytes.Buffer
	w := lzw.NewWriter(&buf, lzw.LSB, lzwLitWidth)
	if len(src) > 0 {
		if _, err := w.Write(src); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lzwInputs are inputs of every kind the encoder meets: empty, one byte,
// runs that fill the dictionary many times over, random bytes (every code
// a literal), and push/pull states of a few to thousands of members.
func lzwInputs() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	in := map[string][]byte{
		"empty":  {},
		"one":    {7},
		"two":    {7, 7},
		"zeros":  make([]byte, 100_000),
		"abab":   bytes.Repeat([]byte("ab"), 50_000),
		"phrase": bytes.Repeat([]byte("the quick brown fox "), 3_000),
	}
	for _, n := range []int{1, 2, 255, 256, 257, 511, 512, 513, 4096, 70_000} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		in[fmt.Sprintf("random-%d", n)] = b
	}
	for _, n := range []int{3, 100, 3_000} {
		in[fmt.Sprintf("pushpull-%d", n)] = testPushPullState(n)
	}
	// Every length around the points where codes widen or the dictionary
	// starts again, in text that makes a new entry at almost every byte.
	b := make([]byte, 20_000)
	for i := range b {
		b[i] = byte(rng.IntN(4)) + 'a'
	}
	for n := 0; n < len(b); n += 1 + n/50 {
		in[fmt.Sprintf("abcd-%d", n)] = b[:n]
	}
	return in
}

// testPushPullState is an encoded push/pull state of n members.
func testPushPullState(n int) []byte {
	states := make([]pushNodeState, n)
	for i := range states {
		states[i] = pushNodeState{
			Name: fmt.Sprintf("node-%05d", i), Addr: []byte{127, 0, byte(i >> 8), byte(i)},
			Port: 7946, Incarnation: uint32(i % 7), State: StateAlive, Vsn: []byte{1, 5, 5, 2, 5, 4},
		}
	}
	buf, err := encodePushPull(false, states, []byte("user state"), false)
	if err != nil {
		panic(err)
	}
	return buf
}

func TestLZWCompressMatchesStdlib(t *testing.T) {
	for name, src := range lzwInputs() {
		want := stdLZW(t, src)
		got := lzwCompress([]byte("prefix"), src)
		if !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], want) {
			t.Fatalf("%s (%d bytes): %d bytes of output differ from compress/lzw's %d", name, len(src), len(got)-6, len(want))
		}
		// And it reads back.
		r := lzw.NewReader(bytes.NewReader(got[6:]), lzw.LSB, lzwLitWidth)
		var back bytes.Buffer
		if _, err := back.ReadFrom(r); err != nil || !bytes.Equal(back.Bytes(), src) {
			t.Fatalf("%s: does not read back: %v", name, err)
		}
	}
}

// FuzzLZWCompress checks the encoder against compress/lzw on any input.
func FuzzLZWCompress(f *testing.F) {
	f.Add([]byte("aaaaaaaaaaaaaaaa"))
	f.Add(testPushPullState(5))
	f.Fuzz(func(t *testing.T, src []byte) {
		if got, want := lzwCompress(nil, src), stdLZW(t, src); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes in: output differs from compress/lzw's", len(src))
		}
	})
}

// lzwBenchInput is an input of the LZW benchmarks.
type lzwBenchInput struct {
	name string
	src  []byte
}

// lzwBenchInputs are the LZW benchmarks' inputs: a ping, a state of 10
// members (a gossip packet's size) and one of 10,000 (a large push/pull).
func lzwBenchInputs(b *testing.B) []lzwBenchInput {
	return []lzwBenchInput{
		{"ping", encodePing(b)},
		{"pushpull-10", testPushPullState(10)},
		{"pushpull-10000", testPushPullState(10_000)},
	}
}

func BenchmarkLZWCompress(b *testing.B) {
	for _, in := range lzwBenchInputs(b) {
		b.Run(in.name, func(b *testing.B) { benchLZW(b, in.src) })
	}
}

// encodePing is an encoded ping, the smallest datagram compressed.
func encodePing(b *testing.B) []byte {
	buf, err := encodeMsg(pingMsg, &ping{SeqNo: 7, Node: "node-00001", SourceAddr: []byte{127, 0, 0, 1}, SourcePort: 7946, SourceNode: "node-00002"}, false)
	if err != nil {
		b.Fatal(err)
	}
	return buf
}

func benchLZW(b *testing.B, src []byte) {
	b.Run("ours", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		b.ReportAllocs()
		var dst []byte
		for b.Loop() {
			dst = lzwCompress(dst[:0], src)
		}
	})
	b.Run("compress-lzw", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		b.ReportAllocs()
		var z flushingBuffer // as the code before lzwCompress used it
		w := lzw.NewWriter(nil, lzw.LSB, lzwLitWidth).(*lzw.Writer)
		for b.Loop() {
			z.Reset()
			w.Reset(&z, lzw.LSB, lzwLitWidth)
			_, _ = w.Write(src)
			_ = w.Close()
		}
	})
}

// flushingBuffer has the Flush method compress/lzw's writer looks for, so
// that it does not wrap the buffer in a bufio.Writer.
type flushingBuffer struct{ bytes.Buffer }

func (*flushingBuffer) Flush() error { return nil }
