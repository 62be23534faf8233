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
	// The datagrams of the buffer returned last time are sent: their
	// outSends serve again (see newSend).
	out := c.out
	for _, o := range c.spareOut {
		if s, ok := o.(*outSend); ok && len(c.spareSends) < maxSpareSends {
			*s = outSend{}
			c.spareSends = append(c.spareSends, s)
		}
	}
	clear(c.spareOut)
	c.out, c.spareOut = c.spareOut[:0], out
	return out
}

// maxSpareSends bounds the outSends a core keeps for reuse: about what one
// busy turn of a core sends.
const maxSpareSends = 64

// newSend is an outSend of buf to to, reusing one performed before: every
// datagram the core sends is one, and allocating each was a sixteenth of
// what a simulated partition's heal allocated.
func (c *core) newSend(to Address, buf []byte) *outSend {
	if n := len(c.spareSends); n > 0 {
		s := c.spareSends[n-1]
		c.spareSends = c.spareSends[:n-1]
		s.to, s.buf = to, buf
		return s
	}
	return &outSend{to: to, buf: buf}
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
