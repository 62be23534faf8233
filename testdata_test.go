// The one reader of the hex vector files under testdata/. Three generators
// wrote them in three layouts; readHexFile understands all of them, so a
// test says which fields it needs instead of how to parse a file.

package memberlist

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	// commentField matches "# name: value" and "# name (note): value", as
	// testdata/golden writes its key and label; other comments are prose.
	commentField = regexp.MustCompile(`^#\s*([a-z][a-z0-9-]*)(?: \([^)]*\))?:\s*(.*)$`)
	// plainField matches "name=value", as testdata/security writes every
	// line. Hex never holds '=', so it cannot be mistaken for data.
	plainField = regexp.MustCompile(`^([a-z][a-z0-9-]*)=(.*)$`)
)

// readHexFile reads a vector file in any of the layouts testdata uses:
//
//   - testdata/wire: one line of hex;
//   - testdata/golden: '#' comment lines, some of them "# key (AES-128): …" or
//     "# label: …" fields, then the hex wrapped over several lines;
//   - testdata/security: "name=value" lines only.
//
// data is every other non-blank line, concatenated and decoded from hex.
// fields holds the named values; a name given more than once (golden files
// describe each message of a compound on its own "# message:" line) keeps
// every value, joined by newlines.
func readHexFile(t testing.TB, path string) (data []byte, fields map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	fields = map[string]string{}
	set := func(name, value string) {
		if old, ok := fields[name]; ok {
			value = old + "\n" + value
		}
		fields[name] = value
	}
	var hexText strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := commentField.FindStringSubmatch(line); m != nil {
			set(m[1], m[2])
			continue
		}
		if m := plainField.FindStringSubmatch(line); m != nil {
			set(m[1], m[2])
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		hexText.WriteString(line)
	}
	require.NoError(t, sc.Err(), path)
	data, err = hex.DecodeString(hexText.String())
	require.NoError(t, err, path)
	return data, fields
}

// hexFiles lists the vector files in dir and fails the test, saying how to
// regenerate them, when there are none: a test that loops over no vectors
// would pass while checking nothing.
func hexFiles(t testing.TB, dir, regenerate string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.hex"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no vectors in %s: %s", dir, regenerate)
	return paths
}

// hexField decodes the named field of a vector file as hex; a missing field
// fails the test rather than reading as empty.
func hexField(t testing.TB, path string, fields map[string]string, name string) []byte {
	t.Helper()
	v, ok := fields[name]
	require.True(t, ok, "%s: no field %q", path, name)
	b, err := hex.DecodeString(v)
	require.NoError(t, err, "%s: field %s", path, name)
	return b
}
