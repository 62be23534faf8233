// This file owns the mixed-cluster scenarios: clusters of our nodes and reference nodes
// on loopback, each scenario run in both directions (our node seeding or acting with
// reference peers, and the reverse), asserting on delegates, member counts and the
// decoded wire traffic.
package interop

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/swimgo/memberlist/interop/internal/wire"
)

// layout says where nodes bind. Protocol version 1 carries no ports, so every node must
// use the same port; distinct loopback addresses make that possible. (Nodes are not named
// by their address: the reference then looks peers up by IP while sending and races on
// their version fields, which -race rightly reports.)
type layout struct {
	sharedPort int
	next       int
}

func (c *cluster) opts(im impl, role string, i int, lay *layout, tweak func(*nodeOpts)) nodeOpts {
	o := nodeOpts{Name: fmt.Sprintf("%s-%s%d", im.name, role, i)}
	if lay != nil {
		lay.next++
		o.IP = fmt.Sprintf("127.0.0.%d", 10+lay.next)
		o.Port = lay.sharedPort
	}
	if tweak != nil {
		tweak(&o)
	}
	return o
}

func newLayout(t *testing.T, nodes int) *layout {
	var ips []string
	for i := 1; i <= nodes; i++ {
		ips = append(ips, fmt.Sprintf("127.0.0.%d", 10+i))
	}
	return &layout{sharedPort: freePort(t, ips...)}
}

// mixed starts nA nodes of d.a and nB of d.b, joins them all through the first d.a
// node and waits until every node counts everyone.
func (c *cluster) mixed(d direction, nA, nB int, lay *layout, tweak func(*nodeOpts)) (as, bs []*node) {
	c.t.Helper()
	for i := 0; i < nA; i++ {
		as = append(as, c.start(d.a, c.opts(d.a, "a", i, lay, tweak)))
	}
	for i := 0; i < nB; i++ {
		bs = append(bs, c.start(d.b, c.opts(d.b, "b", i, lay, tweak)))
	}
	var joiners []*node
	for i := 0; i < nA || i < nB; i++ {
		if i < nB {
			joiners = append(joiners, bs[i])
		}
		if i > 0 && i < nA {
			joiners = append(joiners, as[i])
		}
	}
	c.join(as[0], joiners...)
	c.waitMembers(append(append([]*node{}, as...), bs...), nA+nB, 10*time.Second)
	return as, bs
}

