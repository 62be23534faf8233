// This file owns the agent's command line: the flags, their checks, and the
// memberlist.Config they build. Every bad value is refused here, with the
// flag's name, before anything binds a socket.

package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/swimgo/memberlist"
)

// options is the parsed command line.
type options struct {
	name      string
	bind      hostPort
	advertise hostPort
	joins     []string
	profile   string
	keys      [][]byte
	label     string
	http      hostPort
	logFormat string
	logLevel  slog.Level
	tcpOnly   bool
	reconnect optDuration
}

// optDuration is a duration flag that knows whether it was given, so that
// an absent flag leaves the profile's value alone.
type optDuration struct {
	d   time.Duration
	set bool
}

func (o *optDuration) String() string {
	if o == nil || !o.set {
		return ""
	}
	return o.d.String()
}

func (o *optDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 10s or 1m")
	}
	if d < 0 {
		return errors.New("must not be negative (0 turns reconnecting off)")
	}
	*o = optDuration{d: d, set: true}
	return nil
}

// hostPort is a "host:port" flag value; the host may be empty (all
// addresses) or a DNS name, the port must be a number in [0, 65535].
type hostPort struct {
	host string
	port int
	set  bool
}

func (h *hostPort) String() string {
	if h == nil || !h.set {
		return ""
	}
	return net.JoinHostPort(h.host, strconv.Itoa(h.port))
}

func (h *hostPort) Set(s string) error {
	host, port, err := splitHostPort(s)
	if err != nil {
		return err
	}
	*h = hostPort{host: host, port: port, set: true}
	return nil
}

// splitHostPort is net.SplitHostPort with the port checked as a number.
func splitHostPort(s string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("want host:port, such as 127.0.0.1:7946 or [::1]:7946")
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number in [0, 65535]", portStr)
	}
	return host, int(port), nil
}

// joinList collects repeated -join flags.
type joinList []string

func (j *joinList) String() string { return strings.Join(*j, ",") }

func (j *joinList) Set(s string) error {
	if _, _, err := splitHostPort(s); err != nil {
		return err
	}
	*j = append(*j, s)
	return nil
}

// keyList collects repeated -key flags: base64 AES keys of 16, 24 or 32
// bytes.
type keyList [][]byte

func (k *keyList) String() string { return fmt.Sprintf("%d keys", len(*k)) }

func (k *keyList) Set(s string) error {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return errors.New("not valid base64 (make one with: head -c 32 /dev/urandom | base64)")
	}
	switch len(key) {
	case 16, 24, 32:
	default:
		return fmt.Errorf("decodes to %d bytes; an AES key is 16, 24 or 32 bytes", len(key))
	}
	*k = append(*k, key)
	return nil
}

// oneOf is a string flag limited to a few words.
type oneOf struct {
	value   string
	allowed []string
}

func (o *oneOf) String() string {
	if o == nil {
		return ""
	}
	return o.value
}

func (o *oneOf) Set(s string) error {
	for _, a := range o.allowed {
		if s == a {
			o.value = s
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(o.allowed, ", "))
}

// levelFlag is a slog level by name.
type levelFlag struct{ level slog.Level }

func (l *levelFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.ToLower(l.level.String())
}

func (l *levelFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "debug":
		l.level = slog.LevelDebug
	case "info":
		l.level = slog.LevelInfo
	case "warn", "warning":
		l.level = slog.LevelWarn
	case "error", "err":
		l.level = slog.LevelError
	default:
		return errors.New("want debug, info, warn or error")
	}
	return nil
}

