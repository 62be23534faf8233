// Tests for the wire format in net.go: golden vectors produced by the
// reference implementation, round trips, hostile input and benchmarks.

package memberlist

import (
	"bufio"
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// golden reads testdata/wire/<name>.hex, bytes written by the reference.
func golden(t testing.TB, name string) []byte {
	t.Helper()
	path := filepath.Join("testdata", "wire", name+".hex")
	b, fields := readHexFile(t, path)
	require.Empty(t, fields, "%s holds only hex", path)
	return b
}

// newForType returns a pointer to a zero value of the struct a message type
// carries, for the types that are a single msgpack value, and nil for the
// others (framing, user bytes, push/pull). It is the tests' only table from
// type to struct; callers that take fewer types filter around it.
func newForType(t messageType) any {
	switch t {
	case pingMsg:
		return &ping{}
	case indirectPingMsg:
		return &indirectPingReq{}
	case ackRespMsg:
		return &ackResp{}
	case nackRespMsg:
		return &nackResp{}
	case errMsg:
		return &errResp{}
	case suspectMsg:
		return &suspect{}
	case aliveMsg:
		return &alive{}
	case deadMsg:
		return &dead{}
	case compressMsg:
		return &compress{}
	}
	return nil
}

// singleBodyTypes lists the message types newForType knows, in code order.
func singleBodyTypes() []messageType {
	var out []messageType
	for t := range messageType(math.MaxUint8) {
		if newForType(t) != nil {
			out = append(out, t)
		}
	}
	return out
}

var (
	ip4 = []byte{10, 0, 0, 7}
	ip6 = []byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	vsn = []uint8{1, 5, 2, 0, 5, 4}
)

func TestGoldenSingleMessages(t *testing.T) {
	tests := []struct {
		file    string
		typ     messageType
		newTime bool
		want    any
	}{
		{"ping", pingMsg, false, &ping{SeqNo: 42, Node: "node-b", SourceAddr: ip4, SourcePort: 7946, SourceNode: "node-a"}},
		{"ping_minimal", pingMsg, false, &ping{SeqNo: 1, Node: "n"}},
		{"indirect_ping", indirectPingMsg, false, &indirectPingReq{SeqNo: 70000, Target: ip6, Port: 7946, Node: "node-c", Nack: true, SourceAddr: ip4, SourcePort: 7946, SourceNode: "node-a"}},
		{"ack", ackRespMsg, false, &ackResp{SeqNo: 42, Payload: []byte{1, 2, 3, 0xff}}},
		{"ack_nil_payload", ackRespMsg, false, &ackResp{SeqNo: math.MaxUint32}},
		{"nack", nackRespMsg, false, &nackResp{SeqNo: 300}},
		{"err", errMsg, false, &errResp{Error: "boom"}},
		{"suspect", suspectMsg, false, &suspect{Incarnation: 5, Node: "node-b", From: "node-a"}},
		{"alive", aliveMsg, false, &alive{Incarnation: 128, Node: "node-b", Addr: ip4, Port: 7946, Meta: []byte("role=web"), Vsn: vsn}},
		{"alive_newtime", aliveMsg, true, &alive{Incarnation: 128, Node: "node-b", Addr: ip4, Port: 7946, Meta: []byte("role=web"), Vsn: vsn}},
		{"dead", deadMsg, false, &dead{Incarnation: 9, Node: "node-b", From: "node-b"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			vec := golden(t, tc.file)
			require.Equal(t, tc.typ, messageType(vec[0]))

			got := newForType(tc.typ)
			require.NoError(t, decodeMsg(vec[1:], got))
			assert.Equal(t, tc.want, got)

			again, err := encodeMsg(tc.typ, got, tc.newTime)
			require.NoError(t, err)
			assert.Equal(t, hex.EncodeToString(vec), hex.EncodeToString(again))

			fresh, err := encodeMsg(tc.typ, tc.want, tc.newTime)
			require.NoError(t, err)
			assert.Equal(t, vec, fresh)
		})
	}
}

func TestGoldenUserPacket(t *testing.T) {
	vec := golden(t, "user_msg_packet")
	assert.Equal(t, userMsg, messageType(vec[0]))
	assert.Equal(t, "hello user", string(vec[1:]))
}

func TestGoldenCompound(t *testing.T) {
	vec := golden(t, "compound")
	require.Equal(t, compoundMsg, messageType(vec[0]))
	parts, trunc, err := splitCompound(nil, vec[1:])
	require.NoError(t, err)
	require.Zero(t, trunc)
	require.Len(t, parts, 3)
	assert.Equal(t, golden(t, "alive"), parts[0])
	assert.Equal(t, golden(t, "suspect"), parts[1])
	assert.Equal(t, golden(t, "dead"), parts[2])

	// Each part decodes and re-encodes to itself.
	for _, p := range parts {
		v := newForType(messageType(p[0]))
		require.NotNil(t, v)
		require.NoError(t, decodeMsg(p[1:], v))
		again, err := encodeMsg(messageType(p[0]), v, false)
		require.NoError(t, err)
		assert.Equal(t, p, again)
	}
	assert.Equal(t, vec, makeCompound(parts))
}

func TestGoldenCompressed(t *testing.T) {
	vec := golden(t, "compressed")
	require.Equal(t, compressMsg, messageType(vec[0]))
	plain, err := decompressPayload(vec[1:])
	require.NoError(t, err)
	assert.Equal(t, golden(t, "alive"), plain)

	again, err := compressPayload(plain, false)
	require.NoError(t, err)
	assert.Equal(t, vec, again)
}

func TestGoldenCRC(t *testing.T) {
	for _, tc := range []struct{ file, inner string }{
		{"crc", ""},
		{"crc_compound", "compound"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			vec := golden(t, tc.file)
			require.Equal(t, hasCrcMsg, messageType(vec[0]))
			msg, err := checkCRC(vec[1:])
			require.NoError(t, err)
			if tc.inner != "" {
				assert.Equal(t, golden(t, tc.inner), msg)
			} else {
				var p ping
				require.Equal(t, pingMsg, messageType(msg[0]))
				require.NoError(t, decodeMsg(msg[1:], &p))
				assert.Equal(t, ping{SeqNo: 42, Node: "sink"}, p)
			}
			assert.Equal(t, vec, addCRC(msg))
		})
	}
}

