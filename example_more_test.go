package memberlist_test

import (
	"fmt"
	"io"
	"sort"

	"github.com/swimgo/memberlist"
)

// note is a user broadcast: a newer note with the same key replaces an
// older one still waiting in the queue.
type note struct {
	key, text string
}

func (n *note) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*note)
	return ok && o.key == n.key
}
func (n *note) Name() string    { return n.key }
func (n *note) Message() []byte { return []byte(n.text) }
func (n *note) Finished()       {}

// A TransmitLimitedQueue spreads a delegate's own messages by gossip: each
// is sent a few times (RetransmitMult times the digits of the cluster
// size) and then dropped; a newer message with the same name replaces the
// queued one.
func ExampleTransmitLimitedQueue() {
	q := &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return 10 },
		RetransmitMult: 1,
	}
	q.QueueBroadcast(&note{key: "color", text: "color=red"})
	q.QueueBroadcast(&note{key: "color", text: "color=blue"}) // replaces red
	q.QueueBroadcast(&note{key: "size", text: "size=9"})
	fmt.Println("queued:", q.NumQueued())

	// What a Delegate's GetBroadcasts returns for one packet's spare room.
	for round := 1; q.NumQueued() > 0; round++ {
		var got []string
		for _, m := range q.GetBroadcasts(2, 1400) {
			got = append(got, string(m))
		}
		sort.Strings(got)
		fmt.Println("packet", round, got)
	}
	// Output:
	// queued: 2
	// packet 1 [color=blue size=9]
	// packet 2 [color=blue size=9]
}

// Keys rotate without a moment where two nodes cannot read each other:
// install the new key everywhere, make it primary everywhere, then remove
// the old one. (AddDecryptionKey does the same as AddKey here; it differs
// only on an empty ring, where AddKey turns encryption on at once.)
func ExampleKeyring() {
	oldKey := []byte("0123456789abcdef")
	newKey := []byte("fedcba9876543210")
	ring, err := memberlist.NewKeyring(nil, oldKey)
	if err != nil {
		panic(err)
	}
	show := func(step string) {
		fmt.Printf("%-8s primary=%s keys=%d\n", step, ring.GetPrimaryKey()[:4], len(ring.GetKeys()))
	}
	show("start")
	if err := ring.AddKey(newKey); err != nil { // 1. on every node
		panic(err)
	}
	show("added")
	if err := ring.UseKey(newKey); err != nil { // 2. on every node
		panic(err)
	}
	show("used")
	if err := ring.RemoveKey(oldKey); err != nil { // 3. on every node
		panic(err)
	}
	show("removed")
	// Output:
	// start    primary=0123 keys=1
	// added    primary=0123 keys=2
	// used     primary=fedc keys=2
	// removed  primary=fedc keys=1
}

// Encryption is turned on in a running cluster in three steps, each done on
// every node before the next begins, so that every node can always read
// every other: read the key, then send with it, then stop reading
// plaintext. The nodes must have been created with a Keyring, even an
// empty one.
func ExampleKeyring_AddDecryptionKey() {
	key := []byte("0123456789abcdef")
	ring := &memberlist.Keyring{} // Config.Keyring of a node that sends plaintext
	show := func(step string) {
		sends := "plaintext"
		if p := ring.GetPrimaryKey(); p != nil {
			sends = "key " + string(p[:4])
		}
		fmt.Printf("%-18s sends %-9s reads plaintext=%-5v keys=%d\n", step, sends, ring.AcceptsPlaintext(), len(ring.GetKeys()))
	}
	show("start")
	if err := ring.AddDecryptionKey(key); err != nil { // 1. on every node
		panic(err)
	}
	show("AddDecryptionKey")
	if err := ring.UseKey(key); err != nil { // 2. on every node
		panic(err)
	}
	show("UseKey")
	if err := ring.RejectPlaintext(); err != nil { // 3. on every node
		panic(err)
	}
	show("RejectPlaintext")
	// Output:
	// start              sends plaintext reads plaintext=true  keys=0
	// AddDecryptionKey   sends plaintext reads plaintext=true  keys=1
	// UseKey             sends key 0123  reads plaintext=true  keys=1
	// RejectPlaintext    sends key 0123  reads plaintext=false keys=1
}

