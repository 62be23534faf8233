package memberlist_test

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/swimgo/memberlist"
)

// Two nodes on an in-memory network: after Join returns, both know each
// other, because Join exchanges full state with the member it contacts.
func Example() {
	var network memberlist.MockNetwork
	start := func(name string) *memberlist.Memberlist {
		conf := memberlist.DefaultLocalConfig()
		conf.Name = name
		conf.Transport = network.NewTransport(name)
		conf.LogOutput = io.Discard
		list, err := memberlist.Create(conf)
		if err != nil {
			panic(err)
		}
		return list
	}
	a, b := start("a"), start("b")
	defer a.Shutdown()
	defer b.Shutdown()

	if _, err := b.Join([]string{"a/" + a.LocalNode().Address()}); err != nil {
		panic(err)
	}
	var names []string
	for _, n := range a.Members() {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	fmt.Println(names, b.NumMembers())
	// Output: [a b] 2
}

// A simulated cluster runs in virtual time and is reproducible from its
// seed: here five nodes detect a crash.
func ExampleSimulation() {
	sim := memberlist.NewSimulation(memberlist.SimConfig{Seed: 1, Latency: time.Millisecond})
	names := []string{"n0", "n1", "n2", "n3", "n4"}
	for _, n := range names {
		if err := sim.AddNode(n); err != nil {
			panic(err)
		}
	}
	for _, n := range names[1:] {
		if err := sim.Join(n, "n0"); err != nil {
			panic(err)
		}
	}
	sim.RunFor(time.Minute)
	fmt.Println("n1 sees", sim.NumMembers("n1"), "members")

	if err := sim.Crash("n4"); err != nil {
		panic(err)
	}
	// Dead members are forgotten after GossipToTheDeadTime (30 s in the
	// LAN preset); look before that.
	sim.RunFor(20 * time.Second)
	state, known := sim.State("n1", "n4")
	fmt.Println("n1 sees n4 as", state, known)
	// Output:
	// n1 sees 5 members
	// n1 sees n4 as dead true
}
