package memberlist

import (
	"io"
	"net"
	"testing"
)

// BenchmarkCorePingAck measures the core's side of answering a probe: a
// ping in, decoded, and an ack out, encoded and emitted. Allocations per
// op are the figure to watch (the shell adds the socket's).
func BenchmarkCorePingAck(b *testing.B) {
	cfg := DefaultLANConfig()
	cfg.Name = "self"
	cfg.LogOutput = io.Discard
	if _, err := setUpNode(cfg); err != nil {
		b.Fatal(err)
	}
	c := newCore(cfg, net.IPv4(127, 0, 0, 1).To4(), 7946, coreEnv{logger: cfg.logger(), metrics: discardMetrics{}, seed: 1})
	c.start(t0, nil)
	c.drain()
	buf, err := encodeMsg(pingMsg, &ping{SeqNo: 1, Node: "self", SourceAddr: net.IPv4(127, 0, 0, 2).To4(), SourcePort: 7946, SourceNode: "peer"}, false)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.handlePacket(t0, buf, peerAddr, t0)
		if len(c.drain()) != 1 {
			b.Fatal("no ack")
		}
	}
}
