package memberlist_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swimgo/memberlist"
)

// The README's first program, kept here so that go test compiles and runs
// it: two nodes on loopback, on ports the operating system picks, join,
// list the members, leave and shut down. Keep the body of this function and
// the README's main identical: TestReadmeProgramIsExample checks it.
func Example_readme() {
	start := func(name string) *memberlist.Memberlist {
		conf := memberlist.DefaultLocalConfig() // short timeouts for one host; DefaultLANConfig for a real network
		conf.Name = name                        // unique in the cluster
		conf.BindAddr = "127.0.0.1"             // loopback only
		conf.BindPort = 0                       // a free port, UDP and TCP (the default is 7946)
		conf.LogOutput = io.Discard             // the default is os.Stderr
		list, err := memberlist.Create(conf)
		if err != nil {
			log.Fatalf("create %s: %v", name, err)
		}
		return list
	}
	a := start("a")
	b := start("b")

	// Join through any member's address: b and a exchange their full state.
	if _, err := b.Join([]string{a.LocalNode().Address()}); err != nil {
		log.Fatalf("join: %v", err)
	}
	for _, n := range b.Members() {
		fmt.Println(n.Name, n.State) // a alive, b alive (in any order)
	}

	// Leave tells the others that b goes on purpose (not a failure);
	// Shutdown then stops its goroutines and closes its sockets.
	if err := b.Leave(time.Second); err != nil {
		log.Printf("leave: %v", err)
	}
	_ = b.Shutdown()
	_ = a.Shutdown()
	// Unordered output:
	// a alive
	// b alive
}

// TestReadmeProgramIsExample fails when the README's first program and
// Example_readme drift apart, so the README never shows code that does not
// compile or does not do what the example proves.
func TestReadmeProgramIsExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	program := readmeSection(t, string(readme), "func main() {\n", "\n}\n```")
	example := readmeSection(t, string(src), "func Example_readme() {\n", "\n\t// Unordered output:")
	if program != example {
		t.Errorf("README.md's main and Example_readme differ; make them the same.\nREADME:\n%s\nexample:\n%s", program, example)
	}
}

// readmeSection returns the text of s after the first start and before
// the next end.
func readmeSection(t *testing.T, s, start, end string) string {
	t.Helper()
	_, after, ok := strings.Cut(s, start)
	if !ok {
		t.Fatalf("%q not found", start)
	}
	body, _, ok := strings.Cut(after, end)
	if !ok {
		t.Fatalf("%q not found after %q", end, start)
	}
	return body
}
