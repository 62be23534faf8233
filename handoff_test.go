package memberlist

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
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

// A driver that reads packets between chunks of news (the shell's loop, a
// slow simulated node) gets the newest news first, a chunk at a time, and
// the user messages only once the membership news is done.
func TestHandleSomeNews(t *testing.T) {
	d := &msgRecorder{}
	h := newHarnessWith(t, func(c *Config) { c.Delegate = d }, nil)
	h.c.holdHandoff = true
	for i := range 4 {
		h.c.handlePacket(h.now, append([]byte{byte(userMsg)}, fmt.Sprint("user ", i)...), peerAddr, h.now)
		h.addPeer(fmt.Sprint("n", i), byte(10+i), 1)
	}
	require.Equal(t, 8, h.c.handoffWaiting())
	require.Equal(t, 3, h.c.handleSomeNews(3))
	require.Equal(t, []string{"n3", "n2", "n1"}, h.ev.joins)
	require.Empty(t, d.msgs)

	// News that arrives meanwhile goes first.
	h.addPeer("n9", 30, 1)
	require.Equal(t, 2, h.c.handleSomeNews(2))
	require.Equal(t, []string{"n3", "n2", "n1", "n9", "n0"}, h.ev.joins)
	require.Empty(t, d.msgs)
	require.Equal(t, 1, h.c.handleSomeNews(1))
	require.Equal(t, []string{"user 3"}, d.msgs)
	require.Equal(t, 3, h.c.handleSomeNews(-1))
	require.Equal(t, []string{"user 3", "user 2", "user 1", "user 0"}, d.msgs)
	require.Zero(t, h.c.handoffWaiting())
	require.Zero(t, h.c.handleSomeNews(5))
}

// The shell's loop handles a burst of news larger than one chunk in full,
// and answers a ping that arrives behind it.
func TestLoopHandlesBurstOfNews(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes, _ := mockCluster(t, 1, nil)
		defer shutdownAll(nodes)
		m := nodes[0]
		peer := m.transport.(*MockTransport).net.NewTransport("p")
		defer func() { _ = peer.Shutdown() }()
		to := Address{Name: m.config.Name, Addr: m.LocalNode().Address()}
		const burst = 3*handoffChunk + 5
		for i := range burst {
			msg, err := encodeMsg(aliveMsg, &alive{Incarnation: 1, Node: fmt.Sprint("x", i),
				Addr: []byte{127, 0, 1, byte(i)}, Port: 7946, Vsn: []uint8{1, 5, 2, 0, 0, 0}}, false)
			require.NoError(t, err)
			_, err = peer.WriteToAddress(msg, to)
			require.NoError(t, err)
		}
		msg, err := encodeMsg(pingMsg, &ping{SeqNo: 77, Node: m.config.Name}, false)
		require.NoError(t, err)
		_, err = peer.WriteToAddress(msg, to)
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, 1+burst, m.NumMembers())
		answered := false
		for range len(peer.PacketCh()) {
			answered = answered || packetHasAck(m.config, (<-peer.PacketCh()).Buf, 77)
		}
		require.True(t, answered, "the ping behind the burst was answered")
	})
}