// goldenStates is what the reference put in pushpull.hex: its own node
// plus two it learned, one of them dead. Port 1 comes from its in-memory
// transport.
var goldenStates = []pushNodeState{
	{Name: "node-c", Addr: []byte{10, 0, 0, 8}, Port: 7947, Incarnation: 7, State: StateDead, Vsn: vsn},
	{Name: "node-a", Addr: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1}, Port: 1, Meta: []byte("meta-a"), Incarnation: 1, State: StateAlive, Vsn: []uint8{1, 5, 2, 0, 0, 0}},
	{Name: "node-b", Addr: ip4, Port: 7946, Meta: []byte("role=web"), Incarnation: 3, State: StateAlive, Vsn: vsn},
}

func TestGoldenPushPull(t *testing.T) {
	vec := golden(t, "pushpull")
	require.Equal(t, pushPullMsg, messageType(vec[0]))

	// Trailing bytes must be left in the reader: decodePushPull reads
	// exactly one message.
	r := bytes.NewReader(append(append([]byte{}, vec[1:]...), "NEXT"...))
	join, states, user, err := decodePushPull(r, 0)
	require.NoError(t, err)
	assert.True(t, join)
	assert.Equal(t, goldenStates, states)
	assert.Equal(t, "user-state:join", string(user))
	rest, _ := io.ReadAll(r)
	assert.Equal(t, "NEXT", string(rest))

	again, err := encodePushPull(join, states, user, false)
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(vec), hex.EncodeToString(again))
	again, err = encodePushPull(join, states, user, true)
	require.NoError(t, err)
	assert.Equal(t, vec, again, "no time values, so the time format must not matter")
}

func TestGoldenPushPullCompressed(t *testing.T) {
	vec := golden(t, "pushpull_compressed")
	require.Equal(t, compressMsg, messageType(vec[0]))
	body, err := decompressPayload(vec[1:])
	require.NoError(t, err)
	require.Equal(t, pushPullMsg, messageType(body[0]))

	join, states, user, err := decodePushPull(bytes.NewReader(body[1:]), 0)
	require.NoError(t, err)
	assert.False(t, join)
	assert.Equal(t, goldenStates, states)
	assert.Equal(t, "user-state:join", string(user))

	again, err := encodePushPull(join, states, user, false)
	require.NoError(t, err)
	assert.Equal(t, body, again)
	comp, err := compressPayload(again, false)
	require.NoError(t, err)
	assert.Equal(t, vec, comp)
}

func TestGoldenUserMsgStream(t *testing.T) {
	vec := golden(t, "user_msg_stream")
	require.Equal(t, userMsg, messageType(vec[0]))
	msg, err := decodeUserMsgStream(bytes.NewReader(vec[1:]), 0)
	require.NoError(t, err)
	assert.Equal(t, "reliable hello", string(msg))

	again, err := encodeUserMsgStream(msg, false)
	require.NoError(t, err)
	assert.Equal(t, vec, again)
}

func TestMessageTypeCodes(t *testing.T) {
	tests := []struct {
		typ  messageType
		code uint8
		name string
	}{
		{pingMsg, 0, "ping"},
		{indirectPingMsg, 1, "indirect-ping"},
		{ackRespMsg, 2, "ack"},
		{suspectMsg, 3, "suspect"},
		{aliveMsg, 4, "alive"},
		{deadMsg, 5, "dead"},
		{pushPullMsg, 6, "push-pull"},
		{compoundMsg, 7, "compound"},
		{userMsg, 8, "user"},
		{compressMsg, 9, "compress"},
		{encryptMsg, 10, "encrypt"},
		{nackRespMsg, 11, "nack"},
		{hasCrcMsg, 12, "has-crc"},
		{errMsg, 13, "err"},
		{messageType(244), 244, "has-label"},
		{messageType(200), 200, "messageType(200)"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.code, uint8(tc.typ), tc.name)
		assert.Equal(t, tc.name, tc.typ.String())
	}
	assert.Equal(t, compressionType(0), lzwAlgo)
}

// TestWireKeys pins the msgpack map keys of every wire struct, read from the
// encoding of a value with every field set (the codec tags only add
// omitempty): the Go field names, as in the reference.
func TestWireKeys(t *testing.T) {
	tests := []struct {
		v    any
		keys []string
	}{
		{ping{}, []string{"SeqNo", "Node", "SourceAddr", "SourcePort", "SourceNode"}},
		{indirectPingReq{}, []string{"SeqNo", "Target", "Port", "Node", "Nack", "SourceAddr", "SourcePort", "SourceNode"}},
		{ackResp{}, []string{"SeqNo", "Payload"}},
		{nackResp{}, []string{"SeqNo"}},
		{errResp{}, []string{"Error"}},
		{suspect{}, []string{"Incarnation", "Node", "From"}},
		{alive{}, []string{"Incarnation", "Node", "Addr", "Port", "Meta", "Vsn"}},
		{dead{}, []string{"Incarnation", "Node", "From"}},
		{pushPullHeader{}, []string{"Nodes", "UserStateLen", "Join"}},
		{userMsgHeader{}, []string{"UserMsgLen"}},
		{pushNodeState{}, []string{"Name", "Addr", "Port", "Meta", "Incarnation", "State", "Vsn"}},
		{compress{}, []string{"Algo", "Buf"}},
	}
	for _, tc := range tests {
		v := reflect.New(reflect.TypeOf(tc.v)).Elem()
		for i := range v.NumField() {
			setNonZero(t, v.Field(i))
		}
		var b []byte
		require.NoError(t, codec.NewEncoderBytes(&b, encodeHandle(false)).Encode(v.Interface()))
		name := v.Type().Name()
		require.Equal(t, byte(0x80), b[0]&0xf0, "%s is not a fixmap", name)
		dec := codec.NewDecoderBytes(b[1:], msgpackLegacyTime)
		var got []string
		for range int(b[0] & 0x0f) {
			var key string
			var value any
			require.NoError(t, dec.Decode(&key), name)
			require.NoError(t, dec.Decode(&value), name)
			got = append(got, key)
		}
		assert.ElementsMatch(t, tc.keys, got, name)
	}
	assert.Equal(t, reflect.TypeOf(StateAlive), reflect.TypeOf(pushNodeState{}.State))
}

