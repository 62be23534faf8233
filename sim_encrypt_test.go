package memberlist

import (
	"crypto/sha256"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSimulationEncryptedRunsRepeat runs the same encrypted, compressed,
// labelled simulation twice and expects every datagram and stream to be the
// same bytes: the nonces come from each node's seeded source, not from
// crypto/rand. Another seed gives other bytes.
func TestSimulationEncryptedRunsRepeat(t *testing.T) {
	run := func(seed uint64) [32]byte {
		s := NewSimulation(SimConfig{Seed: seed, Latency: time.Millisecond, Jitter: time.Millisecond, Config: func(string) *Config {
			c := DefaultLANConfig()
			c.SecretKey = []byte("0123456789abcdef")
			c.Label = "sim"
			c.LogOutput = io.Discard
			return c
		}})
		h := sha256.New()
		encrypted := 0
		s.observe = func(r simRecord) {
			h.Write([]byte(r.from + ">" + r.to))
			h.Write(r.buf)
			if r.stream {
				return
			}
			body, label, err := RemoveLabelHeaderFromPacket(r.buf)
			require.NoError(t, err)
			require.Equal(t, "sim", label)
			_, err = decryptPayload([][]byte{[]byte("0123456789abcdef")}, body, []byte(label))
			require.NoError(t, err, "every datagram is encrypted")
			encrypted++
		}
		for _, n := range []string{"a", "b", "c", "d"} {
			require.NoError(t, s.AddNode(n))
		}
		for _, n := range []string{"b", "c", "d"} {
			require.NoError(t, s.Join(n, "a"))
		}
		s.RunFor(20 * time.Second)
		for _, n := range []string{"a", "b", "c", "d"} {
			require.Equal(t, 4, s.NumMembers(n), "%s must see all four through encrypted packets", n)
		}
		require.Positive(t, encrypted)
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		return sum
	}
	first := run(11)
	require.Equal(t, first, run(11), "the same seed must give the same bytes")
	require.NotEqual(t, first, run(12))
}
