// keyring_migration_test.go proves, in the simulator and in virtual time,
// that a running five-node cluster moves from plaintext to encryption, from
// one key to another and back to plaintext, one node at a time, without any
// node ever suspecting another; and that skipping the decrypt-only step
// does open the window the steps exist to close.
package memberlist

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	migKeyA = []byte("migration-key-A!")                 // AES-128
	migKeyB = []byte("migration-key-B:0123456789abcdef") // AES-256
)

const migLabel = "migration"

// migNodes are the cluster under migration.
var migNodes = []string{"n1", "n2", "n3", "n4", "n5"}

// migCluster is a simulated cluster whose nodes each hold their own Keyring,
// which the test changes between runs of virtual time as an operator would
// on live processes.
type migCluster struct {
	t     *testing.T
	s     *Simulation
	rings map[string]*Keyring

	// formed is set once every node sees every other alive; from then on
	// any member of migNodes that some node of migNodes sees in another
	// state is a broken migration.
	formed bool
	bad    []SimTransition

	// traffic counts, by how it was sealed ("plaintext", "A", "B"), what
	// the nodes of migNodes sent to each other since the last reset.
	traffic map[string]int
}

// newMigCluster starts the five nodes with rings from newRing and waits
// until they all see each other alive.
func newMigCluster(t *testing.T, seed uint64, newRing func() *Keyring) *migCluster {
	t.Helper()
	c := &migCluster{t: t, rings: make(map[string]*Keyring), traffic: make(map[string]int)}
	c.s = NewSimulation(SimConfig{
		Seed:    seed,
		Latency: time.Millisecond,
		Jitter:  2 * time.Millisecond,
		Config: func(name string) *Config {
			conf := DefaultLANConfig()
			conf.LogOutput = io.Discard
			conf.Label = migLabel
			ring, ok := c.rings[name]
			if !ok {
				ring = newRing()
				c.rings[name] = ring
			}
			conf.Keyring = ring
			return conf
		},
		OnTransition: func(tr SimTransition) {
			if c.formed && tr.State != StateAlive && slices.Contains(migNodes, tr.Observer) && slices.Contains(migNodes, tr.Member) {
				c.bad = append(c.bad, tr)
			}
		},
	})
	c.s.observe = func(r simRecord) {
		if !r.dropped && slices.Contains(migNodes, r.from) && slices.Contains(migNodes, r.to) {
			c.traffic[sealedWith(t, r)]++
		}
	}
	for _, n := range migNodes {
		require.NoError(t, c.s.AddNode(n))
	}
	for _, n := range migNodes[1:] {
		require.NoError(t, c.s.Join(n, migNodes[0]))
	}
	require.True(t, c.s.RunUntil(c.allAlive, time.Minute), "the cluster did not form")
	c.formed = true
	return c
}

// sealedWith tells which key sealed what a node sent, or "plaintext".
func sealedWith(t *testing.T, r simRecord) string {
	body, _, err := RemoveLabelHeaderFromPacket(r.buf) // answers to streams carry no header
	require.NoError(t, err)
	require.NotEmpty(t, body)
	for name, key := range map[string][]byte{"A": migKeyA, "B": migKeyB} {
		var err error
		if r.stream {
			if body[0] != encryptMsgByte {
				break
			}
			_, err = decryptStream([][]byte{key}, bytes.NewReader(body[1:]), migLabel, maxPushStateBytes)
		} else {
			_, err = decryptPayload([][]byte{key}, body, []byte(migLabel))
		}
		if err == nil {
			return name
		}
	}
	if r.stream {
		require.NotEqual(t, encryptMsgByte, body[0], "a stream sealed with a key the test does not know")
	}
	return "plaintext"
}

// allAlive reports whether every node sees every node alive.
func (c *migCluster) allAlive() bool {
	for _, obs := range migNodes {
		for _, m := range migNodes {
			if st, ok := c.s.State(obs, m); !ok || st != StateAlive {
				return false
			}
		}
	}
	return true
}

// requireHealthy fails unless every node sees every other alive now and no
// node saw any other in another state since the cluster formed.
func (c *migCluster) requireHealthy(when string) {
	c.t.Helper()
	require.Empty(c.t, c.bad, "%s: members left the alive state", when)
	for _, obs := range migNodes {
		for _, m := range migNodes {
			st, ok := c.s.State(obs, m)
			require.True(c.t, ok && st == StateAlive, "%s: %s sees %s as %v (known: %v)", when, obs, m, st, ok)
		}
	}
}

// migStep is one rolling step: op runs on each node in turn, with gap of
// virtual time after each; once all have taken it, the traffic between the
// nodes over a window is sealed exactly as sealed says.
type migStep struct {
	name   string
	op     func(*Keyring) error
	sealed []string
}

const (
	migGap    = 7 * time.Second  // several probe rounds between two nodes' steps
	migWindow = 40 * time.Second // longer than the 30 s push/pull interval
)

