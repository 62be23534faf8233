// Tests for slog.go: reference-style lines become slog records with the
// right level, message and peer attribute.

package memberlist

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSlogWriter(t *testing.T) {
	peer := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 7946}
	tests := []struct {
		name  string
		line  string
		level string
		msg   string
		from  string // "" when the record must have no "from" attribute
	}{
		{"debug with conn", "[DEBUG] memberlist: Stream connection " + LogAddress(peer),
			"DEBUG", "Stream connection", "10.0.0.7:7946"},
		{"info", "[INFO] memberlist: Marking node-b as failed, suspect timeout reached (0 peer confirmations)",
			"INFO", "Marking node-b as failed, suspect timeout reached (0 peer confirmations)", ""},
		{"warn", "[WARN] memberlist: Refuting a suspect message (from: node-c)",
			"WARN", "Refuting a suspect message (from: node-c)", ""},
		{"err with error before address", "[ERR] memberlist: Failed to send ack: broken pipe " + LogAddress(peer),
			"ERROR", "Failed to send ack: broken pipe", "10.0.0.7:7946"},
		{"address in the middle", "[DEBUG] memberlist: failed to receive: EOF " + LogStringAddress("[::1]:80") + " (closing)",
			"DEBUG", "failed to receive: EOF (closing)", "[::1]:80"},
		{"unknown address", "[WARN] memberlist: Got ping for unexpected node x " + LogConn(nil),
			"WARN", "Got ping for unexpected node x", "<unknown address>"},
		{"no memberlist prefix", "[ERR] Failed to shutdown transport: closed", "ERROR", "Failed to shutdown transport: closed", ""},
		{"no tag", "something plain", "INFO", "something plain", ""},
		{"unknown tag kept", "[NOTE] memberlist: x", "INFO", "[NOTE] memberlist: x", ""},
		{"from= inside a word is not a peer", "[DEBUG] memberlist: key=value xfrom=1.2.3.4:5", "DEBUG", "key=value xfrom=1.2.3.4:5", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			conf := DefaultLocalConfig()
			conf.SlogLogger = l
			conf.logger().Printf("%s", tt.line)

			var rec map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &rec), buf.String())
			assert.Equal(t, tt.level, rec["level"])
			assert.Equal(t, tt.msg, rec["msg"])
			if tt.from == "" {
				assert.NotContains(t, rec, "from")
			} else {
				assert.Equal(t, tt.from, rec["from"])
			}
			assert.Equal(t, 1, strings.Count(buf.String(), "\n"), "one record per line")
		})
	}
}

// Lines below the handler's level are dropped before any parsing.
func TestSlogWriterLevelFilter(t *testing.T) {
	var buf bytes.Buffer
	conf := DefaultLocalConfig()
	conf.SlogLogger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	lg := conf.logger()
	lg.Printf("[DEBUG] memberlist: hidden")
	lg.Printf("[INFO] memberlist: hidden too")
	lg.Printf("[WARN] memberlist: shown %s", LogStringAddress("127.0.0.1:1"))
	out := buf.String()
	assert.NotContains(t, out, "hidden")
	assert.Contains(t, out, `level=WARN msg=shown from=127.0.0.1:1`)
}

func TestSlogLoggerExclusive(t *testing.T) {
	conf := DefaultLocalConfig()
	conf.SlogLogger = slog.Default()
	conf.LogOutput = &bytes.Buffer{}
	err := conf.validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SlogLogger")
}

// A node created with SlogLogger logs through it.
func TestSlogLoggerNode(t *testing.T) {
	var buf syncBuffer
	var network MockNetwork
	conf := DefaultLocalConfig()
	conf.Name = "a"
	conf.Transport = network.NewTransport("a")
	conf.SlogLogger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := Create(conf)
	require.NoError(t, err)
	_, err = m.Join([]string{"127.0.0.1:999"})
	require.Error(t, err)
	require.NoError(t, m.Shutdown())
	assert.Contains(t, buf.String(), `"level":"DEBUG","msg":"failed to join 127.0.0.1:999`)
}
