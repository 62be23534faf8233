// Tests for config.go: the preset values, every validation rule and its
// boundaries, and the small helpers on Config.

package memberlist

import (
	"bytes"
	"errors"
	"log"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cfgTestTransport satisfies Transport for tests that only need a non-nil
// one; calling any method would panic, and none is called.
type cfgTestTransport struct{ Transport }

// cfgInvalidFields lists the Config fields named by the configErrors in err,
// in the order validate found them.
func cfgInvalidFields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	} else {
		errs = []error{err}
	}
	var fields []string
	for _, e := range errs {
		var ce *configError
		require.True(t, errors.As(e, &ce), "not a configError: %v", e)
		require.True(t, strings.HasPrefix(e.Error(), "memberlist: invalid config: "+ce.field+" = "),
			"message does not start with the field: %q", e.Error())
		fields = append(fields, ce.field)
	}
	return fields
}

// TestConfigDefaults pins every field of each preset to the reference's
// value, so a new field or a changed default cannot slip through.
func TestConfigDefaults(t *testing.T) {
	hostname, _ := os.Hostname()
	lan := Config{
		Name:                    hostname,
		BindAddr:                "0.0.0.0",
		BindPort:                7946,
		AdvertiseAddr:           "",
		AdvertisePort:           7946,
		ProtocolVersion:         2,
		TCPTimeout:              10 * time.Second,
		IndirectChecks:          3,
		RetransmitMult:          4,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 6,
		PushPullInterval:        30 * time.Second,
		ProbeInterval:           1 * time.Second,
		ProbeTimeout:            500 * time.Millisecond,
		AwarenessMaxMultiplier:  8,
		GossipInterval:          200 * time.Millisecond,
		GossipNodes:             3,
		GossipToTheDeadTime:     30 * time.Second,
		ReconnectInterval:       30 * time.Second,
		ReconnectTimeout:        24 * time.Hour,
		GossipVerifyIncoming:    true,
		GossipVerifyOutgoing:    true,
		EnableCompression:       true,
		DNSConfigPath:           "/etc/resolv.conf",
		HandoffQueueDepth:       1024,
		UDPBufferSize:           1400,
		QueueCheckInterval:      30 * time.Second,
	}

	wan := lan
	wan.TCPTimeout = 30 * time.Second
	wan.SuspicionMult = 6
	wan.PushPullInterval = 60 * time.Second
	wan.ProbeTimeout = 3 * time.Second
	wan.ProbeInterval = 5 * time.Second
	wan.GossipNodes = 4
	wan.GossipInterval = 500 * time.Millisecond
	wan.GossipToTheDeadTime = 60 * time.Second
	wan.ReconnectInterval = 60 * time.Second

	local := lan
	local.TCPTimeout = 1 * time.Second
	local.IndirectChecks = 1
	local.RetransmitMult = 2
	local.SuspicionMult = 3
	local.PushPullInterval = 15 * time.Second
	local.ProbeTimeout = 200 * time.Millisecond
	local.ProbeInterval = 1 * time.Second
	local.GossipInterval = 100 * time.Millisecond
	local.GossipToTheDeadTime = 15 * time.Second
	local.ReconnectInterval = 15 * time.Second

	tests := []struct {
		name string
		got  func() *Config
		want Config
	}{
		{"LAN", DefaultLANConfig, lan},
		{"WAN", DefaultWANConfig, wan},
		{"local", DefaultLocalConfig, local},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.got()
			// Equal compares with reflect.DeepEqual, which tells a nil
			// slice, func or interface from an empty one: the fields left
			// unset in want must be nil, to keep their "not set" meaning.
			require.Equal(t, tt.want, *got)
			assert.NoError(t, got.validate(), "a preset must pass validation")

			// Each call returns a fresh Config.
			got.Name = "changed"
			assert.NotEqual(t, "changed", tt.got().Name)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	key := func(n int) []byte { return bytes.Repeat([]byte{7}, n) }
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // fields reported invalid; nil means valid
	}{
		{"preset", func(c *Config) {}, nil},

		{"Name empty", func(c *Config) { c.Name = "" }, []string{"Name"}},

		{"ProtocolVersion 0", func(c *Config) { c.ProtocolVersion = 0 }, []string{"ProtocolVersion"}},
		{"ProtocolVersion min", func(c *Config) { c.ProtocolVersion = ProtocolVersionMin }, nil},
		{"ProtocolVersion max", func(c *Config) { c.ProtocolVersion = ProtocolVersionMax }, nil},
		{"ProtocolVersion max+1", func(c *Config) { c.ProtocolVersion = ProtocolVersionMax + 1 }, []string{"ProtocolVersion"}},

		{"Label 255 bytes", func(c *Config) { c.Label = strings.Repeat("x", 255) }, nil},
		{"Label 256 bytes", func(c *Config) { c.Label = strings.Repeat("x", 256) }, []string{"Label"}},

		{"BindPort 0", func(c *Config) { c.BindPort = 0 }, nil},
		{"BindPort 65535", func(c *Config) { c.BindPort = 65535 }, nil},
		{"BindPort -1", func(c *Config) { c.BindPort = -1 }, []string{"BindPort"}},
		{"BindPort 65536", func(c *Config) { c.BindPort = 65536 }, []string{"BindPort"}},
		{"AdvertisePort -1", func(c *Config) { c.AdvertisePort = -1 }, []string{"AdvertisePort"}},
		{"AdvertisePort 65536", func(c *Config) { c.AdvertisePort = 65536 }, []string{"AdvertisePort"}},

		{"TCPTimeout 0", func(c *Config) { c.TCPTimeout = 0 }, []string{"TCPTimeout"}},
		{"TCPTimeout negative", func(c *Config) { c.TCPTimeout = -time.Second }, []string{"TCPTimeout"}},
		{"TCPTimeout 1ns", func(c *Config) { c.TCPTimeout = 1 }, nil},
		{"ProbeInterval 0", func(c *Config) { c.ProbeInterval = 0 }, []string{"ProbeInterval"}},
		{"ProbeInterval negative", func(c *Config) { c.ProbeInterval = -1 }, []string{"ProbeInterval"}},
		{"ProbeTimeout 0", func(c *Config) { c.ProbeTimeout = 0 }, []string{"ProbeTimeout"}},
		{"ProbeTimeout negative", func(c *Config) { c.ProbeTimeout = -1 }, []string{"ProbeTimeout"}},
		{"ProbeTimeout above ProbeInterval", func(c *Config) { c.ProbeTimeout = 2 * c.ProbeInterval }, nil},
		{"QueueCheckInterval 0", func(c *Config) { c.QueueCheckInterval = 0 }, []string{"QueueCheckInterval"}},

		{"PushPullInterval 0 disables", func(c *Config) { c.PushPullInterval = 0 }, nil},
		{"PushPullInterval negative", func(c *Config) { c.PushPullInterval = -1 }, []string{"PushPullInterval"}},
		{"GossipInterval 0 disables", func(c *Config) { c.GossipInterval = 0 }, nil},
		{"GossipInterval negative", func(c *Config) { c.GossipInterval = -1 }, []string{"GossipInterval"}},
		{"GossipToTheDeadTime negative", func(c *Config) { c.GossipToTheDeadTime = -1 }, nil},
		{"ReconnectInterval 0 disables", func(c *Config) { c.ReconnectInterval = 0 }, nil},
		{"ReconnectInterval negative", func(c *Config) { c.ReconnectInterval = -1 }, []string{"ReconnectInterval"}},
		{"ReconnectTimeout 0 disables", func(c *Config) { c.ReconnectTimeout = 0 }, nil},
		{"ReconnectTimeout negative", func(c *Config) { c.ReconnectTimeout = -1 }, []string{"ReconnectTimeout"}},
		{"DeadNodeReclaimTime negative", func(c *Config) { c.DeadNodeReclaimTime = -1 }, nil},

		{"IndirectChecks 0", func(c *Config) { c.IndirectChecks = 0 }, nil},
		{"IndirectChecks negative", func(c *Config) { c.IndirectChecks = -1 }, []string{"IndirectChecks"}},
		{"GossipNodes 0", func(c *Config) { c.GossipNodes = 0 }, nil},
		{"GossipNodes negative", func(c *Config) { c.GossipNodes = -1 }, []string{"GossipNodes"}},
		{"RetransmitMult 1", func(c *Config) { c.RetransmitMult = 1 }, nil},
		{"RetransmitMult 0", func(c *Config) { c.RetransmitMult = 0 }, []string{"RetransmitMult"}},
		{"SuspicionMult 1", func(c *Config) { c.SuspicionMult = 1 }, nil},
		{"SuspicionMult 0", func(c *Config) { c.SuspicionMult = 0 }, []string{"SuspicionMult"}},
		{"SuspicionMaxTimeoutMult 1", func(c *Config) { c.SuspicionMaxTimeoutMult = 1 }, nil},
		{"SuspicionMaxTimeoutMult 0", func(c *Config) { c.SuspicionMaxTimeoutMult = 0 }, []string{"SuspicionMaxTimeoutMult"}},
		{"AwarenessMaxMultiplier 1", func(c *Config) { c.AwarenessMaxMultiplier = 1 }, nil},
		{"AwarenessMaxMultiplier 0", func(c *Config) { c.AwarenessMaxMultiplier = 0 }, []string{"AwarenessMaxMultiplier"}},
		{"HandoffQueueDepth 1", func(c *Config) { c.HandoffQueueDepth = 1 }, nil},
		{"HandoffQueueDepth 0 (unused)", func(c *Config) { c.HandoffQueueDepth = 0 }, nil},

		{"UDPBufferSize 511", func(c *Config) { c.UDPBufferSize = 511 }, []string{"UDPBufferSize"}},
		{"UDPBufferSize 512", func(c *Config) { c.UDPBufferSize = 512 }, nil},
		{"UDPBufferSize 65507", func(c *Config) { c.UDPBufferSize = 65507 }, nil},
		{"UDPBufferSize 65508 over UDP", func(c *Config) { c.UDPBufferSize = 65508 }, []string{"UDPBufferSize"}},
		{"UDPBufferSize 1MiB over a custom Transport", func(c *Config) {
			c.UDPBufferSize = 1 << 20
			c.Transport = cfgTestTransport{}
		}, nil},
		{"UDPBufferSize 511 over a custom Transport", func(c *Config) {
			c.UDPBufferSize = 511
			c.Transport = cfgTestTransport{}
		}, []string{"UDPBufferSize"}},

		{"SecretKey 16", func(c *Config) { c.SecretKey = key(16) }, nil},
		{"SecretKey 24", func(c *Config) { c.SecretKey = key(24) }, nil},
		{"SecretKey 32", func(c *Config) { c.SecretKey = key(32) }, nil},
		{"SecretKey empty non-nil", func(c *Config) { c.SecretKey = []byte{} }, nil},
		{"SecretKey 1", func(c *Config) { c.SecretKey = key(1) }, []string{"SecretKey"}},
		{"SecretKey 15", func(c *Config) { c.SecretKey = key(15) }, []string{"SecretKey"}},
		{"SecretKey 33", func(c *Config) { c.SecretKey = key(33) }, []string{"SecretKey"}},

		{"delegate versions in range", func(c *Config) {
			c.DelegateProtocolMin, c.DelegateProtocolVersion, c.DelegateProtocolMax = 1, 2, 3
		}, nil},
		{"delegate versions all equal", func(c *Config) {
			c.DelegateProtocolMin, c.DelegateProtocolVersion, c.DelegateProtocolMax = 4, 4, 4
		}, nil},
		{"DelegateProtocolMin above Max", func(c *Config) {
			c.DelegateProtocolMin, c.DelegateProtocolVersion, c.DelegateProtocolMax = 3, 2, 1
		}, []string{"DelegateProtocolMin"}},
		{"DelegateProtocolVersion below Min", func(c *Config) {
			c.DelegateProtocolMin, c.DelegateProtocolVersion, c.DelegateProtocolMax = 2, 1, 3
		}, []string{"DelegateProtocolVersion"}},
		{"DelegateProtocolVersion above Max", func(c *Config) {
			c.DelegateProtocolMin, c.DelegateProtocolVersion, c.DelegateProtocolMax = 0, 1, 0
		}, []string{"DelegateProtocolVersion"}},

		{"LogOutput alone", func(c *Config) { c.LogOutput = &bytes.Buffer{} }, nil},
		{"Logger alone", func(c *Config) { c.Logger = log.New(&bytes.Buffer{}, "", 0) }, nil},
		{"Logger and LogOutput", func(c *Config) {
			c.LogOutput = &bytes.Buffer{}
			c.Logger = log.New(&bytes.Buffer{}, "", 0)
		}, []string{"Logger"}},

		{"every problem is reported", func(c *Config) {
			c.Name = ""
			c.ProbeInterval = 0
			c.RetransmitMult = 0
			c.SecretKey = key(5)
		}, []string{"Name", "ProbeInterval", "RetransmitMult", "SecretKey"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultLANConfig()
			c.Name = "node-1" // os.Hostname may in theory be empty
			tt.change(c)
			err := c.validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, cfgInvalidFields(t, err))
		})
	}
}

