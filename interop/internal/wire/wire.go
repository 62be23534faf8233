// Package wire owns the interop harness's independent reading of the memberlist wire
// format: it peels label headers, encryption, CRC, compression and compound framing off
// captured datagrams and streams, and decodes the message bodies into plain structs.
//
// It exists so the mixed-cluster tests can assert on what each implementation actually put
// on the wire (who suspected whom, which encryption version, whether a probe went
// indirect or over TCP, what state a node pushed), and so cmd/wiregen can describe the
// golden vectors it captures. It is written from the protocol facts only and is
// deliberately separate from both implementations: a bug in either one cannot hide here.
package wire

import (
	"bytes"
	"compress/lzw"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// Message type codes. The numbers are the protocol; they never change.
const (
	Ping         byte = 0
	IndirectPing byte = 1
	Ack          byte = 2
	Suspect      byte = 3
	Alive        byte = 4
	Dead         byte = 5
	PushPull     byte = 6
	Compound     byte = 7
	User         byte = 8
	Compress     byte = 9
	Encrypt      byte = 10
	Nack         byte = 11
	HasCRC       byte = 12
	Err          byte = 13
	HasLabel     byte = 244
)

// Node states as carried in push/pull entries.
const (
	StateAlive   = 0
	StateSuspect = 1
	StateDead    = 2
	StateLeft    = 3
)

// TypeName gives a readable name for a message type code, for logs and golden headers.
func TypeName(t byte) string {
	names := map[byte]string{
		Ping: "ping", IndirectPing: "indirect-ping", Ack: "ack", Suspect: "suspect",
		Alive: "alive", Dead: "dead", PushPull: "push-pull", Compound: "compound",
		User: "user", Compress: "compress", Encrypt: "encrypt", Nack: "nack",
		HasCRC: "crc", Err: "err", HasLabel: "label",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("type-%d", t)
}

// PingMsg is a direct probe.
type PingMsg struct {
	SeqNo      uint32
	Node       string
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

// IndirectPingMsg asks an intermediary to probe Node on the sender's behalf.
type IndirectPingMsg struct {
	SeqNo      uint32
	Target     []byte
	Port       uint16
	Node       string
	Nack       bool
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

// AckMsg answers a probe.
type AckMsg struct {
	SeqNo   uint32
	Payload []byte
}

// NackMsg tells an indirect prober that the intermediary did not hear from the target.
type NackMsg struct {
	SeqNo uint32
}

// ErrMsg carries a stream-level error back to the initiator.
type ErrMsg struct {
	Error string
}

// SuspectMsg accuses a node.
type SuspectMsg struct {
	Incarnation uint32
	Node        string
	From        string
}

// AliveMsg announces or refutes.
type AliveMsg struct {
	Incarnation uint32
	Node        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Vsn         []uint8
}

// DeadMsg declares a node dead, or left when From equals Node.
type DeadMsg struct {
	Incarnation uint32
	Node        string
	From        string
}

// PushPullHeader opens a state exchange.
type PushPullHeader struct {
	Nodes        int
	UserStateLen int
	Join         bool
}

// UserMsgHeader precedes a reliable user message on a stream.
type UserMsgHeader struct {
	UserMsgLen int
}

// PushNodeState is one member entry of a state exchange.
type PushNodeState struct {
	Name        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Incarnation uint32
	State       int
	Vsn         []uint8
}

// CompressMsg wraps an LZW-compressed payload.
type CompressMsg struct {
	Algo int
	Buf  []byte
}

func handle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.TimeNotBuiltin = true
	return h
}

// Decode unpacks one msgpack body into out.
func Decode(body []byte, out any) error {
	return codec.NewDecoderBytes(body, handle()).Decode(out)
}

// Encode builds a type byte followed by the msgpack body of v, as every packet message is.
func Encode(t byte, v any) []byte {
	out := []byte{t}
	var body []byte
	if err := codec.NewEncoderBytes(&body, handle()).Encode(v); err != nil {
		// Only our own fixed structs are passed in; failing here is a harness bug.
		panic(fmt.Sprintf("wire: encode %s: %v", TypeName(t), err))
	}
	return append(out, body...)
}

// EncodePushPull builds a plain (uncompressed, unencrypted) push/pull stream message.
func EncodePushPull(join bool, nodes []PushNodeState, user []byte) []byte {
	var buf []byte
	enc := codec.NewEncoderBytes(&buf, handle())
	if err := enc.Encode(&PushPullHeader{Nodes: len(nodes), UserStateLen: len(user), Join: join}); err != nil {
		panic(err)
	}
	for i := range nodes {
		if err := enc.Encode(&nodes[i]); err != nil {
			panic(err)
		}
	}
	out := append([]byte{PushPull}, buf...)
	return append(out, user...)
}

// MakeCompound frames several messages into one compound message.
func MakeCompound(msgs [][]byte) []byte {
	out := []byte{Compound, byte(len(msgs))}
	for _, m := range msgs {
		out = binary.BigEndian.AppendUint16(out, uint16(len(m)))
	}
	for _, m := range msgs {
		out = append(out, m...)
	}
	return out
}

// Envelope records how a message was wrapped on its way to the wire.
type Envelope struct {
	Label      string
	Encrypted  bool
	EncVersion byte
	KeyIndex   int // index into the key list that opened it; -1 when not encrypted
	CRC        bool
	Compressed bool
	Compound   bool
}

// Msg is one leaf message found in a datagram.
type Msg struct {
	Env  Envelope
	Type byte
	Body []byte
}

// Suspect decodes the body as a suspect message.
func (m Msg) Suspect() (s SuspectMsg, err error) { err = Decode(m.Body, &s); return }

// Alive decodes the body as an alive message.
func (m Msg) Alive() (a AliveMsg, err error) { err = Decode(m.Body, &a); return }

// Dead decodes the body as a dead message.
func (m Msg) Dead() (d DeadMsg, err error) { err = Decode(m.Body, &d); return }

// Ping decodes the body as a ping.
func (m Msg) Ping() (p PingMsg, err error) { err = Decode(m.Body, &p); return }

// IndirectPing decodes the body as an indirect ping request.
func (m Msg) IndirectPing() (p IndirectPingMsg, err error) { err = Decode(m.Body, &p); return }

// Ack decodes the body as an ack.
func (m Msg) Ack() (a AckMsg, err error) { err = Decode(m.Body, &a); return }

// Nack decodes the body as a nack.
func (m Msg) Nack() (n NackMsg, err error) { err = Decode(m.Body, &n); return }

// Decoded returns the message's body decoded into a pointer to its struct
// (*PingMsg, *AliveMsg, ...), or nil with no error for a type that has no
// struct (user messages, compound and other envelopes).
func (m Msg) Decoded() (any, error) {
	var v any
	switch m.Type {
	case Ping:
		v = &PingMsg{}
	case IndirectPing:
		v = &IndirectPingMsg{}
	case Ack:
		v = &AckMsg{}
	case Nack:
		v = &NackMsg{}
	case Suspect:
		v = &SuspectMsg{}
	case Alive:
		v = &AliveMsg{}
	case Dead:
		v = &DeadMsg{}
	default:
		return nil, nil
	}
	if err := Decode(m.Body, v); err != nil {
		return nil, err
	}
	return v, nil
}

// maxInflate guards the decompressor against bombs in captured traffic.
const maxInflate = 64 << 20

// StripLabel removes a label header if present.
func StripLabel(buf []byte) (rest []byte, label string, err error) {
	if len(buf) == 0 || buf[0] != HasLabel {
		return buf, "", nil
	}
	if len(buf) < 2 || int(buf[1]) == 0 || len(buf) < 2+int(buf[1]) {
		return nil, "", errors.New("wire: truncated or empty label header")
	}
	n := int(buf[1])
	return buf[2+n:], string(buf[2 : 2+n]), nil
}

// Decrypt opens an encrypted payload (version byte, nonce, sealed data) with the first
// key that authenticates it, returning the plaintext, the version and the key index.
func Decrypt(keys [][]byte, msg, ad []byte) (plain []byte, vsn byte, keyIdx int, err error) {
	const nonceLen, tagLen = 12, 16
	if len(msg) < 1+nonceLen+tagLen {
		return nil, 0, -1, errors.New("wire: encrypted payload too short")
	}
	vsn = msg[0]
	if vsn > 1 {
		return nil, vsn, -1, fmt.Errorf("wire: unknown encryption version %d", vsn)
	}
	for i, k := range keys {
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, vsn, -1, fmt.Errorf("wire: bad key %d: %w", i, err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return nil, vsn, -1, err
		}
		out, err := gcm.Open(nil, msg[1:1+nonceLen], msg[1+nonceLen:], ad)
		if err != nil {
			continue
		}
		if vsn == 0 {
			if len(out) == 0 || int(out[len(out)-1]) > len(out) || out[len(out)-1] == 0 {
				return nil, vsn, i, errors.New("wire: bad PKCS7 padding")
			}
			out = out[:len(out)-int(out[len(out)-1])]
		}
		return out, vsn, i, nil
	}
	return nil, vsn, -1, errors.New("wire: no key opens the payload")
}

// Inflate undoes the LZW compression of a compress message body.
func Inflate(body []byte) ([]byte, error) {
	var c CompressMsg
	if err := Decode(body, &c); err != nil {
		return nil, fmt.Errorf("wire: compress header: %w", err)
	}
	if c.Algo != 0 {
		return nil, fmt.Errorf("wire: unknown compression algorithm %d", c.Algo)
	}
	r := lzw.NewReader(bytes.NewReader(c.Buf), lzw.LSB, 8)
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, maxInflate))
	if err != nil {
		return nil, fmt.Errorf("wire: inflate: %w", err)
	}
	return out, nil
}

// DecodePacket peels a datagram down to its leaf messages. keys may be nil when the
// cluster is not encrypted.
func DecodePacket(buf []byte, keys [][]byte) ([]Msg, error) {
	rest, label, err := StripLabel(buf)
	if err != nil {
		return nil, err
	}
	env := Envelope{Label: label, KeyIndex: -1}
	if len(keys) > 0 {
		plain, vsn, idx, err := Decrypt(keys, rest, []byte(label))
		if err != nil {
			return nil, err
		}
		env.Encrypted, env.EncVersion, env.KeyIndex = true, vsn, idx
		rest = plain
	}
	if len(rest) >= 5 && rest[0] == HasCRC {
		if crc32.ChecksumIEEE(rest[5:]) != binary.BigEndian.Uint32(rest[1:5]) {
			return nil, errors.New("wire: CRC mismatch")
		}
		env.CRC = true
		rest = rest[5:]
	}
	var out []Msg
	return out, walk(rest, env, &out, 0)
}

func walk(buf []byte, env Envelope, out *[]Msg, depth int) error {
	if depth > 4 {
		return errors.New("wire: nesting too deep")
	}
	if len(buf) == 0 {
		return errors.New("wire: empty message")
	}
	switch buf[0] {
	case Compound:
		env.Compound = true
		parts, err := splitCompound(buf[1:])
		if err != nil {
			return err
		}
		for _, p := range parts {
			if err := walk(p, env, out, depth+1); err != nil {
				return err
			}
		}
		return nil
	case Compress:
		env.Compressed = true
		inner, err := Inflate(buf[1:])
		if err != nil {
			return err
		}
		return walk(inner, env, out, depth+1)
	default:
		*out = append(*out, Msg{Env: env, Type: buf[0], Body: buf[1:]})
		return nil
	}
}

func splitCompound(buf []byte) ([][]byte, error) {
	if len(buf) < 1 {
		return nil, errors.New("wire: compound without count")
	}
	n := int(buf[0])
	buf = buf[1:]
	if len(buf) < 2*n {
		return nil, errors.New("wire: compound length table truncated")
	}
	parts := make([][]byte, 0, n)
	lens := buf[:2*n]
	buf = buf[2*n:]
	for i := 0; i < n; i++ {
		l := int(binary.BigEndian.Uint16(lens[2*i:]))
		if l > len(buf) {
			return parts, fmt.Errorf("wire: compound part %d truncated", i)
		}
		parts = append(parts, buf[:l])
		buf = buf[l:]
	}
	return parts, nil
}

// Stream is one decoded stream message (what one side wrote on a TCP exchange).
type Stream struct {
	Env      Envelope
	Type     byte
	PushPull *PushPullState
	User     []byte
	Ping     *PingMsg
	Ack      *AckMsg
	Err      *ErrMsg
}

// PushPullState is the decoded body of a state exchange.
type PushPullState struct {
	Header    PushPullHeader
	Nodes     []PushNodeState
	UserState []byte
}

// DecodeStream decodes the bytes one side wrote on a stream.
func DecodeStream(buf []byte, keys [][]byte) (*Stream, error) {
	rest, label, err := StripLabel(buf)
	if err != nil {
		return nil, err
	}
	s := &Stream{Env: Envelope{Label: label, KeyIndex: -1}}
	if len(rest) == 0 {
		return nil, io.ErrUnexpectedEOF
	}
	if rest[0] == Encrypt {
		if len(rest) < 5 {
			return nil, errors.New("wire: encrypted stream header truncated")
		}
		n := int(binary.BigEndian.Uint32(rest[1:5]))
		if len(rest) < 5+n {
			return nil, fmt.Errorf("wire: encrypted stream wants %d bytes, has %d", n, len(rest)-5)
		}
		ad := append(append([]byte{}, rest[:5]...), label...)
		plain, vsn, idx, err := Decrypt(keys, rest[5:5+n], ad)
		if err != nil {
			return nil, err
		}
		s.Env.Encrypted, s.Env.EncVersion, s.Env.KeyIndex = true, vsn, idx
		rest = plain
	}
	if len(rest) == 0 {
		return nil, io.ErrUnexpectedEOF
	}
	if rest[0] == Compress {
		dec := codec.NewDecoderBytes(rest[1:], handle())
		var c CompressMsg
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("wire: stream compress header: %w", err)
		}
		inner, err := Inflate(rest[1 : 1+dec.NumBytesRead()])
		if err != nil {
			return nil, err
		}
		s.Env.Compressed = true
		rest = inner
	}
	if len(rest) == 0 {
		return nil, io.ErrUnexpectedEOF
	}
	s.Type = rest[0]
	dec := codec.NewDecoderBytes(rest[1:], handle())
	switch s.Type {
	case PushPull:
		pp := &PushPullState{}
		if err := dec.Decode(&pp.Header); err != nil {
			return nil, fmt.Errorf("wire: push/pull header: %w", err)
		}
		if pp.Header.Nodes < 0 || pp.Header.Nodes > 1<<20 {
			return nil, fmt.Errorf("wire: push/pull claims %d nodes", pp.Header.Nodes)
		}
		pp.Nodes = make([]PushNodeState, pp.Header.Nodes)
		for i := range pp.Nodes {
			if err := dec.Decode(&pp.Nodes[i]); err != nil {
				return nil, fmt.Errorf("wire: push/pull node %d: %w", i, err)
			}
		}
		tail := rest[1+dec.NumBytesRead():]
		if len(tail) < pp.Header.UserStateLen {
			return nil, fmt.Errorf("wire: user state wants %d bytes, has %d", pp.Header.UserStateLen, len(tail))
		}
		pp.UserState = tail[:pp.Header.UserStateLen]
		s.PushPull = pp
	case User:
		var h UserMsgHeader
		if err := dec.Decode(&h); err != nil {
			return nil, fmt.Errorf("wire: user header: %w", err)
		}
		tail := rest[1+dec.NumBytesRead():]
		if h.UserMsgLen < 0 || len(tail) < h.UserMsgLen {
			return nil, fmt.Errorf("wire: user message wants %d bytes, has %d", h.UserMsgLen, len(tail))
		}
		s.User = tail[:h.UserMsgLen]
	case Ping:
		s.Ping = &PingMsg{}
		if err := dec.Decode(s.Ping); err != nil {
			return nil, err
		}
	case Ack:
		s.Ack = &AckMsg{}
		if err := dec.Decode(s.Ack); err != nil {
			return nil, err
		}
	case Err:
		s.Err = &ErrMsg{}
		if err := dec.Decode(s.Err); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("wire: unexpected stream message %s", TypeName(s.Type))
	}
	return s, nil
}
