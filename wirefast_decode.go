// This file owns the decoding half of the msgpack fast path (see
// wirefast.go for what the codec writes and why the fast path exists): it
// reads the hot messages in one pass over the buffer, with one allocation
// for their strings and one for their bytes, and gives up, leaving the
// message to the codec, on anything whose meaning it is not sure of.

package memberlist

import (
	"encoding/binary"
	"math"
	"unsafe"
)

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
	word uint64 // keyWord(name), to match a key without a call per field
}

// fld makes an mpField.
func fld(name string, kind mpKind, max uint64) mpField {
	return mpField{name: name, kind: kind, max: max, word: keyWord([]byte(name))}
}

// keyWord is the first eight bytes of key, zero-padded. With the length it
// tells the keys of one struct apart (SourceAddr, SourceNode and SourcePort
// differ in their seventh byte), so parse compares the rest of a key only
// when it is longer.
func keyWord(key []byte) uint64 {
	if len(key) >= 8 {
		return binary.LittleEndian.Uint64(key)
	}
	var w uint64
	for i := len(key) - 1; i >= 0; i-- {
		w = w<<8 | uint64(key[i])
	}
	return w
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
	end  int // after a parse that succeeded, the value's length in buf
	vals [mpMaxFields]mpVal
	nStr int // bytes of all string fields together
	nBin int // bytes of all []byte fields together
	strs string
	bins []byte
}

