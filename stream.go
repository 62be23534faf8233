// This file owns the shell's stream exchanges over the Transport: push/pull
// state transfer, reliable user messages and TCP fallback pings, in both
// directions, with the stream label, compression and encryption the
// reference puts on them.

package memberlist

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

const (
	maxPushPullRequests = 128 // concurrent inbound push/pulls
	maxInboundStreams   = 512 // concurrent inbound streams of any kind
)

// writeStream sends one stream message, compressed and encrypted as
// configured.
func writeStream(cfg *Config, conn net.Conn, msg []byte) error {
	if cfg.EnableCompression {
		comp, err := compressPayload(msg, cfg.MsgpackUseNewTimeFormat)
		if err != nil {
			return fmt.Errorf("compress stream message: %w", err)
		}
		msg = comp
	}
	if cfg.EncryptionEnabled() && cfg.GossipVerifyOutgoing {
		enc, err := encryptStream(encryptionVersionFor(cfg.ProtocolVersion), cfg.Keyring.primaryKey(), msg, cfg.Label)
		if err != nil {
			return fmt.Errorf("encrypt stream message: %w", err)
		}
		msg = enc
	}
	metrics.IncrCounterWithLabels([]string{"memberlist", "tcp", "sent"}, float32(len(msg)), cfg.MetricLabels)
	n, err := conn.Write(msg)
	if err != nil {
		return err
	}
	if n != len(msg) {
		return fmt.Errorf("only %d of %d bytes written", n, len(msg))
	}
	return nil
}

// readStream reads the envelope of one stream message (decrypting and
// decompressing as needed) and returns its type and a reader positioned at
// its body.
func readStream(cfg *Config, conn io.Reader, label string) (messageType, io.Reader, error) {
	r := io.Reader(bufio.NewReader(conn))
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, nil, err
	}
	t := messageType(b[0])
	if t == encryptMsg {
		if !cfg.EncryptionEnabled() {
			return 0, nil, errors.New("remote state is encrypted and encryption is not configured")
		}
		plain, err := decryptStream(cfg.Keyring.snapshot(), r, label, maxPushStateBytes)
		if plain != nil {
			metrics.AddSampleWithLabels([]string{"memberlist", "size", "remote"}, float32(len(plain)), cfg.MetricLabels)
		}
		if err != nil {
			return 0, nil, err
		}
		if len(plain) == 0 {
			return 0, nil, errors.New("decrypted stream message is empty")
		}
		t = messageType(plain[0])
		r = bytes.NewReader(plain[1:])
	} else if cfg.EncryptionEnabled() && cfg.GossipVerifyIncoming {
		return 0, nil, errors.New("encryption is configured but remote state is not encrypted")
	}
	if t == compressMsg {
		var cm compress
		if err := decodeFromReaderLimit(r, &cm, maxCompressedStreamBytes); err != nil {
			return 0, nil, fmt.Errorf("decode compressed stream message: %w", err)
		}
		plain, err := decompressBuffer(&cm)
		if err != nil {
			return 0, nil, err
		}
		if len(plain) == 0 {
			return 0, nil, errors.New("decompressed message is empty")
		}
		t = messageType(plain[0])
		r = bytes.NewReader(plain[1:])
	}
	return t, r, nil
}

// streamRejected counts an inbound stream dropped by reason; like dropped
// packets, it is logged at DEBUG level only, the metric being the signal.
func (m *Memberlist) streamRejected(reason string) {
	metrics.IncrCounterWithLabels([]string{"memberlist", "tcp", "rejected"}, 1,
		append(m.config.MetricLabels[:len(m.config.MetricLabels):len(m.config.MetricLabels)], metrics.Label{Name: "reason", Value: reason}))
}

// dialStream opens a labelled stream to a peer.
func (m *Memberlist) dialStream(to Address, timeout time.Duration) (net.Conn, error) {
	if to.Name == "" && m.config.RequireNodeNames {
		return nil, errNodeNamesAreRequired
	}
	conn, err := m.transport.DialAddressTimeout(to, timeout)
	if err != nil {
		return nil, err
	}
	if m.config.Label != "" {
		if err := AddLabelHeaderToStream(conn, m.config.Label); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("failed to add label header to stream: %w", err)
		}
	}
	return conn, nil
}

