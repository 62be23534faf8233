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