// usageError is a bad command line: the agent prints it on one line and
// exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// parseFlags reads args (without the program name). Help output goes to
// out; any error is a *usageError naming the flag.
func parseFlags(args []string, out io.Writer) (*options, error) {
	hostname, _ := os.Hostname()
	o := &options{
		bind: hostPort{host: "0.0.0.0", port: 7946, set: true},
		http: hostPort{host: "127.0.0.1", port: 7980, set: true},
	}
	profile := &oneOf{value: "lan", allowed: []string{"lan", "wan", "local"}}
	logFormat := &oneOf{value: "text", allowed: []string{"text", "json"}}
	level := &levelFlag{level: slog.LevelInfo}
	var joins joinList
	var keys keyList

	fs := flag.NewFlagSet("memberlist-agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by the caller, on one line
	fs.StringVar(&o.name, "name", hostname, "node name, unique in the cluster")
	fs.Var(&o.bind, "bind", "gossip address to listen on, UDP and TCP (`host:port`; port 0 picks a free one)")
	fs.Var(&o.advertise, "advertise", "address other members reach this node at (`host:port`), for NAT")
	fs.Var(&joins, "join", "member to join (`host:port`, host may be a DNS name); repeatable; retried with backoff")
	fs.Var(profile, "profile", "timing preset: lan, wan or local")
	fs.Var(&keys, "key", "base64 AES key (16, 24 or 32 bytes); repeatable, the first encrypts")
	fs.StringVar(&o.label, "label", "", "cluster label; nodes with other labels are ignored")
	fs.Var(&o.http, "http", "HTTP status address (`host:port`): /, /members, /health, /metrics, /events")
	fs.Var(logFormat, "log-format", "log format: text or json")
	fs.Var(level, "log-level", "log level: debug, info, warn or error")
	fs.BoolVar(&o.tcpOnly, "tcp-only", false, "send every message over TCP streams, no UDP (all members must use it)")
	fs.Var(&o.reconnect, "reconnect-interval", "how often to retry a member declared dead by failure, so a healed partition re-merges (a `duration`; default the profile's, 30s lan, 60s wan, 15s local; 0 turns it off)")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(out)
			fmt.Fprintln(out, "usage: memberlist-agent [flags]")
			fs.PrintDefaults()
			return nil, err
		}
		return nil, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, &usageError{fmt.Sprintf("unexpected argument %q: every setting is a flag, such as -join %s", fs.Arg(0), fs.Arg(0))}
	}
	if o.name == "" {
		return nil, &usageError{"invalid value \"\" for flag -name: a node needs a name"}
	}
	if len(o.label) > memberlist.LabelMaxSize {
		return nil, &usageError{fmt.Sprintf("invalid value for flag -label: %d bytes, at most %d", len(o.label), memberlist.LabelMaxSize)}
	}
	if o.bind.host != "" && net.ParseIP(o.bind.host) == nil {
		return nil, &usageError{fmt.Sprintf("invalid value %q for flag -bind: the host must be an IP address", o.bind.String())}
	}
	o.joins = joins
	o.keys = keys
	o.profile = profile.value
	o.logFormat = logFormat.value
	o.logLevel = level.level
	return o, nil
}

// config builds the node's Config from the options.
func (o *options) config() (*memberlist.Config, error) {
	var c *memberlist.Config
	switch o.profile {
	case "wan":
		c = memberlist.DefaultWANConfig()
	case "local":
		c = memberlist.DefaultLocalConfig()
	default:
		c = memberlist.DefaultLANConfig()
	}
	c.Name = o.name
	c.BindAddr = o.bind.host
	if c.BindAddr == "" {
		c.BindAddr = "0.0.0.0"
	}
	c.BindPort = o.bind.port
	c.AdvertisePort = o.bind.port
	if o.advertise.set {
		c.AdvertiseAddr = o.advertise.host
		c.AdvertisePort = o.advertise.port
	}
	c.Label = o.label
	c.TCPOnly = o.tcpOnly
	if o.reconnect.set {
		c.ReconnectInterval = o.reconnect.d
	}
	if len(o.keys) > 0 {
		kr, err := memberlist.NewKeyring(o.keys, o.keys[0])
		if err != nil {
			return nil, &usageError{fmt.Sprintf("invalid value for flag -key: %v", err)}
		}
		c.Keyring = kr
	}
	return c, nil
}
