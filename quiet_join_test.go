package memberlist

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// quietSim is a simulation whose nodes run DefaultLANConfig with
// QuietJoinMerge set as given.
func quietSim(quiet bool) *Simulation {
	return NewSimulation(SimConfig{Seed: 5, Latency: time.Millisecond, Config: func(string) *Config {
		c := DefaultLANConfig()
		c.EnableCompression = false
		c.LogOutput = io.Discard
		c.QuietJoinMerge = quiet
		return c
	}})
}

// tierOf returns the tier of the news queued about member at node, or -1.
func tierOf(s *Simulation, node, member string) int {
	c := s.byName[node].core
	st := c.index.get(member)
	for t, tier := range c.news.tiers {
		for _, ch := range tier {
			for _, e := range ch.e[:ch.n] {
				if e.msg != (newsEntry{}).msg && e.slot == st.slot && e.gen == st.newsGen {
					return t
				}
			}
		}
	}
	return -1
}

// With QuietJoinMerge a joiner queues what its join taught it to be sent
// half as often as other news, after the news sent fewer times; its own alive message and the answering node's news of
// the joiner are gossiped as always, so the join still spreads.
func TestQuietJoinMerge(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		t.Run(fmt.Sprintf("quiet=%v", quiet), func(t *testing.T) {
			s := quietSim(quiet)
			const n = 30
			for i := range n {
				require.NoError(t, s.AddNode(simName(i)))
			}
			require.NoError(t, s.Converge())
			require.NoError(t, s.AddNode("joiner"))
			require.NoError(t, s.Join("joiner", simName(0)))
			s.RunFor(5 * time.Millisecond) // the answer is in, no gossip round yet
			require.Equal(t, n+1, s.NumMembers("joiner"))

			limit := retransmitLimit(DefaultLANConfig().RetransmitMult, n+1)
			want := 0
			if quiet {
				want = limit / 2 // sent half as often
			}
			for i := range n {
				require.Equal(t, want, tierOf(s, "joiner", simName(i)), "news of %s at the joiner", simName(i))
			}
			require.Equal(t, 0, tierOf(s, simName(0), "joiner"), "the answering node gossips the joiner in full")

			s.RunFor(5 * time.Second)
			for i := range n {
				require.Equal(t, n+1, s.NumMembers(simName(i)), "members seen by %s", simName(i))
			}
		})
	}
}

// A formation of 200 nodes joining 10 ms apart still completes with
// QuietJoinMerge, and sends fewer bytes.
func TestQuietJoinMergeFormation(t *testing.T) {
	n := 200
	if simRace {
		n = 80
	}
	bytesSent := map[bool]uint64{}
	for _, quiet := range []bool{false, true} {
		s := quietSim(quiet)
		for i := range n {
			require.NoError(t, s.AddNode(simName(i)))
			if i > 0 {
				require.NoError(t, s.Join(simName(i), simName(0)))
			}
			s.RunFor(10 * time.Millisecond)
		}
		formed := s.RunUntil(simAllSee(s, n), 2*time.Minute)
		require.True(t, formed, "quiet=%v: %d nodes did not all see each other in 2 virtual minutes", quiet, n)
		for i := range n {
			st, _ := s.Stats(simName(i))
			bytesSent[quiet] += st.BytesSent
		}
	}
	require.Less(t, bytesSent[true], bytesSent[false], "datagram bytes with QuietJoinMerge against without")
}
