// This file owns the wire format shared with hashicorp/memberlist: message
// type codes, the msgpack structs whose Go field names are the map keys on the
// wire, and pure helpers that build and take apart packets (compound, CRC)
// and stream bodies (push/pull, user messages). LZW compression is in
// compress.go, the bounded reading of msgpack values from a stream in
// msgpack_read.go. Nothing here
// opens sockets, starts goroutines or reads a clock; readers are handed in.

package memberlist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// messageType is the first byte of every packet and stream message. The
// numeric values are the protocol: new codes may only ever be appended.
type messageType uint8

const (
	pingMsg messageType = iota
	indirectPingMsg
	ackRespMsg
	suspectMsg
	aliveMsg
	deadMsg
	pushPullMsg
	compoundMsg
	userMsg // opaque payload for the Delegate
	compressMsg
	encryptMsg
	nackRespMsg
	hasCrcMsg
	errMsg
)

// String names the message type for logs; unknown codes print their number
// so that a garbled packet can still be diagnosed.
func (t messageType) String() string {
	switch t {
	case pingMsg:
		return "ping"
	case indirectPingMsg:
		return "indirect-ping"
	case ackRespMsg:
		return "ack"
	case suspectMsg:
		return "suspect"
	case aliveMsg:
		return "alive"
	case deadMsg:
		return "dead"
	case pushPullMsg:
		return "push-pull"
	case compoundMsg:
		return "compound"
	case userMsg:
		return "user"
	case compressMsg:
		return "compress"
	case encryptMsg:
		return "encrypt"
	case nackRespMsg:
		return "nack"
	case hasCrcMsg:
		return "has-crc"
	case errMsg:
		return "err"
	case 244: // label header; its constant lives with the label code
		return "has-label"
	}
	return "messageType(" + strconv.Itoa(int(t)) + ")"
}

// compressionType selects the algorithm inside a compressMsg. LZW is the only
// one the protocol has ever defined.
type compressionType uint8

const (
	lzwAlgo compressionType = iota
)

// Limits on what a peer may make us buffer. The byte sizes are the
// reference's, so that anything a reference node legitimately sends is
// accepted here.
const (
	// maxPushStateBytes bounds the user state in a push/pull and the whole
	// encrypted push/pull body.
	maxPushStateBytes = 20 * 1024 * 1024

	// maxPushStateNodes bounds the node count a push/pull header may claim.
	maxPushStateNodes = 1024 * 1024

	// maxUserMsgBytes bounds a user message received over a stream.
	maxUserMsgBytes = 20 * 1024 * 1024

	// maxDecompressedSize bounds what one compressMsg may expand to: a
	// compressed push/pull carries up to maxPushStateBytes of user state
	// plus as much again of node state.
	maxDecompressedSize = 2 * maxPushStateBytes

	// maxPushNodesBytes bounds the encoded size of all node states in one
	// push/pull, so that a stream which never ends cannot grow memory
	// without limit. It matches the largest body a compressed push/pull can
	// carry.
	maxPushNodesBytes = maxDecompressedSize

	// maxStreamHeaderBytes bounds small framing values read off a stream
	// (push/pull and user message headers), which are tens of bytes.
	maxStreamHeaderBytes = 64 * 1024

	// maxStreamValueBytes bounds a single message such as a ping or ack
	// read off a stream by decodeFromReader.
	maxStreamValueBytes = maxUserMsgBytes

	// maxCompressedStreamBytes bounds the compress envelope of a stream
	// message. LZW with 8-bit literals and codes of at most 12 bits expands
	// incompressible input by up to half, and the reference bounds only the
	// decompressed size, so the envelope needs that much room.
	maxCompressedStreamBytes = maxDecompressedSize*3/2 + 64*1024

	// maxCompoundParts is the most messages one compound can hold: its
	// count is a single byte.
	maxCompoundParts = 255

	// maxCompoundPartLen is the longest part a compound can frame: each
	// length is a big-endian uint16.
	maxCompoundPartLen = 1<<16 - 1

	// lzwLitWidth is the LZW literal width, fixed by the protocol.
	lzwLitWidth = 8

	// maxMsgpackDepth bounds container nesting in anything we decode. Real
	// messages nest two deep (a struct holding Vsn); the bound keeps the
	// codec's recursion from exhausting the stack on hostile input.
	maxMsgpackDepth = 32
)

