package memberlist

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// keepNodes is a merge and alive delegate that keeps every node it is given,
// as a user's delegate may.
type keepNodes struct{ merged, alive []*Node }

func (k *keepNodes) NotifyMerge(peers []*Node) error {
	k.merged = append(k.merged, peers...)
	return nil
}

func (k *keepNodes) NotifyAlive(peer *Node) error {
	k.alive = append(k.alive, peer)
	return nil
}

// within reports whether s's bytes lie inside buf.
func within(s string, buf []byte) bool {
	if len(s) == 0 || len(buf) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(&buf[0]))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(buf))
}

// scribble overwrites buf, as a transport or the simulator does when it
// reuses a buffer.
func scribble(buf []byte) {
	for i := range buf {
		buf[i] = 'x'
	}
}

// A push/pull read from memory is decoded as views of the bytes read, which
// the simulator gives back to its buffer pool once the core has merged them
// (streamMsg.hold). Whatever the merge keeps, in the member table, in events
// and in delegates, must then be a copy: scribbling on the bytes afterwards
// changes none of it. Both kinds of node are checked: one with its own
// table, and a simulation's, which interns.
func TestPushPullViewsKeptNowhere(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			keep := &keepNodes{}
			h := newHarness(t, func(c *Config) {
				c.Merge = keep
				c.Alive = keep
			})
			h.c.shared = shared
			h.addPeer("a", 2, 1)
			h.addPeer("b", 3, 1)
			*h.ev, keep.alive = recEvents{}, nil

			var states []pushNodeState
			for i := range 8 {
				s := peerState(fmt.Sprintf("new-%d", i), byte(10+i), 1, StateAlive)
				s.Meta = []byte(fmt.Sprintf("meta-%d", i))
				states = append(states, s)
			}
			update := peerState("a", 2, 5, StateAlive) // a newer incarnation, new metadata
			update.Meta = []byte("a-meta")
			states = append(states, update, peerState("b", 3, 1, StateDead))

			buf, err := encodePushPull(true, states, nil, false)
			require.NoError(t, err)
			msg, err := decodeStreamBody(pushPullMsg, &memReader{b: buf[1:]})
			require.NoError(t, err)
			require.True(t, within(msg.states[0].Name, buf), "entries of a state in memory view it")

			require.NotNil(t, h.c.handleStream(h.now, msg, peerAddr))
			scribble(buf)

			for i := range 8 {
				name := fmt.Sprintf("new-%d", i)
				st := h.c.index.get(name)
				require.NotNil(t, st, name)
				require.Equal(t, name, st.name())
				require.Equal(t, net.IPv4(127, 0, 0, byte(10+i)).To4(), st.addr())
				require.Equal(t, []byte(fmt.Sprintf("meta-%d", i)), st.meta())
				require.Equal(t, StateAlive, st.state())
			}
			require.Equal(t, []byte("a-meta"), h.c.index.get("a").meta())
			require.Equal(t, StateSuspect, h.state("b"))
			require.Len(t, h.ev.joins, 8)
			for i, name := range h.ev.joins {
				require.Equal(t, fmt.Sprintf("new-%d", i), name)
			}
			require.Equal(t, []string{"a"}, h.ev.updates)
			require.Len(t, keep.merged, len(states))
			for i, n := range keep.merged {
				require.Equal(t, states[i].Name, n.Name)
				require.Equal(t, net.IP(states[i].Addr), n.Addr)
				require.Equal(t, states[i].Meta, n.Meta)
			}
			require.Len(t, keep.alive, 9)
			for _, n := range keep.alive {
				require.NotContains(t, n.Name, "x")
				require.False(t, bytes.Contains(n.Meta, []byte("x")), "metadata %q", n.Meta)
			}
			_, known := h.c.memberState("xxxxx")
			require.False(t, known)
		})
	}
}

