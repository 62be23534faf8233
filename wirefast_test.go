// Tests for wirefast.go: the fast encoder must write the codec's bytes for
// every value, and the fast decoder must produce the codec's struct for
// every input it accepts.

package memberlist

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
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
		&pushNodeState{}, &pushNodeState{State: -1}, &pushNodeState{State: 128}, &pushNodeState{State: math.MinInt},
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

// newFastTarget returns a zero value of each struct the fast decoder takes,
// in a fixed order the fuzz target indexes.
func newFastTarget(i int) any {
	switch i {
	case 0:
		return &ping{}
	case 1:
		return &indirectPingReq{}
	case 2:
		return &ackResp{}
	case 3:
		return &nackResp{}
	case 4:
		return &suspect{}
	case 5:
		return &alive{}
	case 6:
		return &dead{}
	case 7:
		return &pushNodeState{}
	case 8:
		return &pushPullHeader{}
	}
	return nil
}

const numFastTargets = 9

// altEncoder writes a struct the way some other well-formed msgpack writer
// might: keys in any order, as str or bin of any width, integers in any
// form that holds them, strings and bytes as str or bin of any width,
// []byte as an array, fields left out, unknown fields added.
type altEncoder struct {
	g wireGen
	b []byte
}

func (a *altEncoder) rawHeader(n int, bin bool) {
	type form struct {
		c     byte
		width int
	}
	var forms []form
	if !bin && n < 32 {
		forms = append(forms, form{0xa0 | byte(n), 0})
	}
	if n <= math.MaxUint8 {
		forms = append(forms, form{0xd9, 1}, form{0xc4, 1})
	}
	if n <= math.MaxUint16 {
		forms = append(forms, form{0xda, 2}, form{0xc5, 2})
	}
	forms = append(forms, form{0xdb, 4}, form{0xc6, 4})
	f := forms[a.g.r.IntN(len(forms))]
	if bin && f.c&0xf0 != 0xc0 {
		f.c = map[byte]byte{0xd9: 0xc4, 0xda: 0xc5, 0xdb: 0xc6}[f.c]
	}
	a.b = append(a.b, f.c)
	switch f.width {
	case 1:
		a.b = append(a.b, byte(n))
	case 2:
		a.b = binary.BigEndian.AppendUint16(a.b, uint16(n))
	case 4:
		a.b = binary.BigEndian.AppendUint32(a.b, uint32(n))
	}
}

func (a *altEncoder) raw(s []byte) {
	a.rawHeader(len(s), a.g.r.IntN(4) == 0)
	a.b = append(a.b, s...)
}

// int writes v (which may be negative) in a random form that holds it.
func (a *altEncoder) int(v int64) {
	var forms []byte
	if v >= 0 && v <= 127 {
		forms = append(forms, 0)
	}
	if v >= -32 && v < 0 {
		forms = append(forms, 1)
	}
	if v >= 0 {
		u := uint64(v)
		if u <= math.MaxUint8 {
			forms = append(forms, 0xcc)
		}
		if u <= math.MaxUint16 {
			forms = append(forms, 0xcd)
		}
		if u <= math.MaxUint32 {
			forms = append(forms, 0xce)
		}
		forms = append(forms, 0xcf)
	}
	if v >= math.MinInt8 && v <= math.MaxInt8 {
		forms = append(forms, 0xd0)
	}
	if v >= math.MinInt16 && v <= math.MaxInt16 {
		forms = append(forms, 0xd1)
	}
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		forms = append(forms, 0xd2)
	}
	forms = append(forms, 0xd3)
	switch f := forms[a.g.r.IntN(len(forms))]; f {
	case 0, 1:
		a.b = append(a.b, byte(v))
	case 0xcc, 0xd0:
		a.b = append(a.b, f, byte(v))
	case 0xcd, 0xd1:
		a.b = binary.BigEndian.AppendUint16(append(a.b, f), uint16(v))
	case 0xce, 0xd2:
		a.b = binary.BigEndian.AppendUint32(append(a.b, f), uint32(v))
	default:
		a.b = binary.BigEndian.AppendUint64(append(a.b, f), uint64(v))
	}
}

