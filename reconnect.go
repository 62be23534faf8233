// This file owns reconnecting to failed members: for ReconnectTimeout after
// this node declares a member dead by failure (not after a graceful leave),
// it tries now and then to exchange state with that member's last address.
// A partition that heals, or a node back from a long pause, then rejoins
// both sides with no call from the application. The reference leaves this
// to the application (Serf re-joins failed members itself).
//
// One exchange per tick, with one random failed member, whatever their
// number; the tick is ReconnectInterval scaled with the cluster size as the
// periodic push/pull is, so the cluster-wide rate stays bounded, and the
// ticker parks while no member is lost. The exchange is an ordinary
// push/pull, so reference nodes answer it, but what it carries is chosen so
// that a heal does not set off a storm of suspicions: our push holds the
// members we hold alive or suspect, and the target's own entry as dead (so
// the target refutes, with a higher incarnation, and its answer carries the
// refutation back); and from the answer we take everything but its claims
// that members we hold alive are dead or suspect (claims about ourselves
// still make us refute). An ordinary push/pull across a healed partition
// would have each side suspect all of its own members at once, and in a
// large cluster many of them would be declared dead before their
// refutations got through (at 1,000 nodes, about 970 false deaths).
//
// Each node heals its own pairs: when it sees a member it held dead come
// back, the partition has healed, so it tries its next lost member soon
// (within about a ProbeInterval) instead of at the next tick, and the heal
// spreads as fast as the news of it.

package memberlist

import (
	"net"
	"strconv"
	"time"
)

// minLostPeers is the floor of the bound on the failed members a node
// remembers; above it the bound is the member table's size (members dead
// and not yet reaped count). A member declared dead more than once may stand
// in the list more than once until a tick drops it, and past the bound a new
// one replaces a random one. The list must hold every member lost at once:
// after a heal, a member whose refutation this node missed comes back when
// this node tries it, and a member forgotten waits for a periodic
// push/pull, minutes away in a large cluster. With a fixed bound of 1,024,
// a 2,000-node partition healed 50 s after its cut (each node then holding
// 1,000 members of the other half dead, and a few hundred of its own after
// the heal's storm) took 32 s to merge instead of 7. 16 bytes a member.
const minLostPeers = 1024

// lostPeer is a member declared dead by failure, at its last address.
type lostPeer struct {
	info ref[memberInfo] // its name and last address
	at   uint32          // core.elapsedMs() when it was declared dead
	inc  uint32          // its incarnation then
}

// noteLost remembers st, just declared dead by failure, for reconnecting.
func (c *core) noteLost(st *nodeState) {
	iv := c.cfg.ReconnectInterval
	if iv <= 0 || c.cfg.ReconnectTimeout <= 0 || st.name() == c.cfg.Name {
		return
	}
	p := lostPeer{info: st.info, at: c.elapsedMs(), inc: st.incarnation}
	if len(c.lost) < max(minLostPeers, c.numNodes()) {
		c.lost = append(c.lost, p)
	} else {
		c.lost[c.rng.IntN(len(c.lost))] = p
	}
	if !c.reconnectArmed {
		// The first tick at a random point of a whole (scaled) interval,
		// not of ReconnectInterval: a partition makes every node lose
		// members at about the same moment, and with first ticks close
		// together every node would try during the partition and then all
		// again a whole interval later, long after a heal. Spread out, a
		// few nodes try every second across the cluster, so the first
		// exchange across a heal comes soon after it, and the heal spreads
		// from there (see reconnectSoon).
		c.reconnectArmed = true
		c.scheduleReconnect(c.now.Add(c.stagger(pushPullScale(iv, c.numNodes()))))
	}
}

// scheduleReconnect sets the reconnect tick for at, replacing any set
// before: a timer carries the sequence number it was set with, and only the
// latest one fires.
func (c *core) scheduleReconnect(at time.Time) {
	c.reconnectSeq++
	c.reconnectAt = at
	c.schedule(at, timer{kind: tReconnect, seq: c.reconnectSeq})
}

// reconnectSoon brings the next reconnect tick forward to within about a
// ProbeInterval: a member this node held dead is back, so the partition
// that separated them may have healed.
func (c *core) reconnectSoon() {
	if !c.reconnectArmed {
		return
	}
	if at := c.now.Add(c.cfg.ProbeInterval + c.stagger(c.cfg.ProbeInterval)); at.Before(c.reconnectAt) {
		c.scheduleReconnect(at)
	}
}

// reconnectTick starts a push/pull with one random member still lost:
// one that is neither back (alive or suspect again) nor gone for good (left,
// or lost longer than ReconnectTimeout). Members found back or gone are
// forgotten on the way.
func (c *core) reconnectTick() {
	now := c.elapsedMs()
	for len(c.lost) > 0 {
		i := c.rng.IntN(len(c.lost))
		p := c.lost[i]
		pi := p.info.Value()
		st := c.index.get(pi.name)
		expired := time.Duration(now-p.at)*time.Millisecond > c.cfg.ReconnectTimeout
		if expired || (st != nil && st.state() != StateDead) {
			last := len(c.lost) - 1
			c.lost[i] = c.lost[last]
			c.lost[last] = lostPeer{}
			c.lost = c.lost[:last]
			continue
		}
		buf, err := c.reconnectState(p, st)
		if err != nil {
			c.log.Printf("[ERR] memberlist: Reconnect to %s failed: %s", pi.name, err)
			break
		}
		to := Address{
			Addr: net.JoinHostPort(net.IP(pi.ip[:pi.ipLen]).String(), strconv.Itoa(int(pi.port))),
			Name: pi.name,
		}
		c.metrics.IncrCounterWithLabels([]string{"memberlist", "reconnect", "attempt"}, 1, c.labels)
		c.startExchange(exReconnect, to, buf, c.now.Add(c.cfg.TCPTimeout), 0)
		break
	}
	if len(c.lost) == 0 {
		c.lost = nil // a long list once needed gives its memory back
		c.reconnectArmed = false
		return
	}
	c.scheduleReconnect(c.now.Add(pushPullScale(c.cfg.ReconnectInterval, c.numNodes())))
}

// reconnectState is the push/pull sent to lost member p (st, if it is still
// in the table): the members we hold alive or suspect, and p as dead.
func (c *core) reconnectState(p lostPeer, st *nodeState) ([]byte, error) {
	pi := p.info.Value()
	target := pushNodeState{
		Name: pi.name, Addr: pi.ip[:pi.ipLen:pi.ipLen], Port: pi.port,
		Incarnation: p.inc, State: StateDead,
	}
	if st != nil {
		target.Incarnation = max(target.Incarnation, st.incarnation)
		target.Meta, target.Vsn = st.meta(), st.vsnSlice()
	}
	return c.localStateOf(false, func(n *nodeState) bool { return !n.deadOrLeft() }, &target)
}

// mergeReconnectReply merges the answer of a lost member: as any push/pull
// answer, except that claims that members we hold alive or suspect are dead
// or suspect are left out, but for claims about ourselves, which we refute.
func (c *core) mergeReconnectReply(reply *streamMsg) error {
	if reply.t != pushPullMsg {
		return c.mergeReply(false, reply)
	}
	kept := reply.states[:0]
	for _, r := range reply.states {
		if (r.State == StateDead || r.State == StateSuspect) && r.Name != c.cfg.Name {
			if st := c.index.get(r.Name); st != nil && !st.deadOrLeft() {
				continue
			}
		}
		kept = append(kept, r)
	}
	reply.states = kept
	return c.mergeReply(false, reply)
}
