// security_test.go checks AES-GCM sealing, the packet and stream framing, and
// the golden vectors produced by the reference implementation.
package memberlist

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"io"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seqBytes returns n bytes counting up from start: readable fixed test keys.
func seqBytes(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

var (
	testKey16 = seqBytes(0x00, 16)
	testKey24 = seqBytes(0x40, 24)
	testKey32 = seqBytes(0x80, 32)
	testNonce = seqBytes(0xa0, 12)
)

// flipBit returns a copy of b with the low bit of b[i] flipped.
func flipBit(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x01
	return b
}

var allVersions = []encryptionVersion{encryptionVersionPadded, encryptionVersionUnpadded}

func TestEncryptedLength(t *testing.T) {
	tests := []struct {
		vsn  encryptionVersion
		inp  int
		want int
	}{
		{0, 0, 1 + 12 + 16 + 16},
		{0, 1, 1 + 12 + 16 + 16},
		{0, 15, 1 + 12 + 16 + 16},
		{0, 16, 1 + 12 + 32 + 16},
		{0, 17, 1 + 12 + 32 + 16},
		{1, 0, 1 + 12 + 16},
		{1, 1, 1 + 12 + 1 + 16},
		{1, 1000, 1 + 12 + 1000 + 16},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, encryptedLength(tt.vsn, tt.inp), "vsn %d inp %d", tt.vsn, tt.inp)
	}
}

func TestEncryptOverhead(t *testing.T) {
	assert.Equal(t, 45, encryptOverhead(encryptionVersionPadded))
	assert.Equal(t, 29, encryptOverhead(encryptionVersionUnpadded))
	assert.Equal(t, 45, encryptOverhead(7), "unknown versions get the safe, larger bound")
	// The overhead bound must cover every real message size.
	for _, vsn := range allVersions {
		for n := range 64 {
			assert.LessOrEqual(t, encryptedLength(vsn, n)-n, encryptOverhead(vsn))
		}
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	keys := map[string][]byte{"aes128": testKey16, "aes192": testKey24, "aes256": testKey32}
	for _, vsn := range allVersions {
		for keyName, key := range keys {
			for _, size := range []int{0, 1, 15, 16, 17, 31, 32, 33, 1400} {
				for _, data := range [][]byte{nil, []byte("prod-east")} {
					name := keyName + "/v" + strconv.Itoa(int(vsn)) + "/len" + strconv.Itoa(size)
					if data != nil {
						name += "/aad"
					}
					t.Run(name, func(t *testing.T) {
						msg := seqBytes(byte(size), size)
						var buf bytes.Buffer
						require.NoError(t, encryptPayload(crand.Reader, vsn, key, msg, data, &buf))
						sealed := buf.Bytes()
						require.Len(t, sealed, encryptedLength(vsn, size))
						assert.Equal(t, byte(vsn), sealed[0])

						plain, err := decryptPayload([][]byte{key}, sealed, data)
						require.NoError(t, err)
						assert.Equal(t, string(msg), string(plain))
					})
				}
			}
		}
	}
}

func TestEncryptPayloadAppendsToDst(t *testing.T) {
	for _, vsn := range allVersions {
		var buf bytes.Buffer
		buf.WriteString("prefix")
		msg := []byte("hello")
		require.NoError(t, encryptPayloadWithNonce(vsn, testKey16, testNonce, msg, nil, &buf))
		require.True(t, bytes.HasPrefix(buf.Bytes(), []byte("prefix")))
		plain, err := decryptPayload([][]byte{testKey16}, buf.Bytes()[len("prefix"):], nil)
		require.NoError(t, err)
		assert.Equal(t, msg, plain)
	}
}

func TestEncryptPayloadUsesFreshNonces(t *testing.T) {
	var a, b bytes.Buffer
	require.NoError(t, encryptPayload(crand.Reader, 1, testKey16, []byte("same"), nil, &a))
	require.NoError(t, encryptPayload(crand.Reader, 1, testKey16, []byte("same"), nil, &b))
	assert.NotEqual(t, a.Bytes()[1:13], b.Bytes()[1:13], "two seals must not share a nonce")
}

func TestEncryptPayloadErrors(t *testing.T) {
	tests := []struct {
		name    string
		vsn     encryptionVersion
		key     []byte
		nonce   []byte
		wantErr error
	}{
		{"unknown version", 2, testKey16, testNonce, errUnsupportedVersion},
		{"short nonce", 1, testKey16, testNonce[:11], errBadNonce},
		{"long nonce", 1, testKey16, append(bytes.Clone(testNonce), 0), errBadNonce},
		{"bad key size", 1, testKey16[:10], testNonce, nil},
		{"empty key", 0, nil, testNonce, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			buf.WriteString("keep")
			err := encryptPayloadWithNonce(tt.vsn, tt.key, tt.nonce, []byte("msg"), nil, &buf)
			require.Error(t, err)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			assert.Equal(t, "keep", buf.String(), "a failed seal must leave dst alone")
		})
	}
}

