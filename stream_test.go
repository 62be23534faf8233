package memberlist

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// A reference node compresses every stream; LZW makes incompressible data
// bigger, so a 16 MiB user message arrives in a compress envelope of more
// than 20 MiB, which must still be read.
func TestReadStreamLargeIncompressibleMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates tens of MiB")
	}
	msg := make([]byte, 16<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range msg {
		msg[i] = byte(rng.Uint32())
	}
	body, err := encodeUserMsgStream(msg, false)
	require.NoError(t, err)
	comp, err := compressPayload(body, false)
	require.NoError(t, err)
	require.Greater(t, len(comp), maxStreamValueBytes, "the test needs an envelope above the single-message bound")

	cfg := DefaultLANConfig()
	cfg.LogOutput = io.Discard
	mt, r, err := readStream(cfg, discardMetrics{}, bytes.NewReader(comp), "")
	require.NoError(t, err)
	require.Equal(t, userMsg, mt)
	got, err := decodeUserMsgStream(r, maxUserMsgBytes)
	require.NoError(t, err)
	require.Equal(t, msg, got)
}