// An EventDelegate hears joins, leaves and updates; ChannelEventDelegate
// turns them into a channel. Here a node on the in-memory network hears
// another join and then leave.
func ExampleChannelEventDelegate() {
	var network memberlist.MockNetwork
	events := make(chan memberlist.NodeEvent, 16)
	start := func(name string, ev memberlist.EventDelegate) *memberlist.Memberlist {
		conf := memberlist.DefaultLocalConfig()
		conf.Name = name
		conf.Transport = network.NewTransport(name)
		conf.LogOutput = io.Discard
		conf.Events = ev
		list, err := memberlist.Create(conf)
		if err != nil {
			panic(err)
		}
		return list
	}
	a := start("a", &memberlist.ChannelEventDelegate{Ch: events})
	defer a.Shutdown()
	b := start("b", nil)
	if _, err := b.Join([]string{"a/" + a.LocalNode().Address()}); err != nil {
		panic(err)
	}
	if err := b.Leave(0); err != nil {
		panic(err)
	}
	_ = b.Shutdown()
	for range 3 {
		e := <-events
		fmt.Println(e.Event, e.Node.Name, e.Node.State)
	}
	// Output:
	// join a alive
	// join b alive
	// leave b left
}

// inbox is a Delegate that hands the user messages it receives to a
// channel; a real one would also gossip its own state.
type inbox struct{ msgs chan string }

func (d *inbox) NodeMeta(limit int) []byte { return nil }

// NotifyMsg must not keep msg: the slice is reused after it returns.
func (d *inbox) NotifyMsg(msg []byte)                       { d.msgs <- string(msg) }
func (d *inbox) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *inbox) LocalState(join bool) []byte                { return nil }
func (d *inbox) MergeRemoteState(buf []byte, join bool)     {}

// A Delegate receives the user messages other members send it, best effort
// in one packet or reliably over a stream.
func ExampleDelegate() {
	var network memberlist.MockNetwork
	start := func(name string, d memberlist.Delegate) *memberlist.Memberlist {
		conf := memberlist.DefaultLocalConfig()
		conf.Name = name
		conf.Transport = network.NewTransport(name)
		conf.LogOutput = io.Discard
		conf.Delegate = d
		list, err := memberlist.Create(conf)
		if err != nil {
			panic(err)
		}
		return list
	}
	box := &inbox{msgs: make(chan string, 4)}
	a := start("a", box)
	defer a.Shutdown()
	b := start("b", &inbox{msgs: make(chan string, 4)})
	defer b.Shutdown()
	if _, err := b.Join([]string{"a/" + a.LocalNode().Address()}); err != nil {
		panic(err)
	}
	to := a.LocalNode()
	if err := b.SendBestEffort(to, []byte("hello over UDP")); err != nil {
		panic(err)
	}
	fmt.Println(<-box.msgs)
	if err := b.SendReliable(to, []byte("hello over TCP")); err != nil {
		panic(err)
	}
	fmt.Println(<-box.msgs)
	// Output:
	// hello over UDP
	// hello over TCP
}

// A node that lists the members often, say once a second for a load
// balancer, can reuse one slice: AppendMembers allocates only when the
// slice has no room.
func ExampleMemberlist_AppendMembers() {
	var network memberlist.MockNetwork
	var nodes []*memberlist.Memberlist
	for _, name := range []string{"a", "b", "c"} {
		conf := memberlist.DefaultLocalConfig()
		conf.Name = name
		conf.Transport = network.NewTransport(name)
		conf.LogOutput = io.Discard
		list, err := memberlist.Create(conf)
		if err != nil {
			panic(err)
		}
		defer list.Shutdown()
		nodes = append(nodes, list)
	}
	for _, n := range nodes[1:] {
		if _, err := n.Join([]string{"a/" + nodes[0].LocalNode().Address()}); err != nil {
			panic(err)
		}
	}

	var buf []*memberlist.Node
	for range 2 { // as a poller would, each time
		buf = nodes[2].AppendMembers(buf[:0])
		names := make([]string, 0, len(buf))
		for _, n := range buf {
			names = append(names, n.Name)
		}
		sort.Strings(names)
		fmt.Println(names)
	}
	// Output:
	// [a b c]
	// [a b c]
}
