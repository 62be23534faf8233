package memberlist

import (
	"bytes"
	"io"

	"testing"
	"time"
)

// FuzzHandlePacket feeds arbitrary datagrams to a core that knows a few
// members: whatever arrives, the core must not panic, and time must still
// move it forward.
func FuzzHandlePacket(f *testing.F) {
	seeds := [][]byte{
		{}, {byte(pingMsg)}, {byte(compoundMsg), 2, 0, 1, 0, 1, 0, 0},
		{byte(hasCrcMsg), 0, 0, 0, 0, byte(pingMsg)},
		{byte(compressMsg), 0x82, 0xa4, 'A', 'l', 'g', 'o', 0, 0xa3, 'B', 'u', 'f', 0xc4, 1, 0},
		{244, 3, 'a', 'b', 'c', byte(pingMsg)},
	}
	for _, m := range []struct {
		t messageType
		v any
	}{
		{pingMsg, &ping{SeqNo: 1, Node: "self"}},
		{aliveMsg, &alive{Incarnation: 2, Node: "x", Addr: []byte{127, 0, 0, 3}, Port: 1, Vsn: []uint8{1, 5, 2, 0, 0, 0}}},
		{suspectMsg, &suspect{Incarnation: 1, Node: "a", From: "b"}},
		{deadMsg, &dead{Incarnation: 1, Node: "self", From: "b"}},
		{indirectPingMsg, &indirectPingReq{SeqNo: 1, Target: []byte{127, 0, 0, 2}, Port: 1, Node: "a", Nack: true}},
		{ackRespMsg, &ackResp{SeqNo: 1}},
		{nackRespMsg, &nackResp{SeqNo: 1}},
	} {
		b, err := encodeMsg(m.t, m.v, false)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b, makeCompound([][]byte{b, b}), addCRC(b))
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newHarness(t, nil)
		h.addPeer("a", 2, 1)
		h.addPeer("b", 3, 1)
		h.allowExchanges = true
		h.c.handlePacket(h.now, data, peerAddr, h.now)
		h.advance(time.Minute)
		if at, ok := h.c.nextDeadline(); !ok || !at.After(h.now) {
			t.Fatalf("after the packet the core no longer schedules its periodic work (next deadline %v, set %v)", at, ok)
		}
		h.take()
	})
}

// FuzzReadStream feeds arbitrary bytes to the stream reader and the
// decoders behind it, as handleConn would.
func FuzzReadStream(f *testing.F) {
	pp, _ := encodePushPull(true, []pushNodeState{{Name: "a", Addr: []byte{127, 0, 0, 1}, Port: 1, Vsn: []uint8{1, 5, 2, 0, 0, 0}}}, []byte("u"), false)
	um, _ := encodeUserMsgStream([]byte("hi"), false)
	comp, _ := compressPayload(pp, false)
	for _, s := range [][]byte{pp, um, comp, {byte(encryptMsg), 0, 0, 0, 1, 0}, {byte(pingMsg)}, {}} {
		f.Add(s)
	}
	cfg := DefaultLANConfig()
	cfg.LogOutput = io.Discard
	f.Fuzz(func(t *testing.T, data []byte) {
		mt, r, err := readStream(cfg, discardMetrics{}, bytes.NewReader(data), "")
		if err != nil {
			return
		}
		switch mt {
		case pushPullMsg:
			_, _, _, _ = decodePushPull(r, 1024)
		case userMsg:
			_, _ = decodeUserMsgStream(r, 1<<20)
		default:
			var p ping
			_ = decodeFromReader(r, &p)
		}
	})
}
