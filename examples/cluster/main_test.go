// This file checks the cluster example end to end on real loopback sockets:
// the scenario must complete and its output must tell the whole story.

package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunTellsTheWholeStory(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a real cluster on loopback and waits for failure detection")
	}
	var out bytes.Buffer
	err := run(&out)
	t.Logf("output:\n%s", out.String())
	require.NoError(t, err)
	text := out.String()

	crashed := fmt.Sprintf("node-%d", clusterSize)
	leaver := fmt.Sprintf("node-%d", clusterSize-1)

	tests := []struct {
		name    string
		pattern string
		count   int // lines that must match: one per observer
	}{
		{"every node sees every other join", `(?m)^node-\d sees node-\d join \(127\.0\.0\.1:\d+\)$`, clusterSize * (clusterSize - 1)},
		{"survivors declare the crashed node failed", `(?m)^node-\d declares ` + crashed + ` failed, .+ after the crash$`, clusterSize - 1},
		{"remaining peers see the graceful leave", `(?m)^node-\d sees ` + leaver + ` leave \(127\.0\.0\.1:\d+\)$`, clusterSize - 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			matches := regexp.MustCompile(tt.pattern).FindAllString(text, -1)
			assert.Len(t, matches, tt.count, "lines matching %s", tt.pattern)
		})
	}

	t.Run("phases happen in order", func(t *testing.T) {
		crash := strings.Index(text, "crashing "+crashed)
		leave := strings.Index(text, leaver+" leaves gracefully")
		end := strings.Index(text, "all nodes shut down")
		require.True(t, crash >= 0 && leave > crash && end > leave, "crash, leave and shutdown must appear in that order")
		assert.NotContains(t, text[:crash], "failed", "no failure may be reported before the crash")
		assert.NotContains(t, text[crash:leave], "sees "+leaver+" leave", "the leave must come after the crash phase")
	})
}
