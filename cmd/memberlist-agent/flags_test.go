// Tests for the Config the agent's flags build, where a flag changes a
// library setting beyond what the agent tests observe from outside.

package main

import (
	"io"
	"testing"
	"time"
)

// TestReconnectIntervalFlag checks that -reconnect-interval overrides the
// profile's ReconnectInterval, 0 included, and that leaving it out keeps
// the profile's value.
func TestReconnectIntervalFlag(t *testing.T) {
	tests := []struct {
		args []string
		want time.Duration
	}{
		{[]string{"-profile", "lan"}, 30 * time.Second},
		{[]string{"-profile", "wan"}, 60 * time.Second},
		{[]string{"-profile", "local"}, 15 * time.Second},
		{[]string{"-profile", "lan", "-reconnect-interval", "5s"}, 5 * time.Second},
		{[]string{"-profile", "wan", "-reconnect-interval", "1m30s"}, 90 * time.Second},
		{[]string{"-reconnect-interval", "0"}, 0},
	}
	for _, tt := range tests {
		opts, err := parseFlags(append([]string{"-name", "x"}, tt.args...), io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		conf, err := opts.config()
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if conf.ReconnectInterval != tt.want {
			t.Errorf("%v: ReconnectInterval %v, want %v", tt.args, conf.ReconnectInterval, tt.want)
		}
	}
}
