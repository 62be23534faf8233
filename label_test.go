// label_test.go checks the label header on packets and on streams.
package memberlist

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLabelOverhead(t *testing.T) {
	assert.Equal(t, 0, labelOverhead(""))
	assert.Equal(t, 3, labelOverhead("a"))
	assert.Equal(t, 2+LabelMaxSize, labelOverhead(strings.Repeat("a", LabelMaxSize)))
}

func TestAddLabelHeaderToPacket(t *testing.T) {
	tests := []struct {
		name    string
		buf     []byte
		label   string
		want    []byte
		wantErr error
	}{
		{"no label leaves buf alone", []byte{1, 2}, "", []byte{1, 2}, nil},
		{"no label, nil buf", nil, "", nil, nil},
		{"label", []byte{1, 2}, "ab", []byte{244, 2, 'a', 'b', 1, 2}, nil},
		{"label, empty buf", nil, "x", []byte{244, 1, 'x'}, nil},
		{"longest label", nil, strings.Repeat("z", 255), append([]byte{244, 255}, strings.Repeat("z", 255)...), nil},
		{"label too long", []byte{1}, strings.Repeat("z", 256), nil, errLabelTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AddLabelHeaderToPacket(tt.buf, tt.label)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	// The input must not be modified or aliased by the result.
	in := []byte{7, 8, 9}
	out, err := AddLabelHeaderToPacket(in[:1:3], "L")
	require.NoError(t, err)
	out[len(out)-1] = 0
	assert.Equal(t, []byte{7, 8, 9}, in)
}

func TestRemoveLabelHeaderFromPacket(t *testing.T) {
	tests := []struct {
		name      string
		buf       []byte
		wantBuf   []byte
		wantLabel string
		wantErr   error
	}{
		{"nil", nil, nil, "", nil},
		{"empty", []byte{}, []byte{}, "", nil},
		{"unlabelled", []byte{0, 1, 2}, []byte{0, 1, 2}, "", nil},
		{"unlabelled encrypted", []byte{1, 9}, []byte{1, 9}, "", nil},
		{"labelled", []byte{244, 2, 'h', 'i', 5, 6}, []byte{5, 6}, "hi", nil},
		{"labelled, nothing after", []byte{244, 1, 'h'}, []byte{}, "h", nil},
		{"marker only", []byte{244}, nil, "", errLabelTruncated},
		{"empty label", []byte{244, 0, 1}, nil, "", errLabelEmpty},
		{"label cut short", []byte{244, 3, 'a', 'b'}, nil, "", errLabelTruncated},
		{"longest label", append([]byte{244, 255}, bytes.Repeat([]byte{'q'}, 255)...), []byte{}, strings.Repeat("q", 255), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, label, err := RemoveLabelHeaderFromPacket(tt.buf)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, got)
				assert.Empty(t, label)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantLabel, label)
			assert.Equal(t, tt.wantBuf, got)
		})
	}
}

func TestLabelPacketRoundTrip(t *testing.T) {
	for _, label := range []string{"", "a", "prod-east", strings.Repeat("Ω", 127)} {
		for _, body := range [][]byte{nil, {0}, {244, 1, 'x'}, bytes.Repeat([]byte{1}, 1400)} {
			if label == "" && len(body) > 0 && body[0] == hasLabelMsgByte {
				// Unlabelled packets never start with 244 on the wire: no
				// message type or encryption version uses it.
				continue
			}
			framed, err := AddLabelHeaderToPacket(body, label)
			require.NoError(t, err)
			assert.Len(t, framed, len(body)+labelOverhead(label))
			got, gotLabel, err := RemoveLabelHeaderFromPacket(framed)
			require.NoError(t, err)
			assert.Equal(t, label, gotLabel)
			assert.Equal(t, string(body), string(got))
		}
	}
}

// pipe returns both ends of an in-memory conn with a deadline, so a broken
// test fails instead of hanging.
func pipe(t *testing.T) (client, server net.Conn) {
	t.Helper()
	client, server = net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	require.NoError(t, client.SetDeadline(deadline))
	require.NoError(t, server.SetDeadline(deadline))
	t.Cleanup(func() {
		_ = client.Close()
		_ = server.Close()
	})
	return client, server
}

// oneByteConn returns at most one byte per Read, the worst case for a
// header parser.
type oneByteConn struct{ net.Conn }

func (c oneByteConn) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return c.Conn.Read(p)
}

func TestLabelStreamRoundTrip(t *testing.T) {
	payload := []byte("stream body after the header")
	tests := []struct {
		name     string
		label    string
		together bool // header and body in one Write
		oneByte  bool
	}{
		{"no label", "", false, false},
		{"no label, one byte reads", "", false, true},
		{"label, separate writes", "prod-east", false, false},
		{"label, one write", "prod-east", true, false},
		{"label, one byte reads", "prod-east", true, true},
		{"longest label, one write", strings.Repeat("L", LabelMaxSize), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := pipe(t)
			errc := make(chan error, 1)
			go func() {
				defer client.Close()
				if tt.together {
					framed, err := AddLabelHeaderToPacket(payload, tt.label)
					if err != nil {
						errc <- err
						return
					}
					_, err = client.Write(framed)
					errc <- err
					return
				}
				if err := AddLabelHeaderToStream(client, tt.label); err != nil {
					errc <- err
					return
				}
				_, err := client.Write(payload)
				errc <- err
			}()

			var in net.Conn = server
			if tt.oneByte {
				in = oneByteConn{server}
			}
			conn, label, err := RemoveLabelHeaderFromStream(in)
			require.NoError(t, err)
			assert.Equal(t, tt.label, label)
			rest, err := io.ReadAll(conn)
			require.NoError(t, err)
			assert.Equal(t, string(payload), string(rest))
			require.NoError(t, <-errc)
		})
	}
}