func TestDecryptPayloadErrors(t *testing.T) {
	sealed := func(vsn encryptionVersion, key, data []byte) []byte {
		var buf bytes.Buffer
		require.NoError(t, encryptPayloadWithNonce(vsn, key, testNonce, []byte("attack at dawn, then gossip to the rest!"), data, &buf))
		return buf.Bytes()
	}
	v0, v1 := sealed(0, testKey16, []byte("lbl")), sealed(1, testKey16, []byte("lbl"))
	tests := []struct {
		name    string
		keys    [][]byte
		msg     []byte
		data    []byte
		wantErr error
	}{
		{"nil payload", [][]byte{testKey16}, nil, nil, errEmptyPayload},
		{"unknown version", [][]byte{testKey16}, append([]byte{2}, v1[1:]...), []byte("lbl"), errUnsupportedVersion},
		{"version 255", [][]byte{testKey16}, []byte{255}, nil, errUnsupportedVersion},
		{"v0 too short", [][]byte{testKey16}, v0[:44], []byte("lbl"), errPayloadTooShort},
		{"v1 too short", [][]byte{testKey16}, v1[:28], []byte("lbl"), errPayloadTooShort},
		{"version byte only", [][]byte{testKey16}, []byte{1}, nil, errPayloadTooShort},
		{"v1 truncated tag", [][]byte{testKey16}, v1[:len(v1)-1], []byte("lbl"), errNoKeyDecrypts},
		{"v0 truncated", [][]byte{testKey16}, v0[:len(v0)-16], []byte("lbl"), errNoKeyDecrypts},
		{"no keys", nil, v1, []byte("lbl"), errNoDecryptKeys},
		{"wrong key", [][]byte{testKey32}, v1, []byte("lbl"), errNoKeyDecrypts},
		{"only invalid keys", [][]byte{nil, {1, 2, 3}}, v1, []byte("lbl"), errNoKeyDecrypts},
		{"wrong aad", [][]byte{testKey16}, v1, []byte("lbm"), errNoKeyDecrypts},
		{"missing aad", [][]byte{testKey16}, v1, nil, errNoKeyDecrypts},
		{"v0 wrong aad", [][]byte{testKey16}, v0, []byte("other"), errNoKeyDecrypts},
		// The version byte is not authenticated: a v1 payload read as v0
		// opens, and only the strict pad check stops the truncation.
		{"version flipped", [][]byte{testKey16}, flipBit(v1, 0), []byte("lbl"), errBadPadding},
		{"nonce tampered", [][]byte{testKey16}, flipBit(v1, 5), []byte("lbl"), errNoKeyDecrypts},
		{"ciphertext tampered", [][]byte{testKey16}, flipBit(v1, 14), []byte("lbl"), errNoKeyDecrypts},
		{"tag tampered", [][]byte{testKey16}, flipBit(v1, len(v1)-1), []byte("lbl"), errNoKeyDecrypts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, err := decryptPayload(tt.keys, tt.msg, tt.data)
			require.ErrorIs(t, err, tt.wantErr)
			assert.Nil(t, plain)
		})
	}
}