// setNonZero gives f, a wire struct field, a value omitempty keeps.
func setNonZero(t *testing.T, f reflect.Value) {
	switch f.Kind() {
	case reflect.String:
		f.SetString("x")
	case reflect.Bool:
		f.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f.SetInt(1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f.SetUint(1)
	case reflect.Slice:
		f.Set(reflect.MakeSlice(f.Type(), 1, 1))
	default:
		t.Fatalf("no non-zero value for a %s field", f.Type())
	}
}

func TestRoundTripEveryMessage(t *testing.T) {
	tests := []struct {
		typ messageType
		v   any
	}{
		{pingMsg, &ping{SeqNo: 7, Node: "a"}},
		{pingMsg, &ping{SeqNo: 7, Node: "a", SourceAddr: ip6, SourcePort: 1, SourceNode: "b"}},
		{indirectPingMsg, &indirectPingReq{SeqNo: 1, Target: ip4, Port: 2, Node: "t"}},
		{indirectPingMsg, &indirectPingReq{SeqNo: 1, Target: ip4, Port: 2, Node: "t", Nack: true, SourceAddr: ip4, SourcePort: 3, SourceNode: "s"}},
		{ackRespMsg, &ackResp{SeqNo: 9}},
		{ackRespMsg, &ackResp{SeqNo: 9, Payload: bytes.Repeat([]byte{0xab}, 70000)}},
		{nackRespMsg, &nackResp{SeqNo: 9}},
		{errMsg, &errResp{Error: strings.Repeat("é", 40)}},
		{suspectMsg, &suspect{Incarnation: math.MaxUint32, Node: "n", From: "f"}},
		{aliveMsg, &alive{Incarnation: 1, Node: "n", Addr: ip6, Port: 65535, Meta: bytes.Repeat([]byte{1}, MetaMaxSize), Vsn: vsn}},
		{deadMsg, &dead{Incarnation: 2, Node: "n", From: "n"}},
		{compressMsg, &compress{Algo: lzwAlgo, Buf: []byte{1, 2}}},
	}
	for _, tc := range tests {
		for _, newTime := range []bool{false, true} {
			t.Run(tc.typ.String(), func(t *testing.T) {
				b, err := encodeMsg(tc.typ, tc.v, newTime)
				require.NoError(t, err)
				require.Equal(t, tc.typ, messageType(b[0]))
				got := reflect.New(reflect.TypeOf(tc.v).Elem()).Interface()
				require.NoError(t, decodeMsg(b[1:], got))
				assert.Equal(t, tc.v, got)
			})
		}
	}
}

// TestHandleSettings pins the codec options to the reference's: a zero
// MsgpackHandle, with only TimeNotBuiltin set for the legacy time format.
func TestHandleSettings(t *testing.T) {
	for _, h := range []*codec.MsgpackHandle{msgpackNewTime, msgpackLegacyTime} {
		assert.False(t, h.WriteExt, "WriteExt would switch []byte to bin and strings to str8")
		assert.False(t, h.RawToString)
		assert.False(t, h.Canonical)
		assert.False(t, h.StructToArray)
		assert.False(t, h.PositiveIntUnsigned)
		assert.False(t, h.NoFixedNum)
		assert.Zero(t, h.MaxInitLen)
	}
	assert.False(t, msgpackNewTime.TimeNotBuiltin)
	assert.True(t, msgpackLegacyTime.TimeNotBuiltin)
	assert.Same(t, msgpackNewTime, encodeHandle(true))
	assert.Same(t, msgpackLegacyTime, encodeHandle(false))
}

func TestEncodeMsgTime(t *testing.T) {
	// No wire struct holds a time, but the flag must still select the
	// handle the reference would use.
	ts := struct{ T time.Time }{time.Unix(1700000000, 5).UTC()}
	legacy, err := encodeMsg(userMsg, &ts, false)
	require.NoError(t, err)
	modern, err := encodeMsg(userMsg, &ts, true)
	require.NoError(t, err)
	assert.NotEqual(t, legacy, modern)

	mb, err := ts.T.MarshalBinary()
	require.NoError(t, err)
	assert.True(t, bytes.Contains(legacy, mb), "legacy format is MarshalBinary")
}

func TestEncodeMsgError(t *testing.T) {
	_, err := encodeMsg(pingMsg, complex(1, 2), false)
	assert.Error(t, err)
}

func TestDecodeMsgDoesNotAlias(t *testing.T) {
	b, err := encodeMsg(aliveMsg, &alive{Node: "n", Addr: ip4, Meta: []byte("meta"), Vsn: vsn}, false)
	require.NoError(t, err)
	var a alive
	require.NoError(t, decodeMsg(b[1:], &a))
	for i := range b {
		b[i] = 0
	}
	assert.Equal(t, alive{Node: "n", Addr: ip4, Meta: []byte("meta"), Vsn: vsn}, a)
}

func TestDecodeMsgGarbage(t *testing.T) {
	deep := bytes.Repeat([]byte{0x91}, 100000)
	// Cases marked lenient are well-formed msgpack that some targets may
	// accept (unknown keys are skipped, arrays fill structs in order);
	// everything else must fail for every target.
	tests := []struct {
		name    string
		buf     []byte
		lenient bool
	}{
		{"empty", nil, false},
		{"reserved byte", []byte{0xc1}, false},
		{"map missing values", []byte{0x82, 0xa5, 'S', 'e', 'q', 'N', 'o'}, false},
		{"str32 claiming 4 GiB", []byte{0x81, 0xa4, 'N', 'o', 'd', 'e', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'}, false},
		{"bin32 claiming 4 GiB", []byte{0x81, 0xa4, 'A', 'd', 'd', 'r', 0xc6, 0xff, 0xff, 0xff, 0xff}, false},
		{"array32 claiming 4G items", []byte{0x81, 0xa3, 'V', 's', 'n', 0xdd, 0xff, 0xff, 0xff, 0xff, 1}, false},
		{"map32 claiming 4G pairs", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, false},
		{"deep nesting", deep, false},
		{"deep nesting in field", append([]byte{0x81, 0xa4, 'M', 'e', 't', 'a'}, deep...), false},
		{"string into uint", []byte{0x81, 0xa5, 'S', 'e', 'q', 'N', 'o', 0xa1, 'x'}, true},
		{"array at top", []byte{0x92, 1, 2}, true},
		{"truncated header", []byte{0xcd, 0x01}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, typ := range singleBodyTypes() {
				err := decodeMsg(tc.buf, newForType(typ))
				if !tc.lenient {
					assert.Error(t, err, typ.String())
				}
				assertNoCodecPanic(t, err, typ.String())
			}
		})
	}
}

// assertNoCodecPanic fails if err is how decodeMsg reports a codec panic it
// recovered from: such a panic never reaches a NotPanics check, and the
// scan before the codec should have refused the input.
func assertNoCodecPanic(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	if err != nil {
		assert.NotContains(t, err.Error(), "codec failed on malformed input", msgAndArgs...)
	}
}

func TestSplitCompound(t *testing.T) {
	tests := []struct {
		name    string
		buf     []byte
		parts   []string
		trunc   int
		wantErr bool
	}{
		{name: "empty", buf: nil, wantErr: true},
		{name: "zero parts", buf: []byte{0}, parts: []string{}},
		{name: "count without lengths", buf: []byte{2, 0, 1}, wantErr: true},
		{name: "one part", buf: []byte{1, 0, 2, 'h', 'i'}, parts: []string{"hi"}},
		{name: "empty parts", buf: []byte{2, 0, 0, 0, 0}, parts: []string{"", ""}},
		{name: "two parts", buf: []byte{2, 0, 1, 0, 2, 'a', 'b', 'c'}, parts: []string{"a", "bc"}},
		{name: "trailing bytes ignored", buf: []byte{1, 0, 1, 'a', 'z', 'z'}, parts: []string{"a"}},
		{name: "last part truncated", buf: []byte{2, 0, 1, 0, 5, 'a', 'b'}, parts: []string{"a"}, trunc: 1},
		{name: "all truncated", buf: []byte{3, 0, 9, 0, 1, 0, 1, 'a'}, parts: []string{}, trunc: 3},
		{name: "max length claim", buf: []byte{1, 0xff, 0xff, 'a'}, parts: []string{}, trunc: 1},
		{name: "255 parts declared, none present", buf: append([]byte{255}, make([]byte, 10)...), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts, trunc, err := splitCompound(nil, tc.buf)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.trunc, trunc)
			got := []string{}
			for _, p := range parts {
				got = append(got, string(p))
			}
			assert.Equal(t, tc.parts, got)
		})
	}
}

