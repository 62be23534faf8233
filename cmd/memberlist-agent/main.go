// Command memberlist-agent runs one cluster node as a service: it joins the
// members given with -join (retrying with backoff until one answers), logs
// membership events as structured lines, and serves its view of the cluster
// over HTTP:
//
//	GET /          a self-refreshing HTML status page
//	GET /members   JSON array of members, sorted by name
//	GET /health    JSON health; 200 when the health score is 0, else 503
//	GET /events    JSON array of the last 100 membership events
//	GET /metrics   Prometheus text: the library's metrics and member gauges
//
// SIGINT or SIGTERM makes it leave the cluster gracefully and exit 0. A bad
// flag, or an address it cannot use, makes it exit 2 with a one-line error.
//
// Example, three nodes on one host:
//
//	memberlist-agent -name a -bind 127.0.0.1:7946 -http 127.0.0.1:7980 -profile local
//	memberlist-agent -name b -bind 127.0.0.1:7947 -http 127.0.0.1:7981 -profile local -join 127.0.0.1:7946
//	memberlist-agent -name c -bind 127.0.0.1:7948 -http 127.0.0.1:7982 -profile local -join 127.0.0.1:7946
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	metricsprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/swimgo/memberlist"
)

const (
	// leaveTimeout bounds how long a stopping agent waits for its leave
	// message to go out before it shuts down anyway.
	leaveTimeout = 5 * time.Second

	// Join retries start at joinBackoffMin and double up to joinBackoffMax,
	// with jitter so that agents started together do not retry in step.
	joinBackoffMin = 500 * time.Millisecond
	joinBackoffMax = 30 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole agent; it returns the exit status once ctx is done (a
// signal) or it fails to start.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "memberlist-agent: %v\n", err)
		return 2
	}
	log := newLogger(opts, stderr)

	conf, err := opts.config()
	if err != nil {
		fmt.Fprintf(stderr, "memberlist-agent: %v\n", err)
		return 2
	}

	// Bind the HTTP address before the node starts, so a bad -http fails
	// without the node ever joining.
	httpLn, err := net.Listen("tcp", opts.http.String())
	if err != nil {
		fmt.Fprintf(stderr, "memberlist-agent: cannot listen on -http %s: %v\n", opts.http.String(), err)
		return 2
	}
	defer func() { _ = httpLn.Close() }()

	track := newTracker(log)
	srv := &server{track: track, log: log}
	reg := newRegistry(srv)
	sink, err := metricsprom.NewPrometheusSinkFrom(metricsprom.PrometheusOpts{Registerer: reg, Expiration: time.Minute})
	if err != nil {
		fmt.Fprintf(stderr, "memberlist-agent: setting up metrics: %v\n", err)
		return 1
	}
	mconf := metrics.DefaultConfig("")
	mconf.EnableHostname = false // keep the reference's bare metric names
	mconf.EnableRuntimeMetrics = false
	mconf.EnableServiceLabel = false
	if _, err := metrics.NewGlobal(mconf, sink); err != nil {
		fmt.Fprintf(stderr, "memberlist-agent: setting up metrics: %v\n", err)
		return 1
	}

	conf.Events = track
	conf.SlogLogger = log.With("component", "memberlist")
	list, err := memberlist.Create(conf)
	if err != nil {
		fmt.Fprintf(stderr, "memberlist-agent: cannot start the node on -bind %s: %v\n", opts.bind.String(), err)
		return 2
	}
	srv.list = list
	local := list.LocalNode()
	log.Info("agent started", "name", local.Name, "bind", net.JoinHostPort(conf.BindAddr, fmt.Sprint(conf.BindPort)),
		"advertise", local.Address(), "http", httpLn.Addr().String(), "profile", opts.profile,
		"encrypted", len(opts.keys) > 0, "tcp_only", opts.tcpOnly, "reconnect_interval", conf.ReconnectInterval.String())

	httpSrv := newHTTPServer(srv.handler(reg), log)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := httpSrv.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "err", err)
		}
	}()
	joinCtx, cancelJoin := context.WithCancel(ctx)
	go func() {
		defer wg.Done()
		joinWithBackoff(joinCtx, list, opts.joins, log)
	}()

	<-ctx.Done()
	log.Info("stopping: leaving the cluster")
	cancelJoin()
	if err := list.Leave(leaveTimeout); err != nil {
		log.Warn("leave did not complete", "err", err)
	}
	if err := list.Shutdown(); err != nil {
		log.Warn("shutdown", "err", err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(shutCtx)
	wg.Wait()
	log.Info("stopped")
	return 0
}

// newLogger builds the agent's slog logger from -log-format and -log-level.
func newLogger(o *options, w io.Writer) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.logLevel}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// joinWithBackoff joins addrs, retrying with jittered exponential backoff
// until at least one answers or ctx is done. DNS names are resolved again
// on each try, so a seed that comes up later is found.
func joinWithBackoff(ctx context.Context, list *memberlist.Memberlist, addrs []string, log *slog.Logger) {
	if len(addrs) == 0 {
		return
	}
	wait := joinBackoffMin
	for attempt := 1; ; attempt++ {
		n, err := list.JoinContext(ctx, addrs)
		if n > 0 {
			log.Info("joined the cluster", "contacted", n, "members", list.NumMembers(), "attempt", attempt)
			return
		}
		if ctx.Err() != nil {
			return
		}
		jittered := wait/2 + rand.N(wait/2+1)
		log.Warn("join failed, retrying", "addrs", addrs, "attempt", attempt, "retry_in", jittered.Round(time.Millisecond), "err", err)
		t := time.NewTimer(jittered)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, joinBackoffMax)
	}
}
