package memberlist

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

func BenchmarkZZPushPullKnown(b *testing.B) {
	const members = 10000
	states := make([]pushNodeState, members)
	for i := range states {
		states[i] = pushNodeState{Name: fmt.Sprintf("member-%05d", i), Addr: net.IPv4(10, 0, byte(i>>8), byte(i)).To4(),
			Port: 7946, Incarnation: 1, State: StateAlive, Vsn: []uint8{1, 5, 2, 0, 0, 0}}
	}
	cfg := DefaultLANConfig()
	cfg.Name = "big"
	cfg.LogOutput = io.Discard
	c := newCore(cfg, net.IPv4(127, 0, 0, 1).To4(), 7946, coreEnv{logger: cfg.logger(), metrics: discardMetrics{}, seed: 1})
	c.start(simEpoch, nil)
	c.mergeState(states)
	c.forgetNews()
	msg, err := encodePushPull(false, states, nil, false)
	if err != nil {
		b.Fatal(err)
	}
	req, err := encodeRequest(cfg, nil, msg)
	if err != nil {
		b.Fatal(err)
	}
	from := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 7946}
	b.ReportAllocs()
	for b.Loop() {
		conn := &simConn{r: bytes.NewReader(req), remote: from, local: from}
		m, _ := readRequest(cfg, discardMetrics{}, c.log, conn, nil)
		c.now = simEpoch.Add(time.Second)
		reply := c.handleStream(c.now, m, from)
		if _, err := encodeStream(cfg, nil, reply); err != nil {
			b.Fatal(err)
		}
	}
}
