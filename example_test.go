package memberlist_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
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

// A node can log through log/slog: its reference-style lines become
// records with a level, a bare message and, when a line names a peer, a
// "from" attribute. Here a failed Join is logged at DEBUG.
func ExampleConfig_slogLogger() {
	handler := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		// Drop the time so that the output is the same on every run.
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	})
	var network memberlist.MockNetwork
	conf := memberlist.DefaultLocalConfig()
	conf.Name = "a"
	conf.Transport = network.NewTransport("a")
	conf.SlogLogger = slog.New(handler).With("node", conf.Name)
	list, err := memberlist.Create(conf)
	if err != nil {
		panic(err)
	}
	defer list.Shutdown()

	_, err = list.Join([]string{"127.0.0.1:999"})
	fmt.Println("join failed:", err != nil)
	// Output:
	// level=DEBUG msg="failed to join 127.0.0.1:999: no route to 127.0.0.1:999: no live mock transport has that name or address" node=a
	// join failed: true
}