func TestDecryptPayloadTriesEveryKey(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, encryptPayload(crand.Reader, 1, testKey24, []byte("rotated"), nil, &buf))
	keys := [][]byte{testKey16, {0xde, 0xad}, testKey32, testKey24}
	plain, err := decryptPayload(keys, buf.Bytes(), nil)
	require.NoError(t, err)
	assert.Equal(t, "rotated", string(plain))
}

// sealRaw seals plain exactly as given, so tests can forge version 0
// payloads whose (authenticated) padding is wrong.
func sealRaw(t *testing.T, key, plain []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	gcm, err := cipher.NewGCM(block)
	require.NoError(t, err)
	out := append([]byte{0}, testNonce...)
	return gcm.Seal(out, testNonce, plain, nil)
}

func TestDecryptPayloadBadPadding(t *testing.T) {
	// Version 0 plaintexts are at least one block, so only these pads can
	// reach the unpadder through decryptPayload.
	tests := []struct {
		name  string
		plain []byte
	}{
		{"zero pad", append(make([]byte, 15), 0)},
		{"pad above block size", append(make([]byte, 31), 17)},
		{"pad 255", append(make([]byte, 47), 255)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, err := decryptPayload([][]byte{testKey16}, sealRaw(t, testKey16, tt.plain), nil)
			require.ErrorIs(t, err, errBadPadding)
			assert.Nil(t, plain)
		})
	}
	// Every pad byte is checked, not just the last one.
	mixed := append([]byte("ok"), bytes.Repeat([]byte{9}, 13)...)
	mixed = append(mixed, 14)
	plain, err := decryptPayload([][]byte{testKey16}, sealRaw(t, testKey16, mixed), nil)
	require.ErrorIs(t, err, errBadPadding)
	assert.Nil(t, plain)
}

func TestPkcs7Unpad(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr bool
	}{
		{"empty", nil, "", true},
		{"pad longer than input", []byte{1, 2, 9}, "", true},
		{"zero", []byte{'a', 0}, "", true},
		{"whole input is pad", []byte{2, 2}, "", false},
		{"one byte pad", []byte{'a', 'b', 1}, "ab", false},
		{"three byte pad", []byte{'a', 3, 3, 3}, "a", false},
		{"pad bytes differ", []byte{'a', 2, 3, 3}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pkcs7Unpad(tt.in)
			if tt.wantErr {
				require.ErrorIs(t, err, errBadPadding)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
		})
	}
}

func TestPacketRoundTrip(t *testing.T) {
	for _, vsn := range allVersions {
		for _, label := range []string{"", "prod-east", strings.Repeat("x", LabelMaxSize)} {
			msg := []byte("ping from node-1")
			sealed, err := encryptPacket(vsn, testKey32, msg, label)
			require.NoError(t, err)
			plain, err := decryptPacket([][]byte{testKey16, testKey32}, sealed, label)
			require.NoError(t, err)
			assert.Equal(t, msg, plain)

			// Another cluster's label must not open the packet.
			_, err = decryptPacket([][]byte{testKey32}, sealed, label+"-other")
			assert.ErrorIs(t, err, errNoKeyDecrypts)
		}
	}
	_, err := encryptPacket(1, []byte("short"), []byte("x"), "")
	assert.Error(t, err)
}