func (a *altEncoder) uint(v uint64) {
	if v > math.MaxInt64 {
		a.b = binary.BigEndian.AppendUint64(append(a.b, 0xcf), v)
		return
	}
	a.int(int64(v))
}

func (a *altEncoder) arrayHeader(n int) {
	switch {
	case n < 16 && a.g.r.IntN(2) == 0:
		a.b = append(a.b, 0x90|byte(n))
	case n <= math.MaxUint16 && a.g.r.IntN(2) == 0:
		a.b = binary.BigEndian.AppendUint16(append(a.b, 0xdc), uint16(n))
	default:
		a.b = binary.BigEndian.AppendUint32(append(a.b, 0xdd), uint32(n))
	}
}

// junk writes some valid msgpack value of any type, for unknown fields.
func (a *altEncoder) junk(depth int) {
	switch k := a.g.r.IntN(9); {
	case k == 0:
		a.b = append(a.b, 0xc0)
	case k == 1:
		a.int(a.g.i64())
	case k == 2:
		a.raw([]byte(a.g.str()))
	case k == 3:
		a.b = binary.BigEndian.AppendUint64(append(a.b, 0xcb), math.Float64bits(a.g.r.Float64()))
	case k == 4:
		a.b = binary.BigEndian.AppendUint32(append(a.b, 0xca), math.Float32bits(a.g.r.Float32()))
	case k == 5 && depth < 3:
		n := a.g.r.IntN(4)
		a.arrayHeader(n)
		for range n {
			a.junk(depth + 1)
		}
	case k == 6 && depth < 3:
		n := a.g.r.IntN(3)
		a.b = append(a.b, 0x80|byte(n))
		for range n {
			a.raw([]byte(a.g.str()))
			a.junk(depth + 1)
		}
	default:
		a.b = append(a.b, 0xc2+byte(a.g.r.IntN(2)))
	}
}

// encode writes the exported fields of the struct v points to.
func (a *altEncoder) encode(v any) []byte {
	a.b = a.b[:0]
	rv := reflect.ValueOf(v).Elem()
	type entry struct {
		name string
		f    reflect.Value
	}
	var entries []entry
	for i := range rv.NumField() {
		if a.g.r.IntN(8) == 0 {
			continue // left out: the zero value stays
		}
		entries = append(entries, entry{rv.Type().Field(i).Name, rv.Field(i)})
	}
	for range a.g.r.IntN(3) {
		entries = append(entries, entry{name: []string{"Future", "seqno", "Nodes2", "X"}[a.g.r.IntN(4)]})
	}
	a.g.r.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
	switch n := len(entries); {
	case a.g.r.IntN(3) > 0:
		a.b = append(a.b, 0x80|byte(n))
	case a.g.r.IntN(2) == 0:
		a.b = binary.BigEndian.AppendUint16(append(a.b, 0xde), uint16(n))
	default:
		a.b = binary.BigEndian.AppendUint32(append(a.b, 0xdf), uint32(n))
	}
	for _, e := range entries {
		a.raw([]byte(e.name))
		if !e.f.IsValid() {
			a.junk(0)
			continue
		}
		switch e.f.Kind() {
		case reflect.Uint16, reflect.Uint32:
			if e.f.IsZero() && a.g.r.IntN(4) == 0 {
				a.b = append(a.b, 0xc0)
				continue
			}
			a.uint(e.f.Uint())
		case reflect.Int:
			if e.f.IsZero() && a.g.r.IntN(4) == 0 {
				a.b = append(a.b, 0xc0)
				continue
			}
			a.int(e.f.Int())
		case reflect.Bool:
			switch {
			case !e.f.Bool() && a.g.r.IntN(4) == 0:
				a.b = append(a.b, 0xc0)
			case e.f.Bool():
				a.b = append(a.b, 0xc3)
			default:
				a.b = append(a.b, 0xc2)
			}
		case reflect.String:
			if e.f.Len() == 0 && a.g.r.IntN(4) == 0 {
				a.b = append(a.b, 0xc0)
				continue
			}
			a.raw([]byte(e.f.String()))
		case reflect.Slice:
			bs := e.f.Bytes()
			switch {
			case bs == nil:
				a.b = append(a.b, 0xc0)
			case len(bs) < 300 && a.g.r.IntN(3) == 0:
				a.arrayHeader(len(bs))
				for _, c := range bs {
					a.int(int64(c))
				}
			default:
				a.raw(bs)
			}
		default:
			panic("unhandled kind " + e.f.Kind().String())
		}
	}
	return a.b
}

