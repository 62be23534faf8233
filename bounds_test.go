// bounds_test.go tests, one at a time, the bounds on what a peer can make a
// node do that the hostile-input suite (hostile_test.go) relies on: the
// CIDRsAllowed check on every packet, the decompression budget of a
// datagram and the process's turns for decompressing stream messages.

package memberlist

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingSink counts counters by name and reason.
type countingSink struct {
	mu sync.Mutex
	n  map[string]float32
}

func (s *countingSink) IncrCounterWithLabels(key []string, val float32, labels []metrics.Label) {
	k := strings.Join(key, ".")
	for _, l := range labels {
		if l.Name == "reason" {
			k += ";" + l.Value
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[string]float32{}
	}
	s.n[k] += val
}

func (s *countingSink) AddSampleWithLabels([]string, float32, []metrics.Label) {}
func (s *countingSink) SetGaugeWithLabels([]string, float32, []metrics.Label)  {}

func (s *countingSink) get(k string) float32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[k]
}

// pipeAddr is an address that names no IP, as in-memory transports use.
type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func TestPacketFromOutsideCIDRs(t *testing.T) {
	sink := &countingSink{}
	allowed, err := ParseCIDRs([]string{"127.0.0.9/32", "10.0.0.0/8"})
	require.NoError(t, err)
	h := newHarnessWith(t, func(c *Config) { c.CIDRsAllowed = allowed }, sink)
	pingFor := func(seq uint32) []byte {
		b, err := encodeMsg(pingMsg, &ping{SeqNo: seq, Node: "self"}, false)
		require.NoError(t, err)
		return b
	}
	acked := func() []uint32 {
		var seqs []uint32
		for _, m := range h.sentOf(ackRespMsg) {
			var a ackResp
			require.NoError(t, decodeMsg(m.body, &a))
			seqs = append(seqs, a.SeqNo)
		}
		return seqs
	}

	outside := []net.Addr{
		&net.UDPAddr{IP: net.IPv4(192, 168, 1, 1), Port: 7946},
		&net.TCPAddr{IP: net.IPv4(192, 168, 1, 1), Port: 7946}, // TCP-only mode's packets
		&net.UDPAddr{IP: net.ParseIP("::1"), Port: 7946},
	}
	for i, from := range outside {
		h.c.handlePacket(h.now, pingFor(uint32(i)), from, h.now)
	}
	assert.Empty(t, acked(), "answered a source outside CIDRsAllowed")
	assert.Equal(t, float32(len(outside)), sink.get("memberlist.udp.rejected;cidr"))

	inside := []net.Addr{
		peerAddr,
		&net.UDPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 7946},
		&net.UDPAddr{IP: net.IPv4(127, 0, 0, 9).To16(), Port: 7946},
		pipeAddr{},
	}
	for i, from := range inside {
		h.c.handlePacket(h.now, pingFor(uint32(100+i)), from, h.now)
	}
	assert.Equal(t, []uint32{100, 101, 102, 103}, acked())
	assert.Equal(t, float32(len(outside)), sink.get("memberlist.udp.rejected;cidr"))

	// From an allowed source, an alive for a node at an address outside
	// the list is refused and counted; one inside is taken.
	h.deliver(aliveMsg, &alive{Incarnation: 1, Node: "far", Addr: net.IPv4(192, 168, 1, 5).To4(), Port: 7946, Vsn: []uint8{1, 5, 2, 0, 0, 0}})
	h.deliver(aliveMsg, &alive{Incarnation: 1, Node: "near", Addr: net.IPv4(10, 0, 0, 5).To4(), Port: 7946, Vsn: []uint8{1, 5, 2, 0, 0, 0}})
	_, ok := h.c.memberState("far")
	assert.False(t, ok, "a member outside CIDRsAllowed was taken")
	assert.Equal(t, StateAlive, h.state("near"))
	assert.Equal(t, float32(1), sink.get("memberlist.msg.rejected;cidr"))
	h.sent()
}

func TestPacketInflateBudget(t *testing.T) {
	lan := DefaultLANConfig()
	big := DefaultLANConfig()
	big.UDPBufferSize = 1 << 20
	tests := []struct {
		cfg  *Config
		size int
		want int64
	}{
		{lan, 1, packetInflateFloor},
		{lan, 4096, packetInflateFloor},
		{lan, 4097, 16 * 4097},
		{lan, 65507, 16 * 65507},
		{big, 1, 1 << 20},
		{big, 10 << 20, maxDecompressedSize},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, packetInflateBudget(tc.cfg, tc.size), "UDPBufferSize %d, %d bytes", tc.cfg.UDPBufferSize, tc.size)
	}
}

// userMsgs records what reaches NotifyMsg.
type userMsgs struct{ got [][]byte }

func (d *userMsgs) NodeMeta(int) []byte                 { return nil }
func (d *userMsgs) NotifyMsg(b []byte)                  { d.got = append(d.got, bytes.Clone(b)) }
func (d *userMsgs) GetBroadcasts(int, int) [][]byte     { return nil }
func (d *userMsgs) LocalState(bool) []byte              { return nil }
func (d *userMsgs) MergeRemoteState(buf []byte, _ bool) {}

// TestPacketInflateBudgetShared checks that a datagram's compressed parts
// share one budget: what one part expands to is not available to the next.
func TestPacketInflateBudgetShared(t *testing.T) {
	sink := &countingSink{}
	d := &userMsgs{}
	h := newHarnessWith(t, func(c *Config) { c.Delegate = d }, sink)
	user := func(n int, fill byte) []byte {
		b := bytes.Repeat([]byte{fill}, n)
		b[0] = byte(userMsg)
		comp, err := compressPayload(b, false)
		require.NoError(t, err)
		return comp
	}
	send := func(msgs ...[]byte) {
		buf := msgs[0]
		if len(msgs) > 1 {
			buf = makeCompound(msgs)
		}
		h.c.handlePacket(h.now, buf, peerAddr, h.now)
	}

	// Alone, each part fits the budget (64 KiB for a small datagram).
	send(user(packetInflateFloor, 'a'))
	require.Len(t, d.got, 1)
	assert.Len(t, d.got[0], packetInflateFloor-1)
	send(user(packetInflateFloor+1, 'b'))
	assert.Len(t, d.got, 1, "a part past the budget was delivered")
	assert.Equal(t, float32(1), sink.get("memberlist.udp.rejected;compression"))

	// Together, the second finds the budget spent.
	d.got = nil
	send(user(40<<10, 'c'), user(40<<10, 'd'))
	require.Len(t, d.got, 1)
	assert.Equal(t, byte('c'), d.got[0][0])
	assert.Equal(t, float32(2), sink.get("memberlist.udp.rejected;compression"))
	h.sent()
}

func TestInflateStreamGate(t *testing.T) {
	c := &compress{Algo: lzwAlgo, Buf: lzwZeros(10)}
	for range maxStreamInflates {
		streamInflates <- struct{}{}
	}
	_, err := inflateStream(c, time.Millisecond)
	require.ErrorIs(t, err, errInflateBusy)

	// A token freed while a decompression waits lets it through.
	done := make(chan error, 1)
	go func() {
		_, err := inflateStream(c, waitLimit)
		done <- err
	}()
	<-streamInflates
	require.NoError(t, <-done)
	for range maxStreamInflates - 1 {
		<-streamInflates
	}
	out, err := inflateStream(c, 0)
	require.NoError(t, err)
	assert.Len(t, out, 10)
	assert.Zero(t, len(streamInflates), "a token was not given back")
}
