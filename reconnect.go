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
// push/pull, so reference nodes answer it: ours tells the far side that its
// members were declared dead, they refute with a higher incarnation, and
// their answer (or the next exchange) carries the refutations back.

package memberlist

import (
	"net"
	"strconv"
	"time"
	"unique"
)

// maxLostPeers bounds the failed members a node remembers; beyond it a new
// one replaces a random one. 1,024 × 32 bytes is 32 KiB a node at most.
const maxLostPeers = 1024

// lostPeer is a member declared dead by failure, at its last address.
type lostPeer struct {
	name  unique.Handle[string]
	at    uint32 // core.elapsedMs() when it was declared dead
	port  uint16
	ipLen uint8
	ip    [16]byte
}

// noteLost remembers st, just declared dead by failure, for reconnecting.
func (c *core) noteLost(st *nodeState) {
	iv := c.cfg.ReconnectInterval
	if iv <= 0 || c.cfg.ReconnectTimeout <= 0 || st.name() == c.cfg.Name {
		return
	}
	p := lostPeer{name: st.id, at: c.elapsedMs(), port: st.port, ipLen: st.ipLen, ip: st.ip}
	if len(c.lost) < maxLostPeers {
		c.lost = append(c.lost, p)
	} else {
		c.lost[c.rng.IntN(len(c.lost))] = p
	}
	if !c.reconnectArmed {
		c.reconnectArmed = true
		c.schedule(c.now.Add(c.stagger(iv)), timer{kind: tReconnect})
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
		st := c.index.get(p.name.Value())
		expired := time.Duration(now-p.at)*time.Millisecond > c.cfg.ReconnectTimeout
		if expired || (st != nil && st.state() != StateDead) {
			last := len(c.lost) - 1
			c.lost[i] = c.lost[last]
			c.lost[last] = lostPeer{}
			c.lost = c.lost[:last]
			continue
		}
		buf, err := c.localState(false)
		if err != nil {
			c.log.Printf("[ERR] memberlist: Reconnect to %s failed: %s", p.name.Value(), err)
			break
		}
		to := Address{
			Addr: net.JoinHostPort(net.IP(p.ip[:p.ipLen]).String(), strconv.Itoa(int(p.port))),
			Name: p.name.Value(),
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
	c.schedule(c.now.Add(pushPullScale(c.cfg.ReconnectInterval, c.numNodes())), timer{kind: tReconnect})
}