// checkFastDecode decodes buf with the codec and with the fast path into
// fresh values of target i. When the fast path takes the input, the codec
// must accept it too and produce the identical struct; the fast result must
// not alias buf. It returns whether the fast path took the input.
func checkFastDecode(t *testing.T, i int, buf []byte) bool {
	t.Helper()
	fast := newFastTarget(i)
	orig := bytes.Clone(buf)
	took := decodeFast(buf, fast)
	checkAccusationView(t, fast, took, buf)
	if !took {
		if !reflect.ValueOf(fast).Elem().IsZero() {
			t.Fatalf("%T: the fast path refused %x but changed the value to %#v", fast, orig, fast)
		}
		return false
	}
	want := newFastTarget(i)
	if err := decodeMsgCodec(nil, buf, want); err != nil {
		t.Fatalf("%T: the fast path took %x, the codec refused it: %v", fast, orig, err)
	}
	if !reflect.DeepEqual(fast, want) {
		t.Fatalf("%T from %x:\nfast  %#v\ncodec %#v", fast, orig, fast, want)
	}
	// Scribbling on the input must not reach the decoded value.
	for k := range buf {
		buf[k] ^= 0xff
	}
	defer copy(buf, orig)
	if !reflect.DeepEqual(fast, want) {
		t.Fatalf("%T from %x aliases its input", fast, orig)
	}
	return true
}

// checkAccusationView checks, for a suspect or dead target, that
// accusationView reads buf exactly as decodeFast did (took, into fast).
func checkAccusationView(t *testing.T, fast any, took bool, buf []byte) {
	t.Helper()
	var want suspect
	switch m := fast.(type) {
	case *suspect:
		want = *m
	case *dead:
		want = suspect(*m)
	default:
		return
	}
	inc, node, from, ok := accusationView(buf)
	if ok != took {
		t.Fatalf("accusationView(%x) ok=%v, decodeFast %v", buf, ok, took)
	}
	if ok && (suspect{Incarnation: inc, Node: node, From: from}) != want {
		t.Fatalf("accusationView(%x) = %d %q %q, decodeFast %#v", buf, inc, node, from, want)
	}
}

func TestFastDecodeMatchesCodec(t *testing.T) {
	g := wireGen{rand.New(rand.NewPCG(5, 6))}
	alt := altEncoder{g: g}
	for i := range numFastTargets {
		typ := reflect.TypeOf(newFastTarget(i)).Elem()
		for range 1500 {
			v := reflect.New(typ).Interface()
			switch m := v.(type) {
			case *pushNodeState:
				*m = *g.nodeState()
			case *pushPullHeader:
				*m = pushPullHeader{Nodes: int(g.i64()), UserStateLen: int(g.i64()), Join: g.r.IntN(2) == 0}
			default:
				reflect.ValueOf(v).Elem().Set(reflect.ValueOf(g.value(fastTypes[i])).Elem())
			}
			// What our encoder (and the reference) writes...
			canon, err := encodeMsgCodec(0, v, false)
			if err != nil {
				t.Fatal(err)
			}
			if !checkFastDecode(t, i, canon[1:]) {
				t.Fatalf("%T: the fast path refused the codec's own encoding %s", v, trimHex(canon))
			}
			// ...and what other writers might.
			if alt := alt.encode(v); !checkFastDecode(t, i, alt) {
				t.Fatalf("%v: the fast path refused the well-formed %s", typ, trimHex(alt))
			}
		}
	}
}

