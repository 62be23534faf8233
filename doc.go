// Package memberlist manages cluster membership and member failure detection
// using a gossip protocol based on SWIM with the Lifeguard extensions.
//
// It is a drop-in replacement for github.com/hashicorp/memberlist: the same
// public API, the same defaults and the same wire protocol, so that nodes of
// either implementation form one cluster.
//
// # Core and shell
//
// The protocol lives in a deterministic Core (core.go, probe.go, members.go,
// pushpull.go, gossip.go, packet.go and the pure files around them): it
// never reads the wall clock, never starts a goroutine and never touches a
// socket. Every input (a packet arrived, a timer fired, the user called
// Join, a stream exchange ended) carries the current time; every effect
// (send this packet, open this stream exchange, wake me at T, tell the user
// this event) is an Output. Every protocol rule is in the Core, once. The
// Shell (memberlist.go, stream.go) owns one event-loop goroutine per node
// that feeds the Core and performs its Outputs over a Transport; the
// Simulation (sim.go) drives many Cores in one goroutine in virtual time
// over a modelled network. Both are drivers: they perform I/O and report
// its results, and decide nothing about the protocol.
//
// # Getting started
//
// Create a node from one of the default configurations, then Join an existing
// member:
//
//	conf := memberlist.DefaultLANConfig()
//	conf.Name = "node-a"
//	list, err := memberlist.Create(conf)
//	if err != nil {
//		panic("failed to create memberlist: " + err.Error())
//	}
//	if _, err := list.Join([]string{"10.0.0.1"}); err != nil {
//		panic("failed to join cluster: " + err.Error())
//	}
//	for _, member := range list.Members() {
//		fmt.Printf("Member: %s %s\n", member.Name, member.Addr)
//	}
//
// Nodes handed out never change (a member's change shows up as a new Node),
// so callers may keep and read them without data races. Members and
// LocalNode share theirs between callers, as the reference does, and they
// must not be modified; the slice Members returns is the caller's.
package memberlist