func TestSplitCompoundAliases(t *testing.T) {
	c := makeCompound([][]byte{[]byte("ab"), []byte("cd")})
	parts, _, err := splitCompound(nil, c[1:])
	require.NoError(t, err)
	require.Len(t, parts, 2)
	c[len(c)-1] = 'X'
	assert.Equal(t, "cX", string(parts[1]), "parts alias the input")
	assert.Equal(t, 2, cap(parts[0]), "capped so appends cannot clobber the next part")
	_ = append(parts[0], 'Z')
	assert.Equal(t, "cX", string(parts[1]))
}

func TestMakeCompound(t *testing.T) {
	many := make([][]byte, 300)
	for i := range many {
		many[i] = []byte{byte(i), byte(i >> 8)}
	}
	tests := []struct {
		name string
		in   [][]byte
		want [][]byte
	}{
		{"none", nil, [][]byte{}},
		{"one", [][]byte{{1, 2, 3}}, [][]byte{{1, 2, 3}}},
		{"empty part", [][]byte{{}, {9}}, [][]byte{{}, {9}}},
		{"over 255 keeps the first 255", many, many[:255]},
		{"oversized part skipped", [][]byte{{1}, make([]byte, 65536), {2}}, [][]byte{{1}, {2}}},
		{"largest part kept", [][]byte{make([]byte, 65535)}, [][]byte{make([]byte, 65535)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := makeCompound(tc.in)
			require.Equal(t, compoundMsg, messageType(c[0]))
			assert.Equal(t, len(tc.want), int(c[1]))
			parts, trunc, err := splitCompound(nil, c[1:])
			require.NoError(t, err)
			require.Zero(t, trunc)
			require.Len(t, parts, len(tc.want))
			for i := range parts {
				assert.Equal(t, tc.want[i], []byte(parts[i]))
			}
		})
	}
}

func TestNextCompound(t *testing.T) {
	msgs := make([][]byte, 600)
	for i := range msgs {
		msgs[i] = []byte{byte(i), byte(i >> 8)}
	}
	var all [][]byte
	n := 0
	for rest := msgs; len(rest) > 0; n++ {
		var c []byte
		c, rest = nextCompound(3, rest)
		assert.Equal(t, []byte{0, 0, 0}, c[:3], "the head bytes are left free")
		parts, trunc, err := splitCompound(nil, c[4:])
		require.NoError(t, err)
		require.Zero(t, trunc)
		all = append(all, parts...)
	}
	assert.Equal(t, 3, n, "600 messages in compounds of at most 255")
	assert.Equal(t, msgs, all)
}

func TestCRC(t *testing.T) {
	msg := []byte("123456789")
	good := addCRC(msg)
	require.Equal(t, hasCrcMsg, messageType(good[0]))
	// 0xcbf43926 is the published CRC-32/IEEE check value of "123456789".
	assert.Equal(t, uint32(0xcbf43926), binary.BigEndian.Uint32(good[1:5]))
	assert.Equal(t, msg, good[5:])

	tests := []struct {
		name    string
		buf     []byte
		wantErr bool
	}{
		{"good", good[1:], false},
		{"body bit flipped", flipBit(good, len(good)-1)[1:], true},
		{"checksum bit flipped", flipBit(good, 2)[1:], true},
		{"too short", []byte{1, 2, 3}, true},
		{"checksum only, empty message", addCRC(nil)[1:], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkCRC(tc.buf)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.buf[4:], got)
		})
	}
}

