package memberlist

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// shareDelegate hands out user broadcasts from a TransmitLimitedQueue.
type shareDelegate struct {
	q *TransmitLimitedQueue
}

func (d *shareDelegate) NodeMeta(int) []byte { return nil }
func (d *shareDelegate) NotifyMsg([]byte)    {}
func (d *shareDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.q.GetBroadcasts(overhead, limit)
}
func (d *shareDelegate) LocalState(bool) []byte        { return nil }
func (d *shareDelegate) MergeRemoteState([]byte, bool) {}

// While membership news would fill every packet (a large cluster, a mass
// join), user broadcasts still get their share of each packet; when there
// are none, news takes the whole packet.
func TestUserBroadcastsShareOfPacket(t *testing.T) {
	d := &shareDelegate{q: &TransmitLimitedQueue{NumNodes: func() int { return 100 }, RetransmitMult: 4}}
	h := newHarness(t, func(c *Config) { c.Delegate = d })
	for i := range 200 {
		h.addPeer(fmt.Sprintf("member-%03d", i), byte(i%250+2), 1)
	}
	require.Greater(t, h.queued(), 100, "news enough to fill many packets")
	limit := h.c.packetRoom(0)

	count := func(msgs [][]byte) (news, user, bytes int) {
		for _, m := range msgs {
			bytes += len(m) + compoundOverhead
			if messageType(m[0]) == userMsg {
				user++
			} else {
				news++
			}
		}
		return
	}

	// No user broadcasts: news fills the packet.
	news, user, used := count(h.c.getBroadcasts(compoundOverhead, limit))
	require.Zero(t, user)
	require.Greater(t, used, limit*9/10, "news fills the packet when users have nothing (%d news)", news)

	// Many user broadcasts: they get at least their share, news the rest.
	for i := range 100 {
		d.q.QueueBroadcast(rawBroadcast(fmt.Sprintf("user broadcast %025d", i))) // 40 bytes
	}
	msgs := h.c.getBroadcasts(compoundOverhead, limit)
	news, user, used = count(msgs)
	require.Positive(t, news)
	each := 40 + userMsgOverhead + compoundOverhead
	require.GreaterOrEqual(t, user*each, limit/4-each, // a quarter, userBroadcastShare
		"user broadcasts fill their share (%d of them, %d news)", user, news)
	require.LessOrEqual(t, used, limit)
	seen := map[string]bool{}
	for _, m := range msgs {
		require.False(t, seen[string(m)], "no message twice in one packet")
		seen[string(m)] = true
	}
}
