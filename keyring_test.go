// keyring_test.go checks keyring construction, rotation, copying and
// concurrent use.
package memberlist

import (
	"bytes"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	keyA = bytes.Repeat([]byte{0xaa}, 16)
	keyB = bytes.Repeat([]byte{0xbb}, 24)
	keyC = bytes.Repeat([]byte{0xcc}, 32)
	keyD = bytes.Repeat([]byte{0xdd}, 16)
)

func TestValidateKey(t *testing.T) {
	for size := range 40 {
		err := ValidateKey(make([]byte, size))
		if size == 16 || size == 24 || size == 32 {
			assert.NoError(t, err, "size %d", size)
		} else {
			assert.ErrorIs(t, err, errInvalidKeySize, "size %d", size)
		}
	}
	assert.ErrorIs(t, ValidateKey(nil), errInvalidKeySize)
}

func TestNewKeyring(t *testing.T) {
	tests := []struct {
		name    string
		keys    [][]byte
		primary []byte
		want    [][]byte
		wantErr error
	}{
		{"no keys disables encryption", nil, nil, nil, nil},
		{"empty slices disable encryption", [][]byte{}, []byte{}, nil, nil},
		{"primary only", nil, keyA, [][]byte{keyA}, nil},
		{"primary missing from keys goes first", [][]byte{keyB, keyC}, keyA, [][]byte{keyA, keyB, keyC}, nil},
		{"primary inside keys goes first", [][]byte{keyB, keyA, keyC}, keyA, [][]byte{keyA, keyB, keyC}, nil},
		{"duplicates collapse", [][]byte{keyB, keyB, keyA}, keyA, [][]byte{keyA, keyB}, nil},
		{"keys without primary", [][]byte{keyA}, nil, nil, errEmptyPrimaryKey},
		{"bad primary", nil, []byte("short"), nil, errInvalidKeySize},
		{"bad secondary", [][]byte{keyB, []byte("short")}, keyA, nil, errInvalidKeySize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKeyring(tt.keys, tt.primary)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, k)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, k)
			assert.Equal(t, tt.want, k.GetKeys())
			if len(tt.want) > 0 {
				assert.Equal(t, tt.want[0], k.GetPrimaryKey())
			} else {
				assert.Nil(t, k.GetPrimaryKey())
			}
		})
	}
}

func TestKeyringRotation(t *testing.T) {
	k, err := NewKeyring(nil, keyA)
	require.NoError(t, err)

	steps := []struct {
		name    string
		op      func() error
		want    [][]byte
		wantErr error
	}{
		{"add B", func() error { return k.AddKey(keyB) }, [][]byte{keyA, keyB}, nil},
		{"add C", func() error { return k.AddKey(keyC) }, [][]byte{keyA, keyB, keyC}, nil},
		{"add B again is a no-op", func() error { return k.AddKey(keyB) }, [][]byte{keyA, keyB, keyC}, nil},
		{"add bad key", func() error { return k.AddKey([]byte{1}) }, [][]byte{keyA, keyB, keyC}, errInvalidKeySize},
		{"use C", func() error { return k.UseKey(keyC) }, [][]byte{keyC, keyA, keyB}, nil},
		{"use C again", func() error { return k.UseKey(keyC) }, [][]byte{keyC, keyA, keyB}, nil},
		{"use unknown", func() error { return k.UseKey(keyD) }, [][]byte{keyC, keyA, keyB}, errKeyNotInstalled},
		{"remove primary refused", func() error { return k.RemoveKey(keyC) }, [][]byte{keyC, keyA, keyB}, errRemovePrimaryKey},
		{"remove A", func() error { return k.RemoveKey(keyA) }, [][]byte{keyC, keyB}, nil},
		{"remove A again is a no-op", func() error { return k.RemoveKey(keyA) }, [][]byte{keyC, keyB}, nil},
		{"remove unknown is a no-op", func() error { return k.RemoveKey(keyD) }, [][]byte{keyC, keyB}, nil},
		{"use B", func() error { return k.UseKey(keyB) }, [][]byte{keyB, keyC}, nil},
		{"remove C", func() error { return k.RemoveKey(keyC) }, [][]byte{keyB}, nil},
		{"remove last (primary) refused", func() error { return k.RemoveKey(keyB) }, [][]byte{keyB}, errRemovePrimaryKey},
	}
	for _, s := range steps {
		err := s.op()
		if s.wantErr != nil {
			require.ErrorIs(t, err, s.wantErr, s.name)
		} else {
			require.NoError(t, err, s.name)
		}
		require.Equal(t, s.want, k.GetKeys(), s.name)
		require.Equal(t, s.want[0], k.GetPrimaryKey(), s.name)
	}
}