var (
	pingFields = []mpField{
		fld("SeqNo", mpKindUint, math.MaxUint32), fld("Node", mpKindStr, 0),
		fld("SourceAddr", mpKindBytes, 0), fld("SourcePort", mpKindUint, math.MaxUint16), fld("SourceNode", mpKindStr, 0),
	}
	indirectPingFields = []mpField{
		fld("SeqNo", mpKindUint, math.MaxUint32), fld("Target", mpKindBytes, 0), fld("Port", mpKindUint, math.MaxUint16),
		fld("Node", mpKindStr, 0), fld("Nack", mpKindBool, 0),
		fld("SourceAddr", mpKindBytes, 0), fld("SourcePort", mpKindUint, math.MaxUint16), fld("SourceNode", mpKindStr, 0),
	}
	ackFields  = []mpField{fld("SeqNo", mpKindUint, math.MaxUint32), fld("Payload", mpKindBytes, 0)}
	nackFields = []mpField{fld("SeqNo", mpKindUint, math.MaxUint32)}
	// suspect and dead
	accusationFields = []mpField{fld("Incarnation", mpKindUint, math.MaxUint32), fld("Node", mpKindStr, 0), fld("From", mpKindStr, 0)}
	aliveFields      = []mpField{
		fld("Incarnation", mpKindUint, math.MaxUint32), fld("Node", mpKindStr, 0), fld("Addr", mpKindBytes, 0),
		fld("Port", mpKindUint, math.MaxUint16), fld("Meta", mpKindBytes, 0), fld("Vsn", mpKindBytes, 0),
	}
	nodeStateFields = []mpField{
		fld("Name", mpKindStr, 0), fld("Addr", mpKindBytes, 0), fld("Port", mpKindUint, math.MaxUint16),
		fld("Meta", mpKindBytes, 0), fld("Incarnation", mpKindUint, math.MaxUint32), fld("State", mpKindInt, 0),
		fld("Vsn", mpKindBytes, 0),
	}
	pushPullHeaderFields = []mpField{fld("Nodes", mpKindInt, 0), fld("UserStateLen", mpKindInt, 0), fld("Join", mpKindBool, 0)}
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
		*m = d.alive()
	case *pushNodeState:
		if m == nil || !m.isZero() || !d.parse(buf, nodeStateFields) {
			return false
		}
		d.alloc()
		*m = d.pushNodeState()
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
		kw := keyWord(key)
		j := -1
		for i := range fields {
			f := &fields[i]
			if f.word == kw && len(f.name) == len(key) && (len(key) <= 8 || string(key[8:]) == f.name[8:]) {
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
	d.end = p
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

// alloc makes the one allocation every string and []byte field is cut
// from, and copies the fields into it.
func (d *fastDec) alloc() {
	if d.nStr+d.nBin == 0 {
		return
	}
	d.cut(make([]byte, d.nStr+d.nBin))
}

// allocIn is alloc, but cuts the fields from a's chunks instead of making
// an allocation of their own.
func (d *fastDec) allocIn(a *decodeArena) {
	if d.nStr+d.nBin == 0 {
		return
	}
	d.cut(a.take(d.nStr + d.nBin))
}

// viewIn is allocIn without the copy: each field stays where parse found
// it, in d.buf, whose bytes the caller must leave alone while the fields
// are in use. It is false when a []byte field came as an array of numbers,
// which has no bytes to view; the caller then cuts the fields as usual.
func (d *fastDec) viewIn() bool {
	for i := range d.vals {
		v := &d.vals[i]
		if !v.set || v.isNil {
			continue
		}
		if v.kind == mpKindBytes && v.arr {
			return false
		}
		v.dst = v.off
	}
	if len(d.buf) > 0 {
		d.strs = unsafe.String(&d.buf[0], len(d.buf))
	}
	d.bins = d.buf
	return true
}

// cut copies the fields into p: the strings first, then the []byte fields,
// each capped at its end (see bytes), so that no one holding a []byte can
// write into a string or a neighbour. The string part is never written
// again, which makes the strings over it safe.
func (d *fastDec) cut(p []byte) {
	sOff, bOff := 0, d.nStr
	for i := range d.vals {
		v := &d.vals[i]
		if !v.set || v.isNil {
			continue
		}
		switch v.kind {
		case mpKindStr:
			copy(p[sOff:], d.buf[v.off:v.off+v.n])
			v.dst = sOff
			sOff += v.n
		case mpKindBytes:
			v.dst = bOff - d.nStr
			if !v.arr {
				copy(p[bOff:], d.buf[v.off:v.off+v.n])
			} else {
				q := v.off
				for k := range v.n {
					u, _, nq, _ := d.int(q)
					p[bOff+k] = byte(u)
					q = nq
				}
			}
			bOff += v.n
		}
	}
	if d.nStr > 0 {
		d.strs = unsafe.String(&p[0], d.nStr)
	}
	d.bins = p[d.nStr:]
}

// decodeArena hands out the memory of many decoded messages' fields from
// shared chunks: a push/pull of N members would otherwise make 2N small
// allocations. Bytes handed out are never written again, so strings may be
// made over them.
type decodeArena struct{ buf []byte }

// decodeArenaChunk is the size of an arena's chunks: a member's entry
// takes some 20 to 60 bytes of names and addresses.
const decodeArenaChunk = 16 << 10

// take returns n fresh bytes.
func (a *decodeArena) take(n int) []byte {
	if n > cap(a.buf)-len(a.buf) {
		if n > decodeArenaChunk/4 {
			return make([]byte, n)
		}
		a.buf = make([]byte, 0, decodeArenaChunk)
	}
	off := len(a.buf)
	a.buf = a.buf[:off+n]
	return a.buf[off : off+n : off+n]
}

// decodePushNodeState is decodeMsg for one push/pull entry, its fields cut
// from a. The entry is at the start of held, bytes that may run on past it
// (the rest of a message in memory, or a stream's buffer), and is decoded in
// one parse: no scan for its end first and no copy. It returns the entry's
// length, or false, having touched nothing, when the fast decoder is off,
// the entry is not whole in held, is longer than limit, or is not one the
// fast decoder is sure of; the caller then reads it the general way.
//
// With a nil arena the fields are views of held, which the caller then
// keeps unchanged for as long as m is in use (see memReader).
func decodePushNodeState(held []byte, limit int, m *pushNodeState, a *decodeArena) (int, bool) {
	if wireFastOff.Load() || !m.isZero() {
		return 0, false
	}
	var d fastDec
	if !d.parse(held, nodeStateFields) || d.end > limit {
		return 0, false
	}
	if a != nil {
		d.allocIn(a)
	} else if !d.viewIn() {
		return 0, false
	}
	*m = d.pushNodeState()
	return d.end, true
}

// pushNodeState is the push/pull entry parse read, with nodeStateFields,
// once its fields are cut.
func (d *fastDec) pushNodeState() pushNodeState {
	return pushNodeState{Name: d.str(0), Addr: d.bytes(1), Port: uint16(d.vals[2].num), Meta: d.bytes(3),
		Incarnation: uint32(d.vals[4].num), State: NodeStateType(int64(d.vals[5].num)), Vsn: d.bytes(6)}
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

// accusationView decodes the body of a suspect or dead message with its
// two names as views of body, not copies: for handleNews, which keeps
// neither (a suspicion keeps only a hash of an accuser's name, see
// accuserKey), where the copies were every allocation a partition's
// gossip made in decoding. ok is false where decodeFast would fail; the
// caller then decodes the general way.
func accusationView(body []byte) (inc uint32, node, from string, ok bool) {
	var d fastDec
	if wireFastOff.Load() || !d.parse(body, accusationFields) {
		return 0, "", "", false
	}
	return uint32(d.vals[0].num), d.strView(1), d.strView(2), true
}

// strView is string field i as a view of the parsed bytes, "" when absent,
// nil or empty.
func (d *fastDec) strView(i int) string {
	v := &d.vals[i]
	if !v.set || v.isNil || v.n == 0 {
		return ""
	}
	return unsafe.String(&d.buf[v.off], v.n)
}

// alive is the alive message parse read, with aliveFields, once its fields
// are cut or viewed.
func (d *fastDec) alive() alive {
	return alive{Incarnation: uint32(d.vals[0].num), Node: d.str(1), Addr: d.bytes(2),
		Port: uint16(d.vals[3].num), Meta: d.bytes(4), Vsn: d.bytes(5)}
}

// aliveView decodes the body of an alive message into a, its name, address,
// metadata and versions as views of body, not copies: for handleNews, whose
// aliveNode copies or interns all it keeps (see core.info) and gives
// delegates clones. It is false, with a untouched, where decodeFast would
// fail or a field came as an array of numbers; the caller then decodes the
// general way.
func aliveView(body []byte, a *alive) bool {
	var d fastDec
	if wireFastOff.Load() || !d.parse(body, aliveFields) || !d.viewIn() {
		return false
	}
	*a = d.alive()
	return true
}

// newsSubject is the name of the member an alive, suspect or dead message
// body is about, as a view of body (not to be kept), without decoding the
// rest: it only guides memberTable.warm, so a body it cannot read is simply
// not warmed. Reading with aliveFields serves all three: the parser skips
// the keys it does not know (an accusation's From).
func newsSubject(body []byte) (string, bool) {
	if name, ok := subjectAsEncoded(body); ok {
		return name, true
	}
	var d fastDec
	if !d.parse(body, aliveFields) {
		return "", false
	}
	name := d.strView(1) // Node
	return name, name != ""
}

// subjectAsEncoded is newsSubject for a body laid out as the encoders of
// these messages write it (keys in order, so Node comes after Addr,
// Incarnation and Meta, or after From and Incarnation): a small map of
// short string keys whose values before Node are strings, byte strings,
// unsigned integers or nil. It skips those values by their headers alone
// and stops at Node, where the general parse walks every field with its
// table (a join storm's news was parsed a third more for warming than for
// handling). Any other layout is left to the general parse. It may name a
// member that a duplicate key would override: that only warms the wrong
// slot.
func subjectAsEncoded(b []byte) (string, bool) {
	if len(b) == 0 || b[0]&0xf0 != 0x80 {
		return "", false
	}
	p := 1
	for range int(b[0] & 0x0f) {
		if p >= len(b) || b[p]&0xe0 != 0xa0 { // a fixstr key
			return "", false
		}
		k := int(b[p] & 0x1f)
		if len(b) < p+1+k+1 {
			return "", false
		}
		node := string(b[p+1:p+1+k]) == "Node"
		p += 1 + k
		// The value's header: its length n, and where its bytes start.
		c := b[p]
		n := 0
		switch {
		case c < 0x80 || c == 0xc0: // positive fixint, nil
			p++
		case c&0xe0 == 0xa0: // fixstr
			n, p = int(c&0x1f), p+1
		case (c == 0xd9 || c == 0xc4) && len(b) > p+1: // str8, bin8
			n, p = int(b[p+1]), p+2
		case (c == 0xda || c == 0xc5) && len(b) > p+2: // str16, bin16
			n, p = int(b[p+1])<<8|int(b[p+2]), p+3
		case c >= 0xcc && c <= 0xcf: // uint8 to uint64
			p += 1 + 1<<(c-0xcc)
		default:
			return "", false
		}
		if node {
			if (c < 0xa0 || c > 0xbf) && c != 0xd9 && c != 0xda || n == 0 || len(b) < p+n {
				return "", false // not a string, or an empty or cut one
			}
			return unsafe.String(&b[p], n), true
		}
		p += n
	}
	return "", false
}
