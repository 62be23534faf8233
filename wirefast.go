// This file owns the hand-written msgpack fast path for the messages every
// probe and every gossip round carries (ping, indirect ping, ack, nack,
// suspect, alive, dead) and for push/pull node states. The reflection codec
// stays the definition of the wire: the encoder here writes exactly the bytes
// the codec writes with the reference's handle settings, and the decoder
// accepts only input whose meaning it is sure of, handing everything else to
// the codec, so behaviour can only ever equal the codec's. wirefast_test.go
// proves both against the codec.
//
// What the codec writes, with a zero MsgpackHandle (WriteExt false):
//   - a struct is a map whose keys are the Go field names, sorted bytewise;
//     omitempty fields that are zero (0, "", empty or nil slice) are left
//     out and the map length counts only what is written;
//   - unsigned fields use the smallest of positive fixint, uint8, uint16,
//     uint32, uint64; signed fields the smallest of fixint, int8, int16,
//     int32, int64 (so 200 in an int is int16, not uint8);
//   - strings and []byte (Vsn too: []uint8 is []byte) are legacy raw, which
//     has no 8-bit length form: fixstr below 32 bytes, then str16, then
//     str32; a nil []byte is msgpack nil, an empty one a zero-length fixstr;
//   - booleans are true/false.

package memberlist

import (
	"encoding/binary"
	"math"
	"strings"
	"sync/atomic"
)

// wireFastOff turns the fast path off so benchmarks can measure the codec
// alone. Nothing else sets it.
var wireFastOff atomic.Bool

// ---------------------------------------------------------------------------
// Encoding

// mpUintLen is the size of v as the codec writes an unsigned integer.
func mpUintLen(v uint64) int {
	switch {
	case v <= math.MaxInt8:
		return 1
	case v <= math.MaxUint8:
		return 2
	case v <= math.MaxUint16:
		return 3
	case v <= math.MaxUint32:
		return 5
	}
	return 9
}

// mpIntLen is the size of v as the codec writes a signed integer.
func mpIntLen(v int64) int {
	switch {
	case v >= -32 && v <= math.MaxInt8:
		return 1
	case v >= math.MinInt8 && v < -32:
		return 2
	case v >= math.MinInt16 && v <= math.MaxInt16:
		return 3
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return 5
	}
	return 9
}

// mpRawLen is the size of n bytes of legacy raw, header included.
func mpRawLen(n int) int {
	switch {
	case n < 32:
		return 1 + n
	case n <= math.MaxUint16:
		return 3 + n
	}
	return 5 + n
}

// mpBytesLen is mpRawLen for a []byte field, where nil is msgpack nil.
func mpBytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return mpRawLen(len(b))
}

// mpKeyLen is the size of a field name; every name here is under 32 bytes.
func mpKeyLen(name string) int { return 1 + len(name) }

