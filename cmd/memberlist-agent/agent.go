// This file owns the agent's view of the cluster beyond what the library's
// public API keeps: the members that died or left (Members lists only the
// live ones), the recent membership events, and their structured log lines.

package main

import (
	"encoding/base64"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swimgo/memberlist"
)

const (
	// maxEvents is how many membership events the status page keeps.
	maxEvents = 100

	// goneRetention is how long a dead or left member stays in /members.
	// The library forgets such members after GossipToTheDeadTime; the agent
	// keeps them a little longer so an operator can see what went away.
	goneRetention = time.Hour
)

// event is one membership change, as shown on the status page.
type event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // join, leave, update
	Node    string    `json:"node"`
	Address string    `json:"address"`
	State   string    `json:"state"`
}

// member is one node as /members renders it.
type member struct {
	Name     string `json:"name"`
	Address  string `json:"address"`
	Port     uint16 `json:"port"`
	State    string `json:"state"`
	Meta     string `json:"meta"` // base64
	Protocol struct {
		Min uint8 `json:"min"`
		Max uint8 `json:"max"`
		Cur uint8 `json:"cur"`
	} `json:"protocol"`
	Delegate struct {
		Min uint8 `json:"min"`
		Max uint8 `json:"max"`
		Cur uint8 `json:"cur"`
	} `json:"delegate"`
}

func toMember(n *memberlist.Node) member {
	m := member{
		Name:    n.Name,
		Address: n.Addr.String(),
		Port:    n.Port,
		State:   n.State.String(),
		Meta:    base64.StdEncoding.EncodeToString(n.Meta),
	}
	m.Protocol.Min, m.Protocol.Max, m.Protocol.Cur = n.PMin, n.PMax, n.PCur
	m.Delegate.Min, m.Delegate.Max, m.Delegate.Cur = n.DMin, n.DMax, n.DCur
	return m
}

// gone is a member last seen dead or left.
type gone struct {
	node *memberlist.Node
	at   time.Time
}

// tracker is the agent's EventDelegate. The library calls it on the node's
// event loop, so it only records and logs; it never blocks.
type tracker struct {
	log *slog.Logger

	mu     sync.Mutex
	events []event // ring of the last maxEvents, oldest first
	gone   map[string]gone
}

var _ memberlist.EventDelegate = (*tracker)(nil)

func newTracker(log *slog.Logger) *tracker {
	return &tracker{log: log, gone: make(map[string]gone)}
}

// NotifyJoin records a member that joined (or came back).
func (t *tracker) NotifyJoin(n *memberlist.Node) {
	t.mu.Lock()
	delete(t.gone, n.Name)
	t.mu.Unlock()
	t.record("join", n)
}

// NotifyLeave records a member that was declared dead or left.
func (t *tracker) NotifyLeave(n *memberlist.Node) {
	t.mu.Lock()
	t.gone[n.Name] = gone{node: n, at: time.Now()}
	t.mu.Unlock()
	t.record("leave", n)
}

// NotifyUpdate records a member whose metadata changed.
func (t *tracker) NotifyUpdate(n *memberlist.Node) {
	t.record("update", n)
}

func (t *tracker) record(kind string, n *memberlist.Node) {
	ev := event{Time: time.Now().UTC(), Kind: kind, Node: n.Name, Address: n.Address(), State: n.State.String()}
	t.mu.Lock()
	if len(t.events) == maxEvents {
		copy(t.events, t.events[1:])
		t.events = t.events[:maxEvents-1]
	}
	t.events = append(t.events, ev)
	t.mu.Unlock()
	t.log.Info("member "+kind, "node", ev.Node, "addr", ev.Address, "state", ev.State)
}

// recentEvents returns the kept events, newest first.
func (t *tracker) recentEvents() []event {
	t.mu.Lock()
	out := slices.Clone(t.events)
	t.mu.Unlock()
	slices.Reverse(out)
	return out
}

// members merges the library's live members with the dead and left ones
// the tracker remembers, sorted by name.
func (t *tracker) members(list *memberlist.Memberlist) []member {
	live := list.Members()
	out := make([]member, 0, len(live))
	seen := make(map[string]bool, len(live))
	for _, n := range live {
		out = append(out, toMember(n))
		seen[n.Name] = true
	}
	now := time.Now()
	t.mu.Lock()
	for name, g := range t.gone {
		switch {
		case now.Sub(g.at) > goneRetention:
			delete(t.gone, name)
		case !seen[name]:
			out = append(out, toMember(g.node))
		}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// countByState counts members by state word; every state is present.
func countByState(ms []member) map[string]int {
	counts := map[string]int{"alive": 0, "suspect": 0, "dead": 0, "left": 0}
	for _, m := range ms {
		counts[m.State]++
	}
	return counts
}
