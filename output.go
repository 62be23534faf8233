// This file owns what the core asks of the world: the output kinds the
// shell (memberlist.go) or the simulator performs, and the core's timers,
// kept as data in a heap and ignored when stale rather than cancelled.

package memberlist

import "time"

// output is one effect requested by the core. The concrete types below are
// the only ones; the shell, the simulator and the core-test harness each
// switch over all of them, and the sum-type check in make test fails the
// build of a switch that misses one.
//
//sumtype:decl
type output interface {
	isOutput()
}

// outSend: send buf as one datagram to to.
type outSend struct {
	to  Address
	buf []byte
}

// outExchange: open a stream to to, send msg (not yet compressed or
// encrypted: the driver frames it as the config says), read the one message
// the peer answers with, and report it with core.exchangeDone(id, ...), or
// the failure if there was none by deadline. Push/pull (periodic and join)
// and the TCP fallback ping are exchanges; the core tells them apart by id.
type outExchange struct {
	id       uint64
	to       Address
	msg      []byte
	deadline time.Time
}

// outJoined: the join exchange started by core.join with this id ended; err
// is nil when the peer's state was merged.
type outJoined struct {
	id  uint64
	err error
}

// outNotify: the broadcast a Leave or UpdateNode waits for is done.
type outNotify struct {
	token uint64
}

// outPingResult: the outcome of a user's Ping.
type outPingResult struct {
	token uint64
	rtt   time.Duration
	err   error
}

func (*outSend) isOutput()       {}
func (*outExchange) isOutput()   {}
func (*outJoined) isOutput()     {}
func (*outNotify) isOutput()     {}
func (*outPingResult) isOutput() {}

func (c *core) emit(o output) {
	c.out = append(c.out, o)
}

// drain hands the pending outputs to the caller, who must perform them in
// order. The returned slice is valid until the next call into the core.
func (c *core) drain() []output {
	// Two buffers take turns, so that steady work does not allocate: the
	// one returned last time is free again, its caller being done with it.
	out := c.out
	clear(c.spareOut)
	c.out, c.spareOut = c.spareOut[:0], out
	return out
}

type timerKind uint8

const (
	tProbe        timerKind = iota // start the next probe round
	tGossip                        // gossip broadcasts
	tPushPull                      // periodic anti-entropy
	tProbeTimeout                  // direct ping unanswered: go indirect
	tProbeEnd                      // probe round's deadline: decide
	tRelayExpire                   // a ping we relay unanswered
	tPingExpire                    // a user's Ping unanswered
	tSuspicion                     // a suspect's timeout may have passed
	tQueueCheck                    // sample the broadcast queue depth
	tReconnect                     // try a failed member; see reconnect.go
)

// timer is a wake-up the core asked for. It is never cancelled: when it
// fires, its handler checks whether it still matters (the same probe round,
// relay or ping still waiting for seq, the suspicion timer still the one
// armed).
type timer struct {
	kind timerKind
	seq  uint32
}