// ping asks a node to prove it is alive. Node lets the target reject a ping
// meant for a previous owner of its address.
type ping struct {
	SeqNo uint32
	Node  string

	// Where to reply directly, for senders behind an address the target
	// would not otherwise know.
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

// indirectPingReq asks a helper to probe Target on the sender's behalf.
type indirectPingReq struct {
	SeqNo  uint32
	Target []byte
	Port   uint16
	Node   string
	Nack   bool // the sender wants a nack if the helper hears nothing

	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

// ackResp answers a ping; Payload comes from the PingDelegate.
type ackResp struct {
	SeqNo   uint32
	Payload []byte
}

// nackResp tells the origin of an indirect probe that the helper got no ack,
// which separates "target down" from "helper unreachable".
type nackResp struct {
	SeqNo uint32
}

// errResp carries a failure from the remote end of a stream.
type errResp struct {
	Error string
}

// suspect accuses Node of having failed; From is the accuser.
type suspect struct {
	Incarnation uint32
	Node        string
	From        string
}

// alive announces Node at an incarnation; it doubles as the join message.
type alive struct {
	Incarnation uint32
	Node        string
	Addr        []byte
	Port        uint16
	Meta        []byte

	// Vsn is pmin, pmax, pcur, dmin, dmax, dcur in that order.
	Vsn []uint8
}

// dead declares Node failed; when From == Node the node is leaving.
type dead struct {
	Incarnation uint32
	Node        string
	From        string
}

// pushPullHeader precedes the node states and user state of a push/pull.
type pushPullHeader struct {
	Nodes        int
	UserStateLen int
	Join         bool
}

// userMsgHeader precedes the raw bytes of a user message sent over a stream.
type userMsgHeader struct {
	UserMsgLen int
}

// pushNodeState is one member as carried in a push/pull.
type pushNodeState struct {
	Name        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Incarnation uint32
	State       NodeStateType
	Vsn         []uint8
}

// compress wraps a whole message compressed with Algo.
type compress struct {
	Algo compressionType
	Buf  []byte
}

// The codec handles. The reference builds a fresh MsgpackHandle{} for every
// call and only ever sets TimeNotBuiltin (to !MsgpackUseNewTimeFormat) when
// encoding; WriteExt and RawToString stay false, so []byte and string both go
// out as legacy msgpack raw. Handles are safe to share once configured, and
// sharing keeps the codec's per-type cache warm.
var (
	// msgpackNewTime encodes with the builtin time format and decodes
	// everything: the reference decodes with a zero handle too.
	msgpackNewTime = &codec.MsgpackHandle{}

	// msgpackLegacyTime encodes time.Time via MarshalBinary, which is what
	// nodes without MsgpackUseNewTimeFormat expect.
	msgpackLegacyTime = func() *codec.MsgpackHandle {
		h := &codec.MsgpackHandle{}
		h.TimeNotBuiltin = true
		return h
	}()
)

func encodeHandle(newTimeFormat bool) *codec.MsgpackHandle {
	if newTimeFormat {
		return msgpackNewTime
	}
	return msgpackLegacyTime
}

// encodeMsg returns the type byte followed by v in msgpack. The hot
// message types take the hand-written path in wirefast.go, which writes the
// same bytes as the codec into a buffer of exactly the message's size.
func encodeMsg(t messageType, v any, newTimeFormat bool) ([]byte, error) {
	if m := fastWireMsg(v); m != nil && !wireFastOff.Load() {
		return encodeFast(t, m), nil
	}
	return encodeMsgCodec(t, v, newTimeFormat)
}

// encodeMsgCodec is encodeMsg through the reflection codec alone.
func encodeMsgCodec(t messageType, v any, newTimeFormat bool) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(128)
	buf.WriteByte(byte(t))
	if err := codec.NewEncoder(&buf, encodeHandle(newTimeFormat)).Encode(v); err != nil {
		return nil, fmt.Errorf("encode %s message: %w", t, err)
	}
	return buf.Bytes(), nil
}

// decodeMsg decodes one msgpack value from buf, the body after the type
// byte, into out. Bytes after the value are ignored, as the reference does.
// Decoded []byte fields never alias buf, so the caller may reuse it.
func decodeMsg(buf []byte, out any) (err error) {
	return decodeMsgWith(nil, buf, out)
}

// decodeMsgWith is decodeMsg reusing dec (when non-nil) instead of building
// a decoder per message: a push/pull of many small node states would
// otherwise allocate far more than it carries.
//
// The hot message types go through the hand-written decoder in wirefast.go
// first; it hands anything it is not sure of to the codec.
func decodeMsgWith(dec *codec.Decoder, buf []byte, out any) (err error) {
	if !wireFastOff.Load() && decodeFast(buf, out) {
		return nil
	}
	return decodeMsgCodec(dec, buf, out)
}

// decodeMsgCodec is decodeMsgWith through the reflection codec alone.
func decodeMsgCodec(dec *codec.Decoder, buf []byte, out any) (err error) {
	// Walk the value first: it bounds nesting, which the codec would
	// otherwise follow recursively, and catches truncation and lying
	// lengths before the codec sizes anything by them.
	var s msgpackScanner
	done, _, err := s.scan(buf, len(buf))
	if err != nil {
		return fmt.Errorf("decode message: %w; drop the message", err)
	}
	if !done {
		return fmt.Errorf("decode message: body is truncated: %w; drop the message", io.ErrUnexpectedEOF)
	}
	// The codec turns its internal panics into errors; this is a second
	// line so that no packet can ever take the process down.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode message: codec failed on malformed input: %v; drop the message", r)
		}
	}()
	if dec == nil {
		dec = codec.NewDecoderBytes(buf[:s.pos], msgpackNewTime)
	} else {
		dec.ResetBytes(buf[:s.pos])
	}
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("decode message: %w; drop the message", err)
	}
	return nil
}

