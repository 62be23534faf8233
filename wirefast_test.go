// Tests for wirefast.go: the fast encoder must write the codec's bytes for
// every value, and the fast decoder must produce the codec's struct for
// every input it accepts.

package memberlist

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// wireGen makes random message values biased towards the edges of every
// msgpack encoding: integer width boundaries, string length boundaries
// (fixstr/str16/str32), and nil versus empty slices.
type wireGen struct{ r *rand.Rand }

var wireUintEdges = []uint64{0, 1, 31, 32, 127, 128, 200, 255, 256, 1000, 32767, 32768, 65535, 65536, 1 << 20, math.MaxInt32, math.MaxInt32 + 1, math.MaxUint32 - 1, math.MaxUint32}

var wireLenEdges = []int{0, 1, 15, 16, 31, 32, 33, 127, 128, 255, 256, 257, 1000, 65535, 65536, 65537}

func (g wireGen) u64(limit uint64) uint64 {
	if g.r.IntN(3) > 0 {
		for {
			v := wireUintEdges[g.r.IntN(len(wireUintEdges))]
			if v <= limit {
				return v
			}
		}
	}
	return g.r.Uint64N(limit + 1)
}

func (g wireGen) u32() uint32 { return uint32(g.u64(math.MaxUint32)) }
func (g wireGen) u16() uint16 { return uint16(g.u64(math.MaxUint16)) }

func (g wireGen) i64() int64 {
	switch g.r.IntN(4) {
	case 0:
		v := int64(wireUintEdges[g.r.IntN(len(wireUintEdges))])
		if g.r.IntN(2) == 0 {
			v = -v
		}
		return v + int64(g.r.IntN(3)) - 1
	case 1:
		edges := []int64{math.MinInt64, math.MaxInt64, -33, -32, -129, -128, math.MinInt16, math.MinInt16 - 1, math.MinInt32, math.MinInt32 - 1}
		return edges[g.r.IntN(len(edges))]
	case 2:
		return int64(g.r.IntN(8))
	}
	return int64(g.r.Uint64())
}

func (g wireGen) length() int {
	if g.r.IntN(4) == 0 {
		return wireLenEdges[g.r.IntN(len(wireLenEdges))]
	}
	return g.r.IntN(40)
}

func (g wireGen) str() string {
	if g.r.IntN(4) == 0 {
		return ""
	}
	b := make([]byte, g.length())
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return string(b)
}

func (g wireGen) bytes() []byte {
	switch g.r.IntN(5) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	return []byte(g.str())
}

func (g wireGen) value(t messageType) any {
	switch t {
	case pingMsg:
		return &ping{SeqNo: g.u32(), Node: g.str(), SourceAddr: g.bytes(), SourcePort: g.u16(), SourceNode: g.str()}
	case indirectPingMsg:
		return &indirectPingReq{SeqNo: g.u32(), Target: g.bytes(), Port: g.u16(), Node: g.str(), Nack: g.r.IntN(2) == 0,
			SourceAddr: g.bytes(), SourcePort: g.u16(), SourceNode: g.str()}
	case ackRespMsg:
		return &ackResp{SeqNo: g.u32(), Payload: g.bytes()}
	case nackRespMsg:
		return &nackResp{SeqNo: g.u32()}
	case suspectMsg:
		return &suspect{Incarnation: g.u32(), Node: g.str(), From: g.str()}
	case aliveMsg:
		return &alive{Incarnation: g.u32(), Node: g.str(), Addr: g.bytes(), Port: g.u16(), Meta: g.bytes(), Vsn: g.bytes()}
	case deadMsg:
		return &dead{Incarnation: g.u32(), Node: g.str(), From: g.str()}
	case pushPullMsg:
		if g.r.IntN(4) == 0 {
			return &pushPullHeader{Nodes: int(g.i64()), UserStateLen: int(g.i64()), Join: g.r.IntN(2) == 0}
		}
		return g.nodeState()
	}
	return nil
}

func (g wireGen) nodeState() *pushNodeState {
	return &pushNodeState{Name: g.str(), Addr: g.bytes(), Port: g.u16(), Meta: g.bytes(), Incarnation: g.u32(),
		State: NodeStateType(g.i64()), Vsn: g.bytes()}
}

// fastTypes are the message types the fast path covers; pushPullMsg stands
// for its node states and header.
var fastTypes = []messageType{pingMsg, indirectPingMsg, ackRespMsg, nackRespMsg, suspectMsg, aliveMsg, deadMsg, pushPullMsg}