// TestConfigValidateMessages checks that a message names the field, the
// value and what is allowed, so the user can fix it without the docs.
func TestConfigValidateMessages(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"version", func(c *Config) { c.ProtocolVersion = 9 },
			"memberlist: invalid config: ProtocolVersion = 9: must be in [1, 5]"},
		{"duration", func(c *Config) { c.ProbeInterval = 0 },
			"memberlist: invalid config: ProbeInterval = 0s: must be > 0"},
		{"count", func(c *Config) { c.GossipNodes = -2 },
			"memberlist: invalid config: GossipNodes = -2: must be >= 0 (0 disables periodic gossip)"},
		{"key", func(c *Config) { c.SecretKey = []byte("short") },
			"memberlist: invalid config: SecretKey = 5 bytes: must be 16, 24 or 32 bytes long (AES-128, AES-192 or AES-256), or empty"},
		{"label", func(c *Config) { c.Label = strings.Repeat("a", 300) },
			"(300 bytes): must be at most 255 bytes"},
		{"buffer", func(c *Config) { c.UDPBufferSize = 100 },
			"memberlist: invalid config: UDPBufferSize = 100: must be >= 512"},
		{"delegate", func(c *Config) { c.DelegateProtocolMin, c.DelegateProtocolMax = 2, 1 },
			"memberlist: invalid config: DelegateProtocolMin = 2: must be <= DelegateProtocolMax (1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultLANConfig()
			c.Name = "node-1"
			tt.change(c)
			err := c.validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestConfigLogger(t *testing.T) {
	t.Run("Logger wins", func(t *testing.T) {
		l := log.New(&bytes.Buffer{}, "x ", 0)
		c := &Config{Logger: l}
		assert.Same(t, l, c.logger())
	})
	t.Run("LogOutput", func(t *testing.T) {
		var buf bytes.Buffer
		c := &Config{LogOutput: &buf}
		l := c.logger()
		assert.Equal(t, log.LstdFlags, l.Flags())
		assert.Equal(t, "", l.Prefix())
		l.Print("hello")
		assert.True(t, strings.HasSuffix(buf.String(), " hello\n"), "got %q", buf.String())
	})
	t.Run("stderr by default", func(t *testing.T) {
		l := (&Config{}).logger()
		assert.Equal(t, os.Stderr, l.Writer())
		assert.Equal(t, log.LstdFlags, l.Flags())
	})
}

func TestConfigBuildVsnArray(t *testing.T) {
	c := &Config{
		ProtocolVersion:         4,
		DelegateProtocolMin:     1,
		DelegateProtocolMax:     3,
		DelegateProtocolVersion: 2,
	}
	assert.Equal(t, []uint8{ProtocolVersionMin, ProtocolVersionMax, 4, 1, 3, 2}, c.BuildVsnArray())
	assert.Equal(t, []uint8{1, 5, 2, 0, 0, 0}, DefaultLANConfig().BuildVsnArray())
}

func TestConfigEncryptionEnabled(t *testing.T) {
	tests := []struct {
		name    string
		keyring *Keyring
		want    bool
	}{
		{"no keyring", nil, false},
		{"empty keyring", &Keyring{}, false},
		{"one key", mustKeyring(t, bytes.Repeat([]byte{1}, 16)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Keyring: tt.keyring}
			assert.Equal(t, tt.want, c.EncryptionEnabled())
		})
	}
}

