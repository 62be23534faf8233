// Command node runs one cluster member, the program most users write first:
// start a node, join some existing members, and print membership changes as
// they happen. Start several copies in separate terminals to watch a cluster
// form, then stop or kill one and watch the others notice.
//
//	go run ./examples/node -name a -port 7946
//	go run ./examples/node -name b -port 7947 -join 127.0.0.1:7946
//	go run ./examples/node -name c -port 7948 -join 127.0.0.1:7946,127.0.0.1:7947
//
// Each membership change is printed as
//
//	event=join name=b addr=127.0.0.1
//
// and every few seconds the sorted member list as "members: a,b,c". Ctrl-C
// (or SIGTERM) leaves the cluster gracefully before exiting, so the others
// see a leave at once instead of waiting for failure detection.
//
// The node uses DefaultLANConfig. The -local flag switches to
// DefaultLocalConfig, whose shorter timeouts make failures visible within
// seconds; it exists for demos and tests on a single machine.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/swimgo/memberlist"
)

func main() {
	hostname, _ := os.Hostname()
	name := flag.String("name", hostname, "unique name of this node in the cluster")
	port := flag.Int("port", 7946, "UDP and TCP port to listen on, on 127.0.0.1")
	join := flag.String("join", "", "comma-separated host:port list of members to join")
	local := flag.Bool("local", false, "use DefaultLocalConfig's short timeouts instead of DefaultLANConfig's")
	interval := flag.Duration("members-every", 5*time.Second, "how often to print the member list")
	flag.Parse()

	conf := memberlist.DefaultLANConfig()
	if *local {
		conf = memberlist.DefaultLocalConfig()
	}
	conf.Name = *name
	conf.BindAddr = "127.0.0.1"
	conf.BindPort = *port
	conf.AdvertisePort = *port

	// ChannelEventDelegate blocks the node until each event is read, and
	// Create and Join already produce some, so the reader starts first.
	events := make(chan memberlist.NodeEvent, 16)
	conf.Events = &memberlist.ChannelEventDelegate{Ch: events}
	go printEvents(events)

	list, err := memberlist.Create(conf)
	if err != nil {
		fmt.Fprintf(os.Stderr, "failed to create memberlist: %v\n", err)
		os.Exit(1)
	}

	if *join != "" {
		if _, err := list.Join(strings.Split(*join, ",")); err != nil {
			fmt.Fprintf(os.Stderr, "failed to join cluster: %v\n", err)
			_ = list.Shutdown()
			os.Exit(1)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			printMembers(list)
		case <-ctx.Done():
			if err := list.Leave(time.Second); err != nil {
				fmt.Fprintf(os.Stderr, "failed to leave cluster cleanly: %v\n", err)
			}
			if err := list.Shutdown(); err != nil {
				fmt.Fprintf(os.Stderr, "failed to shut down: %v\n", err)
				os.Exit(1)
			}
			return
		}
	}
}

func printEvents(events <-chan memberlist.NodeEvent) {
	for ev := range events {
		fmt.Printf("event=%s name=%s addr=%s\n", eventName(ev.Event), ev.Node.Name, ev.Node.Addr)
	}
}

func eventName(t memberlist.NodeEventType) string {
	switch t {
	case memberlist.NodeJoin:
		return "join"
	case memberlist.NodeLeave:
		return "leave"
	case memberlist.NodeUpdate:
		return "update"
	}
	return fmt.Sprintf("unknown(%d)", int(t))
}

func printMembers(list *memberlist.Memberlist) {
	var names []string
	for _, m := range list.Members() {
		names = append(names, m.Name)
	}
	sort.Strings(names)
	fmt.Printf("members: %s\n", strings.Join(names, ","))
}
