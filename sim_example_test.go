package memberlist_test

import (
	"fmt"
	"time"

	"github.com/swimgo/memberlist"
)

// A simulated cluster of five nodes in virtual time: one node stalls for two
// seconds (and is not declared dead), another crashes (and is), then comes
// back as a new process and joins again. OnTransition counts the state
// changes instead of keeping them in Trace.
func ExampleSimulation_Restart() {
	dead := 0
	sim := memberlist.NewSimulation(memberlist.SimConfig{
		Seed:       1,
		Latency:    time.Millisecond,
		PacketLoss: 0.01,
		OnTransition: func(tr memberlist.SimTransition) {
			if tr.State == memberlist.StateDead {
				dead++
			}
		},
	})
	names := []string{"a", "b", "c", "d", "e"}
	for _, n := range names {
		_ = sim.AddNode(n)
	}
	for _, n := range names[1:] {
		_ = sim.Join(n, "a")
	}
	sim.RunFor(30 * time.Second)
	fmt.Println("a sees", sim.NumMembers("a"), "members")

	_ = sim.Stall("b", 2*time.Second)
	sim.RunFor(30 * time.Second)
	fmt.Println("deaths after b's stall:", dead)

	_ = sim.Crash("c")
	sim.RunFor(20 * time.Second)
	state, _ := sim.State("a", "c")
	fmt.Println("after c's crash, a sees c as", state)
	sim.RunFor(time.Minute)
	_, known := sim.State("a", "c")
	fmt.Println("a minute later, a still knows c:", known)

	_ = sim.Restart("c")
	_ = sim.Join("c", "a")
	sim.RunFor(time.Minute)
	state, _ = sim.State("a", "c")
	fmt.Println("after c's restart, a sees c as", state, "and", sim.NumMembers("a"), "members")
	// Output:
	// a sees 5 members
	// deaths after b's stall: 0
	// after c's crash, a sees c as dead
	// a minute later, a still knows c: false
	// after c's restart, a sees c as alive and 5 members
}

// A settled cluster of 200 nodes without simulating its formation:
// Converge has every node know every other, with nothing left to gossip.
// A crash is then detected by every node once the suspicion timeout
// (SuspicionMult × log10(N) × ProbeInterval, 9.2 s here) has passed.
func ExampleSimulation_Converge() {
	sim := memberlist.NewSimulation(memberlist.SimConfig{Seed: 1, Latency: time.Millisecond})
	names := make([]string, 200)
	for i := range names {
		names[i] = fmt.Sprintf("node-%04d", i)
		_ = sim.AddNode(names[i])
	}
	_ = sim.Converge()
	fmt.Println("node-0000 sees", sim.NumMembers("node-0000"), "members")

	_ = sim.Crash("node-0100")
	sim.RunFor(20 * time.Second)
	dead := 0
	for _, n := range names {
		if st, _ := sim.State(n, "node-0100"); st == memberlist.StateDead {
			dead++
		}
	}
	fmt.Println(dead, "nodes see node-0100 dead")
	// Output:
	// node-0000 sees 200 members
	// 199 nodes see node-0100 dead
}
