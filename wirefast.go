// This file owns the encoding half of the hand-written msgpack fast path
// (wirefast_decode.go has the decoding half) for the messages every
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

// source is the optional reply address a ping and an indirect ping carry
// (SourceAddr, SourceNode, SourcePort, each omitted when empty), which sorts
// between SeqNo and Target in both.
type source struct {
	addr []byte
	port uint16
	node string
}

// fields is how many of the three are written, and wireLen their size.
func (s source) fields() (n int) {
	if len(s.addr) > 0 {
		n++
	}
	if s.node != "" {
		n++
	}
	if s.port != 0 {
		n++
	}
	return n
}

func (s source) wireLen() (n int) {
	if len(s.addr) > 0 {
		n += mpKeyLen("SourceAddr") + mpRawLen(len(s.addr))
	}
	if s.node != "" {
		n += mpKeyLen("SourceNode") + mpRawLen(len(s.node))
	}
	if s.port != 0 {
		n += mpKeyLen("SourcePort") + mpUintLen(uint64(s.port))
	}
	return n
}

func (s source) appendWire(b []byte) []byte {
	if len(s.addr) > 0 {
		b = mpAppendBytes(mpAppendKey(b, "SourceAddr"), s.addr)
	}
	if s.node != "" {
		b = mpAppendStr(mpAppendKey(b, "SourceNode"), s.node)
	}
	if s.port != 0 {
		b = mpAppendUint(mpAppendKey(b, "SourcePort"), uint64(s.port))
	}
	return b
}

func (m *ping) source() source { return source{m.SourceAddr, m.SourcePort, m.SourceNode} }

func (m *ping) wireLen() int {
	return 1 + mpKeyLen("Node") + mpRawLen(len(m.Node)) + mpKeyLen("SeqNo") + mpUintLen(uint64(m.SeqNo)) +
		m.source().wireLen()
}

func (m *ping) appendWire(b []byte) []byte {
	src := m.source()
	b = mpAppendMap(b, 2+src.fields())
	b = mpAppendStr(mpAppendKey(b, "Node"), m.Node)
	b = mpAppendUint(mpAppendKey(b, "SeqNo"), uint64(m.SeqNo))
	return src.appendWire(b)
}

func (m *indirectPingReq) source() source {
	return source{m.SourceAddr, m.SourcePort, m.SourceNode}
}

func (m *indirectPingReq) wireLen() int {
	return 1 + mpKeyLen("Nack") + 1 +
		mpKeyLen("Node") + mpRawLen(len(m.Node)) +
		mpKeyLen("Port") + mpUintLen(uint64(m.Port)) +
		mpKeyLen("SeqNo") + mpUintLen(uint64(m.SeqNo)) +
		mpKeyLen("Target") + mpBytesLen(m.Target) +
		m.source().wireLen()
}

func (m *indirectPingReq) appendWire(b []byte) []byte {
	src := m.source()
	b = mpAppendMap(b, 5+src.fields())
	b = mpAppendBool(mpAppendKey(b, "Nack"), m.Nack)
	b = mpAppendStr(mpAppendKey(b, "Node"), m.Node)
	b = mpAppendUint(mpAppendKey(b, "Port"), uint64(m.Port))
	b = mpAppendUint(mpAppendKey(b, "SeqNo"), uint64(m.SeqNo))
	b = src.appendWire(b)
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