func TestDecompressPayloadGarbage(t *testing.T) {
	enc := func(c compress) []byte {
		b, err := encodeMsg(compressMsg, &c, false)
		require.NoError(t, err)
		return b[1:]
	}
	tests := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"not msgpack", []byte{0xc1, 0xc1}},
		{"unknown algorithm", enc(compress{Algo: 1, Buf: []byte{1, 2, 3}})},
		{"invalid lzw", enc(compress{Algo: lzwAlgo, Buf: bytes.Repeat([]byte{0xff}, 64)})},
		{"truncated lzw", enc(compress{Algo: lzwAlgo, Buf: []byte{0x41}})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.NotPanics(t, func() {
				_, err := decompressPayload(tc.body)
				assert.Error(t, err)
				assertNoCodecPanic(t, err)
			})
		})
	}
}

func TestDecompressRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 100, 70000} {
		in := bytes.Repeat([]byte("abcab"), n)[:n]
		c, err := compressPayload(in, true)
		require.NoError(t, err)
		require.Equal(t, compressMsg, messageType(c[0]))
		out, err := decompressPayload(c[1:])
		require.NoError(t, err)
		assert.Equal(t, len(in), len(out))
		assert.True(t, bytes.Equal(in, out))
	}
}

func TestDecompressLimit(t *testing.T) {
	tests := []struct {
		size    int
		limit   int64
		wantErr bool
	}{
		{0, 0, false},
		{1, 0, true},
		{1000, 1000, false},
		{1001, 1000, true},
		{4 << 20, 1000, true},
	}
	for _, tc := range tests {
		msg, err := compressPayload(make([]byte, tc.size), false)
		require.NoError(t, err)
		var c compress
		require.NoError(t, decodeMsg(msg[1:], &c))
		var out []byte
		n := allocated(func() { out, err = decompressLimited(&c, tc.limit) })
		if tc.wantErr {
			assert.ErrorContains(t, err, "limit", "size %d limit %d", tc.size, tc.limit)
			// Expansion stops at the limit instead of running to the end.
			assert.Less(t, n, uint64(256<<10), "allocated %d bytes", n)
			continue
		}
		require.NoError(t, err)
		assert.Len(t, out, tc.size)
	}
}

func TestDecompressBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 40 MiB")
	}
	// A few kilobytes that expand past the real limit must be refused.
	c, err := compressPayload(make([]byte, maxDecompressedSize+1), false)
	require.NoError(t, err)
	assert.Less(t, len(c), 100000)
	out, err := decompressPayload(c[1:])
	require.ErrorContains(t, err, "limit")
	assert.Nil(t, out)
}

// lzwZeros returns an LZW stream (LSB first, 8-bit literals, as the wire
// uses) that expands to exactly n zero bytes. It is built code by code
// rather than by compressing n bytes, so that bombs of any size cost the
// suite nothing: each code names the longest string so far plus one more
// zero, until the 4,096-entry table is full, and then the longest string
// (3,839 zeros in 12 bits) over and over. About 19 KB expand to 40 MiB.
func lzwZeros(n int) []byte {
	const (
		clearCode = 1 << lzwLitWidth
		eofCode   = clearCode + 1
		maxWidth  = 12
	)
	var out []byte
	var acc uint64
	var nbits uint
	width := uint(lzwLitWidth + 1)
	next := eofCode // the decoder's last assigned code
	full := false
	put := func(code int) {
		acc |= uint64(code) << nbits
		for nbits += width; nbits >= 8; nbits -= 8 {
			out = append(out, byte(acc))
			acc >>= 8
		}
	}
	// emit writes code and moves the decoder's table on as it will.
	emit := func(code int) {
		put(code)
		if full {
			return
		}
		if next++; next >= 1<<width {
			if width == maxWidth {
				next--
				full = true
			} else {
				width++
			}
		}
	}
	left, longest := n, 0
	if left > 0 {
		emit(0)
		left, longest = left-1, 1
	}
	for !full && longest+1 <= left {
		emit(next) // the entry about to be defined: longest zeros plus one
		longest++
		left -= longest
	}
	code := clearCode + longest
	if longest == 1 {
		code = 0
	}
	for longest > 0 && left >= longest {
		emit(code)
		left -= longest
	}
	switch {
	case left == 1:
		emit(0)
	case left > 1:
		emit(clearCode + left)
	}
	put(eofCode)
	if nbits > 0 {
		out = append(out, byte(acc))
	}
	return out
}

func TestLZWZeros(t *testing.T) {
	// 7,370,880 zeros fill the table (1 + 2 + ... + 3,839); past that the
	// longest code repeats, and a shorter one ends the stream.
	for _, n := range []int{0, 1, 2, 3, 10, 1000, 65536, 7370880 + 2*3839 + 5} {
		r := lzw.NewReader(bytes.NewReader(lzwZeros(n)), lzw.LSB, lzwLitWidth)
		out, err := io.ReadAll(r)
		require.NoError(t, err, "n=%d", n)
		require.Len(t, out, n)
		require.Equal(t, n, bytes.Count(out, []byte{0}), "n=%d", n)
	}
	assert.Less(t, len(lzwZeros(maxDecompressedSize+1)), 20000)
}

// TestDecompressPeakMemory checks that expanding costs memory in proportion
// to the output, not to buffer doubling: a bomb past the limit is refused
// having allocated about inflateDirect, and a message that expands far
// gets one buffer of its exact size.
func TestDecompressPeakMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("expands hundreds of MiB")
	}
	// What is measured is allocation, which bounds the peak from above:
	// the direct buffer's doublings add up to about twice its final size,
	// and the race detector's runtime allocates some more.
	const slack = 5 << 20
	tests := []struct {
		name     string
		size     int
		maxAlloc uint64
		wantErr  bool
	}{
		{"small", 1000, 64 << 10, false},
		{"all direct", inflateDirect, slack, false},
		{"just past direct", inflateDirect + 1, inflateDirect + slack, false},
		{"at the limit", maxDecompressedSize, maxDecompressedSize + slack, false},
		{"one past the limit", maxDecompressedSize + 1, slack, true},
		{"far past the limit", 150 << 20, slack, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &compress{Algo: lzwAlgo, Buf: lzwZeros(tc.size)}
			var out []byte
			var err error
			n := allocated(func() { out, err = decompressBuffer(c) })
			assert.LessOrEqual(t, n, tc.maxAlloc, "allocated %d bytes", n)
			if tc.wantErr {
				assert.ErrorContains(t, err, "limit")
				return
			}
			require.NoError(t, err)
			assert.Len(t, out, tc.size)
			if tc.size > inflateDirect {
				assert.Equal(t, tc.size, cap(out), "a large output gets a buffer of its exact size")
			}
		})
	}
}

