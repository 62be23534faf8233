// keyring.go owns the Keyring: the set of AES keys a node decrypts with, the
// primary key it encrypts with (or none: plaintext), whether it also accepts
// plaintext, and the moves between those states that rotate keys and turn
// encryption on or off in a running cluster.
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
	errSendsPlaintext   = errors.New("cannot reject plaintext while this node sends plaintext")
)

// Keyring holds the encryption keys of a node. The first key is the primary
// (unless the ring has none, see below): it encrypts everything the node sends and is tried first when decrypting.
// The other keys only decrypt, which lets a cluster rotate keys without a
// moment where two nodes cannot read each other.
//
// Plaintext takes part in the same scheme, as if it were one more key. A
// ring may have no primary key, only decryption keys (AddDecryptionKey,
// UsePlaintext): the node then sends plaintext and reads plaintext as well
// as whatever its keys open. A ring with a primary key may still accept
// plaintext (AcceptPlaintext) until RejectPlaintext. So a live cluster can
// go from plaintext to encryption, from one key to another, or back, in
// three rolling steps, each finished on every node before the next begins:
//
//	plaintext to key K:  AddDecryptionKey(K), UseKey(K), RejectPlaintext()
//	key A to key B:      AddDecryptionKey(B), UseKey(B), RemoveKey(A)
//	key K to plaintext:  AcceptPlaintext(), UsePlaintext(), RemoveKey(K)
//
// Throughout, every node can read what every other node sends, whether or
// not either has taken the current step yet. To back out, undo the steps
// taken, last first: AddDecryptionKey and RemoveKey undo each other, as do
// AcceptPlaintext and RejectPlaintext; UseKey(old) or UsePlaintext undoes
// UseKey(new). Keys never travel on the wire.
//
// Config.GossipVerifyOutgoing and Config.GossipVerifyIncoming, when false,
// override the ring for the node's whole life: the node then never encrypts,
// or always accepts plaintext, whatever the ring says.
//
// A Keyring is safe for concurrent use. The zero value is an empty keyring
// (encryption disabled) ready to receive keys with AddKey or
// AddDecryptionKey. Give every node a Keyring at Create, even an empty one,
// to be able to turn encryption on later without a restart.
type Keyring struct {
	// l serializes the changes; readers take no lock. state points to a
	// value that is never modified in place: every change installs a new
	// one, so keys handed out by snapshot stay valid and consistent, and
	// the packet path reads the whole state with one atomic load.
	l     sync.Mutex
	state atomic.Pointer[keyringState]
}

