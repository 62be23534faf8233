package memberlist

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// stormDelegate is one simulated node's delegate: it hands out the user
// broadcasts queued at its node, passes on each user message it receives
// for the first time (memberlist leaves that to the application), and
// records how long after it was sent the node first received it.
type stormDelegate struct {
	q    *TransmitLimitedQueue
	s    *Simulation
	sent map[string]time.Duration // shared: when each message was sent
	got  map[string]time.Duration
}

func (d *stormDelegate) NodeMeta(int) []byte { return nil }
func (d *stormDelegate) NotifyMsg(m []byte) {
	if _, dup := d.got[string(m)]; !dup {
		d.got[string(m)] = d.s.Elapsed() - d.sent[string(m)]
		d.q.QueueBroadcast(rawBroadcast(slices.Clone(m))) // passed on, as Serf's events are
	}
}
func (d *stormDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.q.GetBroadcasts(overhead, limit)
}
func (d *stormDelegate) LocalState(bool) []byte        { return nil }
func (d *stormDelegate) MergeRemoteState([]byte, bool) {}

// userSpread is how far one user message got: the time until 99% and
// until all of the nodes that were up before the storm received it (-1:
// never, within the run).
type userSpread struct {
	sentAt    time.Duration
	t99, t100 time.Duration
}

// runUserStorm converges n-joiners nodes, then has joiners more join one
// every 10 ms through three seeds (a storm of membership news: every node
// forwards each join, and each joiner learns the whole cluster), while
// node 0 queues a user broadcast every second. It reports how each user
// message spread among the nodes that were up before the storm.
func runUserStorm(t *testing.T, n, joiners int, d time.Duration) []userSpread {
	t.Helper()
	var s *Simulation
	sent := map[string]time.Duration{}
	delegates := map[string]*stormDelegate{}
	s = NewSimulation(SimConfig{Seed: 7, Latency: time.Millisecond, Jitter: time.Millisecond,
		Config: func(name string) *Config {
			c := DefaultLANConfig()
			c.EnableCompression = false
			c.LogOutput = io.Discard
			dg := &stormDelegate{s: s, sent: sent, got: map[string]time.Duration{}}
			dg.q = &TransmitLimitedQueue{NumNodes: func() int { return s.NumMembers(name) }, RetransmitMult: c.RetransmitMult}
			delegates[name] = dg
			c.Delegate = dg
			return c
		}})
	name := func(i int) string { return fmt.Sprintf("node-%05d", i) }
	base := n - joiners
	for i := range base {
		require.NoError(t, s.AddNode(name(i)))
	}
	require.NoError(t, s.Converge())
	s.RunFor(time.Second)

	const step = 10 * time.Millisecond
	start := s.Elapsed()
	var order []string
	for k := 0; time.Duration(k)*step < d; k++ {
		if k < joiners {
			j := base + k
			require.NoError(t, s.AddNode(name(j)))
			require.NoError(t, s.Join(name(j), name(0), name(1), name(2)))
		}
		if at := s.Elapsed() - start; at%time.Second == 0 && at+5*time.Second <= d {
			// 300 bytes, as an event with a payload: a short message
			// would slip into the gap news leaves at a packet's end.
			m := fmt.Sprintf("user-%03d-%0292d", len(order), 0)
			sent[m] = s.Elapsed()
			order = append(order, m)
			delegates[name(0)].q.QueueBroadcast(rawBroadcast(m))
		}
		s.RunFor(step)
	}
	// Spread among the nodes up before the storm, node 0 (the sender) aside.
	out := make([]userSpread, 0, len(order))
	for _, m := range order {
		var arr []time.Duration
		for i := 1; i < base; i++ {
			if at, ok := delegates[name(i)].got[m]; ok {
				arr = append(arr, at)
			}
		}
		slices.Sort(arr)
		sp := userSpread{sentAt: sent[m] - start, t99: -1, t100: -1}
		if k := (99*(base-1) + 99) / 100; len(arr) >= k {
			sp.t99 = arr[k-1]
		}
		if len(arr) == base-1 {
			sp.t100 = arr[len(arr)-1]
		}
		out = append(out, sp)
	}
	return out
}

// withUserShare runs f with userBroadcastShare set to share.
func withUserShare(share int, f func()) {
	old := userBroadcastShare
	userBroadcastShare = share
	defer func() { userBroadcastShare = old }()
	f()
}

func worstSpread(sp []userSpread) (worst time.Duration) {
	for _, x := range sp {
		if x.t100 < 0 {
			return -1
		}
		worst = max(worst, x.t100)
	}
	return worst
}

// While a mass join fills every gossip packet with membership news, user
// broadcasts keep their share of each packet and reach every node within
// seconds; with the share off (the reference's order: news first, user
// broadcasts in what room is left) they wait until the storm passes.
func TestUserBroadcastsDuringJoinStorm(t *testing.T) {
	// Under the race detector, which slows the simulator about
	// fifteenfold, a smaller storm.
	n, joiners, d := 300, 100, 30*time.Second
	if simRace {
		n, joiners, d = 120, 60, 12*time.Second
	}
	if v, err := strconv.Atoi(os.Getenv("MEMBERLIST_STORM_NODES")); err == nil && v > 0 {
		n, joiners = v, v/5 // the closing note's run: 5,000 nodes
	}
	var with, without []userSpread
	withUserShare(4, func() { with = runUserStorm(t, n, joiners, d) })
	withUserShare(0, func() { without = runUserStorm(t, n, joiners, d) })
	secs := func(d time.Duration) string {
		if d < 0 {
			return "never"
		}
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	for i := range with {
		t.Logf("sent at %4.1fs: 99%% / 100%% of the nodes after %s / %s with the share, %s / %s without",
			with[i].sentAt.Seconds(), secs(with[i].t99), secs(with[i].t100), secs(without[i].t99), secs(without[i].t100))
	}
	w, wo := worstSpread(with), worstSpread(without)
	require.True(t, w >= 0 && w < 3*time.Second, "with the share, a user message took %v to reach every node", w)
	require.True(t, wo < 0 || wo > 2*w, "without the share, user messages spread as fast (%v against %v): the storm did not fill the packets", wo, w)
}