// allocated reports the bytes f allocated on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// mp encodes v with the wire handle, for building hostile streams.
func mp(t testing.TB, v any) []byte {
	t.Helper()
	var b []byte
	require.NoError(t, codec.NewEncoderBytes(&b, &codec.MsgpackHandle{}).Encode(v))
	return b
}

func TestDecodePushPullRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		join   bool
		states []pushNodeState
		user   []byte
	}{
		{"nothing", false, []pushNodeState{}, nil},
		{"states only", true, goldenStates, nil},
		{"user only", false, []pushNodeState{}, []byte("u")},
		{"big user state", true, goldenStates[:1], bytes.Repeat([]byte{7}, 300000)},
	}
	readers := map[string]func([]byte) io.Reader{
		"bytes":   func(b []byte) io.Reader { return bytes.NewReader(b) },
		"onebyte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"half":    func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
		// Readers whose held bytes are decoded in place: entries cut by
		// the end of a small buffer, and a whole message in memory.
		"bufio16":   func(b []byte) io.Reader { return bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(b)), 16) },
		"bufio4096": func(b []byte) io.Reader { return bufio.NewReader(bytes.NewReader(b)) },
		"memory":    func(b []byte) io.Reader { return &memReader{b: b} },
	}
	many := make([]pushNodeState, 3000)
	for i := range many {
		many[i] = goldenStates[i%len(goldenStates)]
		many[i].Name = fmt.Sprintf("%s-%d", many[i].Name, i)
		many[i].Incarnation = uint32(i)
	}
	tests = append(tests, struct {
		name   string
		join   bool
		states []pushNodeState
		user   []byte
	}{"3000 states", false, many, []byte("tail")})
	for _, tc := range tests {
		for rname, mk := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				b, err := encodePushPull(tc.join, tc.states, tc.user, false)
				require.NoError(t, err)
				require.Equal(t, pushPullMsg, messageType(b[0]))
				join, states, user, err := decodePushPull(mk(b[1:]), 0)
				require.NoError(t, err)
				assert.Equal(t, tc.join, join)
				assert.Equal(t, tc.states, states)
				assert.Equal(t, tc.user, user)
			})
		}
	}
}

func TestDecodePushPullLies(t *testing.T) {
	node := mp(t, &goldenStates[0])
	hdr := func(nodes, user int) []byte {
		return mp(t, &pushPullHeader{Nodes: nodes, UserStateLen: user, Join: true})
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	tests := []struct {
		name     string
		body     []byte
		maxNodes int
	}{
		{"empty", nil, 0},
		{"garbage header", []byte{0xc1}, 0},
		{"header not a map", mp(t, "hello"), 0},
		{"negative nodes", hdr(-1, 0), 0},
		{"nodes above maxNodes", hdr(11, 0), 10},
		{"nodes above hard limit", hdr(maxPushStateNodes+1, 0), 0},
		{"nodes 2^40", hdr(1<<40, 0), 0},
		{"negative user state", hdr(0, -5), 0},
		{"user state above limit", hdr(0, maxPushStateBytes+1), 0},
		{"user state 2^40", hdr(0, 1<<40), 0},
		{"million nodes claimed, none sent", hdr(maxPushStateNodes, 0), 0},
		{"one node missing", cat(hdr(2, 0), node), 0},
		{"user state claimed, none sent", cat(hdr(1, maxPushStateBytes), node), 0},
		{"user state short", cat(hdr(0, 10), []byte("abc")), 0},
		{"node with 4 GiB name", cat(hdr(1, 0), []byte{0x81, 0xa4, 'N', 'a', 'm', 'e', 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}), 0},
		{"node with 4G-item Vsn", cat(hdr(1, 0), []byte{0x81, 0xa3, 'V', 's', 'n', 0xdd, 0xff, 0xff, 0xff, 0xff}), 0},
		{"node deeply nested", cat(hdr(1, 0), bytes.Repeat([]byte{0x91}, 5000)), 0},
		{"node of wrong type", cat(hdr(1, 0), mp(t, "str")), 0},
		{"huge header", cat([]byte{0xdb, 0x7f, 0xff, 0xff, 0xff}), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			readers := []func() io.Reader{
				func() io.Reader { return bytes.NewReader(tc.body) },
				func() io.Reader { return bufio.NewReader(bytes.NewReader(tc.body)) },
				func() io.Reader { return &memReader{b: tc.body} },
			}
			for _, mk := range readers {
				var err error
				n := allocated(func() {
					assert.NotPanics(t, func() {
						_, _, _, err = decodePushPull(mk(), tc.maxNodes)
					})
				})
				assert.Error(t, err)
				assertNoCodecPanic(t, err)
				assert.Less(t, n, uint64(1<<20), "allocated %d bytes on a lie", n)
			}
		})
	}
}

func TestDecodePushPullNodeBudget(t *testing.T) {
	// A stream that keeps sending large, well-formed node states must hit
	// the byte budget rather than grow without bound.
	big := mp(t, &pushNodeState{Name: "n", Meta: make([]byte, 1<<20)})
	var body bytes.Buffer
	body.Write(mp(t, &pushPullHeader{Nodes: 100}))
	for range 100 {
		body.Write(big)
	}
	held := body.Bytes()
	_, _, _, err := decodePushPull(&body, 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "limit")
	// The same when the entries are decoded in place from memory.
	_, _, _, err = decodePushPull(&memReader{b: held}, 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "limit")
}