// makeCompound packs msgs into one compoundMsg: the type byte, a count byte,
// one big-endian uint16 length per part, then the parts back to back.
//
// The framing cannot express more than 255 parts or a part longer than
// 65535 bytes. Such parts are left out rather than written corrupt: a part
// that long cannot fit in a packet anyway, and callers with more than 255
// messages should use nextCompound, which splits instead.
func makeCompound(msgs [][]byte) []byte {
	return makeCompoundAfter(0, msgs)
}

// makeCompoundAfter is makeCompound into a buffer whose first head bytes
// are left free: the compound is buf[head:]. With head crcHeaderLen, the
// checksum header goes in front without a copy (see rawSendAfter).
func makeCompoundAfter(head int, msgs [][]byte) []byte {
	n, size := 0, head+2
	for _, m := range msgs {
		if n == maxCompoundParts {
			break
		}
		if len(m) > maxCompoundPartLen {
			continue
		}
		n++
		size += 2 + len(m)
	}
	out := getPacketBuf(size)[:head+2+2*n]
	out[head] = byte(compoundMsg)
	out[head+1] = byte(n)
	i := 0
	for _, m := range msgs {
		if i == n {
			break
		}
		if len(m) > maxCompoundPartLen {
			continue
		}
		binary.BigEndian.PutUint16(out[head+2+2*i:], uint16(len(m)))
		out = append(out, m...)
		i++
	}
	return out
}

// packetBufCap is the room of the buffers packets are built in: a
// datagram's worth (UDPBufferSize is 1,400 by default) and the checksum
// header in front.
const packetBufCap = 1536

// packetPool holds packet buffers (*[]byte, each packetBufCap) given back by
// a driver that knows nobody reads them any more: the simulator, once the
// receiving core has handled a packet. A busy simulation sends millions,
// and at 10,000 nodes they were half of what it allocated.
var packetPool sync.Pool

// getPacketBuf returns a buffer of n bytes for a packet, from the pool when
// it fits one; their contents are not cleared.
func getPacketBuf(n int) []byte {
	if n > packetBufCap {
		return make([]byte, n)
	}
	if p, ok := packetPool.Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, packetBufCap)
}