func TestFastEncodeMatchesCodec(t *testing.T) {
	g := wireGen{rand.New(rand.NewPCG(1, 2))}
	for _, typ := range fastTypes {
		for i := range 1000 {
			v := g.value(typ)
			for _, newTime := range []bool{false, true} {
				want, err := encodeMsgCodec(typ, v, newTime)
				if err != nil {
					t.Fatalf("codec: %v", err)
				}
				m := fastWireMsg(v)
				if m == nil {
					t.Fatalf("%T has no fast path", v)
				}
				got := encodeFast(typ, m)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s #%d %#v:\nfast  %x\ncodec %x", typ, i, v, trimHex(got), trimHex(want))
				}
				if len(got) != cap(got) {
					t.Fatalf("%s: buffer has %d bytes of slack", typ, cap(got)-len(got))
				}
				// Both ways into encodeMsg, pointer and value.
				viaMsg, err := encodeMsg(typ, v, newTime)
				if err != nil || !bytes.Equal(viaMsg, want) {
					t.Fatalf("encodeMsg(%T) differs: %v", v, err)
				}
			}
		}
	}
}

func trimHex(b []byte) string {
	if len(b) > 96 {
		return fmt.Sprintf("%x...(%d bytes)", b[:96], len(b))
	}
	return fmt.Sprintf("%x", b)
}

func TestFastEncodeEdges(t *testing.T) {
	long := strings.Repeat("n", 70000)
	cases := []any{
		&ping{}, ping{SeqNo: math.MaxUint32, Node: long, SourceAddr: []byte{}, SourceNode: "", SourcePort: 0},
		&ping{SourceAddr: []byte(long), SourcePort: math.MaxUint16, SourceNode: long[:31]},
		&indirectPingReq{}, &indirectPingReq{Target: []byte{}, Nack: true, SourceAddr: nil, SourceNode: long[:32]},
		&ackResp{}, &ackResp{Payload: []byte{}}, ackResp{SeqNo: 128, Payload: []byte(long[:255])},
		&nackResp{}, nackResp{SeqNo: 256},
		&suspect{}, &suspect{Incarnation: 65536, Node: long[:65535], From: long[:65536]},
		&dead{}, dead{Incarnation: 127, Node: "a", From: "a"},
		&alive{}, &alive{Addr: []byte{}, Meta: []byte{}, Vsn: []byte{}}, alive{Vsn: vsn, Addr: ip6, Meta: []byte(long[:512])},
		&pushNodeState{}, &pushNodeState{State: -1}, &pushNodeState{State: 128}, &pushNodeState{State: math.MinInt64},
		&pushPullHeader{}, &pushPullHeader{Nodes: 200, UserStateLen: 1 << 24, Join: true},
	}
	for _, v := range cases {
		for _, newTime := range []bool{false, true} {
			want, err := encodeMsgCodec(aliveMsg, v, newTime)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeMsg(aliveMsg, v, newTime)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%T: fast %s codec %s (%v)", v, trimHex(got), trimHex(want), err)
			}
		}
	}
	// A nil pointer is the codec's business.
	for _, v := range []any{(*ping)(nil), (*alive)(nil)} {
		if fastWireMsg(v) != nil {
			t.Fatalf("%T nil took the fast path", v)
		}
	}
}

func TestFastEncodePushPullMatchesCodec(t *testing.T) {
	g := wireGen{rand.New(rand.NewPCG(3, 4))}
	defer wireFastOff.Store(false)
	for i := range 300 {
		states := make([]pushNodeState, g.r.IntN(5))
		for j := range states {
			states[j] = *g.nodeState()
		}
		if g.r.IntN(2) == 0 && len(states) > 0 {
			states = states[:1]
			states[0] = pushNodeState{}
		}
		user := g.bytes()
		join := g.r.IntN(2) == 0
		wireFastOff.Store(true)
		want, err := encodePushPull(join, states, user, false)
		if err != nil {
			t.Fatal(err)
		}
		wireFastOff.Store(false)
		got, err := encodePushPull(join, states, user, false)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("push/pull #%d: fast %s codec %s (%v)", i, trimHex(got), trimHex(want), err)
		}
		if len(got) != cap(got) {
			t.Fatalf("push/pull buffer has %d bytes of slack", cap(got)-len(got))
		}
	}
}