// roll runs the steps, checking the cluster's health after every node's
// step and what it sends after every step.
func (c *migCluster) roll(steps []migStep) {
	c.t.Helper()
	for i, st := range steps {
		// Each step visits the nodes in another order, so that every node
		// is sometimes among the first and sometimes among the last.
		order := slices.Clone(migNodes)
		for range i {
			order = append(order[1:], order[0])
		}
		for _, n := range order {
			require.NoError(c.t, st.op(c.rings[n]), "%s on %s", st.name, n)
			c.s.RunFor(migGap)
			c.requireHealthy(fmt.Sprintf("%s, after %s", st.name, n))
		}
		clear(c.traffic)
		c.s.RunFor(migWindow)
		c.requireHealthy(st.name + ", all done")
		var got []string
		for kind, n := range c.traffic {
			if n > 0 {
				got = append(got, kind)
			}
		}
		sort.Strings(got)
		require.Equal(c.t, st.sealed, got, "%s: how the nodes seal what they send", st.name)
	}
}

// requireShutOut adds a node with ring and checks that the cluster neither
// lets it join nor hears it: what it sends is sealed in a way the nodes
// no longer accept. The outsider is crashed afterwards.
func (c *migCluster) requireShutOut(name string, ring *Keyring) {
	c.t.Helper()
	c.rings[name] = ring
	require.NoError(c.t, c.s.AddNode(name))
	require.NoError(c.t, c.s.Join(name, migNodes...))
	c.s.RunFor(migWindow)
	for _, n := range migNodes {
		_, known := c.s.State(n, name)
		require.False(c.t, known, "%s let %s in", n, name)
	}
	require.Equal(c.t, 1, c.s.NumMembers(name), "%s heard the cluster", name)
	require.NoError(c.t, c.s.Crash(name))
	c.requireHealthy("after " + name + " was shut out")
}

func TestKeyringRollingMigration(t *testing.T) {
	addDec := func(key []byte) func(*Keyring) error {
		return func(k *Keyring) error { return k.AddDecryptionKey(key) }
	}
	use := func(key []byte) func(*Keyring) error { return func(k *Keyring) error { return k.UseKey(key) } }
	remove := func(key []byte) func(*Keyring) error { return func(k *Keyring) error { return k.RemoveKey(key) } }
	plainToA := []migStep{
		{"1: AddDecryptionKey(A)", addDec(migKeyA), []string{"plaintext"}},
		{"2: UseKey(A)", use(migKeyA), []string{"A"}},
		{"3: RejectPlaintext", (*Keyring).RejectPlaintext, []string{"A"}},
	}
	aToB := []migStep{
		{"1: AddDecryptionKey(B)", addDec(migKeyB), []string{"A"}},
		{"2: UseKey(B)", use(migKeyB), []string{"B"}},
		{"3: RemoveKey(A)", remove(migKeyA), []string{"B"}},
	}
	bToPlain := []migStep{
		{"1: AcceptPlaintext", (*Keyring).AcceptPlaintext, []string{"B"}},
		{"2: UsePlaintext", (*Keyring).UsePlaintext, []string{"plaintext"}},
		{"3: RemoveKey(B)", remove(migKeyB), []string{"plaintext"}},
	}
	withKey := func(key []byte) func() *Keyring {
		return func() *Keyring {
			k, err := NewKeyring(nil, key)
			require.NoError(t, err)
			return k
		}
	}
	seeds := []uint64{1, 2, 3}
	if simRace {
		seeds = seeds[:1] // the race detector finds nothing in one goroutine
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Run("plaintext to key A", func(t *testing.T) {
				// Every node was created with an empty Keyring, so that
				// encryption can be turned on without a restart.
				c := newMigCluster(t, seed, func() *Keyring { return &Keyring{} })
				c.requireHealthy("formed in plaintext")
				c.roll(plainToA)
				c.requireShutOut("plain", &Keyring{})
				c.requireShutOut("wrong-key", withKey(migKeyB)())
			})
			t.Run("key A to key B", func(t *testing.T) {
				c := newMigCluster(t, seed, withKey(migKeyA))
				c.requireHealthy("formed with key A")
				c.roll(aToB)
				c.requireShutOut("old-key", withKey(migKeyA)())
				c.requireShutOut("plain", &Keyring{})
			})
			t.Run("plaintext to A to B and back to plaintext", func(t *testing.T) {
				c := newMigCluster(t, seed, func() *Keyring { return &Keyring{} })
				c.roll(slices.Concat(plainToA, aToB, bToPlain))
				for _, n := range migNodes {
					require.Empty(t, c.rings[n].GetKeys(), "%s: encryption is off again", n)
				}
			})
		})
	}
}

// TestKeyringMigrationWithoutDecryptOnlyStepBreaks is the control: with
// AddKey, which makes the first key of an empty ring primary at once, the
// first node to take the key stops reading and being read by the others,
// and they suspect it. It shows that the checks above can fail, and why
// AddDecryptionKey exists.
func TestKeyringMigrationWithoutDecryptOnlyStepBreaks(t *testing.T) {
	c := newMigCluster(t, 1, func() *Keyring { return &Keyring{} })
	require.NoError(t, c.rings[migNodes[0]].AddKey(migKeyA))
	c.s.RunFor(migGap)
	require.NotEmpty(t, c.bad, "a node that encrypts and rejects plaintext alone must be suspected")
	suspected := false
	for _, tr := range c.bad {
		suspected = suspected || (tr.Member == migNodes[0] && tr.State == StateSuspect)
	}
	require.True(t, suspected, "the others suspect %s: %v", migNodes[0], c.bad)
}