func TestConfigIPAllowed(t *testing.T) {
	nets, err := ParseCIDRs([]string{"127.0.0.0/8", "::1/128"})
	require.NoError(t, err)

	tests := []struct {
		name      string
		allowed   []net.IPNet
		ip        string
		mustCheck bool
		ok        bool
	}{
		{"nil allows all", nil, "192.0.2.1", false, true},
		{"empty allows all", []net.IPNet{}, "192.0.2.1", false, true},
		{"inside v4", nets, "127.1.2.3", true, true},
		{"inside v6", nets, "::1", true, true},
		{"outside v4", nets, "192.0.2.1", true, false},
		{"outside v6", nets, "2001:db8::1", true, false},
		{"v4-mapped v6 matches v4 net", nets, "::ffff:127.0.0.1", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{CIDRsAllowed: tt.allowed}
			assert.Equal(t, tt.mustCheck, c.IPMustBeChecked())
			ip := net.ParseIP(tt.ip)
			require.NotNil(t, ip)
			err := c.IPAllowed(ip)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), ip.String()+" is not allowed")
		})
	}
}

func TestParseCIDRs(t *testing.T) {
	mustNet := func(s string) net.IPNet {
		_, n, err := net.ParseCIDR(s)
		require.NoError(t, err)
		return *n
	}
	tests := []struct {
		name    string
		in      []string
		want    []net.IPNet
		badOnes []string // each must be named in the error
	}{
		{"nil", nil, []net.IPNet{}, nil},
		{"empty", []string{}, []net.IPNet{}, nil},
		{"valid", []string{"10.0.0.0/8", "fd00::/8"},
			[]net.IPNet{mustNet("10.0.0.0/8"), mustNet("fd00::/8")}, nil},
		{"spaces trimmed, host bits masked", []string{"  192.168.1.7/24\t"},
			[]net.IPNet{mustNet("192.168.1.0/24")}, nil},
		{"invalid ones named, valid ones kept",
			[]string{"nope", "127.0.0.0/8", "10.0.0.1", "::1/129"},
			[]net.IPNet{mustNet("127.0.0.0/8")},
			[]string{"invalid cidr: nope", "invalid cidr: 10.0.0.1", "invalid cidr: ::1/129"}},
		{"all invalid", []string{""}, []net.IPNet{}, []string{"invalid cidr: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCIDRs(tt.in)
			require.NotNil(t, got)
			assert.Equal(t, tt.want, got)
			if tt.badOnes == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, b := range tt.badOnes {
				assert.Contains(t, err.Error(), b)
			}
			var pe *net.ParseError
			assert.True(t, errors.As(err, &pe), "the parse error is wrapped")
			assert.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), len(tt.badOnes))
		})
	}
}

// The field types that callers of the reference rely on, checked when the
// tests compile.
var (
	_ []metrics.Label   = Config{}.MetricLabels
	_ func(string) bool = Config{}.DisableTcpPingsForNode
)

func mustKeyring(t *testing.T, primary []byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(nil, primary)
	require.NoError(t, err)
	return k
}