// putPacketBuf gives back buf, a packet built by getPacketBuf, that nobody
// may read or write afterwards. Anything else is left to the collector.
func putPacketBuf(buf []byte) {
	if cap(buf) != packetBufCap {
		return
	}
	buf = buf[:0]
	packetPool.Put(&buf)
}

// nextCompound packs the first of msgs, as many as the 255-part limit
// allows, into one compound after head free bytes (see makeCompoundAfter),
// and returns the messages left for the next: a caller with any number of
// messages calls it until none are left.
func nextCompound(head int, msgs [][]byte) (compound []byte, rest [][]byte) {
	k := min(len(msgs), maxCompoundParts)
	return makeCompoundAfter(head, msgs[:k]), msgs[k:]
}

// splitCompound takes apart buf, the bytes after the compoundMsg type byte,
// appending its parts to dst (which may be a caller's array on the stack:
// every datagram of gossip is a compound). Parts alias buf, capped so that
// appending to one cannot overwrite the next. If buf ends early the whole
// parts before the cut are returned and truncated counts the ones lost,
// which the reference treats as a warning, not a failure. err is set only
// when the header itself is cut short.
func splitCompound(dst [][]byte, buf []byte) (parts [][]byte, truncated int, err error) {
	if len(buf) < 1 {
		return nil, 0, errors.New("split compound message: missing part count byte; drop the packet")
	}
	n := int(buf[0])
	lens := buf[1:]
	if len(lens) < 2*n {
		return nil, 0, fmt.Errorf("split compound message: header declares %d parts but holds only %d length bytes; drop the packet", n, len(lens))
	}
	body := lens[2*n:]
	parts = slices.Grow(dst, n)
	for i := range n {
		l := int(binary.BigEndian.Uint16(lens[2*i:]))
		if len(body) < l {
			return parts, n - i, nil
		}
		parts = append(parts, body[:l:l])
		body = body[l:]
	}
	return parts, 0, nil
}

// addCRC prefixes msg with hasCrcMsg and its big-endian CRC-32 (IEEE), which
// the reference sends to peers speaking protocol 5 or later.
func addCRC(msg []byte) []byte {
	out := make([]byte, crcHeaderLen+len(msg))
	copy(out[crcHeaderLen:], msg)
	putCRCHeader(out)
	return out
}

// crcHeaderLen is the length of the header addCRC puts in front: the
// hasCrcMsg type byte and the checksum.
const crcHeaderLen = 5

// putCRCHeader writes the header of addCRC into buf's first crcHeaderLen
// bytes, for the message that follows them.
func putCRCHeader(buf []byte) {
	buf[0] = byte(hasCrcMsg)
	binary.BigEndian.PutUint32(buf[1:crcHeaderLen], crc32.ChecksumIEEE(buf[crcHeaderLen:]))
}

// checkCRC verifies buf, the bytes after the hasCrcMsg type byte, and
// returns the message it protects (aliasing buf).
func checkCRC(buf []byte) ([]byte, error) {
	if len(buf) < 4 {
		return nil, fmt.Errorf("check CRC: need 4 checksum bytes, got %d; drop the packet", len(buf))
	}
	want := binary.BigEndian.Uint32(buf[:4])
	msg := buf[4:]
	if got := crc32.ChecksumIEEE(msg); got != want {
		return nil, fmt.Errorf("check CRC: checksum %08x does not match header %08x; the packet was corrupted, drop it", got, want)
	}
	return msg, nil
}

