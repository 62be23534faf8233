// security.go owns payload encryption: AES-GCM sealing and opening in the two
// encryption versions the reference speaks, and the packet and stream framing
// that wraps a sealed payload on the wire (including which bytes are
// authenticated but not encrypted).
//
// Sealed payload layout, for both versions:
//
//	[version: 1 byte] [nonce: 12 bytes] [ciphertext + GCM tag: n + 16 bytes]
//
// Version 0 PKCS7-pads the plaintext to the AES block size before sealing;
// version 1 seals it as is. Packets authenticate the cluster label; streams
// authenticate their 5-byte header (encryptMsg type byte and big-endian
// length) followed by the label.
package memberlist

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// encryptionVersion is the first byte of every sealed payload. Its numeric
// values are part of the wire protocol.
type encryptionVersion uint8

const (
	// encryptionVersionPadded PKCS7-pads the plaintext; spoken by protocol
	// version 1 nodes and still accepted from anyone.
	encryptionVersionPadded encryptionVersion = 0
	// encryptionVersionUnpadded seals the plaintext without padding; padding
	// buys nothing with GCM and only grows packets.
	encryptionVersionUnpadded encryptionVersion = 1

	minEncryptionVersion = encryptionVersionPadded
	maxEncryptionVersion = encryptionVersionUnpadded
)

const (
	encVersionSize = 1
	encNonceSize   = 12
	encTagSize     = 16
	encBlockSize   = aes.BlockSize

	// encryptMsgByte is the stream message type that announces an encrypted
	// stream body. It equals encryptMsg in the wire's messageType list; it is
	// a separate byte constant so this file stands on its own.
	encryptMsgByte byte = 10

	// encStreamHeaderSize is the encryptMsg byte plus the 4-byte length.
	encStreamHeaderSize = 1 + 4

	// encStreamReadChunk bounds the first allocation when reading a stream
	// body, so a lying length field costs memory only as bytes really arrive.
	encStreamReadChunk = 64 * 1024
)

var (
	errEmptyPayload       = errors.New("cannot decrypt an empty payload")
	errUnsupportedVersion = errors.New("unsupported encryption version")
	errPayloadTooShort    = errors.New("encrypted payload is too short")
	errNoDecryptKeys      = errors.New("no encryption keys installed to decrypt with")
	errNoKeyDecrypts      = errors.New("no installed key could decrypt the message")
	errBadPadding         = errors.New("decrypted payload has invalid PKCS7 padding")
	errStreamTooLarge     = errors.New("encrypted stream is larger than the limit")
	errBadNonce           = errors.New("encryption nonce must be 12 bytes")
)

// encryptOverhead is the most bytes sealing can add to a message of the given
// version, for sizing packets before the payload is known.
func encryptOverhead(vsn encryptionVersion) int {
	if vsn == encryptionVersionUnpadded {
		return encVersionSize + encNonceSize + encTagSize // 29
	}
	// Version 0, and the safe answer for anything unknown: padding adds at
	// most a whole block.
	return encVersionSize + encNonceSize + encBlockSize + encTagSize // 45
}

// encryptedLength is the exact size of a sealed payload whose plaintext is inp
// bytes long, so callers can size buffers and stream length fields.
func encryptedLength(vsn encryptionVersion, inp int) int {
	if vsn >= encryptionVersionUnpadded {
		return encVersionSize + encNonceSize + inp + encTagSize
	}
	// PKCS7 always pads, a full block when inp is already aligned.
	padding := encBlockSize - inp%encBlockSize
	return encVersionSize + encNonceSize + inp + padding + encTagSize
}

// newGCM builds the AES-GCM AEAD for key; the key size picks AES-128/192/256.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("bad encryption key (%d bytes; use 16, 24 or 32): %w", len(key), err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("setting up AES-GCM: %w", err)
	}
	return gcm, nil
}