// keyringState is one immutable version of a Keyring. An empty ring (no
// keys) is plaintext in and out, whatever the flags; the flags only mean
// something next to keys, and are cleared when the last key goes.
type keyringState struct {
	keys [][]byte
	// sendPlain: no key is primary; the node sends plaintext and every key
	// only decrypts. It implies acceptPlain.
	sendPlain bool
	// acceptPlain: what no key opens is read as plaintext.
	acceptPlain bool
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
// ring does nothing; the first key added to an empty ring becomes primary, so
// on an empty ring this turns encryption on at once. Use AddDecryptionKey to
// install a key without changing what the node sends. Install a new key on
// every node before making it primary with UseKey.
func (k *Keyring) AddKey(key []byte) error {
	return k.addKey(key, false)
}

// AddDecryptionKey installs key for decryption only: unlike AddKey, it never
// changes what the node sends. On an empty ring (a node that sends
// plaintext) the node goes on sending plaintext and accepting plaintext, and
// now also reads what is encrypted with key. This is the first step of
// turning encryption on in a running cluster, done on every node before any
// node makes key primary with UseKey (see Keyring). On a ring that has a
// primary key, it is the same as AddKey. Installing a key that is already on
// the ring does nothing.
func (k *Keyring) AddDecryptionKey(key []byte) error {
	return k.addKey(key, true)
}

func (k *Keyring) addKey(key []byte, decryptOnly bool) error {
	if k == nil {
		return fmt.Errorf("%w: create one with NewKeyring", errNilKeyring)
	}
	if err := ValidateKey(key); err != nil {
		return err
	}
	k.l.Lock()
	defer k.l.Unlock()
	cur := k.load()
	if keyIndex(cur.keys, key) >= 0 {
		return nil
	}
	next := cur
	next.keys = make([][]byte, 0, len(cur.keys)+1)
	next.keys = append(next.keys, cur.keys...)
	// Keep our own copy so the caller reusing its slice cannot change a key.
	next.keys = append(next.keys, bytes.Clone(key))
	if decryptOnly && len(cur.keys) == 0 {
		// Plaintext stays what the node sends and reads.
		next.sendPlain, next.acceptPlain = true, true
	}
	k.state.Store(&next)
	return nil
}

// UseKey makes an installed key the primary key, the only one used to
// encrypt. Every peer must already have the key, or it will drop our traffic.
// On a ring that sends plaintext (see AddDecryptionKey and UsePlaintext) the
// node starts encrypting and goes on accepting plaintext until
// RejectPlaintext.
func (k *Keyring) UseKey(key []byte) error {
	if k == nil {
		return fmt.Errorf("%w: create one with NewKeyring", errNilKeyring)
	}
	k.l.Lock()
	defer k.l.Unlock()
	cur := k.load()
	i := keyIndex(cur.keys, key)
	if i < 0 {
		return fmt.Errorf("%w: install it with AddKey first", errKeyNotInstalled)
	}
	if i == 0 && !cur.sendPlain {
		return nil
	}
	// The new primary goes first; the others keep their relative order.
	next := cur
	next.sendPlain = false
	next.keys = make([][]byte, 0, len(cur.keys))
	next.keys = append(next.keys, cur.keys[i])
	next.keys = append(next.keys, cur.keys[:i]...)
	next.keys = append(next.keys, cur.keys[i+1:]...)
	k.state.Store(&next)
	return nil
}

// UsePlaintext makes the node send plaintext, while it goes on decrypting
// with every installed key and accepts plaintext too: the ring keeps its
// keys but none of them is primary any more. It is the second step of
// turning encryption off in a running cluster, after AcceptPlaintext on
// every node (see Keyring), and the way to undo UseKey on a ring that was
// sending plaintext. On an empty ring it does nothing.
func (k *Keyring) UsePlaintext() error {
	return k.setPlaintext(true, true)
}

// AcceptPlaintext makes the node read plaintext as well as what its keys
// open, without changing what it sends. It is the first step of turning
// encryption off in a running cluster, on every node before any node calls
// UsePlaintext (see Keyring), and the way to undo RejectPlaintext. On an
// empty ring it does nothing: that node reads only plaintext already.
func (k *Keyring) AcceptPlaintext() error {
	return k.setPlaintext(false, true)
}

// RejectPlaintext makes the node drop what arrives unencrypted, as it does
// by default once a key is primary. It is the last step of turning
// encryption on in a running cluster, once every node sends with the new key
// (see Keyring). It fails while the node itself sends plaintext (an empty
// ring, or one without a primary key): make a key primary with UseKey first.
func (k *Keyring) RejectPlaintext() error {
	return k.setPlaintext(false, false)
}

// setPlaintext installs the plaintext flags sendPlain and acceptPlain. A
// node may not send what it would not read, so sending plaintext implies
// accepting it, and rejecting it needs a primary key.
func (k *Keyring) setPlaintext(sendPlain, acceptPlain bool) error {
	if k == nil {
		return fmt.Errorf("%w: create one with NewKeyring", errNilKeyring)
	}
	k.l.Lock()
	defer k.l.Unlock()
	cur := k.load()
	if len(cur.keys) == 0 {
		if !acceptPlain {
			return fmt.Errorf("%w: the ring has no key; install one with AddDecryptionKey and make it primary with UseKey first", errSendsPlaintext)
		}
		return nil // an empty ring is plaintext in and out already
	}
	next := cur
	if sendPlain {
		next.sendPlain = true
	}
	if !acceptPlain && cur.sendPlain {
		return fmt.Errorf("%w: make a key primary with UseKey first", errSendsPlaintext)
	}
	next.acceptPlain = acceptPlain
	if next.sendPlain != cur.sendPlain || next.acceptPlain != cur.acceptPlain {
		k.state.Store(&next)
	}
	return nil
}

// RemoveKey drops a key from the ring. Removing a key that is not installed
// does nothing. The primary key cannot be removed: promote another key with
// UseKey first, or stop encrypting with UsePlaintext. Removing the last key
// of a ring that sends plaintext leaves an empty ring: encryption off.
func (k *Keyring) RemoveKey(key []byte) error {
	if k == nil {
		return fmt.Errorf("%w: create one with NewKeyring", errNilKeyring)
	}
	k.l.Lock()
	defer k.l.Unlock()
	cur := k.load()
	i := keyIndex(cur.keys, key)
	switch {
	case i < 0:
		return nil
	case i == 0 && !cur.sendPlain:
		return fmt.Errorf("%w: make another key primary with UseKey first", errRemovePrimaryKey)
	}
	var next keyringState
	if len(cur.keys) > 1 {
		next = cur
		next.keys = make([][]byte, 0, len(cur.keys)-1)
		next.keys = append(next.keys, cur.keys[:i]...)
		next.keys = append(next.keys, cur.keys[i+1:]...)
	}
	k.state.Store(&next)
	return nil
}

// GetKeys returns the installed keys, primary first. When the ring has no
// primary key (GetPrimaryKey returns nil), every key only decrypts. The
// result is a copy the caller may keep and modify; a nil or empty keyring
// returns nil.
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
// node sends plaintext: the keyring is nil or empty, or holds only
// decryption keys.
func (k *Keyring) GetPrimaryKey() []byte {
	return bytes.Clone(k.primaryKey())
}

// AcceptsPlaintext reports whether the ring lets the node read what arrives
// unencrypted: true for a nil or empty ring, for one without a primary key,
// and after AcceptPlaintext; false once a key is primary (NewKeyring,
// AddKey on an empty ring) or after RejectPlaintext. A node whose
// Config.GossipVerifyIncoming is false accepts plaintext whatever this says.
func (k *Keyring) AcceptsPlaintext() bool {
	st := k.load()
	return len(st.keys) == 0 || st.acceptPlain
}

// load returns the current state without copying or locking; a nil or
// never-used ring gives the empty state. Callers must treat it as
// read-only: no change ever modifies a state that was installed.
func (k *Keyring) load() keyringState {
	if k == nil {
		return keyringState{}
	}
	if p := k.state.Load(); p != nil {
		return *p
	}
	return keyringState{}
}

// snapshot returns the current keys without copying or locking, for the
// packet path, which must not allocate or wait per packet. Callers must
// treat the result as read-only; it is never modified by later rotations.
func (k *Keyring) snapshot() [][]byte {
	return k.load().keys
}

// primaryKey is GetPrimaryKey without the copy, for the send path; read-only.
// It is nil when the node sends plaintext.
func (k *Keyring) primaryKey() []byte {
	st := k.load()
	if len(st.keys) == 0 || st.sendPlain {
		return nil
	}
	return st.keys[0]
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
