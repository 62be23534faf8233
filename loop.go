// This file owns the shell's event loop, the one goroutine that touches the
// core: it feeds the core packets (a batch at a time, see handlePackets),
// calls and timer ticks, performs the outputs the core asks for, and lets
// the public methods run on it (do, call) while refusing delegates that
// would wait for themselves.

package memberlist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"
)

// startLoop starts the event loop, which sends its goroutine id on the
// returned channel before it touches the core.
func (m *Memberlist) startLoop() <-chan uint64 {
	id := make(chan uint64, 1)
	m.wg.Add(1)
	go m.loop(id)
	return id
}

// loop is the event loop: the only goroutine that touches the core.
func (m *Memberlist) loop(id chan<- uint64) {
	defer m.wg.Done()
	id <- goroutineID()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var armed time.Time // the deadline the timer is set for; zero when stopped
	packets := m.transport.PacketCh()
	for {
		m.performOutputs()
		// Re-arm only when the core's next deadline moved: most inputs (a
		// packet, an ack) leave it where it was.
		if at, ok := m.core.nextDeadline(); !ok {
			if !armed.IsZero() {
				timer.Stop()
				armed = time.Time{}
			}
		} else if !at.Equal(armed) {
			timer.Reset(time.Until(at))
			armed = at
		}
		select {
		case <-m.shutdownCh:
			return
		case p, ok := <-packets:
			if !ok {
				packets = nil
				continue
			}
			m.inCore.Store(true)
			packets = m.handlePackets(p, packets)
		case <-m.newsReady():
			m.inCore.Store(true)
			m.core.handleSomeNews(handoffChunk)
		case fn := <-m.calls:
			m.inCore.Store(true)
			fn(m.core)
		case <-timer.C:
			armed = time.Time{}
			m.inCore.Store(true)
			m.core.tick(time.Now())
		}
	}
}

// maxPacketBatch bounds how many waiting packets the loop reads at once,
// and handoffChunk how many waiting news messages it handles at once (see
// handlePackets): enough for the handoff's priorities to matter when the
// node falls behind, few enough that packets, timers and calls are not
// held up for long.
const (
	maxPacketBatch = 64
	handoffChunk   = 64
)

// handlePackets gives the core p and then, without waiting, the packets
// already queued behind it, up to maxPacketBatch. Probes and acks in them
// are answered at once; their membership news and user messages wait in
// the core's handoff queues, which the loop works through handoffChunk at a
// time (newsReady) in turn with reading packets, timers and calls: so a
// node that falls behind still answers probes, handles the freshest news
// first, and drops what its queues have no room for, as the reference's
// separate handoff goroutine does. It returns the packet channel, or nil
// once it is closed.
func (m *Memberlist) handlePackets(p *Packet, packets <-chan *Packet) <-chan *Packet {
	m.core.handlePacket(time.Now(), p.Buf, p.From, p.Timestamp)
batch:
	for range maxPacketBatch - 1 {
		select {
		case p, ok := <-packets:
			if !ok {
				packets = nil
				break batch
			}
			m.core.handlePacket(time.Now(), p.Buf, p.From, p.Timestamp)
		default:
			break batch
		}
	}
	if len(packets) == 0 {
		// Nothing else waits: a node that keeps up handles the news now,
		// in the same turn of the loop.
		m.core.handleSomeNews(handoffChunk)
	}
	return packets
}

// newsReady returns a closed channel when the core has news waiting to be
// handled, for the loop's select, and nil (never ready) when it has none.
func (m *Memberlist) newsReady() <-chan struct{} {
	if m.core.handoffWaiting() > 0 {
		return closedChan
	}
	return nil
}

// closedChan is always ready to receive from.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// ErrShutdown is returned by the methods of a node that is shut down.
var ErrShutdown = errors.New("memberlist: the node is shut down")

// ErrCalledFromDelegate is returned by Join, Leave, UpdateNode and Ping when
// they are called from a delegate callback: callbacks run on the node's
// event loop, and those methods wait for that loop.
var ErrCalledFromDelegate = errors.New("memberlist: Join, Leave, UpdateNode and Ping cannot be called from a delegate callback, which runs on the node's event loop: call them from another goroutine")

// ErrNodeNamesRequired is returned when Config.RequireNodeNames is set and a
// message would go to an address with no node name.
var ErrNodeNamesRequired = errors.New("memberlist: node names are required by configuration but one was not provided")

// do runs fn on the loop goroutine and waits for it. Once the node is shut
// down it returns ErrShutdown without running fn. The shell's own
// goroutines use it directly; public methods call onLoop first, since a
// delegate calling do would wait for itself forever.
func (m *Memberlist) do(fn func(*core)) error {
	done := make(chan struct{})
	wrapped := func(c *core) {
		defer close(done)
		fn(c)
	}
	select {
	case m.calls <- wrapped:
	case <-m.shutdownCh:
		return ErrShutdown
	}
	<-done
	return nil
}

// call is do for the public methods: called from a delegate (on the loop),
// it returns ErrCalledFromDelegate instead of waiting for itself.
func (m *Memberlist) call(fn func(*core)) error {
	if m.onLoop() {
		return ErrCalledFromDelegate
	}
	return m.do(fn)
}

// onLoop reports whether the caller runs on the event loop, that is, in a
// delegate callback. Delegates run only while the loop runs core code, so
// while it does not, the answer is no at the cost of one atomic load; only
// a call that comes while the loop is in the core reads the goroutine id.
func (m *Memberlist) onLoop() bool {
	return m.inCore.Load() && goroutineID() == m.loopGoroutine
}

// goroutineID returns the running goroutine's id, read from its stack
// header ("goroutine 42 [running]:"): once when the loop starts, and when a
// public method that waits for the loop is called while the loop is busy.
func goroutineID() uint64 {
	var buf [32]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}

// performOutputs carries out what the core asked for.
func (m *Memberlist) performOutputs() {
	m.inCore.Store(false)
	for _, o := range m.core.drain() {
		switch o := o.(type) {
		case *outSend:
			if _, err := m.transport.WriteToAddress(o.buf, o.to); err != nil {
				m.logger.Printf("[ERR] memberlist: Failed to send packet to %s: %s", o.to.String(), err)
			}
		case *outExchange:
			ctx := m.joinCtx[o.id]
			if ctx == nil {
				ctx = context.Background()
			}
			delete(m.joinCtx, o.id)
			m.goStream(func() {
				reply, err := m.exchange(ctx, o)
				_ = m.do(func(c *core) { c.exchangeDone(time.Now(), o.id, reply, err) })
			})
		case *outJoined:
			delete(m.joinCtx, o.id) // set when the join could not start its exchange
			if ch, ok := m.joins[o.id]; ok {
				delete(m.joins, o.id)
				ch <- o.err
			}
		case *outNotify:
			if ch, ok := m.waiters[o.token]; ok {
				delete(m.waiters, o.token)
				close(ch)
			}
		case *outPingResult:
			if ch, ok := m.waiters[o.token]; ok {
				delete(m.waiters, o.token)
				ch <- *o
				close(ch)
			}
		default:
			panic(fmt.Sprintf("memberlist: unhandled core output %T", o))
		}
	}
	m.health.Store(int64(m.core.healthScore()))
}
