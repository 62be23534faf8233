// keyring.go owns the Keyring: the set of AES keys a node decrypts with, the
// primary key it encrypts with, and key rotation (add, promote, remove).
package memberlist

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

var (
	errInvalidKeySize   = errors.New("invalid encryption key size")
	errEmptyPrimaryKey  = errors.New("empty primary key not allowed")
	errKeyNotInstalled  = errors.New("requested key is not in the keyring")
	errRemovePrimaryKey = errors.New("removing the primary key is not allowed")
	errNilKeyring       = errors.New("keyring is nil")
)

// Keyring holds the encryption keys of a node. The first key is the primary:
// it encrypts everything the node sends and is tried first when decrypting.
// The other keys only decrypt, which lets a cluster rotate keys without a
// moment where two nodes cannot read each other.
//
// A Keyring is safe for concurrent use. The zero value is an empty keyring
// (encryption disabled) ready to receive keys with AddKey.
type Keyring struct {
	// l serializes the changes; readers take no lock. keys points to a
	// slice that is never modified in place: every change installs a new
	// one, so a slice handed out by snapshot stays valid and consistent,
	// and the packet path reads the keys with one atomic load.
	l    sync.Mutex
	keys atomic.Pointer[[][]byte]
}

// NewKeyring builds a keyring. Pass no keys and no primary key to disable
// encryption, only a primary key, or a set of keys plus the primary key (which
// is installed first even if it is missing from keys). Each key must be 16,
// 24 or 32 bytes, selecting AES-128, AES-192 or AES-256.
func NewKeyring(keys [][]byte, primaryKey []byte) (*Keyring, error) {
	k := &Keyring{}
	if len(keys) == 0 && len(primaryKey) == 0 {
		return k, nil
	}
	if len(primaryKey) == 0 {
		return nil, fmt.Errorf("%w: pass the key to encrypt with as primaryKey", errEmptyPrimaryKey)
	}
	if err := k.AddKey(primaryKey); err != nil {
		return nil, fmt.Errorf("primary key: %w", err)
	}
	for i, key := range keys {
		if err := k.AddKey(key); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
	}
	return k, nil
}

// ValidateKey reports whether key can be used with AES: it must be 16, 24 or
// 32 bytes long, selecting AES-128, AES-192 or AES-256.
func ValidateKey(key []byte) error {
	switch len(key) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("%w: key is %d bytes, it must be 16, 24 or 32 bytes (AES-128, AES-192 or AES-256)", errInvalidKeySize, len(key))
}

// AddKey installs key for decryption. Installing a key that is already on the
// ring does nothing; the first key added to an empty ring becomes primary.
// Install a new key on every node before making it primary with UseKey.
func (k *Keyring) AddKey(key []byte) error {
	if k == nil {
		return fmt.Errorf("%w: create one with NewKeyring", errNilKeyring)
	}
	if err := ValidateKey(key); err != nil {
		return err
	}
	k.l.Lock()
	defer k.l.Unlock()
	cur := k.snapshot()
	if keyIndex(cur, key) >= 0 {
		return nil
	}
	next := make([][]byte, 0, len(cur)+1)
	next = append(next, cur...)
	// Keep our own copy so the caller reusing its slice cannot change a key.
	next = append(next, bytes.Clone(key))
	k.keys.Store(&next)
	return nil
}

// UseKey makes an installed key the primary key, the only one used to
// encrypt. Every peer must already have the key, or it will drop our traffic.
func (k *Keyring) UseKey(key []byte) error {
	if k == nil {
		return fmt.Errorf("%w: create one with NewKeyring", errNilKeyring)
	}
	k.l.Lock()
	defer k.l.Unlock()
	cur := k.snapshot()
	i := keyIndex(cur, key)
	if i < 0 {
		return fmt.Errorf("%w: install it with AddKey first", errKeyNotInstalled)
	}
	if i == 0 {
		return nil
	}
	// The new primary goes first; the others keep their relative order.
	next := make([][]byte, 0, len(cur))
	next = append(next, cur[i])
	next = append(next, cur[:i]...)
	next = append(next, cur[i+1:]...)
	k.keys.Store(&next)
	return nil
}

// RemoveKey drops a key from the ring. Removing a key that is not installed
// does nothing. The primary key cannot be removed: promote another key with
// UseKey first.
func (k *Keyring) RemoveKey(key []byte) error {
	if k == nil {
		return fmt.Errorf("%w: create one with NewKeyring", errNilKeyring)
	}
	k.l.Lock()
	defer k.l.Unlock()
	cur := k.snapshot()
	i := keyIndex(cur, key)
	switch {
	case i < 0:
		return nil
	case i == 0:
		return fmt.Errorf("%w: make another key primary with UseKey first", errRemovePrimaryKey)
	}
	next := make([][]byte, 0, len(cur)-1)
	next = append(next, cur[:i]...)
	next = append(next, cur[i+1:]...)
	k.keys.Store(&next)
	return nil
}

// GetKeys returns the installed keys, primary first. The result is a copy the
// caller may keep and modify; a nil or empty keyring returns nil.
func (k *Keyring) GetKeys() [][]byte {
	keys := k.snapshot()
	if len(keys) == 0 {
		return nil
	}
	size := 0
	for _, key := range keys {
		size += len(key)
	}
	// One backing array for all the keys: a single allocation per call.
	backing := make([]byte, 0, size)
	out := make([][]byte, len(keys))
	for i, key := range keys {
		start := len(backing)
		backing = append(backing, key...)
		out[i] = backing[start:len(backing):len(backing)]
	}
	return out
}

// GetPrimaryKey returns a copy of the key used to encrypt, or nil when the
// keyring is nil or empty.
func (k *Keyring) GetPrimaryKey() []byte {
	keys := k.snapshot()
	if len(keys) == 0 {
		return nil
	}
	return bytes.Clone(keys[0])
}

// snapshot returns the current keys without copying or locking, for the
// packet path, which must not allocate or wait per packet. Callers must
// treat the result as read-only; it is never modified by later rotations.
func (k *Keyring) snapshot() [][]byte {
	if k == nil {
		return nil
	}
	if p := k.keys.Load(); p != nil {
		return *p
	}
	return nil
}

// primaryKey is GetPrimaryKey without the copy, for the send path; read-only.
func (k *Keyring) primaryKey() []byte {
	keys := k.snapshot()
	if len(keys) == 0 {
		return nil
	}
	return keys[0]
}

// keyIndex returns the position of key in keys, or -1.
func keyIndex(keys [][]byte, key []byte) int {
	for i, installed := range keys {
		if bytes.Equal(installed, key) {
			return i
		}
	}
	return -1
}