// An alive message is decoded as views of its packet (aliveView), which the
// transport reuses once handled: the member it adds or updates, the join
// event and the alive delegate's node must not change when the packet does.
func TestAliveKeepsNoViewOfThePacket(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			keep := &keepNodes{}
			h := newHarness(t, func(c *Config) { c.Alive = keep })
			h.c.shared = shared
			h.addPeer("a", 2, 1)
			*h.ev, keep.alive = recEvents{}, nil

			send := func(a alive) {
				buf, err := encodeMsg(aliveMsg, &a, false)
				require.NoError(t, err)
				var view alive
				require.True(t, aliveView(buf[1:], &view))
				require.True(t, within(view.Node, buf), "aliveView views the packet")
				h.c.handlePacket(h.now, buf, peerAddr, h.now)
				scribble(buf)
			}
			send(alive{Incarnation: 1, Node: "fresh", Addr: net.IPv4(127, 0, 0, 20).To4(), Port: 7946,
				Meta: []byte("fresh-meta"), Vsn: []uint8{1, 5, 2, 0, 0, 0}})
			send(alive{Incarnation: 2, Node: "a", Addr: net.IPv4(127, 0, 0, 2).To4(), Port: 7946,
				Meta: []byte("a-meta"), Vsn: []uint8{1, 5, 2, 0, 0, 0}})

			st := h.c.index.get("fresh")
			require.NotNil(t, st)
			require.Equal(t, "fresh", st.name())
			require.Equal(t, net.IPv4(127, 0, 0, 20).To4(), st.addr())
			require.Equal(t, []byte("fresh-meta"), st.meta())
			require.Equal(t, []byte("a-meta"), h.c.index.get("a").meta())
			require.Equal(t, []string{"fresh"}, h.ev.joins)
			require.Equal(t, []string{"a"}, h.ev.updates)
			require.Len(t, keep.alive, 2)
			require.Equal(t, "fresh", keep.alive[0].Name)
			require.Equal(t, []byte("fresh-meta"), keep.alive[0].Meta)
			require.Equal(t, "a", keep.alive[1].Name)
			require.Equal(t, []byte("a-meta"), keep.alive[1].Meta)
			require.Equal(t, alive{}, h.c.scratch.alive, "the scratch message keeps no view")
		})
	}
}

// subjectAsEncoded reads the subject of alive, suspect and dead messages as
// encoded (by us, the codec and so the reference alike) from a few bytes;
// it must name the member the general parse names, and leave any other
// layout to it.
func TestNewsSubjectAsEncoded(t *testing.T) {
	general := func(body []byte) (string, bool) {
		var d fastDec
		if !d.parse(body, aliveFields) || !d.vals[1].set || d.vals[1].n == 0 {
			return "", false
		}
		return string(body[d.vals[1].off : d.vals[1].off+d.vals[1].n]), true
	}
	defer wireFastOff.Store(false)
	for _, codec := range []bool{false, true} {
		wireFastOff.Store(codec)
		for _, newTime := range []bool{false, true} {
			for _, inc := range []uint32{0, 127, 128, 255, 256, 65535, 65536, 1 << 31} {
				for _, n := range []int{1, 31, 32, 255, 256} {
					name := string(bytes.Repeat([]byte{'n'}, n))
					for _, msg := range []struct {
						t messageType
						v any
					}{
						{aliveMsg, &alive{Incarnation: inc, Node: name, Addr: []byte{127, 0, 0, 1}, Port: 1, Vsn: []uint8{1, 5, 2, 0, 0, 0}}},
						{suspectMsg, &suspect{Incarnation: inc, Node: name, From: "from"}},
						{deadMsg, &dead{Incarnation: inc, Node: name, From: "from"}},
					} {
						buf, err := encodeMsg(msg.t, msg.v, newTime)
						require.NoError(t, err)
						got, ok := subjectAsEncoded(buf[1:])
						require.True(t, ok, "%v inc %d name of %d bytes: %x", msg.t, inc, n, buf[1:min(len(buf), 24)])
						want, _ := general(buf[1:])
						require.Equal(t, want, got)
						got, ok = newsSubject(buf[1:])
						require.True(t, ok)
						require.Equal(t, name, got)
						for cut := range len(buf) - 1 {
							subjectAsEncoded(buf[1 : 1+cut]) // never reads past the end
						}
					}
				}
			}
		}
	}
	// Other layouts: the general parse decides.
	for _, body := range [][]byte{
		nil, {0x80}, {0x81, 0xa4, 'N', 'o', 'd', 'e'},
		append([]byte{0x82}, "\xabIncarnation\xd0\x01\xa4Node\xa1a"...), // a signed incarnation
		append([]byte{0x82}, "\xabIncarnation\x01\xa4Node\xa0"...),      // an empty name
		append([]byte{0x82}, "\xabIncarnation\x01\xa4Node\xc4\x01a"...), // a name as bytes
		append([]byte{0x82}, "\xabIncarnation\x01\xa4Node\xa2a"...),     // a cut name
		append([]byte{0x82}, "\xabIncarnation\x01\xa4From\xa1a"...),     // no name
		append([]byte{0x82}, "\xa3Vsn\x93\x01\x02\x03\xa4Node\xa1a"...), // an array before it
	} {
		_, ok := subjectAsEncoded(body)
		require.False(t, ok, "%x", body)
	}
}

// subjectAsEncoded reads any bytes without reading past them, and names a
// member only with bytes of the body.
func FuzzNewsSubject(f *testing.F) {
	for _, msg := range []any{&suspect{Incarnation: 300, Node: "node", From: "from"},
		&alive{Incarnation: 1, Node: "a", Addr: []byte{127, 0, 0, 1}, Meta: []byte("m"), Vsn: []uint8{1, 5, 2, 0, 0, 0}}} {
		buf, err := encodeMsg(aliveMsg, msg, true)
		require.NoError(f, err)
		f.Add(buf[1:])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if name, ok := subjectAsEncoded(body); ok && !within(name, body) {
			t.Fatalf("subject %q is not a view of the body", name)
		}
	})
}
