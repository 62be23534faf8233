package memberlist

import (
	"bytes"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A decoded push/pull state given back to the pool is cleared (the pool
// keeps no string of it alive) and the next decode into the same slice
// reads its own entries, not the old ones.
func TestPushPullStatesRecycled(t *testing.T) {
	encode := func(prefix string, n int) []byte {
		states := make([]pushNodeState, n)
		for i := range states {
			states[i] = pushNodeState{Name: fmt.Sprintf("%s-%d", prefix, i), Addr: net.IPv4(127, 0, 0, 1).To4(),
				Port: 7946, Incarnation: uint32(i), State: StateAlive, Vsn: []uint8{1, 5, 2, 0, 0, 0}}
		}
		buf, err := encodePushPull(false, states, nil, false)
		require.NoError(t, err)
		return buf
	}
	decode := func(buf []byte) []pushNodeState {
		_, states, _, err := decodePushPull(bytes.NewReader(buf[1:]), 0)
		require.NoError(t, err)
		return states
	}
	first := decode(encode("a", 2*minPooled))
	require.Equal(t, "a-7", first[7].Name)
	putPushStates(first)
	assert.Equal(t, pushNodeState{}, first[:cap(first)][7], "a recycled slice is cleared")

	second := decode(encode("b", minPooled+3))
	require.Len(t, second, minPooled+3)
	for i, s := range second {
		require.Equal(t, fmt.Sprintf("b-%d", i), s.Name)
		require.Equal(t, uint32(i), s.Incarnation)
	}

	// Small ones are not worth keeping; nil is ignored.
	putPushStates(make([]pushNodeState, 3))
	putPushStates(nil)
	putPushBuf(nil)
	assert.Empty(t, getPushBuf(10))
	assert.GreaterOrEqual(t, cap(getPushBuf(10)), 10)
}