func TestUserMsgStream(t *testing.T) {
	hdr := func(n int) []byte { return mp(t, &userMsgHeader{UserMsgLen: n}) }
	tests := []struct {
		name    string
		body    []byte
		maxLen  int
		want    []byte
		wantErr bool
	}{
		{"ok", append(hdr(3), "abc"...), 0, []byte("abc"), false},
		{"trailing left alone", append(hdr(1), "ab"...), 0, []byte("a"), false},
		{"zero length", hdr(0), 0, nil, false},
		{"at maxLen", append(hdr(4), "abcd"...), 4, []byte("abcd"), false},
		{"above maxLen", append(hdr(5), "abcde"...), 4, nil, true},
		{"above hard limit", hdr(maxUserMsgBytes + 1), 0, nil, true},
		{"negative", hdr(-1), 0, nil, true},
		{"short", append(hdr(10), "abc"...), 0, nil, true},
		{"claims 20 MiB, sends nothing", hdr(maxUserMsgBytes), 0, nil, true},
		{"garbage", []byte{0xc1}, 0, nil, true},
		{"empty", nil, 0, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			var err error
			n := allocated(func() { got, err = decodeUserMsgStream(bytes.NewReader(tc.body), tc.maxLen) })
			assert.Less(t, n, uint64(1<<20))
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	b, err := encodeUserMsgStream([]byte("payload"), true)
	require.NoError(t, err)
	require.Equal(t, userMsg, messageType(b[0]))
	got, err := decodeUserMsgStream(iotest.OneByteReader(bytes.NewReader(b[1:])), 7)
	require.NoError(t, err)
	assert.Equal(t, "payload", string(got))
}

func TestDecodeFromReader(t *testing.T) {
	p := ping{SeqNo: 5, Node: "x", SourceAddr: ip4, SourcePort: 9, SourceNode: "y"}
	b, err := encodeMsg(pingMsg, &p, false)
	require.NoError(t, err)
	r := bytes.NewReader(append(b[1:], b[1:]...))
	for range 2 {
		var got ping
		require.NoError(t, decodeFromReader(r, &got))
		assert.Equal(t, p, got)
	}
	var got ping
	err = decodeFromReader(r, &got)
	assert.True(t, errors.Is(err, io.EOF), "clean EOF between messages: %v", err)

	err = decodeFromReader(bytes.NewReader(b[1:len(b)-1]), &got)
	assert.True(t, errors.Is(err, io.ErrUnexpectedEOF), "%v", err)

	err = decodeFromReader(iotest.ErrReader(errors.New("conn reset")), &got)
	assert.ErrorContains(t, err, "conn reset")
}

// TestReadMsgpackValueFormats checks the scanner against every msgpack
// format the codec can produce: each value is followed by a sentinel that
// must stay unread.
func TestReadMsgpackValueFormats(t *testing.T) {
	legacy := &codec.MsgpackHandle{}
	modern := &codec.MsgpackHandle{WriteExt: true}
	values := []any{
		nil, true, false, 0, 1, 127, 128, 255, 256, 65535, 65536, uint64(1) << 40,
		-1, -32, -33, -128, -129, -32768, -32769, int64(-1) << 40,
		float32(1.5), 2.5,
		"", strings.Repeat("s", 31), strings.Repeat("s", 32), strings.Repeat("s", 255),
		strings.Repeat("s", 256), strings.Repeat("s", 65536),
		[]byte{}, []byte{1}, make([]byte, 300), make([]byte, 70000),
		[]int{}, make([]int, 15), make([]int, 16), make([]int, 70000),
		map[string]int{}, map[int]int{1: 1}, func() map[int]int {
			m := map[int]int{}
			for i := range 70000 {
				m[i] = i
			}
			return m
		}(),
		[]any{[]any{map[string]any{"a": []any{1, "b"}}}},
		time.Unix(1, 0), time.Unix(1<<33, 5), time.Unix(-1, 0), time.Unix(1<<40, 7),
		goldenStates[1], alive{Node: "x", Vsn: vsn},
	}
	for _, h := range []*codec.MsgpackHandle{legacy, modern} {
		for i, v := range values {
			var b []byte
			require.NoError(t, codec.NewEncoderBytes(&b, h).Encode(v))
			r := bytes.NewReader(append(bytes.Clone(b), 0xc1))
			got, err := readMsgpackValue(r, nil, len(b))
			require.NoError(t, err, "value %d (%T)", i, v)
			assert.Equal(t, b, got, "value %d (%T)", i, v)
			assert.Equal(t, 1, r.Len(), "value %d (%T) over-read", i, v)

			_, err = readMsgpackValue(bytes.NewReader(b), nil, len(b)-1)
			if len(b) > 1 {
				assert.Error(t, err, "value %d (%T) must exceed a limit one short", i, v)
			}

			// From bytes in memory (a decrypted or decompressed message):
			// the same value, nothing over-read, the same limit, and a
			// value cut short is an unexpected EOF.
			mr := &memReader{b: append(bytes.Clone(b), 0xc1)}
			got, err = readMsgpackValue(mr, nil, len(b))
			require.NoError(t, err, "value %d (%T), in memory", i, v)
			assert.Equal(t, b, got, "value %d (%T), in memory", i, v)
			assert.Equal(t, []byte{0xc1}, mr.b, "value %d (%T), in memory: over-read", i, v)
			_, err = readMsgpackValue(&memReader{b: b}, nil, len(b)-1)
			if len(b) > 1 {
				assert.Error(t, err, "value %d (%T), in memory: a limit one short", i, v)
				_, err = readMsgpackValue(&memReader{b: b[:len(b)-1]}, nil, len(b))
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "value %d (%T), in memory, cut short", i, v)
			}

			// Through a bufio.Reader (the fast path when the value is
			// buffered whole, the slow one when not), with small and
			// large buffers: the same bytes, the same limit.
			for _, size := range []int{16, 4096, 1 << 20} {
				br := bufio.NewReaderSize(bytes.NewReader(append(bytes.Clone(b), 0xc1)), size)
				_, _ = br.Peek(1) // fill the buffer, as a stream read would
				got, err := readMsgpackValue(br, nil, len(b))
				require.NoError(t, err, "value %d (%T), buffer %d", i, v, size)
				assert.Equal(t, b, got, "value %d (%T), buffer %d", i, v, size)
				rest, _ := io.ReadAll(br)
				assert.Equal(t, []byte{0xc1}, rest, "value %d (%T), buffer %d: over-read", i, v, size)
				br = bufio.NewReaderSize(bytes.NewReader(b), size)
				_, _ = br.Peek(1)
				_, err = readMsgpackValue(br, nil, len(b)-1)
				if len(b) > 1 {
					assert.Error(t, err, "value %d (%T), buffer %d: a limit one short", i, v, size)
				}
			}
		}
	}
	// fixext 1/2/16 and ext16/ext32, which the codec does not emit for us.
	for _, b := range [][]byte{
		{0xd4, 1, 0}, {0xd5, 1, 0, 0}, append([]byte{0xd8, 1}, make([]byte, 16)...),
		append([]byte{0xc8, 0x01, 0x00, 5}, make([]byte, 256)...),
		append([]byte{0xc9, 0, 0, 0, 3, 5}, 1, 2, 3),
		{0xc7, 0, 5},
	} {
		got, err := readMsgpackValue(bytes.NewReader(append(bytes.Clone(b), 0xc1)), nil, len(b))
		require.NoError(t, err)
		assert.Equal(t, b, got)
	}
}

func TestReadMsgpackValueDepth(t *testing.T) {
	ok := append(bytes.Repeat([]byte{0x91}, maxMsgpackDepth), 1)
	_, err := readMsgpackValue(bytes.NewReader(ok), nil, 1000)
	require.NoError(t, err)
	tooDeep := append(bytes.Repeat([]byte{0x91}, maxMsgpackDepth+1), 1)
	_, err = readMsgpackValue(bytes.NewReader(tooDeep), nil, 1000)
	assert.ErrorContains(t, err, "deeper")
}

var (
	benchSink  []byte
	benchAlive = alive{Incarnation: 128, Node: "node-b.example.internal", Addr: ip4, Port: 7946, Meta: []byte("role=web,dc=eu-1"), Vsn: vsn}
)

func BenchmarkEncodePing(b *testing.B) {
	p := ping{SeqNo: 42, Node: "node-b", SourceAddr: ip4, SourcePort: 7946, SourceNode: "node-a"}
	b.ReportAllocs()
	for b.Loop() {
		out, err := encodeMsg(pingMsg, &p, false)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = out
	}
}

func BenchmarkEncodeAlive(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		out, err := encodeMsg(aliveMsg, &benchAlive, false)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = out
	}
}

