package memberlist

import (
	"strings"
	"testing"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	"github.com/stretchr/testify/require"
)

// TestMetricNames runs a simulated crash and checks that the reference's
// metric names are emitted, so dashboards built for it keep working. The
// simulation and the core take the sink they are given; production's is
// go-metrics' global one (see globalMetrics).
func TestMetricNames(t *testing.T) {
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	conf := metrics.DefaultConfig("")
	conf.EnableHostname = false
	conf.EnableRuntimeMetrics = false
	conf.EnableServiceLabel = false
	m, err := metrics.New(conf, sink)
	require.NoError(t, err)

	runCrashWith(t, SimConfig{Seed: 5, Latency: time.Millisecond, Jitter: 2 * time.Millisecond, Metrics: m}, 8, simName(2))
	h := newHarnessWith(t, nil, m)
	h.c.handlePacket(h.now, []byte{byte(aliveMsg), 0xc1}, peerAddr, h.now)

	seen := map[string]bool{}
	for _, iv := range sink.Data() {
		iv.RLock()
		for k := range iv.Counters {
			seen[strings.SplitN(k, ";", 2)[0]] = true
		}
		for k := range iv.Gauges {
			seen[strings.SplitN(k, ";", 2)[0]] = true
		}
		for k := range iv.Samples {
			seen[strings.SplitN(k, ";", 2)[0]] = true
		}
		iv.RUnlock()
	}
	for _, name := range []string{
		"memberlist.msg.alive", "memberlist.msg.suspect", "memberlist.msg.dead",
		"memberlist.probeNode", "memberlist.gossip", "memberlist.node.instances",
		"memberlist.size.local", "memberlist.health.score", "memberlist.udp.rejected",
	} {
		require.True(t, seen[name], "metric %s not emitted; saw %v", name, seen)
	}
}