// exchangeState performs a push/pull with to: it sends msg, our state, and
// returns the peer's.
func (m *Memberlist) exchangeState(ctx context.Context, to Address, msg []byte) ([]pushNodeState, []byte, error) {
	defer metrics.MeasureSinceWithLabels([]string{"memberlist", "pushPullNode"}, time.Now(), m.config.MetricLabels)
	timeout := m.config.TCPTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	conn, err := m.dialStream(to, timeout)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = conn.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	m.trackConn(conn, true)
	defer m.trackConn(conn, false)
	metrics.IncrCounterWithLabels([]string{"memberlist", "tcp", "connect"}, 1, m.config.MetricLabels)
	m.logger.Printf("[DEBUG] memberlist: Initiating push/pull sync with: %s %s", to.Name, conn.RemoteAddr())

	_ = conn.SetDeadline(time.Now().Add(timeout))
	if err := writeStream(m.config, conn, msg); err != nil {
		return nil, nil, err
	}
	t, r, err := readStream(m.config, conn, m.config.Label)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	switch t {
	case errMsg:
		var resp errResp
		if err := decodeFromReader(r, &resp); err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("remote error: %v", resp.Error)
	case pushPullMsg:
	default:
		return nil, nil, fmt.Errorf("received invalid msgType (%d), expected pushPullMsg (%d) %s", t, pushPullMsg, LogConn(conn))
	}
	_, states, user, err := decodePushPull(r, maxPushStateNodes)
	if err != nil {
		return nil, nil, err
	}
	return states, user, nil
}

// streamPing is the TCP fallback ping: true if the peer acked in time.
// Failing to connect is an expected answer for a dead peer, not an error.
func (m *Memberlist) streamPing(o *outStreamPing) (bool, error) {
	conn, err := m.dialStream(o.to, time.Until(o.deadline))
	if err != nil {
		return false, nil
	}
	defer func() { _ = conn.Close() }()
	m.trackConn(conn, true)
	defer m.trackConn(conn, false)
	_ = conn.SetDeadline(o.deadline)
	if err := writeStream(m.config, conn, o.msg); err != nil {
		return false, err
	}
	t, r, err := readStream(m.config, conn, m.config.Label)
	if err != nil {
		return false, err
	}
	if t != ackRespMsg {
		return false, fmt.Errorf("unexpected msgType (%d) from ping %s", t, LogConn(conn))
	}
	var ack ackResp
	if err := decodeFromReader(r, &ack); err != nil {
		return false, err
	}
	if ack.SeqNo != o.seq {
		return false, fmt.Errorf("sequence number from ack (%d) doesn't match ping (%d)", ack.SeqNo, o.seq)
	}
	return true, nil
}

// sendReliable sends a user message over a stream.
func (m *Memberlist) sendReliable(to Address, msg []byte) error {
	buf, err := encodeUserMsgStream(msg, m.config.MsgpackUseNewTimeFormat)
	if err != nil {
		return err
	}
	conn, err := m.dialStream(to, m.config.TCPTimeout)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(m.config.TCPTimeout))
	return writeStream(m.config, conn, buf)
}