func BenchmarkMakeCompound(b *testing.B) {
	msg, err := encodeMsg(aliveMsg, &benchAlive, false)
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([][]byte, 16) // about what fits in a 1400-byte packet
	for i := range msgs {
		msgs[i] = msg
	}
	b.ReportAllocs()
	for b.Loop() {
		benchSink = makeCompound(msgs)
	}
}

func BenchmarkDecodeAlive(b *testing.B) {
	msg, err := encodeMsg(aliveMsg, &benchAlive, false)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var a alive
		if err := decodeMsg(msg[1:], &a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePushPull decodes a push/pull of 10,000 members from a
// stream's buffered reader and from a whole message in memory (a
// decompressed or decrypted one).
func BenchmarkDecodePushPull(b *testing.B) {
	states := make([]pushNodeState, 10000)
	for i := range states {
		states[i] = goldenStates[i%len(goldenStates)]
		states[i].Name = fmt.Sprintf("node-%05d", i)
	}
	msg, err := encodePushPull(false, states, nil, false)
	require.NoError(b, err)
	body := msg[1:]
	readers := []struct {
		name string
		mk   func() io.Reader
	}{
		{"stream", func() io.Reader { return bufio.NewReader(bytes.NewReader(body)) }},
		{"memory", func() io.Reader { return &memReader{b: body} }},
	}
	for _, rd := range readers {
		b.Run(rd.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, got, _, err := decodePushPull(rd.mk(), 0); err != nil || len(got) != len(states) {
					b.Fatalf("decoded %d states: %v", len(got), err)
				}
			}
		})
	}
}

// Gossip, piggybacked probes and a suspect's ping put the checksum header
// into room left in front of the packet instead of copying it (rawSendAfter):
// every datagram to a protocol-5 peer must still be exactly addCRC of the
// message it carries, and a compound whose parts are the messages queued.
func TestChecksumWrittenInPlace(t *testing.T) {
	h := newHarness(t, nil)
	// Named by their addresses: sendMsg, not told the peer, finds its
	// protocol version by the bare IP, as the reference does.
	h.addPeer("127.0.0.2", 2, 1)
	h.addPeer("127.0.0.3", 3, 1)
	h.c.drain()
	h.c.sendMsg(Address{Addr: "127.0.0.2:7946", Name: "127.0.0.2"}, []byte{byte(pingMsg), 0x80})
	h.advance(h.cfg.GossipInterval) // gossip the news of a and b
	sends := 0
	for _, o := range h.c.drain() {
		s, ok := o.(*outSend)
		if !ok {
			continue
		}
		sends++
		require.Equal(t, hasCrcMsg, messageType(s.buf[0]), "a protocol-5 peer gets checksums")
		assert.Equal(t, addCRC(s.buf[crcHeaderLen:]), s.buf)
		assert.NotEmpty(t, splitSent(t, s.to, s.buf))
	}
	assert.Greater(t, sends, 1, "the ping and at least one gossip packet")

	// Without a checksum (a peer the core cannot name), the packet is moved
	// to the front of its pooled buffer, so that the whole buffer can go
	// back to the pool once sent.
	h.c.sendMsg(Address{Addr: "127.0.0.9:7946"}, []byte{byte(pingMsg), 0x80})
	s := takeSend(t, h.c.drain())
	require.Equal(t, compoundMsg, messageType(s.buf[0]), "ping and gossip, with no checksum")
	require.Equal(t, packetBufCap, cap(s.buf), "the whole pooled buffer")
	assert.NotEmpty(t, splitSent(t, s.to, s.buf))
}

// takeSend returns the one outSend among outs.
func takeSend(t *testing.T, outs []output) *outSend {
	t.Helper()
	var found *outSend
	for _, o := range outs {
		if s, ok := o.(*outSend); ok {
			require.Nil(t, found, "one datagram")
			found = s
		}
	}
	require.NotNil(t, found)
	return found
}