func mpAppendUint(b []byte, v uint64) []byte {
	switch {
	case v <= math.MaxInt8:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

func mpAppendInt(b []byte, v int64) []byte {
	switch {
	case v >= -32 && v <= math.MaxInt8:
		return append(b, byte(v))
	case v >= math.MinInt8 && v < -32:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16 && v <= math.MaxInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

func mpAppendRawHeader(b []byte, n int) []byte {
	switch {
	case n < 32:
		return append(b, 0xa0|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
}

func mpAppendStr(b []byte, s string) []byte {
	return append(mpAppendRawHeader(b, len(s)), s...)
}

func mpAppendBytes(b, v []byte) []byte {
	if v == nil {
		return append(b, 0xc0)
	}
	return append(mpAppendRawHeader(b, len(v)), v...)
}

func mpAppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

// mpAppendKey writes a field name as a fixstr.
func mpAppendKey(b []byte, name string) []byte {
	return append(append(b, 0xa0|byte(len(name))), name...)
}

// mpAppendMap writes a map header for n entries (always under 16 here).
func mpAppendMap(b []byte, n int) []byte { return append(b, 0x80|byte(n)) }

// wireMsg is a message the fast path can encode: wireLen is the exact size
// appendWire adds.
type wireMsg interface {
	wireLen() int
	appendWire(b []byte) []byte
}

// fastWireMsg returns v as a wireMsg when the fast path knows its type.
func fastWireMsg(v any) wireMsg {
	switch m := v.(type) {
	case *ping:
		if m != nil {
			return m
		}
	case *indirectPingReq:
		if m != nil {
			return m
		}
	case *ackResp:
		if m != nil {
			return m
		}
	case *nackResp:
		if m != nil {
			return m
		}
	case *suspect:
		if m != nil {
			return m
		}
	case *alive:
		if m != nil {
			return m
		}
	case *dead:
		if m != nil {
			return m
		}
	case *pushNodeState:
		if m != nil {
			return m
		}
	case *pushPullHeader:
		if m != nil {
			return m
		}
	case ping:
		return &m
	case indirectPingReq:
		return &m
	case ackResp:
		return &m
	case nackResp:
		return &m
	case suspect:
		return &m
	case alive:
		return &m
	case dead:
		return &m
	case pushNodeState:
		return &m
	case pushPullHeader:
		return &m
	}
	return nil
}

// encodeFast is encodeMsg for a wireMsg: one allocation of exactly the
// message's size, since the result may sit in a broadcast queue for a while.
func encodeFast(t messageType, m wireMsg) []byte {
	n := 1 + m.wireLen()
	b := make([]byte, 1, n)
	b[0] = byte(t)
	return m.appendWire(b)
}

func (m *ping) wireLen() int {
	n := 1 + mpKeyLen("Node") + mpRawLen(len(m.Node)) + mpKeyLen("SeqNo") + mpUintLen(uint64(m.SeqNo))
	if len(m.SourceAddr) > 0 {
		n += mpKeyLen("SourceAddr") + mpRawLen(len(m.SourceAddr))
	}
	if m.SourceNode != "" {
		n += mpKeyLen("SourceNode") + mpRawLen(len(m.SourceNode))
	}
	if m.SourcePort != 0 {
		n += mpKeyLen("SourcePort") + mpUintLen(uint64(m.SourcePort))
	}
	return n
}

func (m *ping) appendWire(b []byte) []byte {
	fields := 2
	if len(m.SourceAddr) > 0 {
		fields++
	}
	if m.SourceNode != "" {
		fields++
	}
	if m.SourcePort != 0 {
		fields++
	}
	b = mpAppendMap(b, fields)
	b = mpAppendStr(mpAppendKey(b, "Node"), m.Node)
	b = mpAppendUint(mpAppendKey(b, "SeqNo"), uint64(m.SeqNo))
	if len(m.SourceAddr) > 0 {
		b = mpAppendBytes(mpAppendKey(b, "SourceAddr"), m.SourceAddr)
	}
	if m.SourceNode != "" {
		b = mpAppendStr(mpAppendKey(b, "SourceNode"), m.SourceNode)
	}
	if m.SourcePort != 0 {
		b = mpAppendUint(mpAppendKey(b, "SourcePort"), uint64(m.SourcePort))
	}
	return b
}

func (m *indirectPingReq) wireLen() int {
	n := 1 + mpKeyLen("Nack") + 1 +
		mpKeyLen("Node") + mpRawLen(len(m.Node)) +
		mpKeyLen("Port") + mpUintLen(uint64(m.Port)) +
		mpKeyLen("SeqNo") + mpUintLen(uint64(m.SeqNo)) +
		mpKeyLen("Target") + mpBytesLen(m.Target)
	if len(m.SourceAddr) > 0 {
		n += mpKeyLen("SourceAddr") + mpRawLen(len(m.SourceAddr))
	}
	if m.SourceNode != "" {
		n += mpKeyLen("SourceNode") + mpRawLen(len(m.SourceNode))
	}
	if m.SourcePort != 0 {
		n += mpKeyLen("SourcePort") + mpUintLen(uint64(m.SourcePort))
	}
	return n
}

func (m *indirectPingReq) appendWire(b []byte) []byte {
	fields := 5
	if len(m.SourceAddr) > 0 {
		fields++
	}
	if m.SourceNode != "" {
		fields++
	}
	if m.SourcePort != 0 {
		fields++
	}
	b = mpAppendMap(b, fields)
	b = mpAppendBool(mpAppendKey(b, "Nack"), m.Nack)
	b = mpAppendStr(mpAppendKey(b, "Node"), m.Node)
	b = mpAppendUint(mpAppendKey(b, "Port"), uint64(m.Port))
	b = mpAppendUint(mpAppendKey(b, "SeqNo"), uint64(m.SeqNo))
	if len(m.SourceAddr) > 0 {
		b = mpAppendBytes(mpAppendKey(b, "SourceAddr"), m.SourceAddr)
	}
	if m.SourceNode != "" {
		b = mpAppendStr(mpAppendKey(b, "SourceNode"), m.SourceNode)
	}
	if m.SourcePort != 0 {
		b = mpAppendUint(mpAppendKey(b, "SourcePort"), uint64(m.SourcePort))
	}
	return mpAppendBytes(mpAppendKey(b, "Target"), m.Target)
}

func (m *ackResp) wireLen() int {
	return 1 + mpKeyLen("Payload") + mpBytesLen(m.Payload) + mpKeyLen("SeqNo") + mpUintLen(uint64(m.SeqNo))
}

func (m *ackResp) appendWire(b []byte) []byte {
	b = mpAppendMap(b, 2)
	b = mpAppendBytes(mpAppendKey(b, "Payload"), m.Payload)
	return mpAppendUint(mpAppendKey(b, "SeqNo"), uint64(m.SeqNo))
}

func (m *nackResp) wireLen() int {
	return 1 + mpKeyLen("SeqNo") + mpUintLen(uint64(m.SeqNo))
}

func (m *nackResp) appendWire(b []byte) []byte {
	return mpAppendUint(mpAppendKey(mpAppendMap(b, 1), "SeqNo"), uint64(m.SeqNo))
}

// suspect and dead have the same fields, so they share the wire layout.
func accusationLen(inc uint32, node, from string) int {
	return 1 + mpKeyLen("From") + mpRawLen(len(from)) +
		mpKeyLen("Incarnation") + mpUintLen(uint64(inc)) +
		mpKeyLen("Node") + mpRawLen(len(node))
}

func appendAccusation(b []byte, inc uint32, node, from string) []byte {
	b = mpAppendMap(b, 3)
	b = mpAppendStr(mpAppendKey(b, "From"), from)
	b = mpAppendUint(mpAppendKey(b, "Incarnation"), uint64(inc))
	return mpAppendStr(mpAppendKey(b, "Node"), node)
}

func (m *suspect) wireLen() int { return accusationLen(m.Incarnation, m.Node, m.From) }

func (m *suspect) appendWire(b []byte) []byte {
	return appendAccusation(b, m.Incarnation, m.Node, m.From)
}

func (m *dead) wireLen() int { return accusationLen(m.Incarnation, m.Node, m.From) }

func (m *dead) appendWire(b []byte) []byte {
	return appendAccusation(b, m.Incarnation, m.Node, m.From)
}

func (m *alive) wireLen() int {
	return 1 + mpKeyLen("Addr") + mpBytesLen(m.Addr) +
		mpKeyLen("Incarnation") + mpUintLen(uint64(m.Incarnation)) +
		mpKeyLen("Meta") + mpBytesLen(m.Meta) +
		mpKeyLen("Node") + mpRawLen(len(m.Node)) +
		mpKeyLen("Port") + mpUintLen(uint64(m.Port)) +
		mpKeyLen("Vsn") + mpBytesLen(m.Vsn)
}

func (m *alive) appendWire(b []byte) []byte {
	b = mpAppendMap(b, 6)
	b = mpAppendBytes(mpAppendKey(b, "Addr"), m.Addr)
	b = mpAppendUint(mpAppendKey(b, "Incarnation"), uint64(m.Incarnation))
	b = mpAppendBytes(mpAppendKey(b, "Meta"), m.Meta)
	b = mpAppendStr(mpAppendKey(b, "Node"), m.Node)
	b = mpAppendUint(mpAppendKey(b, "Port"), uint64(m.Port))
	return mpAppendBytes(mpAppendKey(b, "Vsn"), m.Vsn)
}

func (m *pushNodeState) wireLen() int {
	return 1 + mpKeyLen("Addr") + mpBytesLen(m.Addr) +
		mpKeyLen("Incarnation") + mpUintLen(uint64(m.Incarnation)) +
		mpKeyLen("Meta") + mpBytesLen(m.Meta) +
		mpKeyLen("Name") + mpRawLen(len(m.Name)) +
		mpKeyLen("Port") + mpUintLen(uint64(m.Port)) +
		mpKeyLen("State") + mpIntLen(int64(m.State)) +
		mpKeyLen("Vsn") + mpBytesLen(m.Vsn)
}

func (m *pushNodeState) appendWire(b []byte) []byte {
	b = mpAppendMap(b, 7)
	b = mpAppendBytes(mpAppendKey(b, "Addr"), m.Addr)
	b = mpAppendUint(mpAppendKey(b, "Incarnation"), uint64(m.Incarnation))
	b = mpAppendBytes(mpAppendKey(b, "Meta"), m.Meta)
	b = mpAppendStr(mpAppendKey(b, "Name"), m.Name)
	b = mpAppendUint(mpAppendKey(b, "Port"), uint64(m.Port))
	b = mpAppendInt(mpAppendKey(b, "State"), int64(m.State))
	return mpAppendBytes(mpAppendKey(b, "Vsn"), m.Vsn)
}

func (m *pushPullHeader) wireLen() int {
	return 1 + mpKeyLen("Join") + 1 +
		mpKeyLen("Nodes") + mpIntLen(int64(m.Nodes)) +
		mpKeyLen("UserStateLen") + mpIntLen(int64(m.UserStateLen))
}

func (m *pushPullHeader) appendWire(b []byte) []byte {
	b = mpAppendMap(b, 3)
	b = mpAppendBool(mpAppendKey(b, "Join"), m.Join)
	b = mpAppendInt(mpAppendKey(b, "Nodes"), int64(m.Nodes))
	return mpAppendInt(mpAppendKey(b, "UserStateLen"), int64(m.UserStateLen))
}

// ---------------------------------------------------------------------------
// Decoding

// mpKind is how a struct field is read off the wire.
type mpKind uint8

const (
	mpKindUint  mpKind = iota // unsigned, up to mpField.max
	mpKindInt                 // a Go int
	mpKindBool                //
	mpKindStr                 // string: str or bin, nil is ""
	mpKindBytes               // []byte: str or bin, nil, or an array of small ints
)

// mpField describes one struct field: its wire name (the Go field name) and
// how to read it.
type mpField struct {
	name string
	kind mpKind
	max  uint64
}

// mpVal is what the parse found for one field. Raw values are not copied
// yet: off and n locate them in the input.
type mpVal struct {
	num   uint64 // integer (an int's bits) or bool
	off   int    // raw payload, or the first element of an array
	n     int    // raw length or array count
	dst   int    // where alloc put the field
	kind  mpKind
	set   bool
	isNil bool
	arr   bool
}

// mpMaxFields is the most fields any fast-path struct has.
const mpMaxFields = 8

// fastDec decodes one struct. parse validates the whole value and locates
// every field; the struct is then filled from one string allocation and one
// []byte allocation, so nothing aliases the input.
type fastDec struct {
	buf  []byte
	vals [mpMaxFields]mpVal
	nStr int // bytes of all string fields together
	nBin int // bytes of all []byte fields together
	strs string
	bins []byte
}

var (
	pingFields = []mpField{
		{"SeqNo", mpKindUint, math.MaxUint32}, {"Node", mpKindStr, 0},
		{"SourceAddr", mpKindBytes, 0}, {"SourcePort", mpKindUint, math.MaxUint16}, {"SourceNode", mpKindStr, 0},
	}
	indirectPingFields = []mpField{
		{"SeqNo", mpKindUint, math.MaxUint32}, {"Target", mpKindBytes, 0}, {"Port", mpKindUint, math.MaxUint16},
		{"Node", mpKindStr, 0}, {"Nack", mpKindBool, 0},
		{"SourceAddr", mpKindBytes, 0}, {"SourcePort", mpKindUint, math.MaxUint16}, {"SourceNode", mpKindStr, 0},
	}
	ackFields  = []mpField{{"SeqNo", mpKindUint, math.MaxUint32}, {"Payload", mpKindBytes, 0}}
	nackFields = []mpField{{"SeqNo", mpKindUint, math.MaxUint32}}
	// suspect and dead
	accusationFields = []mpField{{"Incarnation", mpKindUint, math.MaxUint32}, {"Node", mpKindStr, 0}, {"From", mpKindStr, 0}}
	aliveFields      = []mpField{
		{"Incarnation", mpKindUint, math.MaxUint32}, {"Node", mpKindStr, 0}, {"Addr", mpKindBytes, 0},
		{"Port", mpKindUint, math.MaxUint16}, {"Meta", mpKindBytes, 0}, {"Vsn", mpKindBytes, 0},
	}
	nodeStateFields = []mpField{
		{"Name", mpKindStr, 0}, {"Addr", mpKindBytes, 0}, {"Port", mpKindUint, math.MaxUint16},
		{"Meta", mpKindBytes, 0}, {"Incarnation", mpKindUint, math.MaxUint32}, {"State", mpKindInt, 0},
		{"Vsn", mpKindBytes, 0},
	}
	pushPullHeaderFields = []mpField{{"Nodes", mpKindInt, 0}, {"UserStateLen", mpKindInt, 0}, {"Join", mpKindBool, 0}}
)

// decodeFast decodes buf into out when out is a zero value of a fast-path
// type and buf is a value whose meaning is certain. It reports false, having
// touched nothing, in every other case; the caller then asks the codec,
// which decides what the input means or why it is wrong.
func decodeFast(buf []byte, out any) bool {
	var d fastDec
	switch m := out.(type) {
	case *ping:
		if m == nil || !m.isZero() || !d.parse(buf, pingFields) {
			return false
		}
		d.alloc()
		*m = ping{SeqNo: uint32(d.vals[0].num), Node: d.str(1), SourceAddr: d.bytes(2),
			SourcePort: uint16(d.vals[3].num), SourceNode: d.str(4)}
	case *indirectPingReq:
		if m == nil || !m.isZero() || !d.parse(buf, indirectPingFields) {
			return false
		}
		d.alloc()
		*m = indirectPingReq{SeqNo: uint32(d.vals[0].num), Target: d.bytes(1), Port: uint16(d.vals[2].num),
			Node: d.str(3), Nack: d.vals[4].num != 0,
			SourceAddr: d.bytes(5), SourcePort: uint16(d.vals[6].num), SourceNode: d.str(7)}
	case *ackResp:
		if m == nil || m.SeqNo != 0 || m.Payload != nil || !d.parse(buf, ackFields) {
			return false
		}
		d.alloc()
		*m = ackResp{SeqNo: uint32(d.vals[0].num), Payload: d.bytes(1)}
	case *nackResp:
		if m == nil || m.SeqNo != 0 || !d.parse(buf, nackFields) {
			return false
		}
		m.SeqNo = uint32(d.vals[0].num)
	case *suspect:
		if m == nil || *m != (suspect{}) || !d.parse(buf, accusationFields) {
			return false
		}
		d.alloc()
		*m = suspect{Incarnation: uint32(d.vals[0].num), Node: d.str(1), From: d.str(2)}
	case *dead:
		if m == nil || *m != (dead{}) || !d.parse(buf, accusationFields) {
			return false
		}
		d.alloc()
		*m = dead{Incarnation: uint32(d.vals[0].num), Node: d.str(1), From: d.str(2)}
	case *alive:
		if m == nil || !m.isZero() || !d.parse(buf, aliveFields) {
			return false
		}
		d.alloc()
		*m = alive{Incarnation: uint32(d.vals[0].num), Node: d.str(1), Addr: d.bytes(2),
			Port: uint16(d.vals[3].num), Meta: d.bytes(4), Vsn: d.bytes(5)}
	case *pushNodeState:
		if m == nil || !m.isZero() || !d.parse(buf, nodeStateFields) {
			return false
		}
		d.alloc()
		*m = pushNodeState{Name: d.str(0), Addr: d.bytes(1), Port: uint16(d.vals[2].num), Meta: d.bytes(3),
			Incarnation: uint32(d.vals[4].num), State: NodeStateType(int64(d.vals[5].num)), Vsn: d.bytes(6)}
	case *pushPullHeader:
		if m == nil || *m != (pushPullHeader{}) || !d.parse(buf, pushPullHeaderFields) {
			return false
		}
		*m = pushPullHeader{Nodes: int(int64(d.vals[0].num)), UserStateLen: int(int64(d.vals[1].num)), Join: d.vals[2].num != 0}
	default:
		return false
	}
	return true
}

// The codec leaves fields the input does not mention as they were; the fast
// path writes whole structs, so it only takes zero ones.

func (m *ping) isZero() bool {
	return m.SeqNo == 0 && m.Node == "" && m.SourceAddr == nil && m.SourcePort == 0 && m.SourceNode == ""
}

func (m *indirectPingReq) isZero() bool {
	return m.SeqNo == 0 && m.Target == nil && m.Port == 0 && m.Node == "" && !m.Nack &&
		m.SourceAddr == nil && m.SourcePort == 0 && m.SourceNode == ""
}

func (m *alive) isZero() bool {
	return m.Incarnation == 0 && m.Node == "" && m.Addr == nil && m.Port == 0 && m.Meta == nil && m.Vsn == nil
}

func (m *pushNodeState) isZero() bool {
	return m.Name == "" && m.Addr == nil && m.Port == 0 && m.Meta == nil && m.Incarnation == 0 && m.State == 0 && m.Vsn == nil
}

// parse walks buf as a map of fields, recording each; it reports false on
// anything it is not sure the codec reads the same way: another container
// than a map, a key that is not a string, a field given twice, a value of
// an unexpected type or out of range, or a truncated or invalid encoding.
func (d *fastDec) parse(buf []byte, fields []mpField) bool {
	d.buf = buf
	if len(buf) == 0 {
		return false
	}
	p := 0
	var n int
	switch c := buf[0]; {
	case c >= 0x80 && c <= 0x8f:
		n, p = int(c&0x0f), 1
	case c == 0xde:
		if len(buf) < 3 {
			return false
		}
		n, p = int(binary.BigEndian.Uint16(buf[1:])), 3
	case c == 0xdf:
		if len(buf) < 5 {
			return false
		}
		c := binary.BigEndian.Uint32(buf[1:])
		if uint64(c) > uint64(len(buf)) {
			return false // each entry takes at least two bytes
		}
		n, p = int(c), 5
	default:
		return false
	}
	for range n {
		kOff, kLen, np, ok := d.raw(p)
		if !ok || kLen == 0 {
			// The codec fails on an empty key (it looks at its first
			// byte), so that is the codec's to refuse.
			return false
		}
		p = np
		key := buf[kOff : kOff+kLen]
		j := -1
		for i := range fields {
			if string(key) == fields[i].name {
				j = i
				break
			}
		}
		if j < 0 {
			// An unknown field: skip its value with the scanner's bounds,
			// counting the depth the whole message has reached.
			if p, ok = skipMsgpack(buf, p); !ok {
				return false
			}
			continue
		}
		v := &d.vals[j]
		if v.set {
			return false
		}
		v.set, v.kind = true, fields[j].kind
		if p, ok = d.field(p, fields[j], v); !ok {
			return false
		}
	}
	return true
}

// skipMsgpack steps over the value at buf[p:], a map value at the top level
// of the message, applying the same nesting bound decodeMsgWith's scan does.
// It refuses extensions anywhere inside: the codec does not merely skip
// them (it parses a timestamp and fails on a malformed one), and no writer
// puts any in these messages.
func skipMsgpack(buf []byte, p int) (int, bool) {
	s := msgpackScanner{started: true, depth: 2}
	s.left[1] = 1
	done, _, err := s.scan(buf[p:], len(buf)-p)
	if err != nil || !done {
		return 0, false
	}
	end := p + s.pos
	// The scan proved every header and payload lies within [p, end), and
	// children follow their container, so a flat walk meets every item.
	for q := p; q < end; {
		switch buf[q] {
		case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
			return 0, false
		}
		hdr, payload, _, err := msgpackItem(buf[q:end])
		if err != nil {
			return 0, false
		}
		q += hdr + int(payload)
	}
	return end, true
}

// field reads the value at p for f into v.
func (d *fastDec) field(p int, f mpField, v *mpVal) (int, bool) {
	buf := d.buf
	if p >= len(buf) {
		return 0, false
	}
	if buf[p] == 0xc0 {
		// The codec sets a field to its zero value on nil.
		v.isNil = true
		return p + 1, true
	}
	switch f.kind {
	case mpKindUint:
		u, neg, np, ok := d.int(p)
		if !ok || neg || u > f.max {
			return 0, false
		}
		v.num = u
		return np, true
	case mpKindInt:
		u, neg, np, ok := d.int(p)
		if !ok {
			return 0, false
		}
		if i := int64(u); neg && i < math.MinInt || !neg && u > math.MaxInt {
			return 0, false
		}
		v.num = u
		return np, true
	case mpKindBool:
		switch buf[p] {
		case 0xc2:
			return p + 1, true
		case 0xc3:
			v.num = 1
			return p + 1, true
		}
		return 0, false
	case mpKindStr:
		off, n, np, ok := d.raw(p)
		if !ok {
			return 0, false
		}
		v.off, v.n = off, n
		d.nStr += n
		return np, true
	case mpKindBytes:
		if off, n, np, ok := d.raw(p); ok {
			v.off, v.n = off, n
			d.nBin += n
			return np, true
		}
		return d.byteArray(p, v)
	}
	return 0, false
}

// byteArray reads a []byte sent as an array of integers, each 0 to 255.
func (d *fastDec) byteArray(p int, v *mpVal) (int, bool) {
	buf := d.buf
	var n int
	switch c := buf[p]; {
	case c >= 0x90 && c <= 0x9f:
		n, p = int(c&0x0f), p+1
	case c == 0xdc:
		if len(buf)-p < 3 {
			return 0, false
		}
		n, p = int(binary.BigEndian.Uint16(buf[p+1:])), p+3
	case c == 0xdd:
		if len(buf)-p < 5 {
			return 0, false
		}
		c := binary.BigEndian.Uint32(buf[p+1:])
		if uint64(c) > uint64(len(buf)) {
			return 0, false
		}
		n, p = int(c), p+5
	default:
		return 0, false
	}
	// Every element takes at least a byte: a count the input cannot hold
	// is refused before it sizes anything.
	if n > len(buf)-p {
		return 0, false
	}
	v.off, v.n, v.arr = p, n, true
	for range n {
		if p >= len(buf) {
			return 0, false
		}
		u, neg, np, ok := d.int(p)
		if !ok || neg || u > math.MaxUint8 {
			return 0, false
		}
		p = np
	}
	d.nBin += n
	return p, true
}

// int reads any msgpack integer at p as a magnitude and a sign.
func (d *fastDec) int(p int) (u uint64, neg bool, np int, ok bool) {
	buf := d.buf
	c := buf[p]
	switch {
	case c <= 0x7f:
		return uint64(c), false, p + 1, true
	case c >= 0xe0:
		return uint64(int64(int8(c))), true, p + 1, true
	}
	var size int
	switch c {
	case 0xcc, 0xd0:
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2:
		size = 4
	case 0xcf, 0xd3:
		size = 8
	default:
		return 0, false, 0, false
	}
	if len(buf)-p-1 < size {
		return 0, false, 0, false
	}
	b := buf[p+1:]
	switch size {
	case 1:
		u = uint64(b[0])
	case 2:
		u = uint64(binary.BigEndian.Uint16(b))
	case 4:
		u = uint64(binary.BigEndian.Uint32(b))
	case 8:
		u = binary.BigEndian.Uint64(b)
	}
	if c >= 0xd0 { // signed: sign-extend
		shift := 64 - 8*size
		i := int64(u<<shift) >> shift
		u, neg = uint64(i), i < 0
	}
	return u, neg, p + 1 + size, true
}

// raw reads a str or bin header at p and returns where its payload lies,
// checking that the payload is really there.
func (d *fastDec) raw(p int) (off, n, np int, ok bool) {
	buf := d.buf
	if p >= len(buf) {
		return 0, 0, 0, false
	}
	c := buf[p]
	var hdr int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n, hdr = int(c&0x1f), 1
	case c == 0xd9 || c == 0xc4:
		if len(buf)-p < 2 {
			return 0, 0, 0, false
		}
		n, hdr = int(buf[p+1]), 2
	case c == 0xda || c == 0xc5:
		if len(buf)-p < 3 {
			return 0, 0, 0, false
		}
		n, hdr = int(binary.BigEndian.Uint16(buf[p+1:])), 3
	case c == 0xdb || c == 0xc6:
		if len(buf)-p < 5 {
			return 0, 0, 0, false
		}
		c := binary.BigEndian.Uint32(buf[p+1:])
		if uint64(c) > uint64(len(buf)) {
			return 0, 0, 0, false
		}
		n, hdr = int(c), 5
	default:
		return 0, 0, 0, false
	}
	off = p + hdr
	if n > len(buf)-off {
		return 0, 0, 0, false
	}
	return off, n, off + n, true
}

// alloc makes the one string and the one []byte every field is cut from,
// and copies the fields into them.
func (d *fastDec) alloc() {
	var sb strings.Builder
	sb.Grow(d.nStr)
	if d.nBin > 0 {
		d.bins = make([]byte, d.nBin)
	}
	sOff, bOff := 0, 0
	for i := range d.vals {
		v := &d.vals[i]
		if !v.set || v.isNil {
			continue
		}
		switch v.kind {
		case mpKindStr:
			sb.Write(d.buf[v.off : v.off+v.n])
			v.dst = sOff
			sOff += v.n
		case mpKindBytes:
			v.dst = bOff
			if !v.arr {
				copy(d.bins[bOff:], d.buf[v.off:v.off+v.n])
			} else {
				p := v.off
				for k := range v.n {
					u, _, np, _ := d.int(p)
					d.bins[bOff+k] = byte(u)
					p = np
				}
			}
			bOff += v.n
		}
	}
	d.strs = sb.String()
}

// str is string field i.
func (d *fastDec) str(i int) string {
	v := &d.vals[i]
	return d.strs[v.dst : v.dst+v.n]
}

// bytes is []byte field i, capped so an append cannot reach its neighbour.
func (d *fastDec) bytes(i int) []byte {
	v := &d.vals[i]
	if !v.set || v.isNil {
		return nil
	}
	if v.n == 0 {
		return []byte{}
	}
	return d.bins[v.dst : v.dst+v.n : v.dst+v.n]
}
