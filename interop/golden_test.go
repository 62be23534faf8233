// This file owns the replay of the reference's golden wire vectors (written by
// cmd/wiregen into ../testdata/golden) into live nodes of both implementations: the
// exact bytes the reference produced must be understood as the reference understands
// them, and every vector must be readable by the harness's independent decoder.
package interop

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swimgo/memberlist/interop/internal/wire"
)

const goldenDir = "../testdata/golden"

// goldenKey and goldenLabel are the fixed secrets cmd/wiregen runs the reference with.
var goldenKey = []byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}

const goldenLabel = "golden-label"

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(goldenDir, name+".hex"))
	require.NoError(t, err, "regenerate with: cd interop && go run ./cmd/wiregen")
	var b strings.Builder
	for _, l := range strings.Split(string(text), "\n") {
		if !strings.HasPrefix(l, "#") {
			b.WriteString(strings.TrimSpace(l))
		}
	}
	raw, err := hex.DecodeString(b.String())
	require.NoError(t, err, "golden %s is not hex", name)
	return raw
}

func TestGoldenVectorsDecode(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.hex"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no golden vectors; run: cd interop && go run ./cmd/wiregen")
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".hex")
		t.Run(name, func(t *testing.T) {
			raw := readGolden(t, name)
			var keys [][]byte
			if strings.Contains(name, "encrypted") {
				keys = [][]byte{goldenKey}
			}
			if strings.HasPrefix(name, "stream-") {
				s, err := wire.DecodeStream(raw, keys)
				require.NoError(t, err)
				require.NotZero(t, s.Type+1)
				return
			}
			msgs, err := wire.DecodePacket(raw, keys)
			require.NoError(t, err)
			require.NotEmpty(t, msgs)
		})
	}
}

// TestGoldenReplay sends the reference's captured bytes to a fresh node of each
// implementation from a raw loopback socket and checks the node acts on them.
func TestGoldenReplay(t *testing.T) {
	packets := []struct {
		vector, payload string
		tweak           func(*nodeOpts)
	}{
		{"user", "golden best-effort", nil},
		{"user-crc", "golden best-effort with crc", nil},
		{"compressed-user", strings.Repeat("golden compressible payload ", 8), nil},
		{"labelled-user", "golden labelled", func(o *nodeOpts) { o.Label = goldenLabel }},
		{"encrypted-v1-user", "golden encrypted v1", func(o *nodeOpts) { o.Keys = [][]byte{goldenKey} }},
		{"encrypted-v0-user", "golden encrypted v0", func(o *nodeOpts) { o.Keys = [][]byte{goldenKey} }},
	}
	streams := []struct {
		vector string
		tweak  func(*nodeOpts)
	}{
		{"stream-pushpull-join", nil},
		{"stream-compressed-pushpull", nil},
		{"stream-labelled-pushpull", func(o *nodeOpts) { o.Label = goldenLabel }},
		{"stream-encrypted-v1-pushpull", func(o *nodeOpts) { o.Keys = [][]byte{goldenKey} }},
		{"stream-encrypted-v0-pushpull", func(o *nodeOpts) { o.Keys = [][]byte{goldenKey} }},
	}
	for _, im := range []impl{oursImpl, refImpl} {
		for _, p := range packets {
			t.Run(im.name+"/"+p.vector, func(t *testing.T) {
				raw := readGolden(t, p.vector)
				c := newCluster(t)
				o := nodeOpts{Name: "replay-" + im.name}
				if p.tweak != nil {
					p.tweak(&o)
				}
				n := c.start(im, o)
				waitFor(t, 3*time.Second, func() string {
					if n.del.gotMsg(p.payload) {
						return ""
					}
					require.NoError(t, rawPacket(n.addr, raw))
					return fmt.Sprintf("%s did not deliver %q from the golden datagram", n, p.payload)
				})
			})
		}
		t.Run(im.name+"/stream-user", func(t *testing.T) {
			raw := readGolden(t, "stream-user")
			c := newCluster(t)
			n := c.start(im, nodeOpts{Name: "replay-" + im.name})
			_, err := rawPushPull(n.addr, raw, 3*time.Second)
			require.NoError(t, err)
			waitFor(t, 3*time.Second, func() string {
				if n.del.gotMsg("golden reliable") {
					return ""
				}
				return fmt.Sprintf("%s did not deliver the golden reliable message", n)
			})
		})
		for _, s := range streams {
			t.Run(im.name+"/"+s.vector, func(t *testing.T) {
				raw := readGolden(t, s.vector)
				var keys [][]byte
				if strings.Contains(s.vector, "encrypted") {
					keys = [][]byte{goldenKey}
				}
				sent, err := wire.DecodeStream(raw, keys)
				require.NoError(t, err)
				require.NotNil(t, sent.PushPull)
				c := newCluster(t)
				o := nodeOpts{Name: "replay-" + im.name}
				if s.tweak != nil {
					s.tweak(&o)
				}
				n := c.start(im, o)
				reply, err := rawPushPull(n.addr, raw, 3*time.Second)
				require.NoError(t, err)
				got, err := wire.DecodeStream(reply, keys)
				require.NoError(t, err, "%s's answer to the golden push/pull", n)
				require.NotNil(t, got.PushPull, "%s answered with %s", n, wire.TypeName(got.Type))
				require.Equal(t, sent.PushPull.Header.Join, got.PushPull.Header.Join)
				require.Empty(t, got.Env.Label, "only the dialer sends a label header on a stream")
				require.Equal(t, sent.Env.Encrypted, got.Env.Encrypted)
				for _, want := range sent.PushPull.Nodes {
					waitFor(t, 3*time.Second, func() string {
						v, ok := n.ev.liveViews()[want.Name]
						if ok && v.Meta == string(want.Meta) && v.Port == want.Port {
							return ""
						}
						return fmt.Sprintf("%s did not learn %s from the golden state (view %v)", n, want.Name, v)
					})
				}
				if len(sent.PushPull.UserState) > 0 {
					waitFor(t, 3*time.Second, func() string {
						if n.del.gotMerge(func(m mergedState) bool { return bytes.Equal([]byte(m.Buf), sent.PushPull.UserState) }) {
							return ""
						}
						return fmt.Sprintf("%s did not merge the golden user state", n)
					})
				}
			})
		}
	}
}