// handleConn serves one inbound stream.
func (m *Memberlist) handleConn(conn net.Conn) {
	defer m.wg.Done()
	defer func() { <-m.streamSem }()
	m.logger.Printf("[DEBUG] memberlist: Stream connection %s", LogConn(conn))
	metrics.IncrCounterWithLabels([]string{"memberlist", "tcp", "accept"}, 1, m.config.MetricLabels)
	m.trackConn(conn, true)
	defer m.trackConn(conn, false)
	_ = conn.SetDeadline(time.Now().Add(m.config.TCPTimeout))

	orig := conn
	conn, label, err := RemoveLabelHeaderFromStream(conn)
	if err != nil {
		m.streamRejected("label")
		m.logger.Printf("[DEBUG] memberlist: failed to receive and remove the stream label header: %s %s", err, LogConn(orig))
		_ = orig.Close()
		return
	}
	defer func() { _ = conn.Close() }()
	if label, err = m.config.inboundLabel(label); err != nil {
		m.streamRejected("label")
		m.logger.Printf("[DEBUG] memberlist: discarding stream: %v %s", err, LogConn(conn))
		return
	}

	t, r, err := readStream(m.config, conn, label)
	if err != nil {
		if err != io.EOF {
			m.streamRejected("decode")
			m.logger.Printf("[DEBUG] memberlist: failed to receive: %s %s", err, LogConn(conn))
			if out, eerr := encodeMsg(errMsg, &errResp{Error: err.Error()}, m.config.MsgpackUseNewTimeFormat); eerr == nil {
				if werr := writeStream(m.config, conn, out); werr != nil {
					m.logger.Printf("[ERR] memberlist: Failed to send error: %s %s", werr, LogConn(conn))
				}
			}
		}
		return
	}

	switch t {
	case userMsg:
		msg, err := decodeUserMsgStream(r, maxUserMsgBytes)
		if err != nil {
			m.streamRejected("decode")
			m.logger.Printf("[DEBUG] memberlist: Failed to receive user message: %s %s", err, LogConn(conn))
			return
		}
		if len(msg) > 0 && m.config.Delegate != nil {
			_ = m.call(func(c *core) { c.cfg.Delegate.NotifyMsg(msg) })
		}
	case pushPullMsg:
		if n := m.pushPullReqs.Add(1); n > maxPushPullRequests {
			m.pushPullReqs.Add(-1)
			m.logger.Printf("[ERR] memberlist: Too many pending push/pull requests")
			return
		}
		defer m.pushPullReqs.Add(-1)
		join, states, user, err := decodePushPull(r, maxPushStateNodes)
		if err != nil {
			m.streamRejected("decode")
			m.logger.Printf("[DEBUG] memberlist: Failed to read remote state: %s %s", err, LogConn(conn))
			return
		}
		// Merge before answering (the reference answers first): when the
		// initiator's Join returns, both sides then know each other.
		var local []byte
		var lerr, merr error
		if err := m.call(func(c *core) {
			now := time.Now()
			merr = c.mergeRemoteState(now, join, states, user)
			local, lerr = c.localState(now, join)
		}); err != nil {
			return
		}
		if merr != nil {
			m.logger.Printf("[ERR] memberlist: Failed push/pull merge: %s %s", merr, LogConn(conn))
		}
		if lerr != nil {
			m.logger.Printf("[ERR] memberlist: Failed to push local state: %s %s", lerr, LogConn(conn))
			return
		}
		if err := writeStream(m.config, conn, local); err != nil {
			m.logger.Printf("[ERR] memberlist: Failed to push local state: %s %s", err, LogConn(conn))
		}
	case pingMsg:
		var p ping
		if err := decodeFromReader(r, &p); err != nil {
			m.streamRejected("decode")
			m.logger.Printf("[DEBUG] memberlist: Failed to decode ping: %s %s", err, LogConn(conn))
			return
		}
		if p.Node != "" && p.Node != m.config.Name {
			m.logger.Printf("[WARN] memberlist: Got ping for unexpected node %s %s", p.Node, LogConn(conn))
			return
		}
		out, err := encodeMsg(ackRespMsg, &ackResp{SeqNo: p.SeqNo}, m.config.MsgpackUseNewTimeFormat)
		if err != nil {
			m.logger.Printf("[ERR] memberlist: Failed to encode ack: %s", err)
			return
		}
		if err := writeStream(m.config, conn, out); err != nil {
			m.logger.Printf("[ERR] memberlist: Failed to send ack: %s %s", err, LogConn(conn))
		}
	default:
		m.streamRejected("type")
		m.logger.Printf("[DEBUG] memberlist: Received invalid msgType (%d) %s", t, LogConn(conn))
	}
}
