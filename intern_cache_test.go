package memberlist

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"unique"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestAliveNewsMatchesEncoding checks the shared alive-news cache against
// the encoder: for any member info and incarnation, the cached message is
// byte for byte the alive message a node would encode from what it received
// (when that says exactly what the info holds), through hits and misses and
// slots overwritten by other members.
func TestAliveNewsMatchesEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		name := fmt.Sprintf("node-%d", rng.IntN(300))
		ip := []byte{10, byte(rng.IntN(4)), 0, 1}
		if rng.IntN(4) == 0 {
			ip = make([]byte, 16)
			ip[15] = byte(rng.IntN(4))
		}
		var meta []byte
		switch rng.IntN(3) {
		case 1:
			meta = []byte{}
		case 2:
			meta = []byte(fmt.Sprintf("role=%d", rng.IntN(3)))
		}
		vsn := []byte{1, 5, byte(2 + rng.IntN(2)), 0, 0, 0}
		port := uint16(7946 + rng.IntN(2))
		inc := uint32(rng.IntN(5))

		info := makeInfo(name, ip, port, meta, vsn)
		a := alive{Incarnation: inc, Node: name, Addr: ip, Port: port, Meta: meta, Vsn: vsn}
		want, err := encodeMsg(aliveMsg, &a, false)
		require.NoError(t, err)
		require.Equal(t, string(want), aliveNews(info, inc).Value(), "message %d", i)

		// The info cache hands back the same member info.
		require.Equal(t, info, makeInfo(name, ip, port, meta, vsn))
		got := info.Value()
		require.Equal(t, name, got.name)
		require.Equal(t, meta != nil, got.hasMeta)
		require.Equal(t, string(meta), got.meta)
	}
}

// TestCachedNewsIsInterned checks the news cache: through hits, misses and
// slots another message overwrote, it hands back the interned ref for
// exactly the bytes given, equal to internBytes', and keeps no view of a
// buffer the caller reuses.
func TestCachedNewsIsInterned(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 0, 64)
	for i := range 5000 {
		buf = fmt.Appendf(buf[:0], "suspect node-%d from node-%d", rng.IntN(200), rng.IntN(3))
		want := string(buf)
		got := cachedNews(buf)
		require.Equal(t, want, got.Value(), "message %d", i)
		require.Equal(t, internBytes([]byte(want)), got, "message %d: the interned ref", i)
		for j := range buf {
			buf[j] = 'x'
		}
		require.Equal(t, want, got.Value(), "message %d: the ref must not view the caller's buffer", i)
	}
}

// TestInternedRef checks what interned relies on: a unique.Handle is one
// pointer to its value, so the ref made from it reads the same value, and
// the refs of equal interned values are equal.
func TestInternedRef(t *testing.T) {
	k := infoKey("node-1", []byte{10, 0, 0, 1}, 7946, []byte("role=web"), []byte{1, 5, 2, 0, 0, 0})
	h := unique.Make(k)
	require.Equal(t, unsafe.Sizeof(h), unsafe.Sizeof(ref[memberInfo]{}))
	r := interned(h)
	require.Equal(t, h.Value(), r.Value())
	require.True(t, r == interned(unique.Make(k)), "equal values, one ref")
	require.True(t, makeInfo("node-1", []byte{10, 0, 0, 1}, 7946, []byte("role=web"), []byte{1, 5, 2, 0, 0, 0}) == r)

	s := interned(unique.Make("an alive message"))
	require.Equal(t, "an alive message", s.Value())
	require.True(t, s == internBytes([]byte("an alive message")))
}

// TestOwnRefs checks the refs a node of its own makes: copies that no
// longer view the bytes they came from, and the same alive message as the
// interned path.
func TestOwnRefs(t *testing.T) {
	name, meta := []byte("node-1"), []byte("role=web")
	k := infoKey(unsafe.String(&name[0], len(name)), []byte{10, 0, 0, 1}, 7946, meta, []byte{1, 5, 2, 0, 0, 0})
	r := ownInfo(k)
	copy(name, "XXXXXX")
	copy(meta, "XXXXXXXX")
	require.Equal(t, "node-1", r.Value().name)
	require.Equal(t, "role=web", r.Value().meta)

	buf := []byte("news")
	b := ownBytes(buf)
	buf[0] = 'X'
	require.Equal(t, "news", b.Value())

	own := &core{}
	sim := &core{shared: true}
	info := own.info("node-2", []byte{10, 0, 0, 2}, 7946, nil, []byte{1, 5, 2, 0, 0, 0})
	require.Equal(t, sim.info("node-2", []byte{10, 0, 0, 2}, 7946, nil, []byte{1, 5, 2, 0, 0, 0}).Value(), info.Value())
	require.Equal(t, sim.aliveNews(makeInfo("node-2", []byte{10, 0, 0, 2}, 7946, nil, []byte{1, 5, 2, 0, 0, 0}), 3).Value(),
		own.aliveNews(info, 3).Value())
	s1, s2 := sim.newsBytes([]byte("x")), sim.newsBytes([]byte("x"))
	require.True(t, s1 == s2, "a simulation's nodes intern")
	o1, o2 := own.newsBytes([]byte("x")), own.newsBytes([]byte("x"))
	require.False(t, o1 == o2, "a node of its own does not")
}

// A node formats member addresses through its own cache, a simulation's
// through the process-wide one: the same strings as joinHostPort, whatever
// collides in a slot.
func TestCachedHostPort(t *testing.T) {
	for _, shared := range []bool{false, true} {
		h := newHarness(t, nil)
		h.c.shared = shared
		ips := [][]byte{{127, 0, 0, 1}, {127, 0, 0, 2}, net.ParseIP("::1"), {1, 2, 3}, make([]byte, 16), make([]byte, 20)}
		for range 2 {
			for _, ip := range ips {
				for _, port := range []uint16{0, 7946, 65535} {
					require.Equal(t, joinHostPort(ip, port), h.c.hostPort(ip, port))
				}
			}
		}
	}
}