func TestRemoveLabelHeaderFromStreamKeepsConn(t *testing.T) {
	// When nothing past the header was read, the caller gets its own conn
	// back, so type assertions on it still work.
	client, server := pipe(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = AddLabelHeaderToStream(client, "lbl")
	}()
	conn, label, err := RemoveLabelHeaderFromStream(server)
	require.NoError(t, err)
	<-done
	assert.Equal(t, "lbl", label)
	assert.Same(t, server, conn)
}

func TestRemoveLabelHeaderFromStreamErrors(t *testing.T) {
	tests := []struct {
		name    string
		sent    []byte
		wantErr error
	}{
		{"marker then EOF", []byte{244}, errLabelTruncated},
		{"label cut short", []byte{244, 5, 'a', 'b'}, errLabelTruncated},
		{"empty label", []byte{244, 0, 'x'}, errLabelEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := pipe(t)
			go func() {
				_, _ = client.Write(tt.sent)
				_ = client.Close()
			}()
			conn, label, err := RemoveLabelHeaderFromStream(server)
			require.ErrorIs(t, err, tt.wantErr)
			assert.Nil(t, conn)
			assert.Empty(t, label)
		})
	}
}

func TestRemoveLabelHeaderFromStreamEmptyStream(t *testing.T) {
	client, server := pipe(t)
	require.NoError(t, client.Close())
	conn, label, err := RemoveLabelHeaderFromStream(server)
	require.NoError(t, err)
	assert.Empty(t, label)
	assert.Same(t, server, conn)
}

func TestRemoveLabelHeaderFromStreamReadError(t *testing.T) {
	boom := errors.New("boom")
	conn, _, err := RemoveLabelHeaderFromStream(readerConn{iotest.ErrReader(boom)})
	require.ErrorIs(t, err, boom)
	assert.Nil(t, conn)

	// An error after the marker is reported as itself, not as truncation.
	r := io.MultiReader(bytes.NewReader([]byte{244}), iotest.ErrReader(boom))
	_, _, err = RemoveLabelHeaderFromStream(readerConn{r})
	require.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, errLabelTruncated)
}

// stuckConn returns no bytes and no error forever.
type stuckConn struct{ net.Conn }

func (stuckConn) Read([]byte) (int, error) { return 0, nil }

func TestRemoveLabelHeaderFromStreamNoProgress(t *testing.T) {
	_, _, err := RemoveLabelHeaderFromStream(stuckConn{})
	require.ErrorIs(t, err, io.ErrNoProgress)
}

func TestAddLabelHeaderToStream(t *testing.T) {
	// No label writes nothing at all: a nil conn would panic if touched.
	require.NoError(t, AddLabelHeaderToStream(nil, ""))
	require.ErrorIs(t, AddLabelHeaderToStream(nil, strings.Repeat("x", 256)), errLabelTooLong)

	client, server := pipe(t)
	require.NoError(t, server.Close())
	err := AddLabelHeaderToStream(client, "lbl")
	require.ErrorIs(t, err, io.ErrClosedPipe)
}

// readerConn is a net.Conn whose reads come from an io.Reader; only Read may
// be called on it.
type readerConn struct{ r io.Reader }

func (c readerConn) Read(p []byte) (int, error)     { return c.r.Read(p) }
func (readerConn) Write(p []byte) (int, error)      { return 0, errors.New("readerConn is read-only") }
func (readerConn) Close() error                     { return nil }
func (readerConn) LocalAddr() net.Addr              { return nil }
func (readerConn) RemoteAddr() net.Addr             { return nil }
func (readerConn) SetDeadline(time.Time) error      { return nil }
func (readerConn) SetReadDeadline(time.Time) error  { return nil }
func (readerConn) SetWriteDeadline(time.Time) error { return nil }

func TestInboundLabel(t *testing.T) {
	cases := []struct {
		ours, got string
		skip      bool
		want      string
		ok        bool
	}{
		{"", "", false, "", true},
		{"a", "a", false, "a", true},
		{"a", "", false, "", false},
		{"", "a", false, "", false},
		{"a", "b", false, "", false},
		{"a", "", true, "a", true},  // a proxy stripped it: ours is assumed
		{"a", "a", true, "", false}, // a second label behind a proxy
	}
	for _, tc := range cases {
		c := &Config{Label: tc.ours, SkipInboundLabelCheck: tc.skip}
		got, err := c.inboundLabel(tc.got)
		if tc.ok {
			if err != nil || got != tc.want {
				t.Errorf("%+v: got %q, %v", tc, got, err)
			}
		} else if err == nil {
			t.Errorf("%+v: accepted", tc)
		}
	}
}
