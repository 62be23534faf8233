package memberlist

import (
	"bufio"
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The vectors in testdata/golden were captured from hashicorp/memberlist
// v0.7.0 by interop/cmd/wiregen. These tests peel every layer off each
// vector (label, encryption, CRC, compression, compound framing, message)
// with our decoders and rebuild it with our encoders: the bytes must come
// out identical, so wire drift is caught without the reference.

type refVector struct {
	name  string
	key   []byte
	label string
	buf   []byte
}

func loadGolden(t *testing.T) []refVector {
	var out []refVector
	for _, path := range hexFiles(t, "testdata/golden", "regenerate with cd interop && go run ./cmd/wiregen") {
		buf, fields := readHexFile(t, path)
		v := refVector{name: strings.TrimSuffix(filepath.Base(path), ".hex"), label: fields["label"], buf: buf}
		if _, ok := fields["key"]; ok {
			v.key = hexField(t, path, fields, "key")
		}
		out = append(out, v)
	}
	return out
}

func TestGoldenVectorsRoundTrip(t *testing.T) {
	for _, v := range loadGolden(t) {
		t.Run(v.name, func(t *testing.T) {
			if strings.HasPrefix(v.name, "stream-") {
				checkGoldenStream(t, v)
			} else {
				checkGoldenPacket(t, v)
			}
		})
	}
}

// peelLabel removes and re-adds the label header (the same layout on
// packets and streams).
func peelLabel(t *testing.T, v refVector) []byte {
	body, label, err := RemoveLabelHeaderFromPacket(v.buf)
	require.NoError(t, err)
	require.Equal(t, v.label, label)
	if label != "" {
		again, err := AddLabelHeaderToPacket(body, label)
		require.NoError(t, err)
		require.Equal(t, v.buf, again)
	}
	return body
}

// peelCompression expands a compressMsg and compresses it again (the same
// layout on packets and streams).
func peelCompression(t *testing.T, buf []byte) []byte {
	inner, err := decompressPayload(buf[1:])
	require.NoError(t, err)
	again, err := compressPayload(inner, false)
	require.NoError(t, err)
	require.Equal(t, buf, again, "re-compression")
	return inner
}

func checkGoldenPacket(t *testing.T, v refVector) {
	buf := peelLabel(t, v)
	if v.key != nil {
		plain, err := decryptPayload([][]byte{v.key}, buf, []byte(v.label))
		require.NoError(t, err)
		var again bytes.Buffer
		require.NoError(t, encryptPayloadWithNonce(encryptionVersion(buf[0]), v.key, buf[1:13], plain, []byte(v.label), &again))
		require.Equal(t, buf, again.Bytes(), "re-encryption with the same nonce")
		buf = plain
	}
	if messageType(buf[0]) == hasCrcMsg {
		body, err := checkCRC(buf[1:])
		require.NoError(t, err)
		require.Equal(t, buf, addCRC(body))
		buf = body
	}
	checkGoldenMessage(t, buf)
}

// checkGoldenMessage re-encodes one message, recursing through compression
// and compound framing.
func checkGoldenMessage(t *testing.T, buf []byte) {
	require.NotEmpty(t, buf)
	mt := messageType(buf[0])
	body := buf[1:]
	switch mt {
	case compressMsg:
		checkGoldenMessage(t, peelCompression(t, buf))
		return
	case compoundMsg:
		parts, trunc, err := splitCompound(nil, body)
		require.NoError(t, err)
		require.Zero(t, trunc)
		require.Equal(t, buf, makeCompound(parts))
		for _, p := range parts {
			checkGoldenMessage(t, p)
		}
		return
	case userMsg:
		return // opaque user bytes
	}
	v := newForType(mt)
	require.NotNil(t, v, "unexpected message type %v", mt)
	require.NoError(t, decodeMsg(body, v))
	again, err := encodeMsg(mt, v, false)
	require.NoError(t, err)
	require.Equal(t, buf, again, "re-encoding %v", mt)
}

func checkGoldenStream(t *testing.T, v refVector) {
	buf := peelLabel(t, v)
	if messageType(buf[0]) == encryptMsg {
		plain, err := decryptStream([][]byte{v.key}, bytes.NewReader(buf[1:]), v.label, maxPushStateBytes)
		require.NoError(t, err)
		again, err := encryptStreamWithNonce(encryptionVersion(buf[5]), v.key, buf[6:18], plain, v.label)
		require.NoError(t, err)
		require.Equal(t, buf, again, "re-encryption with the same nonce")
		buf = plain
	}
	if messageType(buf[0]) == compressMsg {
		buf = peelCompression(t, buf)
	}
	mt := messageType(buf[0])
	switch mt {
	case pushPullMsg:
		join, states, user, err := decodePushPull(bufio.NewReader(bytes.NewReader(buf[1:])), maxPushStateNodes)
		require.NoError(t, err)
		again, err := encodePushPull(join, states, user, false)
		require.NoError(t, err)
		require.Equal(t, buf, again, "re-encoding push/pull")
	case userMsg:
		msg, err := decodeUserMsgStream(bufio.NewReader(bytes.NewReader(buf[1:])), maxUserMsgBytes)
		require.NoError(t, err)
		again, err := encodeUserMsgStream(msg, false)
		require.NoError(t, err)
		require.Equal(t, buf, again, "re-encoding user message")
	default:
		checkGoldenMessage(t, buf)
	}
}