// encryptPayload seals msg with key, authenticating data as well, and appends
// the sealed payload to dst. The nonce is read from nonces: crypto/rand in
// production (GCM is only safe if a nonce never repeats under one key), a
// seeded source in the simulator, so that its runs repeat byte for byte.
func encryptPayload(nonces io.Reader, vsn encryptionVersion, key []byte, msg []byte, data []byte, dst *bytes.Buffer) error {
	var nonce [encNonceSize]byte
	if _, err := io.ReadFull(nonces, nonce[:]); err != nil {
		return fmt.Errorf("reading a random nonce: %w", err)
	}
	return encryptPayloadWithNonce(vsn, key, nonce[:], msg, data, dst)
}

// encryptPayloadWithNonce is encryptPayload with the nonce chosen by the
// caller. Only golden tests should call it directly: reusing a nonce with the
// same key breaks GCM. msg must not alias dst's buffer.
func encryptPayloadWithNonce(vsn encryptionVersion, key, nonce, msg, data []byte, dst *bytes.Buffer) error {
	if vsn > maxEncryptionVersion {
		return fmt.Errorf("%w %d: use %d or %d", errUnsupportedVersion, vsn, minEncryptionVersion, maxEncryptionVersion)
	}
	if len(nonce) != encNonceSize {
		return fmt.Errorf("%w, got %d", errBadNonce, len(nonce))
	}
	gcm, err := newGCM(key)
	if err != nil {
		return err
	}

	// Build the whole sealed payload in dst's spare capacity and commit it
	// with one Write, so a failure leaves dst untouched and nothing is
	// allocated beyond dst's own growth.
	total := encryptedLength(vsn, len(msg))
	dst.Grow(total)
	out := dst.AvailableBuffer()
	out = append(out, byte(vsn))
	out = append(out, nonce...)
	const hdr = encVersionSize + encNonceSize

	if vsn == encryptionVersionPadded {
		// Pad in place, then seal over the padded plaintext; GCM allows the
		// output to overlap the input exactly.
		out = append(out, msg...)
		pad := encBlockSize - len(msg)%encBlockSize
		for range pad {
			out = append(out, byte(pad))
		}
		out = gcm.Seal(out[:hdr], nonce, out[hdr:], data)
	} else {
		out = gcm.Seal(out, nonce, msg, data)
	}
	_, _ = dst.Write(out) // bytes.Buffer.Write never fails
	return nil
}

// decryptPayload opens a sealed payload with each key in turn and returns the
// plaintext of the first that authenticates msg and data. It never panics on
// short or garbage input: msg comes straight off the network.
func decryptPayload(keys [][]byte, msg []byte, data []byte) ([]byte, error) {
	if len(msg) == 0 {
		return nil, errEmptyPayload
	}
	vsn := encryptionVersion(msg[0])
	if vsn > maxEncryptionVersion {
		return nil, fmt.Errorf("%w %d: the sender speaks a newer protocol or the payload is not encrypted", errUnsupportedVersion, msg[0])
	}
	if need := encryptedLength(vsn, 0); len(msg) < need {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d for version %d", errPayloadTooShort, len(msg), need, vsn)
	}
	if len(keys) == 0 {
		return nil, errNoDecryptKeys
	}

	nonce := msg[encVersionSize : encVersionSize+encNonceSize]
	sealed := msg[encVersionSize+encNonceSize:]
	for _, key := range keys {
		gcm, err := newGCM(key)
		if err != nil {
			continue // a bad key cannot open anything; try the next one
		}
		plain, err := gcm.Open(nil, nonce, sealed, data)
		if err != nil {
			continue
		}
		if vsn == encryptionVersionPadded {
			return pkcs7Unpad(plain)
		}
		return plain, nil
	}
	return nil, fmt.Errorf("%w (tried %d): check that every node shares the same keyring and label", errNoKeyDecrypts, len(keys))
}

