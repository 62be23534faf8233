// Command bench measures github.com/swimgo/memberlist (ours) and hashicorp/memberlist
// v0.7.0 (the reference) side by side in one run and prints a Markdown table of each
// figure for both with the ratio ours / reference. It is a separate module so that
// only it, never the root module, depends on the reference.
//
// Every cluster scenario runs in a fresh child process (this binary re-executed with
// SWIMBENCH_CHILD set), so one run's heap, goroutines and sockets cannot leak into the
// next, and the implementations are interleaved A B B A so machine noise falls on both:
//
//   - steady: 16 and 64 nodes on 127.0.0.1 at DefaultLANConfig, measured over a window
//     after convergence: CPU (getrusage of the child), UDP packets and bytes sent
//     (counted by a wrapper around each library's own NetTransport), heap in use after
//     GC and allocations, each per node;
//   - procs: one node per process, as deployed: 16 processes (the bench re-executed
//     once per node), the first the seed and the rest joining it; once all see all 16,
//     each measures its own process over the same window: CPU, allocations, UDP
//     packets and bytes sent, heap in use and max RSS, per process (mean; CPU also
//     min and max), each node kept running until every process is done;
//   - converge: time until every node sees all N when N-1 nodes join the first;
//   - detect and leave: in a converged cluster, a node crashes (Shutdown without Leave),
//     and the time until each observer's NotifyLeave is taken; then another node
//     leaves and the time until the last observer sees it gone;
//   - scale: a doubling search for the largest N that converges within a deadline on
//     each library's own in-memory MockNetwork, with heap per node;
//   - micro: the hot paths reachable through the public API and the wire, with
//     testing.Benchmark: TransmitLimitedQueue, Members() on a large table, a large
//     push/pull merge delivered through an in-memory Transport, and ping to ack.
//
// Run it with
//
//	cd bench && go run .          # full run, several minutes
//	cd bench && go run . -short   # every scenario at tiny sizes, under a minute
//
// The table goes to stdout, progress to stderr. No ratio is asserted: -short only
// fails when a figure could not be produced. With SWIMBENCH_CPUPROFILE=DIR set, each
// steady job also writes a CPU profile of its measured window to
// DIR/steady-IMPL-N.pprof, in procs the second process (not the seed) one of its
// own to DIR/procs-IMPL.pprof, and micro ones of its push/pull benchmarks to
// DIR/micro-merge-IMPL.pprof and DIR/micro-pushpull-IMPL.pprof, for go tool pprof.
//
// impl_ours.go is generated from impl_ref.go (both libraries export the same API);
// after editing the template run go generate.
package main

//go:generate sh gen_ours.sh