func TestKeyringRotationKeepsTrafficFlowing(t *testing.T) {
	// The documented rotation: install everywhere, switch, then retire.
	sender, err := NewKeyring(nil, keyA)
	require.NoError(t, err)
	receiver, err := NewKeyring(nil, keyA)
	require.NoError(t, err)

	send := func() []byte {
		out, err := encryptPacket(1, sender.GetPrimaryKey(), []byte("hi"), "")
		require.NoError(t, err)
		return out
	}
	recv := func(b []byte) error {
		_, err := decryptPacket(receiver.GetKeys(), b, "")
		return err
	}

	require.NoError(t, receiver.AddKey(keyC))
	require.NoError(t, sender.AddKey(keyC))
	require.NoError(t, recv(send()))
	require.NoError(t, sender.UseKey(keyC))
	require.NoError(t, recv(send()))
	require.NoError(t, receiver.UseKey(keyC))
	require.NoError(t, receiver.RemoveKey(keyA))
	require.NoError(t, recv(send()))

	// Once retired, the old key no longer opens anything.
	old, err := encryptPacket(1, keyA, []byte("hi"), "")
	require.NoError(t, err)
	assert.ErrorIs(t, recv(old), errNoKeyDecrypts)
}

func TestKeyringCopies(t *testing.T) {
	input := bytes.Clone(keyA)
	k, err := NewKeyring(nil, input)
	require.NoError(t, err)

	// The caller reusing its slice must not change the installed key.
	input[0] ^= 0xff
	assert.Equal(t, keyA, k.GetPrimaryKey())

	// Nor may the caller change the ring through what it got back.
	got := k.GetKeys()
	got[0][0] ^= 0xff
	got[0] = keyD
	prim := k.GetPrimaryKey()
	prim[0] ^= 0xff
	assert.Equal(t, [][]byte{keyA}, k.GetKeys())

	// A snapshot taken before a rotation stays as it was.
	require.NoError(t, k.AddKey(keyB))
	snap := k.snapshot()
	require.NoError(t, k.UseKey(keyB))
	require.NoError(t, k.RemoveKey(keyA))
	assert.Equal(t, [][]byte{keyA, keyB}, snap)
	assert.Equal(t, keyB, k.primaryKey())

	// Appending to a returned key must not run into another key's bytes.
	require.NoError(t, k.AddKey(keyC))
	keys := k.GetKeys()
	_ = append(keys[0], 0x00)
	assert.Equal(t, keyC, keys[1])
}

func TestKeyringZeroValue(t *testing.T) {
	var k Keyring
	assert.Nil(t, k.GetKeys())
	assert.Nil(t, k.GetPrimaryKey())
	assert.NoError(t, k.RemoveKey(keyA), "removing from an empty ring is a no-op")
	assert.ErrorIs(t, k.UseKey(keyA), errKeyNotInstalled)
	require.NoError(t, k.AddKey(keyA))
	assert.Equal(t, keyA, k.GetPrimaryKey(), "the first key added becomes primary")
}

func TestKeyringNilPointer(t *testing.T) {
	var k *Keyring
	assert.Nil(t, k.GetKeys())
	assert.Nil(t, k.GetPrimaryKey())
	assert.Nil(t, k.snapshot())
	assert.Nil(t, k.primaryKey())
	assert.ErrorIs(t, k.AddKey(keyA), errNilKeyring)
	assert.ErrorIs(t, k.UseKey(keyA), errNilKeyring)
	assert.ErrorIs(t, k.RemoveKey(keyA), errNilKeyring)
}

