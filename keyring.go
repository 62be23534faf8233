// Placeholder: the security work replaces this file with the full Keyring.

package memberlist

import "sync"

// Keyring holds the encryption keys of a node; the first is the primary key,
// used to encrypt, and every key is tried to decrypt.
type Keyring struct {
	l    sync.Mutex
	keys [][]byte
}

// GetKeys returns the keys on the ring, primary first.
func (k *Keyring) GetKeys() [][]byte {
	k.l.Lock()
	defer k.l.Unlock()
	return k.keys
}

// GetPrimaryKey returns the key used to encrypt, or nil.
func (k *Keyring) GetPrimaryKey() []byte {
	k.l.Lock()
	defer k.l.Unlock()
	if len(k.keys) == 0 {
		return nil
	}
	return k.keys[0]
}
