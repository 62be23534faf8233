// This file owns what the core asks of the world: the output kinds the
// shell (memberlist.go) or the simulator performs, and the core's timers,
// kept as data in a heap and ignored when stale rather than cancelled.

package memberlist

import "time"

// output is one effect requested by the core. The concrete types below are
// the only ones; the shell and the simulator switch over all of them.
type output interface {
	isOutput()
}

// outSend: send buf as one datagram to to.
type outSend struct {
	to  Address
	buf []byte
}

// outPushPull: open a stream to to, send msg (a push/pull message, not yet
// compressed or encrypted), read the peer's state and hand it back with
// core.mergeRemoteState.
type outPushPull struct {
	to  Address
	msg []byte
}

// outStreamPing: TCP fallback ping. Send msg (a ping) over a stream to to,
// expect an ack with seq before deadline, and report with
// core.streamPingResult.
type outStreamPing struct {
	to       Address
	seq      uint32
	msg      []byte
	deadline time.Time
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
func (*outPushPull) isOutput()   {}
func (*outStreamPing) isOutput() {}
func (*outNotify) isOutput()     {}
func (*outPingResult) isOutput() {}

func (c *core) emit(o output) {
	c.out = append(c.out, o)
}

// drain hands the pending outputs to the caller, who must perform them in
// order. The returned slice is valid until the next call into the core.
func (c *core) drain() []output {
	out := c.out
	c.out = c.out[:0:0]
	return out
}

type timerKind uint8

const (
	tProbe        timerKind = iota // start the next probe round
	tGossip                        // gossip broadcasts
	tPushPull                      // periodic anti-entropy
	tProbeTimeout                  // direct ping unanswered: go indirect
	tProbeEnd                      // probe period over: decide
	tAckExpire                     // a relayed or user ping unanswered
	tSuspicion                     // a suspect's timeout may have passed
	tQueueCheck                    // sample the broadcast queue depth
)

// timer is a wake-up the core asked for. It is never cancelled: when it
// fires, its handler checks whether it still matters (the ack still
// pending, the same suspicion still running).
type timer struct {
	kind timerKind
	seq  uint32
	node *nodeState
	susp *suspicion
}