func TestKeyringConcurrentUse(t *testing.T) {
	k, err := NewKeyring(nil, keyA)
	require.NoError(t, err)
	keys := [][]byte{keyB, keyC, keyD}

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				key := keys[(w+i)%len(keys)]
				_ = k.AddKey(key)
				_ = k.UseKey(key)
				_ = k.RemoveKey(keys[(w+i+1)%len(keys)])
			}
		}()
	}
	// Readers compare every byte they get with the keys that exist: under
	// -race that touches every read, and a torn key would fail.
	installed := func(key []byte) bool {
		return slices.ContainsFunc(append([][]byte{keyA}, keys...), func(k []byte) bool { return bytes.Equal(k, key) })
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				got := k.GetKeys()
				assert.NotEmpty(t, got)
				for _, key := range got {
					assert.True(t, installed(key), "GetKeys returned %x", key)
				}
				assert.True(t, installed(k.GetPrimaryKey()), "no primary key")
				for _, key := range k.snapshot() {
					assert.True(t, installed(key), "snapshot holds %x", key)
				}
			}
		}()
	}
	wg.Wait()

	// Whatever the interleaving, the ring stays a set with a primary.
	final := k.GetKeys()
	require.NotEmpty(t, final)
	for i := range final {
		for j := i + 1; j < len(final); j++ {
			assert.NotEqual(t, final[i], final[j])
		}
	}
}