// pkcs7Unpad strips version 0 padding. The version byte is not covered by
// GCM, so anyone can relabel a version 1 payload as version 0; checking every
// pad byte (not just the last, as a lenient decoder would) makes such a flip
// fail instead of silently truncating the message. Honest version 0 senders
// always pad correctly, so this rejects nothing legitimate.
func pkcs7Unpad(plain []byte) ([]byte, error) {
	if len(plain) == 0 {
		return nil, fmt.Errorf("%w: empty plaintext", errBadPadding)
	}
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > encBlockSize || pad > len(plain) {
		return nil, fmt.Errorf("%w: pad length %d", errBadPadding, pad)
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("%w: pad bytes differ from pad length %d", errBadPadding, pad)
		}
	}
	return plain[:len(plain)-pad], nil
}

// streamAAD is the data a stream body authenticates: its 5-byte header and
// then the label, so neither the length nor the cluster can be forged.
func streamAAD(header []byte, label string) []byte {
	aad := make([]byte, 0, len(header)+len(label))
	aad = append(aad, header...)
	return append(aad, label...)
}

// encryptStream frames msg as an encrypted stream message: the encryptMsg
// byte, the sealed length as a big-endian uint32, and the sealed payload. The
// nonce is read from nonces, as for encryptPayload.
func encryptStream(nonces io.Reader, vsn encryptionVersion, key []byte, msg []byte, label string) ([]byte, error) {
	var nonce [encNonceSize]byte
	if _, err := io.ReadFull(nonces, nonce[:]); err != nil {
		return nil, fmt.Errorf("encrypting stream: reading a random nonce: %w", err)
	}
	return encryptStreamWithNonce(vsn, key, nonce[:], msg, label)
}

// encryptStreamWithNonce is encryptStream with the nonce chosen by the
// caller, for golden tests only (see encryptPayloadWithNonce).
func encryptStreamWithNonce(vsn encryptionVersion, key, nonce, msg []byte, label string) ([]byte, error) {
	sealedLen := encryptedLength(vsn, len(msg))
	if uint64(sealedLen) > math.MaxUint32 {
		return nil, fmt.Errorf("encrypting stream: message of %d bytes does not fit a 32-bit length; send less state", len(msg))
	}
	var buf bytes.Buffer
	buf.Grow(encStreamHeaderSize + sealedLen)
	var header [encStreamHeaderSize]byte
	header[0] = encryptMsgByte
	binary.BigEndian.PutUint32(header[1:], uint32(sealedLen))
	buf.Write(header[:])
	if err := encryptPayloadWithNonce(vsn, key, nonce, msg, streamAAD(header[:], label), &buf); err != nil {
		return nil, fmt.Errorf("encrypting stream: %w", err)
	}
	return buf.Bytes(), nil
}

// decryptStream reads one encrypted stream body from r, which must be
// positioned just after the encryptMsg byte, and opens it. A declared length
// above maxSize is refused before anything is read or allocated for it.
func decryptStream(keys [][]byte, r io.Reader, label string, maxSize int) ([]byte, error) {
	var header [encStreamHeaderSize]byte
	header[0] = encryptMsgByte
	if _, err := io.ReadFull(r, header[1:]); err != nil {
		return nil, fmt.Errorf("reading encrypted stream length: %w", err)
	}
	size := binary.BigEndian.Uint32(header[1:])
	if maxSize < 0 || uint64(size) > uint64(maxSize) {
		return nil, fmt.Errorf("%w: %d bytes declared, limit is %d", errStreamTooLarge, size, maxSize)
	}

	// Grow with the bytes actually received rather than trusting the length.
	var body bytes.Buffer
	body.Grow(min(int(size), encStreamReadChunk))
	if n, err := io.CopyN(&body, r, int64(size)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading encrypted stream body: got %d of %d bytes: %w", n, size, err)
	}

	plain, err := decryptPayload(keys, body.Bytes(), streamAAD(header[:], label))
	if err != nil {
		return nil, fmt.Errorf("decrypting stream: %w", err)
	}
	return plain, nil
}