// encodePushPull builds a whole push/pull message: the type byte, the
// header, each node state, then the raw user state. Encryption, compression
// and labels are layered on by the caller.
func encodePushPull(join bool, states []pushNodeState, userState []byte, newTimeFormat bool) ([]byte, error) {
	hdr := pushPullHeader{Nodes: len(states), UserStateLen: len(userState), Join: join}
	if !wireFastOff.Load() {
		size := 0
		for i := range states {
			size += states[i].wireLen()
		}
		b := startPushPull(join, len(states), size, userState)
		for i := range states {
			b = states[i].appendWire(b)
		}
		return append(b, userState...), nil
	}
	var buf bytes.Buffer
	buf.Grow(32 + 64*len(states) + len(userState))
	buf.WriteByte(byte(pushPullMsg))
	enc := codec.NewEncoder(&buf, encodeHandle(newTimeFormat))
	if err := enc.Encode(&hdr); err != nil {
		return nil, fmt.Errorf("encode push/pull header: %w", err)
	}
	for i := range states {
		if err := enc.Encode(&states[i]); err != nil {
			return nil, fmt.Errorf("encode push/pull node %q: %w", states[i].Name, err)
		}
	}
	buf.Write(userState)
	return buf.Bytes(), nil
}

// startPushPull begins a push/pull message by the hand-written encoder:
// the type byte and the header for nStates node states of size bytes in
// all, then user, with room for all of them. The caller appends the states,
// then user.
func startPushPull(join bool, nStates, size int, user []byte) []byte {
	hdr := pushPullHeader{Nodes: nStates, UserStateLen: len(user), Join: join}
	b := append(getPushBuf(1+hdr.wireLen()+size+len(user)), byte(pushPullMsg))
	return hdr.appendWire(b)
}

// minPushEntryBytes is the least a push/pull entry as the reference (or
// this package) writes it takes on the wire: a map of its seven field
// names, 42 bytes, and a byte or more for each value.
const minPushEntryBytes = 50

// decodePushPull reads a push/pull body from r, positioned after the
// pushPullMsg type byte. It reads exactly the bytes of the message and no
// more, so r may be shared with what follows; a buffered reader avoids many
// small reads. maxNodes caps the node count (values <= 0, or above
// maxPushStateNodes, mean maxPushStateNodes). Lengths are checked before
// anything is allocated for them, and memory grows only as bytes actually
// arrive. userState is nil when the peer sent none.
func decodePushPull(r io.Reader, maxNodes int) (join bool, states []pushNodeState, userState []byte, err error) {
	if maxNodes <= 0 || maxNodes > maxPushStateNodes {
		maxNodes = maxPushStateNodes
	}
	var hdr pushPullHeader
	raw, err := readMsgpackValue(r, nil, maxStreamHeaderBytes)
	if err != nil {
		return false, nil, nil, fmt.Errorf("read push/pull header: %w; close the stream", err)
	}
	if err := decodeMsg(raw, &hdr); err != nil {
		return false, nil, nil, fmt.Errorf("read push/pull header: %w", err)
	}
	if hdr.Nodes < 0 || hdr.Nodes > maxNodes {
		return false, nil, nil, fmt.Errorf("read push/pull: header claims %d nodes, limit is %d; close the stream", hdr.Nodes, maxNodes)
	}
	if hdr.UserStateLen < 0 || hdr.UserStateLen > maxPushStateBytes {
		return false, nil, nil, fmt.Errorf("read push/pull: header claims %d bytes of user state, limit is %d; close the stream", hdr.UserStateLen, maxPushStateBytes)
	}

	// The states are decoded into blocks, each allocated only once the one
	// before is full, so a header that lies about the count costs no
	// memory, and a large state is copied once at the end rather than at
	// every doubling of one slice.
	var blocks [][]pushNodeState
	first := min(hdr.Nodes, 1024)
	if held, ok := r.(interface{ Len() int }); ok && held.Len() >= hdr.Nodes*minPushEntryBytes {
		// The whole body is in memory and long enough for the count: one
		// slice, with no copy at the end, and no more memory than the
		// bytes already held could decode into anyway.
		first = hdr.Nodes
	}
	cur := getPushStates(first)
	budget := maxPushNodesBytes
	dec := codec.NewDecoderBytes(nil, msgpackNewTime)
	// Entries of a message in memory are views of it: the memReader's
	// owner keeps its bytes as they are while the states are in use.
	// Others are cut from an arena, since r's buffer is reused.
	arena := new(decodeArena)
	if _, inMemory := r.(*memReader); inMemory {
		arena = nil
	}
	for i := range hdr.Nodes {
		if len(cur) == cap(cur) {
			blocks = append(blocks, cur)
			cur = make([]pushNodeState, 0, min(hdr.Nodes-i, 8192))
		}
		cur = append(cur, pushNodeState{})
		if held := heldBytes(r); held != nil {
			if n, ok := decodePushNodeState(held, budget, &cur[len(cur)-1], arena); ok {
				budget -= n
				discardHeld(r, n)
				continue
			}
		}
		raw, err = readMsgpackValue(r, raw[:0], budget)
		if err != nil {
			return false, nil, nil, fmt.Errorf("read push/pull node %d of %d: %w; close the stream", i+1, hdr.Nodes, err)
		}
		budget -= len(raw)
		if _, ok := decodePushNodeState(raw, len(raw), &cur[len(cur)-1], arena); ok {
			continue
		}
		if err := decodeMsgWith(dec, raw, &cur[len(cur)-1]); err != nil {
			return false, nil, nil, fmt.Errorf("read push/pull node %d of %d: %w", i+1, hdr.Nodes, err)
		}
	}
	states = cur
	if blocks != nil {
		states = slices.Concat(append(blocks, cur)...)
	}

	if hdr.UserStateLen > 0 {
		userState, err = readFull(r, hdr.UserStateLen)
		if err != nil {
			return false, nil, nil, fmt.Errorf("read push/pull user state (%d bytes): %w; close the stream", hdr.UserStateLen, err)
		}
	}
	return hdr.Join, states, userState, nil
}

