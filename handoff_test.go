package memberlist

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	"github.com/stretchr/testify/require"
)

// msgRecorder is a Delegate that records the user messages it is given.
type msgRecorder struct{ msgs []string }

func (d *msgRecorder) NodeMeta(int) []byte             { return nil }
func (d *msgRecorder) NotifyMsg(m []byte)              { d.msgs = append(d.msgs, string(m)) }
func (d *msgRecorder) GetBroadcasts(int, int) [][]byte { return nil }
func (d *msgRecorder) LocalState(bool) []byte          { return nil }
func (d *msgRecorder) MergeRemoteState([]byte, bool)   {}

// A node that falls behind reads every waiting packet before it handles
// their news: membership news first, then user messages, each the newest
// first, and what does not fit in HandoffQueueDepth is dropped and counted,
// as with the reference's handoff queues.
func TestHandoffQueues(t *testing.T) {
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	conf := metrics.DefaultConfig("")
	conf.EnableHostname, conf.EnableRuntimeMetrics, conf.EnableServiceLabel = false, false, false
	m, err := metrics.New(conf, sink)
	require.NoError(t, err)
	d := &msgRecorder{}
	h := newHarnessWith(t, func(c *Config) {
		c.Delegate = d
		c.HandoffQueueDepth = 3
	}, m)

	h.c.holdHandoff = true // as the loop does while it drains a backlog
	for i := range 5 {
		h.c.handlePacket(h.now, append([]byte{byte(userMsg)}, fmt.Sprint("user ", i)...), peerAddr, h.now)
		h.addPeer(fmt.Sprint("n", i), byte(10+i), 1)
	}
	require.Empty(t, h.ev.joins, "nothing handled while packets are still being read")
	require.Empty(t, d.msgs)

	h.c.holdHandoff = false
	h.c.flushHandoff()
	require.Equal(t, []string{"n2", "n1", "n0"}, h.ev.joins, "news first, newest first; n3 and n4 did not fit")
	require.Equal(t, []string{"user 2", "user 1", "user 0"}, d.msgs, "then user messages, newest first")

	dropped := map[string]float64{}
	for _, iv := range sink.Data() {
		iv.RLock()
		for k, c := range iv.Counters {
			if strings.HasPrefix(k, "memberlist.handoff.dropped") {
				dropped[k] = c.Sum
			}
		}
		iv.RUnlock()
	}
	require.Equal(t, map[string]float64{
		"memberlist.handoff.dropped;type=alive": 2,
		"memberlist.handoff.dropped;type=user":  2,
	}, dropped)

	// A node that keeps up handles each packet's news as it comes.
	h.addPeer("n9", 30, 1)
	require.Equal(t, "n9", h.ev.joins[len(h.ev.joins)-1])
}
