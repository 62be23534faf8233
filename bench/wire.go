// This file owns the few wire messages the bench writes itself to reach a node's hot
// paths from outside: a push/pull stream carrying many alive members, and a ping. The
// layouts are the protocol's (msgpack field names and message type codes), written
// here from the protocol so the bench depends on neither library's internals.

package main

import (
	"bytes"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// Message type codes on the wire.
const (
	wirePing     = 0
	wirePushPull = 6
)

type wirePingMsg struct {
	SeqNo      uint32
	Node       string
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

type wirePushPullHeader struct {
	Nodes        int
	UserStateLen int
	Join         bool
}

type wirePushNodeState struct {
	Name        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Incarnation uint32
	State       uint8
	Vsn         []uint8
}

// memberName names the i-th synthetic member.
func memberName(i int) string { return fmt.Sprintf("member-%05d", i) }

// pushPullStream encodes a push/pull carrying n alive members, named by
// memberName, at 127.0.0.1 on distinct ports, at protocol version 2 (range 1..5).
func pushPullStream(n int, join bool) []byte {
	var buf bytes.Buffer
	buf.WriteByte(wirePushPull)
	enc := codec.NewEncoder(&buf, &codec.MsgpackHandle{})
	must(enc.Encode(&wirePushPullHeader{Nodes: n, Join: join}))
	for i := range n {
		must(enc.Encode(&wirePushNodeState{
			Name:        memberName(i),
			Addr:        []byte{127, 0, 0, 1},
			Port:        uint16(10000 + i%50000),
			Incarnation: 1,
			Vsn:         []uint8{1, 5, 2, 0, 0, 0},
		}))
	}
	return buf.Bytes()
}

// pingPacket encodes a ping for node with sequence number seq.
func pingPacket(node string, seq uint32) []byte {
	var buf bytes.Buffer
	buf.WriteByte(wirePing)
	must(codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(&wirePingMsg{SeqNo: seq, Node: node}))
	return buf.Bytes()
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