// TestKeyringPlaintextSteps walks rings through the steps that turn
// encryption on, change the key and turn it off, and the ways back, checking
// after every step what the node sends (the primary key, nil for plaintext),
// which keys it decrypts with and whether it reads plaintext.
func TestKeyringPlaintextSteps(t *testing.T) {
	type step struct {
		name      string
		op        func(k *Keyring) error
		wantErr   error
		keys      [][]byte // GetKeys after the step
		primary   []byte   // GetPrimaryKey after the step; nil means plaintext
		plaintext bool     // AcceptsPlaintext after the step
	}
	addDec := func(key []byte) func(*Keyring) error {
		return func(k *Keyring) error { return k.AddDecryptionKey(key) }
	}
	add := func(key []byte) func(*Keyring) error { return func(k *Keyring) error { return k.AddKey(key) } }
	use := func(key []byte) func(*Keyring) error { return func(k *Keyring) error { return k.UseKey(key) } }
	remove := func(key []byte) func(*Keyring) error { return func(k *Keyring) error { return k.RemoveKey(key) } }
	usePlain := func(k *Keyring) error { return k.UsePlaintext() }
	accept := func(k *Keyring) error { return k.AcceptPlaintext() }
	reject := func(k *Keyring) error { return k.RejectPlaintext() }

	tests := []struct {
		name  string
		start func() *Keyring
		steps []step
	}{
		{"plaintext to a key and back", func() *Keyring { return &Keyring{} }, []step{
			{"empty ring reads plaintext", accept, nil, nil, nil, true},
			{"use plaintext on an empty ring is a no-op", usePlain, nil, nil, nil, true},
			{"an empty ring cannot reject plaintext", reject, errSendsPlaintext, nil, nil, true},
			{"1: decryption key keeps sending plaintext", addDec(keyA), nil, [][]byte{keyA}, nil, true},
			{"again is a no-op", addDec(keyA), nil, [][]byte{keyA}, nil, true},
			{"a bad key is refused", addDec([]byte("short")), errInvalidKeySize, [][]byte{keyA}, nil, true},
			{"rejecting while sending plaintext is refused", reject, errSendsPlaintext, [][]byte{keyA}, nil, true},
			{"2: use the key, still read plaintext", use(keyA), nil, [][]byte{keyA}, keyA, true},
			{"3: reject plaintext", reject, nil, [][]byte{keyA}, keyA, false},
			{"reject again is a no-op", reject, nil, [][]byte{keyA}, keyA, false},
			{"undo 3", accept, nil, [][]byte{keyA}, keyA, true},
			{"undo 2", usePlain, nil, [][]byte{keyA}, nil, true},
			{"the only key is not primary, so it may go", remove(keyA), nil, nil, nil, true},
			{"back to the legacy empty ring: AddKey makes primary", add(keyB), nil, [][]byte{keyB}, keyB, false},
		}},
		{"key A to key B and back", func() *Keyring { k, _ := NewKeyring(nil, keyA); return k }, []step{
			{"start: A only, no plaintext", accept, nil, [][]byte{keyA}, keyA, true},
			{"undo", reject, nil, [][]byte{keyA}, keyA, false},
			{"1: B decrypts only", addDec(keyB), nil, [][]byte{keyA, keyB}, keyA, false},
			{"2: B is primary, A still decrypts", use(keyB), nil, [][]byte{keyB, keyA}, keyB, false},
			{"undo 2", use(keyA), nil, [][]byte{keyA, keyB}, keyA, false},
			{"redo 2", use(keyB), nil, [][]byte{keyB, keyA}, keyB, false},
			{"the primary cannot go", remove(keyB), errRemovePrimaryKey, [][]byte{keyB, keyA}, keyB, false},
			{"3: retire A", remove(keyA), nil, [][]byte{keyB}, keyB, false},
			{"undo 3", addDec(keyA), nil, [][]byte{keyB, keyA}, keyB, false},
		}},
		{"key to plaintext", func() *Keyring { k, _ := NewKeyring([][]byte{keyB}, keyA); return k }, []step{
			{"1: read plaintext too", accept, nil, [][]byte{keyA, keyB}, keyA, true},
			{"2: send plaintext, keep decrypting", usePlain, nil, [][]byte{keyA, keyB}, nil, true},
			{"use plaintext again is a no-op", usePlain, nil, [][]byte{keyA, keyB}, nil, true},
			{"AddKey on a ring with keys does not make primary", add(keyC), nil, [][]byte{keyA, keyB, keyC}, nil, true},
			{"UseKey on an unknown key is refused", use(keyD), errKeyNotInstalled, [][]byte{keyA, keyB, keyC}, nil, true},
			{"3: retire the keys, the former primary first", remove(keyA), nil, [][]byte{keyB, keyC}, nil, true},
			{"3: ...", remove(keyC), nil, [][]byte{keyB}, nil, true},
			{"3: the last one leaves an empty ring", remove(keyB), nil, nil, nil, true},
			{"the empty ring forgot the plaintext state", add(keyD), nil, [][]byte{keyD}, keyD, false},
		}},
		{"UseKey keeps accepting plaintext", func() *Keyring { return &Keyring{} }, []step{
			{"two decryption keys", addDec(keyA), nil, [][]byte{keyA}, nil, true},
			{"...", addDec(keyB), nil, [][]byte{keyA, keyB}, nil, true},
			{"use the second; it goes first", use(keyB), nil, [][]byte{keyB, keyA}, keyB, true},
			{"plaintext again: order kept", usePlain, nil, [][]byte{keyB, keyA}, nil, true},
			{"the first key is primary once used, even in place", use(keyB), nil, [][]byte{keyB, keyA}, keyB, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.start()
			for _, s := range tt.steps {
				err := s.op(k)
				if s.wantErr != nil {
					require.ErrorIs(t, err, s.wantErr, s.name)
				} else {
					require.NoError(t, err, s.name)
				}
				assert.Equal(t, s.keys, k.GetKeys(), s.name)
				assert.Equal(t, s.primary, k.GetPrimaryKey(), s.name)
				assert.Equal(t, s.primary, k.primaryKey(), s.name)
				assert.Equal(t, s.plaintext, k.AcceptsPlaintext(), s.name)
				st := k.load()
				assert.False(t, st.sendPlain && !st.acceptPlain, "%s: a node must read what it sends", s.name)
				if len(st.keys) == 0 {
					assert.Equal(t, keyringState{}, st, "%s: an empty ring has no plaintext state", s.name)
				}
			}
		})
	}
}

// TestKeyringPlaintextNilPointer: the new methods, like the old ones, fail
// on a nil ring instead of panicking; a nil ring reads plaintext.
func TestKeyringPlaintextNilPointer(t *testing.T) {
	var k *Keyring
	assert.ErrorIs(t, k.AddDecryptionKey(keyA), errNilKeyring)
	assert.ErrorIs(t, k.UsePlaintext(), errNilKeyring)
	assert.ErrorIs(t, k.AcceptPlaintext(), errNilKeyring)
	assert.ErrorIs(t, k.RejectPlaintext(), errNilKeyring)
	assert.True(t, k.AcceptsPlaintext())
}

// TestKeyringPlaintextConcurrentUse moves a ring between sending plaintext
// and encrypting from several goroutines while readers check, under -race,
// that every state they load is one a node may be in.
func TestKeyringPlaintextConcurrentUse(t *testing.T) {
	var k Keyring
	var wg sync.WaitGroup
	ops := []func() error{
		func() error { return k.AddDecryptionKey(keyA) },
		func() error { return k.AddDecryptionKey(keyB) },
		func() error { return k.UseKey(keyA) },
		func() error { return k.UseKey(keyB) },
		k.UsePlaintext,
		k.AcceptPlaintext,
		k.RejectPlaintext,
		func() error { return k.RemoveKey(keyA) },
		func() error { return k.RemoveKey(keyB) },
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				_ = ops[(w*7+i)%len(ops)]()
			}
		}()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				st := k.load()
				assert.False(t, st.sendPlain && !st.acceptPlain, "sends plaintext it would not read")
				if len(st.keys) == 0 {
					assert.Equal(t, keyringState{}, st)
				}
				if p := k.primaryKey(); p != nil {
					assert.True(t, bytes.Equal(p, keyA) || bytes.Equal(p, keyB), "primary %x", p)
				}
			}
		}()
	}
	wg.Wait()
}