func all(groups ...[]*node) []*node {
	var out []*node
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// peerView is what from believes about to, for addressing sends the way a user would
// (from a member list entry, versions included).
func peerView(t *testing.T, from, to *node) nodeView {
	t.Helper()
	v, ok := from.ev.liveViews()[to.name]
	require.Truef(t, ok, "%s has no view of %s", from, to)
	return v
}

func noDecodeErrors(t *testing.T, c *cluster) {
	t.Helper()
	for _, e := range c.fab.errors() {
		t.Errorf("traffic the independent decoder cannot read: %s", e)
	}
}

func TestMixedJoinConvergence(t *testing.T) {
	for _, d := range directions() {
		t.Run(d.name, func(t *testing.T) {
			c := newCluster(t)
			as, bs := c.mixed(d, 3, 3, nil, nil)
			nodes := all(as, bs)
			want := map[string]nodeView{}
			for _, n := range nodes {
				v := expectView(n, "meta-"+n.name)
				v.PMin, v.PMax, v.PCur = 1, 5, 2
				want[n.name] = v
			}
			check := func(views map[string]nodeView) string {
				if len(views) != len(want) {
					return fmt.Sprintf("has %d members, want %d", len(views), len(want))
				}
				for name, w := range want {
					g, ok := views[name]
					g.FromEvent, g.FromMembersNative = false, false
					if !ok || g != w {
						return fmt.Sprintf("member %s: got %v want %v", name, g, w)
					}
				}
				return ""
			}
			waitFor(t, 5*time.Second, func() string {
				for _, n := range nodes {
					if why := check(n.ev.liveViews()); why != "" {
						return fmt.Sprintf("%s event view: %s", n, why)
					}
					if ms, ok := n.api.Members(); ok {
						m := map[string]nodeView{}
						for _, v := range ms {
							m[v.Name] = v
						}
						if why := check(m); why != "" {
							return fmt.Sprintf("%s Members(): %s", n, why)
						}
					}
				}
				return ""
			})
			noDecodeErrors(t, c)
		})
	}
}

// Our nodes with QuietJoinMerge (which changes only how often a joiner
// gossips what its join taught it, not what goes on the wire) form one
// cluster with the reference's, joining through either kind.
func TestMixedQuietJoinMerge(t *testing.T) {
	for _, d := range directions() {
		t.Run(d.name, func(t *testing.T) {
			c := newCluster(t)
			as, bs := c.mixed(d, 3, 3, nil, func(o *nodeOpts) { o.QuietJoinMerge = true })
			require.Len(t, all(as, bs), 6)
			noDecodeErrors(t, c)
		})
	}
}

// suspectsOf / deadsOf find accusations about victim on the wire.
func suspectsOf(c *cluster, victim string, from func(string) bool) []wire.SuspectMsg {
	var out []wire.SuspectMsg
	for _, m := range c.fab.findMsgs(true, func(p sentPacket, m wire.Msg) bool {
		return m.Type == wire.Suspect && from(p.From)
	}) {
		if s, err := m.Suspect(); err == nil && s.Node == victim {
			out = append(out, s)
		}
	}
	return out
}

func deadsOf(c *cluster, victim string) []wire.DeadMsg {
	var out []wire.DeadMsg
	for _, m := range c.fab.findMsgs(true, func(_ sentPacket, m wire.Msg) bool { return m.Type == wire.Dead }) {
		if d, err := m.Dead(); err == nil && d.Node == victim {
			out = append(out, d)
		}
	}
	return out
}

func names(ns []*node) map[string]bool {
	out := map[string]bool{}
	for _, n := range ns {
		out[n.name] = true
	}
	return out
}

func TestMixedCrashDetection(t *testing.T) {
	for _, d := range directions() {
		t.Run(d.name, func(t *testing.T) {
			c := newCluster(t)
			as, bs := c.mixed(d, 2, 2, nil, nil)
			// The victim is of the peer implementation, so the acting side's failure
			// detector (and the peer's) must notice a crash of the other kind.
			victim := bs[1]
			survivors := all(as, bs[:1])
			require.NoError(t, victim.shutdown())
			c.waitMembers(survivors, 3, 8*time.Second)
			waitFor(t, 3*time.Second, func() string {
				for _, n := range survivors {
					if n.ev.count(evLeave, victim.name) == 0 {
						return fmt.Sprintf("%s has no NotifyLeave for %s", n, victim)
					}
				}
				return ""
			})
			if len(suspectsOf(c, victim.name, func(string) bool { return true })) == 0 {
				t.Errorf("no node put a suspect message about %s on the wire", victim)
			}
			// Whoever's suspicion timer fires first gossips the death on its next tick.
			waitFor(t, 2*time.Second, func() string {
				if len(deadsOf(c, victim.name)) == 0 {
					return "no dead message about the victim"
				}
				return ""
			})
			for _, dm := range deadsOf(c, victim.name) {
				assert.NotEqual(t, victim.name, dm.From, "a crash must be declared dead by others, not as a leave")
			}
			for _, n := range survivors {
				if e, ok := n.ev.find(evLeave, func(v nodeView) bool { return v.Name == victim.name }); ok {
					t.Logf("%s NotifyLeave(%s) Node.State=%d", n, victim.name, e.Node.State)
				}
			}
			noDecodeErrors(t, c)
		})
	}
}

// A node of either kind suspected while cut off refutes once it hears again,
// and every node of both kinds takes the refutation: with ours in the
// reference's order of gossip, and with Config.RefutationsFirst (which
// changes only that order).
func TestMixedFalseSuspicionRefuted(t *testing.T) {
	for _, rf := range []bool{false, true} {
		name := "reference order"
		if rf {
			name = "RefutationsFirst"
		}
		t.Run(name, func(t *testing.T) { mixedFalseSuspicionRefuted(t, rf) })
	}
}

func mixedFalseSuspicionRefuted(t *testing.T, rf bool) {
	for _, d := range directions() {
		t.Run(d.name, func(t *testing.T) {
			c := newCluster(t)
			slow := func(o *nodeOpts) {
				o.Timing = fastTiming()
				o.Timing.SuspicionMult = 8 // 2.4s before a suspect is declared dead
				o.RefutationsFirst = rf
			}
			as, bs := c.mixed(d, 2, 2, nil, slow)
			victim := bs[0]
			acting := names(as)
			c.fab.isolate(victim.name)
			var accused []wire.SuspectMsg
			waitFor(t, 5*time.Second, func() string {
				accused = suspectsOf(c, victim.name, func(from string) bool { return acting[from] })
				if len(accused) == 0 {
					return fmt.Sprintf("no %s node suspected the isolated %s", d.a.name, victim)
				}
				return ""
			})
			c.fab.heal(victim.name)
			inc := accused[0].Incarnation
			waitFor(t, 3*time.Second, func() string {
				for _, m := range c.fab.findMsgs(false, func(p sentPacket, m wire.Msg) bool {
					return p.From == victim.name && m.Type == wire.Alive
				}) {
					if a, err := m.Alive(); err == nil && a.Node == victim.name && a.Incarnation > inc {
						return ""
					}
				}
				return fmt.Sprintf("%s did not refute suspicion at incarnation %d", victim, inc)
			})
			everyone := all(as, bs)
			holdFor(t, 3*time.Second, func() string {
				for _, n := range everyone {
					if n.ev.count(evLeave, victim.name) > 0 {
						return fmt.Sprintf("%s declared the refuting %s gone", n, victim)
					}
					if got := n.api.NumMembers(); got != 4 {
						return fmt.Sprintf("%s counts %d members", n, got)
					}
				}
				return ""
			})
			if ds := deadsOf(c, victim.name); len(ds) > 0 {
				t.Errorf("dead message about refuting node: %+v", ds)
			}
			noDecodeErrors(t, c)
		})
	}
}

// pushedStates collects, per sender, the state it pushed for target in state exchanges
// that began after the sender itself had reported target gone (NotifyLeave), so an
// exchange already under way when the news arrived is not held against it.
func pushedStates(c *cluster, target string, senders []*node) map[string][]int {
	since := map[string]time.Time{}
	for _, n := range senders {
		if e, ok := n.ev.find(evLeave, func(v nodeView) bool { return v.Name == target }); ok {
			since[n.name] = e.At
		}
	}
	out := map[string][]int{}
	for _, s := range c.fab.findStreams(func(s sentStream) bool {
		t, ok := since[s.From]
		return ok && s.Start.After(t) && s.S.PushPull != nil
	}) {
		for _, n := range s.S.PushPull.Nodes {
			if n.Name == target {
				out[s.From] = append(out[s.From], n.State)
			}
		}
	}
	return out
}

func TestMixedGracefulLeave(t *testing.T) {
	for _, d := range directions() {
		t.Run(d.name, func(t *testing.T) {
			c := newCluster(t)
			tw := func(o *nodeOpts) {
				o.Timing = fastTiming()
				o.Timing.PushPullInterval = 400 * time.Millisecond
			}
			as, bs := c.mixed(d, 2, 2, nil, tw)
			leaver := as[1]
			observers := append([]*node{as[0]}, bs...)
			require.NoError(t, leaver.api.Leave(3*time.Second))
			require.NoError(t, leaver.shutdown())
			c.waitMembers(observers, 3, 3*time.Second)
			waitFor(t, 2*time.Second, func() string {
				for _, n := range observers {
					if n.ev.count(evLeave, leaver.name) == 0 {
						return fmt.Sprintf("%s has no NotifyLeave for %s", n, leaver)
					}
				}
				return ""
			})
			ds := deadsOf(c, leaver.name)
			require.NotEmpty(t, ds, "the leaver sent no dead message about itself")
			for _, dm := range ds {
				assert.Equal(t, leaver.name, dm.From, "only the leaver's own dead message should exist")
			}
			// The reference hands NotifyLeave a Node whose State field it never sets, so
			// "left, not dead" is read from what each observer pushes in state exchanges.
			waitFor(t, 4*time.Second, func() string {
				st := pushedStates(c, leaver.name, observers)
				for _, n := range observers {
					if len(st[n.name]) == 0 {
						return fmt.Sprintf("%s has not pushed state for %s yet", n, leaver)
					}
				}
				return ""
			})
			for from, states := range pushedStates(c, leaver.name, observers) {
				for _, s := range states {
					assert.Equalf(t, wire.StateLeft, s, "%s pushed %s as state %d", from, leaver.name, s)
				}
			}
			for _, n := range observers {
				if e, ok := n.ev.find(evLeave, func(v nodeView) bool { return v.Name == leaver.name }); ok {
					t.Logf("%s NotifyLeave(%s) Node.State=%d", n, leaver.name, e.Node.State)
				}
			}
			noDecodeErrors(t, c)
		})
	}
}

func TestMixedUpdateNode(t *testing.T) {
	for _, d := range directions() {
		t.Run(d.name, func(t *testing.T) {
			c := newCluster(t)
			as, bs := c.mixed(d, 2, 2, nil, nil)
			actor := as[0]
			others := append([]*node{as[1]}, bs...)
			meta := "updated-" + actor.name
			actor.del.setMeta(meta)
			require.NoError(t, actor.api.UpdateNode(3*time.Second))
			waitFor(t, 3*time.Second, func() string {
				for _, n := range others {
					if _, ok := n.ev.find(evUpdate, func(v nodeView) bool {
						return v.Name == actor.name && v.Meta == meta
					}); !ok {
						return fmt.Sprintf("%s saw no NotifyUpdate with %q", n, meta)
					}
					if ms, ok := n.api.Members(); ok {
						for _, v := range ms {
							if v.Name == actor.name && v.Meta != meta {
								return fmt.Sprintf("%s Members() still has meta %q", n, v.Meta)
							}
						}
					}
				}
				return ""
			})
			noDecodeErrors(t, c)
		})
	}
}

func TestMixedUserMessages(t *testing.T) {
	for _, d := range directions() {
		t.Run(d.name, func(t *testing.T) {
			c := newCluster(t)
			as, bs := c.mixed(d, 2, 2, nil, nil)
			for _, from := range as {
				for _, to := range bs {
					view := peerView(t, from, to)
					rel := fmt.Sprintf("reliable %s->%s", from.name, to.name)
					require.NoError(t, from.api.SendReliable(view, []byte(rel)))
					be := fmt.Sprintf("best-effort %s->%s", from.name, to.name)
					// UDP may lose a datagram even on loopback; resend until seen.
					waitFor(t, 3*time.Second, func() string {
						if !to.del.gotMsg(be) {
							require.NoError(t, from.api.SendBestEffort(view, []byte(be)))
							return fmt.Sprintf("%s did not get %q", to, be)
						}
						if !to.del.gotMsg(rel) {
							return fmt.Sprintf("%s did not get %q", to, rel)
						}
						return ""
					})
				}
			}
			noDecodeErrors(t, c)
		})
	}
}

func TestMixedBroadcasts(t *testing.T) {
	for _, d := range directions() {
		t.Run(d.name, func(t *testing.T) {
			c := newCluster(t)
			as, bs := c.mixed(d, 2, 2, nil, nil)
			msg := "broadcast from " + as[0].name
			as[0].api.QueueBroadcast([]byte(msg))
			waitFor(t, 3*time.Second, func() string {
				for _, n := range append([]*node{as[1]}, bs...) {
					if !n.del.gotMsg(msg) {
						return fmt.Sprintf("%s did not get %q", n, msg)
					}
				}
				return ""
			})
			noDecodeErrors(t, c)
		})
	}
}

func TestMixedPushPullUserState(t *testing.T) {
	for _, d := range directions() {
		t.Run(d.name, func(t *testing.T) {
			c := newCluster(t)
			tw := func(o *nodeOpts) {
				name := o.Name
				o.LocalState = func(join bool) []byte { return []byte(fmt.Sprintf("state of %s join=%v", name, join)) }
				o.Timing = fastTiming()
				o.Timing.PushPullInterval = 300 * time.Millisecond
			}
			seed := c.start(d.a, c.opts(d.a, "a", 0, nil, tw))
			joiner := c.start(d.b, c.opts(d.b, "b", 0, nil, tw))
			c.join(seed, joiner)
			for _, pair := range [][2]*node{{seed, joiner}, {joiner, seed}} {
				from, to := pair[0], pair[1]
				for _, join := range []bool{true, false} {
					want := fmt.Sprintf("state of %s join=%v", from.name, join)
					waitFor(t, 3*time.Second, func() string {
						if to.del.gotMerge(func(m mergedState) bool { return m.Buf == want && m.Join == join }) {
							return ""
						}
						return fmt.Sprintf("%s never merged %q with join=%v", to, want, join)
					})
				}
			}
			noDecodeErrors(t, c)
		})
	}
}

// steady widens the probe period for scenarios that assert the absence of suspicion:
// a scheduling stall longer than ProbeInterval-ProbeTimeout would otherwise let the
// direct-ping timeout and the end of the probe period fire together, leaving no time
// for indirect acks in either implementation.
func steady(o *nodeOpts) {
	o.Timing = fastTiming()
	o.Timing.ProbeInterval = time.Second
	o.Timing.ProbeTimeout = 300 * time.Millisecond
}

func TestMixedIndirectProbe(t *testing.T) {
	for _, d := range directions() {
		t.Run(d.name, func(t *testing.T) {
			c := newCluster(t)
			as, bs := c.mixed(d, 2, 1, nil, steady)
			prober, target, via := as[0], as[1], bs[0]
			c.fab.blockUDP(prober.name, target.name)
			c.fab.blockTCP(prober.name, target.name)
			blocked := time.Now()
			var req wire.IndirectPingMsg
			waitFor(t, 5*time.Second, func() string {
				for _, m := range c.fab.findMsgs(false, func(p sentPacket, m wire.Msg) bool {
					return p.From == prober.name && p.To == via.name && m.Type == wire.IndirectPing
				}) {
					if r, err := m.IndirectPing(); err == nil && r.Node == target.name {
						req = r
						return ""
					}
				}
				return fmt.Sprintf("%s sent no indirect ping for %s through %s", prober, target, via)
			})
			waitFor(t, 3*time.Second, func() string {
				relayed := false
				for _, m := range c.fab.findMsgs(false, func(p sentPacket, m wire.Msg) bool {
					return p.From == via.name && p.To == target.name && m.Type == wire.Ping
				}) {
					if p, err := m.Ping(); err == nil && p.Node == target.name && p.SourceNode == via.name {
						relayed = true
					}
				}
				if !relayed {
					return fmt.Sprintf("%s did not ping %s on behalf of %s", via, target, prober)
				}
				for _, m := range c.fab.findMsgs(false, func(p sentPacket, m wire.Msg) bool {
					return p.From == via.name && p.To == prober.name && m.Type == wire.Ack
				}) {
					if a, err := m.Ack(); err == nil && a.SeqNo == req.SeqNo {
						return ""
					}
				}
				return fmt.Sprintf("%s did not forward the ack for seq %d to %s", via, req.SeqNo, prober)
			})
			everyone := all(as, bs)
			holdFor(t, 2*time.Second, func() string {
				for _, who := range []*node{prober, target} {
					if s := suspectsOf(c, who.name, func(string) bool { return true }); len(s) > 0 {
						return fmt.Sprintf("%s was suspected although reachable through %s: %+v", who, via, s[0])
					}
				}
				for _, n := range everyone {
					if got := n.api.NumMembers(); got != 3 {
						return fmt.Sprintf("%s counts %d members", n, got)
					}
				}
				return ""
			})
			t.Logf("indirect probing held for %v", time.Since(blocked).Round(time.Millisecond))
			noDecodeErrors(t, c)
		})
	}
}

func TestMixedTCPFallbackPing(t *testing.T) {
	for _, d := range directions() {
		t.Run(d.name, func(t *testing.T) {
			c := newCluster(t)
			as, bs := c.mixed(d, 1, 1, nil, steady)
			prober, target := as[0], bs[0]
			c.fab.blockUDP(prober.name, target.name)
			waitFor(t, 5*time.Second, func() string {
				pings := c.fab.findStreams(func(s sentStream) bool {
					return !s.Reply && s.From == prober.name && s.To == target.name && s.S.Ping != nil &&
						s.S.Ping.Node == target.name
				})
				for _, p := range pings {
					if len(c.fab.findStreams(func(s sentStream) bool {
						return s.Reply && s.From == target.name && s.S.Ack != nil && s.S.Ack.SeqNo == p.S.Ping.SeqNo
					})) > 0 {
						return ""
					}
				}
				return fmt.Sprintf("no TCP ping %s->%s answered by an ack (%d pings)", prober, target, len(pings))
			})
			holdFor(t, 2*time.Second, func() string {
				for _, n := range []*node{prober, target} {
					if s := suspectsOf(c, n.name, func(string) bool { return true }); len(s) > 0 {
						return fmt.Sprintf("%s suspected although TCP pings succeed: %+v", n, s[0])
					}
					if got := n.api.NumMembers(); got != 2 {
						return fmt.Sprintf("%s counts %d members", n, got)
					}
				}
				return ""
			})
			noDecodeErrors(t, c)
		})
	}
}

func TestMixedEncryption(t *testing.T) {
	k1 := bytes.Repeat([]byte{0x11}, 16)
	k2 := bytes.Repeat([]byte{0x22}, 32)
	for _, tc := range []struct {
		pv     uint8
		encVsn byte
	}{{1, 0}, {2, 1}, {5, 1}} {
		for _, d := range directions() {
			t.Run(fmt.Sprintf("pv%d/%s", tc.pv, d.name), func(t *testing.T) {
				c := newCluster(t)
				c.fab.addKeys(k1, k2)
				var lay *layout
				if tc.pv == 1 {
					lay = newLayout(t, 4)
				}
				as, bs := c.mixed(d, 2, 2, lay, func(o *nodeOpts) {
					o.PV = tc.pv
					o.Keys = [][]byte{k1}
				})
				everyone := all(as, bs)
				for _, n := range everyone {
					if pv := n.api.ProtocolVersion(); pv != tc.pv {
						t.Errorf("%s speaks protocol %d, configured %d", n, pv, tc.pv)
					}
				}
				checkEnc := func(since time.Time, keyIdx int) {
					t.Helper()
					waitFor(t, 3*time.Second, func() string {
						for _, n := range everyone {
							if len(c.fab.packetsFrom(func(p sentPacket) bool { return p.From == n.name && p.At.After(since) })) == 0 {
								return fmt.Sprintf("%s has sent no packets yet", n)
							}
						}
						return ""
					})
					for _, n := range everyone {
						for _, p := range c.fab.packetsFrom(func(p sentPacket) bool { return p.From == n.name && p.At.After(since) }) {
							for _, m := range p.Msgs {
								if !m.Env.Encrypted || m.Env.EncVersion != tc.encVsn || m.Env.KeyIndex != keyIdx {
									t.Errorf("%s sent %s with envelope %+v, want encryption v%d with key %d", n,
										wire.TypeName(m.Type), m.Env, tc.encVsn, keyIdx)
									return
								}
							}
						}
						for _, s := range c.fab.findStreams(func(s sentStream) bool {
							return !s.Reply && s.From == n.name && s.At.After(since)
						}) {
							if !s.S.Env.Encrypted || s.S.Env.EncVersion != tc.encVsn || s.S.Env.KeyIndex != keyIdx {
								t.Errorf("%s sent stream %s with envelope %+v", n, wire.TypeName(s.S.Type), s.S.Env)
							}
						}
					}
				}
				checkEnc(time.Time{}, 0)
				msg := "secret from " + as[0].name
				require.NoError(t, as[0].api.SendReliable(peerView(t, as[0], bs[0]), []byte(msg)))
				waitFor(t, 3*time.Second, func() string {
					if bs[0].del.gotMsg(msg) {
						return ""
					}
					return fmt.Sprintf("%s did not get the encrypted message", bs[0])
				})

				whole := func() string {
					for _, n := range everyone {
						if got := n.api.NumMembers(); got != 4 {
							return fmt.Sprintf("%s counts %d members during rotation", n, got)
						}
						for _, o := range everyone {
							if n.ev.count(evLeave, o.name) > 0 {
								return fmt.Sprintf("%s lost %s during rotation", n, o)
							}
						}
					}
					return ""
				}
				steps := []struct {
					name string
					do   func(n *node) error
				}{
					{"AddKey(new)", func(n *node) error { return n.api.AddKey(k2) }},
					{"UseKey(new)", func(n *node) error { return n.api.UseKey(k2) }},
					{"RemoveKey(old)", func(n *node) error { return n.api.RemoveKey(k1) }},
				}
				// Interleave implementations so mixed keyrings coexist at every step.
				order := []*node{as[0], bs[0], as[1], bs[1]}
				for _, st := range steps {
					for _, n := range order {
						require.NoErrorf(t, st.do(n), "%s on %s", st.name, n)
					}
					holdFor(t, 700*time.Millisecond, whole)
				}
				after := time.Now()
				bmsg := "after rotation from " + bs[0].name
				bs[0].api.QueueBroadcast([]byte(bmsg))
				waitFor(t, 3*time.Second, func() string {
					for _, n := range everyone {
						if n != bs[0] && !n.del.gotMsg(bmsg) {
							return fmt.Sprintf("%s missed a broadcast after rotation", n)
						}
					}
					return whole()
				})
				checkEnc(after, 1)
				noDecodeErrors(t, c)
			})
		}
	}
}

func TestMixedLabels(t *testing.T) {
	for _, d := range directions() {
		t.Run("same/"+d.name, func(t *testing.T) {
			c := newCluster(t)
			as, bs := c.mixed(d, 2, 2, nil, func(o *nodeOpts) { o.Label = "interop-cluster" })
			for _, n := range all(as, bs) {
				for _, p := range c.fab.packetsFrom(func(p sentPacket) bool { return p.From == n.name }) {
					for _, m := range p.Msgs {
						if m.Env.Label != "interop-cluster" {
							t.Fatalf("%s sent %s without the label: %+v", n, wire.TypeName(m.Type), m.Env)
						}
					}
				}
				for _, s := range c.fab.findStreams(func(s sentStream) bool { return s.From == n.name && !s.Reply }) {
					if s.S.Env.Label != "interop-cluster" {
						t.Fatalf("%s opened a stream without the label: %+v", n, s.S.Env)
					}
				}
			}
			noDecodeErrors(t, c)
		})
		for _, lc := range []struct{ name, a, b string }{
			{"different", "alpha", "beta"},
			{"labelled-vs-bare", "alpha", ""},
			{"bare-vs-labelled", "", "beta"},
		} {
			t.Run(lc.name+"/"+d.name, func(t *testing.T) {
				c := newCluster(t)
				a := c.start(d.a, c.opts(d.a, "a", 0, nil, func(o *nodeOpts) { o.Label = lc.a }))
				b := c.start(d.b, c.opts(d.b, "b", 0, nil, func(o *nodeOpts) { o.Label = lc.b }))
				_, err := b.api.Join([]string{a.addr})
				assert.Error(t, err, "%s (label %q) joined %s (label %q)", b, lc.b, a, lc.a)
				_, err = a.api.Join([]string{b.addr})
				assert.Error(t, err, "%s (label %q) joined %s (label %q)", a, lc.a, b, lc.b)
				holdFor(t, time.Second, func() string {
					for _, n := range []*node{a, b} {
						if got := n.api.NumMembers(); got != 1 {
							return fmt.Sprintf("%s counts %d members across labels", n, got)
						}
					}
					return ""
				})
			})
		}
	}
}

func TestMixedCompressionOneSide(t *testing.T) {
	for _, d := range directions() {
		t.Run(d.name, func(t *testing.T) {
			c := newCluster(t)
			impls := map[string]bool{}
			tw := func(o *nodeOpts) {
				// Only the acting implementation compresses.
				o.NoCompression = !strings.HasPrefix(o.Name, d.a.name+"-a")
				impls[o.Name] = !o.NoCompression
				name := o.Name
				o.LocalState = func(join bool) []byte { return []byte(strings.Repeat("state of "+name+" ", 40)) }
			}
			as, bs := c.mixed(d, 2, 2, nil, tw)
			for _, pair := range [][2]*node{{as[0], bs[0]}, {bs[0], as[0]}} {
				from, to := pair[0], pair[1]
				msg := strings.Repeat("compressible "+from.name+" ", 30)
				require.NoError(t, from.api.SendReliable(peerView(t, from, to), []byte(msg)))
				waitFor(t, 3*time.Second, func() string {
					if !to.del.gotMsg(msg) {
						return fmt.Sprintf("%s did not get the reliable message from %s", to, from)
					}
					want := strings.Repeat("state of "+from.name+" ", 40)
					if !to.del.gotMerge(func(m mergedState) bool { return m.Buf == want }) {
						return fmt.Sprintf("%s did not merge %s's state", to, from)
					}
					return ""
				})
			}
			for _, n := range all(as, bs) {
				compressed := 0
				for _, p := range c.fab.packetsFrom(func(p sentPacket) bool { return p.From == n.name }) {
					for _, m := range p.Msgs {
						if m.Env.Compressed {
							compressed++
						}
					}
				}
				streams := c.fab.findStreams(func(s sentStream) bool { return s.From == n.name && !s.Reply })
				for _, s := range streams {
					if s.S.Env.Compressed != impls[n.name] {
						t.Errorf("%s stream %s compressed=%v, configured %v", n, wire.TypeName(s.S.Type),
							s.S.Env.Compressed, impls[n.name])
					}
				}
				if !impls[n.name] && compressed > 0 {
					t.Errorf("%s has compression off but sent %d compressed messages", n, compressed)
				}
			}
			noDecodeErrors(t, c)
		})
	}
}

// fakeMembers fabricates n alive members on unused loopback addresses for a state
// exchange; nothing listens there, so they cost the cluster only failed probes.
func fakeMembers(n int) []wire.PushNodeState {
	out := make([]wire.PushNodeState, n)
	for i := range out {
		out[i] = wire.PushNodeState{
			Name:        fmt.Sprintf("fake-%04d", i),
			Addr:        []byte{127, 1, byte(i / 250), byte(i%250 + 1)},
			Port:        7946,
			Meta:        []byte(fmt.Sprintf("fake meta %d", i)),
			Incarnation: 1,
			State:       wire.StateAlive,
			Vsn:         []uint8{1, 5, 2, 0, 0, 0},
		}
	}
	return out
}

func TestMixedLargePushPull(t *testing.T) {
	const fakes = 1000
	for _, d := range directions() {
		t.Run(d.name, func(t *testing.T) {
			c := newCluster(t)
			tw := func(o *nodeOpts) {
				o.Timing = fastTiming()
				o.Timing.ProbeInterval = time.Second // few probes of the fake members
				o.Timing.ProbeTimeout = 300 * time.Millisecond
				o.Timing.PushPullInterval = time.Minute
				o.Timing.GossipInterval = 100 * time.Millisecond
			}
			seed := c.start(d.a, c.opts(d.a, "a", 0, nil, tw))
			reply, err := rawPushPull(seed.addr, wire.EncodePushPull(false, fakeMembers(fakes), nil), 5*time.Second)
			require.NoError(t, err)
			_, err = wire.DecodeStream(reply, nil)
			require.NoError(t, err, "seed's answer to the injected state")
			c.waitMembers([]*node{seed}, fakes+1, 10*time.Second)

			joiner := c.start(d.b, c.opts(d.b, "b", 0, nil, tw))
			c.join(seed, joiner)
			c.waitMembers([]*node{joiner}, fakes+2, 10*time.Second)
			second := c.start(d.a, c.opts(d.a, "a", 1, nil, tw))
			c.join(joiner, second)
			c.waitMembers([]*node{second}, fakes+3, 10*time.Second)

			for _, hop := range [][2]*node{{seed, joiner}, {joiner, second}} {
				big := c.fab.findStreams(func(s sentStream) bool {
					return s.Reply && s.From == hop[0].name && s.To == hop[1].name && s.S.PushPull != nil &&
						len(s.S.PushPull.Nodes) >= fakes
				})
				if assert.NotEmptyf(t, big, "%s sent no %d-member state to %s", hop[0], fakes, hop[1]) {
					t.Logf("%s -> %s: %d members in %d bytes on the wire", hop[0], hop[1],
						len(big[0].S.PushPull.Nodes), len(big[0].Raw))
				}
			}
			views := second.ev.liveViews()
			for _, f := range fakeMembers(fakes)[:5] {
				v, ok := views[f.Name]
				if assert.Truef(t, ok, "%s does not know %s", second, f.Name) {
					assert.Equal(t, string(f.Meta), v.Meta)
					assert.Equal(t, "127.1.0."+fmt.Sprint(f.Addr[3]), v.Addr)
				}
			}
			noDecodeErrors(t, c)
		})
	}
}

func TestMixedProtocolVersions(t *testing.T) {
	for _, pc := range []struct{ a, b uint8 }{
		{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}, {1, 5}, {2, 5}, {3, 4},
	} {
		for _, d := range directions() {
			t.Run(fmt.Sprintf("a%d-b%d/%s", pc.a, pc.b, d.name), func(t *testing.T) {
				c := newCluster(t)
				lay := newLayout(t, 4)
				pvOf := map[string]uint8{}
				as, bs := c.mixed(d, 2, 2, lay, func(o *nodeOpts) {
					o.PV = pc.b
					if lay.next <= 2 { // the first two nodes are the d.a ones
						o.PV = pc.a
					}
					pvOf[o.Name] = o.PV
				})
				everyone := all(as, bs)
				waitFor(t, 3*time.Second, func() string {
					for _, n := range everyone {
						views := n.ev.liveViews()
						for _, o := range everyone {
							v := views[o.name]
							if v.PCur != pvOf[o.name] || v.PMin != 1 || v.PMax != 5 {
								return fmt.Sprintf("%s sees %v, want PCur %d", n, v, pvOf[o.name])
							}
						}
					}
					return ""
				})
				msg := "hello from " + bs[0].name
				require.NoError(t, bs[0].api.SendReliable(peerView(t, bs[0], as[0]), []byte(msg)))
				be := "best effort from " + as[0].name
				bc := "broadcast from " + as[1].name
				as[1].api.QueueBroadcast([]byte(bc))
				waitFor(t, 3*time.Second, func() string {
					if !bs[1].del.gotMsg(be) {
						require.NoError(t, as[0].api.SendBestEffort(peerView(t, as[0], bs[1]), []byte(be)))
						return fmt.Sprintf("%s missed the best-effort message", bs[1])
					}
					if !as[0].del.gotMsg(msg) {
						return fmt.Sprintf("%s missed the reliable message", as[0])
					}
					for _, n := range []*node{as[0], bs[0], bs[1]} {
						if !n.del.gotMsg(bc) {
							return fmt.Sprintf("%s missed the broadcast", n)
						}
					}
					return ""
				})
				crc := map[string]int{}
				for _, p := range c.fab.packetsFrom(func(sentPacket) bool { return true }) {
					if len(p.Msgs) > 0 && p.Msgs[0].Env.CRC {
						crc[p.From]++
					}
				}
				var summary []string
				for _, n := range everyone {
					summary = append(summary, fmt.Sprintf("%s=%d", n, crc[n.name]))
				}
				sort.Strings(summary)
				t.Logf("packets with CRC per sender: %s", strings.Join(summary, " "))
				noDecodeErrors(t, c)
			})
		}
	}
}