func TestStreamRoundTrip(t *testing.T) {
	for _, vsn := range allVersions {
		for _, label := range []string{"", "prod-east"} {
			msg := bytes.Repeat([]byte("push-pull state "), 100)
			framed, err := encryptStream(crand.Reader, vsn, testKey24, msg, label)
			require.NoError(t, err)
			require.Equal(t, encryptMsgByte, framed[0])
			require.Equal(t, uint32(len(framed)-5), binary.BigEndian.Uint32(framed[1:5]))
			require.Len(t, framed, 5+encryptedLength(vsn, len(msg)))

			// The reader has consumed the type byte, as the stream handler does.
			r := bytes.NewReader(framed[1:])
			plain, err := decryptStream([][]byte{testKey24}, r, label, len(framed)-5)
			require.NoError(t, err)
			assert.Equal(t, msg, plain)
			assert.Zero(t, r.Len(), "exactly one message must be consumed")

			_, err = decryptStream([][]byte{testKey24}, bytes.NewReader(framed[1:]), label+"x", 1<<20)
			assert.ErrorIs(t, err, errNoKeyDecrypts)
		}
	}
}

// noReadPastReader fails the test if more than limit bytes are read from it.
type noReadPastReader struct {
	t     *testing.T
	r     io.Reader
	limit int
}

func (n *noReadPastReader) Read(p []byte) (int, error) {
	if len(p) > n.limit {
		p = p[:n.limit]
	}
	if len(p) == 0 {
		n.t.Errorf("read past the allowed %d bytes", n.limit)
		return 0, io.EOF
	}
	got, err := n.r.Read(p)
	n.limit -= got
	return got, err
}

func TestEncryptStreamErrors(t *testing.T) {
	_, err := encryptStream(crand.Reader, 1, []byte("short"), []byte("x"), "")
	assert.Error(t, err)
	_, err = encryptStream(crand.Reader, 5, testKey16, []byte("x"), "")
	assert.ErrorIs(t, err, errUnsupportedVersion)
}

func TestDecryptStreamErrors(t *testing.T) {
	framed, err := encryptStream(crand.Reader, 1, testKey16, []byte("state"), "lbl")
	require.NoError(t, err)
	body := framed[1:] // after the encryptMsg byte

	lengthBumped := bytes.Clone(body)
	binary.BigEndian.PutUint32(lengthBumped, uint32(len(body)-4+1))
	lengthBumped = append(lengthBumped, 0) // right size, but the AAD no longer matches

	tests := []struct {
		name    string
		input   []byte
		maxSize int
		wantErr error
	}{
		{"empty", nil, 1 << 20, io.EOF},
		{"short length", body[:3], 1 << 20, io.ErrUnexpectedEOF},
		{"truncated body", body[:len(body)-1], 1 << 20, io.ErrUnexpectedEOF},
		{"length only", body[:4], 1 << 20, io.ErrUnexpectedEOF},
		{"above limit", body, len(body) - 5, errStreamTooLarge},
		{"negative limit", body, -1, errStreamTooLarge},
		{"length tampered", lengthBumped, 1 << 20, errNoKeyDecrypts},
		{"declared length too small", []byte{0, 0, 0, 3, 1, 2, 3}, 1 << 20, errPayloadTooShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, err := decryptStream([][]byte{testKey16}, bytes.NewReader(tt.input), "lbl", tt.maxSize)
			require.ErrorIs(t, err, tt.wantErr)
			assert.Nil(t, plain)
		})
	}

	// Exactly at the limit is allowed.
	plain, err := decryptStream([][]byte{testKey16}, bytes.NewReader(body), "lbl", len(body)-4)
	require.NoError(t, err)
	assert.Equal(t, "state", string(plain))
}

func TestDecryptStreamRefusesBeforeReading(t *testing.T) {
	// A lying length of 4 GiB-1 must be refused after reading only the
	// 4 length bytes, and without waiting for or buffering the body.
	input := io.MultiReader(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff}), strings.NewReader("never read"))
	r := &noReadPastReader{t: t, r: input, limit: 4}
	_, err := decryptStream([][]byte{testKey16}, r, "", 20<<20)
	require.ErrorIs(t, err, errStreamTooLarge)
}

