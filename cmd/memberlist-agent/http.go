// This file owns the agent's HTTP interface: /members, /health, /events,
// /metrics (Prometheus text, through go-metrics' Prometheus sink, plus the
// agent's membership gauges) and the status page at /.

package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/swimgo/memberlist"
)

// server answers the HTTP endpoints for one node.
type server struct {
	list  *memberlist.Memberlist
	track *tracker
	log   *slog.Logger
}

// health is the /health body.
type health struct {
	Name    string         `json:"name"`
	Score   int            `json:"health_score"`
	Healthy bool           `json:"healthy"`
	Members map[string]int `json:"members"`
}

func (s *server) health() health {
	score := s.list.GetHealthScore()
	return health{
		Name:    s.list.LocalNode().Name,
		Score:   score,
		Healthy: score == 0,
		Members: countByState(s.track.members(s.list)),
	}
}

func (s *server) handler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /members", func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, http.StatusOK, s.track.members(s.list))
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		h := s.health()
		code := http.StatusOK
		if !h.Healthy {
			code = http.StatusServiceUnavailable
		}
		s.writeJSON(w, code, h)
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, http.StatusOK, s.track.recentEvents())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /{$}", s.page)
	return mux
}

func (s *server) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		s.log.Debug("writing HTTP response failed", "err", err)
	}
}

// newHTTPServer builds the server with timeouts that keep slow clients
// from holding connections.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// membersCollector reports the agent's membership gauges at scrape time, so
// they are never stale: members by state, and the local health score.
type membersCollector struct {
	s       *server
	members *prometheus.Desc
	health  *prometheus.Desc
}

func newMembersCollector(s *server) *membersCollector {
	return &membersCollector{
		s: s,
		members: prometheus.NewDesc("memberlist_agent_members",
			"Members this node knows, by state (dead and left ones for an hour).", []string{"state"}, nil),
		health: prometheus.NewDesc("memberlist_agent_health_score",
			"This node's Lifeguard health score: 0 is healthy.", nil, nil),
	}
}

// Describe sends the collector's two descriptors.
func (c *membersCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.members
	ch <- c.health
}

// Collect reads the member table and health score now.
func (c *membersCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.s.health()
	for state, n := range h.Members {
		ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(c.health, prometheus.GaugeValue, float64(h.Score))
}

// newRegistry returns a registry with the Go runtime and process
// collectors and the agent's membership gauges; the go-metrics sink is
// registered by the caller.
func newRegistry(s *server) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newMembersCollector(s),
	)
	return reg
}
