package memberlist

import (
	"fmt"
	"math/rand/v2"
	"testing"

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