// encodeUserMsgStream builds a user message for a stream: the type byte, a
// header carrying the length, then msg itself.
func encodeUserMsgStream(msg []byte, newTimeFormat bool) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(16 + len(msg))
	buf.WriteByte(byte(userMsg))
	hdr := userMsgHeader{UserMsgLen: len(msg)}
	if err := codec.NewEncoder(&buf, encodeHandle(newTimeFormat)).Encode(&hdr); err != nil {
		return nil, fmt.Errorf("encode user message header: %w", err)
	}
	buf.Write(msg)
	return buf.Bytes(), nil
}

// decodeUserMsgStream reads a user message from r, positioned after the
// userMsg type byte. maxLen caps its length (values <= 0, or above
// maxUserMsgBytes, mean maxUserMsgBytes). An empty message returns nil:
// the reference delivers nothing in that case.
func decodeUserMsgStream(r io.Reader, maxLen int) ([]byte, error) {
	if maxLen <= 0 || maxLen > maxUserMsgBytes {
		maxLen = maxUserMsgBytes
	}
	raw, err := readMsgpackValue(r, nil, maxStreamHeaderBytes)
	if err != nil {
		return nil, fmt.Errorf("read user message header: %w; close the stream", err)
	}
	var hdr userMsgHeader
	if err := decodeMsg(raw, &hdr); err != nil {
		return nil, fmt.Errorf("read user message header: %w", err)
	}
	if hdr.UserMsgLen < 0 || hdr.UserMsgLen > maxLen {
		return nil, fmt.Errorf("read user message: header claims %d bytes, limit is %d; close the stream", hdr.UserMsgLen, maxLen)
	}
	if hdr.UserMsgLen == 0 {
		return nil, nil
	}
	msg, err := readFull(r, hdr.UserMsgLen)
	if err != nil {
		return nil, fmt.Errorf("read user message (%d bytes): %w; close the stream", hdr.UserMsgLen, err)
	}
	return msg, nil
}

// decodeFromReader reads exactly one msgpack value from r (at most
// maxStreamValueBytes) and decodes it into out. Streams carry pings, acks and
// errors this way.
func decodeFromReader(r io.Reader, out any) error {
	return decodeFromReaderLimit(r, out, maxStreamValueBytes)
}

// decodeFromReaderLimit is decodeFromReader for a value of up to limit
// bytes.
func decodeFromReaderLimit(r io.Reader, out any, limit int) error {
	raw, err := readMsgpackValue(r, nil, limit)
	if err != nil {
		return fmt.Errorf("read message from stream: %w; close the stream", err)
	}
	return decodeMsg(raw, out)
}