// TestConfigKeyringPolicy: what a node sends and accepts comes from its
// Keyring at the moment, unless GossipVerifyOutgoing or GossipVerifyIncoming
// is off, which overrides the ring for the node's whole life.
func TestConfigKeyringPolicy(t *testing.T) {
	empty := func() *Keyring { return &Keyring{} }
	decryptOnly := func() *Keyring { k := &Keyring{}; _ = k.AddDecryptionKey(keyA); return k }
	primary := func() *Keyring { k, _ := NewKeyring([][]byte{keyB}, keyA); return k }
	primaryPlain := func() *Keyring { k := primary(); _ = k.AcceptPlaintext(); return k }
	tests := []struct {
		name             string
		ring             func() *Keyring
		verifyIn         bool
		verifyOut        bool
		wantSend         []byte   // nil: plaintext
		wantKeys         [][]byte // tried on what arrives
		wantPlaintextOK  bool
		wantEncryptionOn bool // EncryptionEnabled, unchanged in meaning
	}{
		{"no keyring", func() *Keyring { return nil }, true, true, nil, nil, true, false},
		{"empty ring", empty, true, true, nil, nil, true, false},
		{"decryption key only", decryptOnly, true, true, nil, [][]byte{keyA}, true, true},
		{"primary key", primary, true, true, keyA, [][]byte{keyA, keyB}, false, true},
		{"primary key, accepting plaintext", primaryPlain, true, true, keyA, [][]byte{keyA, keyB}, true, true},
		{"GossipVerifyIncoming off accepts plaintext", primary, false, true, keyA, [][]byte{keyA, keyB}, true, true},
		{"GossipVerifyOutgoing off sends plaintext", primary, true, false, nil, [][]byte{keyA, keyB}, false, true},
		{"both off", primary, false, false, nil, [][]byte{keyA, keyB}, true, true},
		{"both off, decryption key only", decryptOnly, false, false, nil, [][]byte{keyA}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultLANConfig()
			c.Keyring = tt.ring()
			c.GossipVerifyIncoming, c.GossipVerifyOutgoing = tt.verifyIn, tt.verifyOut
			assert.Equal(t, tt.wantSend, c.outboundKey())
			keys, ok := c.inboundKeys()
			assert.Equal(t, tt.wantKeys, keys)
			assert.Equal(t, tt.wantPlaintextOK, ok)
			assert.Equal(t, tt.wantEncryptionOn, c.EncryptionEnabled())
		})
	}
}