func TestDecryptStreamLyingLengthAllocatesLittle(t *testing.T) {
	// 20 MiB declared, 10 bytes sent: the body buffer must grow with what
	// arrives, not with what was promised.
	input := append([]byte{0x01, 0x40, 0x00, 0x00}, make([]byte, 10)...)
	allocs := testing.AllocsPerRun(5, func() {
		_, _ = decryptStream([][]byte{testKey16}, bytes.NewReader(input), "", 20<<20)
	})
	assert.Less(t, allocs, 20.0)
	var ms1, ms2 runtimeMem
	ms1.read()
	_, err := decryptStream([][]byte{testKey16}, bufio.NewReader(bytes.NewReader(input)), "", 20<<20)
	ms2.read()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Less(t, ms2.total-ms1.total, uint64(1<<20), "allocated %d bytes for a 10-byte body", ms2.total-ms1.total)
}

// goldenVector is one reference-produced ciphertext from testdata/security.
type goldenVector struct {
	name, kind      string
	vsn             encryptionVersion
	key, nonce, msg []byte
	label           string
	out             []byte
}

func loadGoldenVectors(t *testing.T) []goldenVector {
	t.Helper()
	var vectors []goldenVector
	for _, path := range hexFiles(t, filepath.Join("testdata", "security"), "they are committed, restore them from git") {
		data, fields := readHexFile(t, path)
		require.Empty(t, data, "%s: a line that is not name=value", path)
		vsn, err := strconv.Atoi(fields["version"])
		require.NoError(t, err, path)
		vectors = append(vectors, goldenVector{
			name:  filepath.Base(path),
			kind:  fields["kind"],
			vsn:   encryptionVersion(vsn),
			key:   hexField(t, path, fields, "key"),
			nonce: hexField(t, path, fields, "nonce"),
			msg:   hexField(t, path, fields, "msg"),
			label: string(hexField(t, path, fields, "label")),
			out:   hexField(t, path, fields, "out"),
		})
	}
	return vectors
}

func TestGoldenVectors(t *testing.T) {
	for _, v := range loadGoldenVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			switch v.kind {
			case "packet":
				var buf bytes.Buffer
				require.NoError(t, encryptPayloadWithNonce(v.vsn, v.key, v.nonce, v.msg, []byte(v.label), &buf))
				assert.Equal(t, hex.EncodeToString(v.out), hex.EncodeToString(buf.Bytes()))
				plain, err := decryptPacket([][]byte{v.key}, v.out, v.label)
				require.NoError(t, err)
				assert.Equal(t, string(v.msg), string(plain))
			case "stream":
				got, err := encryptStreamWithNonce(v.vsn, v.key, v.nonce, v.msg, v.label)
				require.NoError(t, err)
				assert.Equal(t, hex.EncodeToString(v.out), hex.EncodeToString(got))
				require.Equal(t, encryptMsgByte, v.out[0])
				plain, err := decryptStream([][]byte{v.key}, bytes.NewReader(v.out[1:]), v.label, 20<<20)
				require.NoError(t, err)
				assert.Equal(t, string(v.msg), string(plain))
			default:
				t.Fatalf("unknown vector kind %q", v.kind)
			}
		})
	}
}

// runtimeMem samples the process's cumulative allocation counter.
type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.total = ms.TotalAlloc
}

// encryptPacket seals a packet body under key, authenticating the label as
// the packet path does.
func encryptPacket(vsn encryptionVersion, key []byte, msg []byte, label string) ([]byte, error) {
	var buf bytes.Buffer
	if err := encryptPayload(crand.Reader, vsn, key, msg, []byte(label), &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decryptPacket opens what encryptPacket sealed under the same label.
func decryptPacket(keys [][]byte, buf []byte, label string) ([]byte, error) {
	return decryptPayload(keys, buf, []byte(label))
}