func TestFastDecodeRefuses(t *testing.T) {
	// Each of these is left to the codec; some it accepts, some not.
	const (
		pingT, indT, ackT, nackT, suspT, aliveT, deadT, stateT, hdrT = 0, 1, 2, 3, 4, 5, 6, 7, 8
	)
	all := []int{pingT, indT, ackT, nackT, suspT, aliveT, deadT, stateT, hdrT}
	cases := []struct {
		name  string
		buf   []byte
		types []int // the targets that have the fields involved
	}{
		{"empty", []byte{}, all},
		{"nil", []byte{0xc0}, all},
		{"array struct", []byte{0x92, 5, 0xa1, 'n'}, all},
		{"empty key", []byte{0x81, 0xa0, 5}, all},
		{"duplicate field", []byte{0x82, 0xa4, 'N', 'o', 'd', 'e', 0xa1, 'x', 0xa4, 'N', 'o', 'd', 'e', 0xa0}, []int{pingT, indT, suspT, aliveT, deadT}},
		{"negative seq", []byte{0x81, 0xa5, 'S', 'e', 'q', 'N', 'o', 0xff}, []int{pingT, indT, ackT, nackT}},
		{"seq overflow", []byte{0x81, 0xa5, 'S', 'e', 'q', 'N', 'o', 0xcf, 0, 0, 0, 1, 0, 0, 0, 0}, []int{pingT, indT, ackT, nackT}},
		{"float seq", []byte{0x81, 0xa5, 'S', 'e', 'q', 'N', 'o', 0xca, 0x40, 0x40, 0, 0}, []int{pingT, indT, ackT, nackT}},
		{"int overflow", []byte{0x81, 0xa5, 'N', 'o', 'd', 'e', 's', 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}, []int{hdrT}},
		{"int key", []byte{0x81, 0x01, 5}, all},
		{"nil key", []byte{0x81, 0xc0, 5}, all},
		{"string from array", []byte{0x81, 0xa4, 'N', 'o', 'd', 'e', 0x91, 'a'}, []int{pingT, indT, suspT, aliveT, deadT}},
		{"nil in byte array", []byte{0x81, 0xa3, 'V', 's', 'n', 0x91, 0xc0}, []int{aliveT, stateT}},
		{"byte overflow", []byte{0x81, 0xa3, 'V', 's', 'n', 0x91, 0xcd, 1, 0}, []int{aliveT, stateT}},
		{"truncated", []byte{0x82, 0xa4, 'N', 'o', 'd', 'e', 0xa1}, all},
		{"lying str32", []byte{0x81, 0xa4, 'N', 'o', 'd', 'e', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'}, all},
		{"lying array32", []byte{0x81, 0xa3, 'V', 's', 'n', 0xdd, 0xff, 0xff, 0xff, 0xff, 1}, all},
		{"lying map32", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa4, 'N', 'o', 'd', 'e', 0xa0}, all},
		{"deep unknown", append(append([]byte{0x81, 0xa1, 'X'}, bytes.Repeat([]byte{0x91}, maxMsgpackDepth)...), 0), all},
		{"invalid byte", []byte{0x81, 0xa1, 'X', 0xc1}, all},
		{"int as bool", []byte{0x81, 0xa4, 'N', 'a', 'c', 'k', 0x01}, []int{indT}},
		{"map as bytes", []byte{0x81, 0xa3, 'V', 's', 'n', 0x80}, []int{aliveT, stateT}},
		{"ext as bytes", []byte{0x81, 0xa4, 'A', 'd', 'd', 'r', 0xd4, 1, 2}, []int{aliveT, stateT}},
		{"timestamp in unknown", []byte{0x81, 0xa1, 'X', 0xd6, 0xff, 1, 2, 3, 4}, all},
		{"bad timestamp in unknown", []byte{0x81, 0xa3, '0', '0', '0', 0xd4, 0xff, '0'}, all},
		{"ext deep in unknown", []byte{0x81, 0xa1, 'X', 0x92, 0x81, 0xa1, 'y', 0xc7, 1, 5, 0, 1}, all},
		{"unknown then truncated", []byte{0x82, 0xa1, 'X', 0x92, 1}, all},
	}
	for _, c := range cases {
		for _, i := range c.types {
			out := newFastTarget(i)
			if decodeFast(c.buf, out) {
				t.Errorf("%s: the fast path took %x into %T", c.name, c.buf, out)
			}
		}
	}
	// A value that is not zero is left to the codec, which keeps the
	// fields the input does not mention.
	a := &alive{Node: "keep"}
	if decodeFast([]byte{0x81, 0xa4, 'P', 'o', 'r', 't', 7}, a) {
		t.Error("the fast path took a non-zero alive")
	}
	if decodeFast([]byte{0x80}, (*ping)(nil)) || decodeFast([]byte{0x80}, &errResp{}) {
		t.Error("the fast path took a nil pointer or a type it does not know")
	}
}

// Unknown fields nesting up to the scanner's bound are skipped, and one
// level more is refused by both paths.
func TestFastDecodeUnknownDepth(t *testing.T) {
	deep := func(levels int) []byte {
		b := []byte{0x82, 0xa4, 'N', 'o', 'd', 'e', 0xa1, 'n', 0xa1, 'X'}
		b = append(b, bytes.Repeat([]byte{0x91}, levels)...)
		return append(b, 0)
	}
	ok := deep(maxMsgpackDepth - 1)
	if !checkFastDecode(t, 4, ok) {
		t.Fatal("the fast path refused an unknown field within the depth bound")
	}
	if decodeFast(deep(maxMsgpackDepth), &suspect{}) || decodeMsgCodec(nil, deep(maxMsgpackDepth), &suspect{}) == nil {
		t.Fatal("a field beyond the depth bound was accepted")
	}
}

// FuzzFastDecode proves the fast decoder against the codec: for every
// target type and any input, if the fast path takes the input the codec
// must take it too and produce the identical struct, and the fast path must
// never panic or leave a refused value changed.
func FuzzFastDecode(f *testing.F) {
	addGoldenSeeds(f, "ping", "ping_minimal", "indirect_ping", "ack", "ack_nil_payload", "nack",
		"suspect", "alive", "alive_newtime", "dead")
	// The push/pull header and node states, one value each.
	r := bytes.NewReader(golden(f, "pushpull")[1:])
	for range 4 {
		v, err := readMsgpackValue(r, nil, maxStreamHeaderBytes)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(v)
	}
	// Inputs the fast path must hand to the codec.
	f.Add([]byte{0x82, 0xa4, 'N', 'o', 'd', 'e', 0xa1, 'x', 0xa4, 'N', 'o', 'd', 'e', 0xa0})
	f.Add([]byte{0x81, 0xa0, 5})
	f.Add([]byte{0x81, 0xa4, 'N', 'a', 'c', 'k', 0x01})
	f.Add([]byte{0x81, 0xa3, 'V', 's', 'n', 0x92, 0xc0, 0xcd, 1, 0})
	f.Add([]byte{0x92, 5, 0xa1, 'n'})
	f.Add(append(append([]byte{0x81, 0xa1, 'X'}, bytes.Repeat([]byte{0x91}, maxMsgpackDepth-1)...), 0))
	f.Fuzz(func(t *testing.T, buf []byte) {
		for i := range numFastTargets {
			checkFastDecode(t, i, buf)
		}
	})
}

// TestWriteFastDecodeSeeds regenerates the alternative-encoding seeds of
// FuzzFastDecode when WIRE_FAST_SEEDS is set; findings are added by hand.
func TestWriteFastDecodeSeeds(t *testing.T) {
	if os.Getenv("WIRE_FAST_SEEDS") == "" {
		t.Skip("set WIRE_FAST_SEEDS=1 to rewrite testdata/fuzz/FuzzFastDecode/alt_*")
	}
	g := wireGen{rand.New(rand.NewPCG(7, 8))}
	alt := altEncoder{g: g}
	dir := filepath.Join("testdata", "fuzz", "FuzzFastDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range numFastTargets {
		for k := range 3 {
			v := newFastTarget(i)
			switch m := v.(type) {
			case *pushNodeState:
				*m = *g.nodeState()
			case *pushPullHeader:
				*m = pushPullHeader{Nodes: g.r.IntN(300), UserStateLen: g.r.IntN(70000), Join: true}
			default:
				reflect.ValueOf(v).Elem().Set(reflect.ValueOf(g.value(fastTypes[i])).Elem())
			}
			var b []byte
			for len(b) == 0 || len(b) > 2000 {
				b = bytes.Clone(alt.encode(v))
			}
			name := fmt.Sprintf("alt_%s_%d", reflect.TypeOf(v).Elem().Name(), k)
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// MEMBERLIST_WIRE_CODEC_ONLY=1 runs every test and benchmark with the fast
// path off, which is how the "before" figures of the benchmarks are taken.
func init() {
	if os.Getenv("MEMBERLIST_WIRE_CODEC_ONLY") != "" {
		wireFastOff.Store(true)
	}
}

// hotMessages are typical values of the hot message types, sized as a
// cluster of named nodes sends them.
var hotMessages = []struct {
	name string
	t    messageType
	v    any
}{
	{"ping", pingMsg, &ping{SeqNo: 912345, Node: "node-0042.dc1", SourceAddr: ip4, SourcePort: 7946, SourceNode: "node-0007.dc1"}},
	{"indirect", indirectPingMsg, &indirectPingReq{SeqNo: 912345, Target: ip4, Port: 7946, Node: "node-0042.dc1", Nack: true,
		SourceAddr: ip4, SourcePort: 7946, SourceNode: "node-0007.dc1"}},
	{"ack", ackRespMsg, &ackResp{SeqNo: 912345, Payload: []byte("coordinate-payload")}},
	{"nack", nackRespMsg, &nackResp{SeqNo: 912345}},
	{"suspect", suspectMsg, &suspect{Incarnation: 17, Node: "node-0042.dc1", From: "node-0007.dc1"}},
	{"alive", aliveMsg, &alive{Incarnation: 17, Node: "node-0042.dc1", Addr: ip4, Port: 7946, Meta: []byte("role=web"), Vsn: vsn}},
	{"dead", deadMsg, &dead{Incarnation: 17, Node: "node-0042.dc1", From: "node-0007.dc1"}},
	{"nodestate", pushPullMsg, &pushNodeState{Name: "node-0042.dc1", Addr: ip4, Port: 7946, Meta: []byte("role=web"),
		Incarnation: 17, State: StateSuspect, Vsn: vsn}},
}

func BenchmarkEncodeHot(b *testing.B) {
	for _, m := range hotMessages {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, err := encodeMsg(m.t, m.v, false)
				if err != nil {
					b.Fatal(err)
				}
				benchSink = out
			}
		})
	}
}

func BenchmarkDecodeHot(b *testing.B) {
	for _, m := range hotMessages {
		b.Run(m.name, func(b *testing.B) {
			msg, err := encodeMsg(m.t, m.v, false)
			if err != nil {
				b.Fatal(err)
			}
			typ := reflect.TypeOf(m.v).Elem()
			out := reflect.New(typ)
			zero := reflect.Zero(typ)
			b.ReportAllocs()
			for b.Loop() {
				out.Elem().Set(zero)
				if err := decodeMsg(msg[1:], out.Interface()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
