// This file owns streams. First their framing, shared by the shell and the
// simulator so that both put the same bytes on a stream: a request is the
// label header then one message, compressed and encrypted as configured;
// an answer is one message framed the same way, without the label; reading
// checks the label, opens the envelope and decodes the body within bounds.
// Then the shell's side: dialing a peer for an exchange the core asked for
// (push/pull, TCP fallback ping), reliable user messages, and serving
// inbound streams, whose requests the core answers (core.handleStream).

package memberlist

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

const (
	maxPushPullRequests = 128 // concurrent inbound push/pulls
	maxInboundStreams   = 512 // concurrent inbound streams of any kind

	// memberStreamReserve of the maxInboundStreams slots, and
	// memberPushPullReserve of the maxPushPullRequests, are kept for
	// streams from the addresses of known members: a stream from an IP
	// address no member of the table advertises (an outsider, or a node
	// that has not joined yet) is closed unread when it would take one of
	// them. Outsiders holding streams open on purpose, from however many
	// addresses, then leave the node's members 128 streams and 32
	// push/pulls. TCP source addresses cannot be forged without a network
	// path, so with encryption on (which keeps outsiders out of the table)
	// they cannot claim a member's share.
	memberStreamReserve   = 128
	memberPushPullReserve = 32

	// maxStreamInflates bounds the stream messages being decompressed at
	// once in the process. Each may expand to maxDecompressedSize, and a
	// peer can make one do so with a few kilobytes, so without this bound
	// every inbound stream could hold that much at the same time.
	maxStreamInflates = 2
)

// streamInflates holds a token for each stream decompression under way. It
// is the process's, not a node's: it bounds the process's memory, however
// many nodes it runs.
var streamInflates = make(chan struct{}, maxStreamInflates)

// errInflateBusy refuses a stream message that waited too long for its
// turn to be decompressed.
var errInflateBusy = errors.New("too many stream messages being decompressed at once")

// inflateStream decompresses a stream's compress envelope once one of the
// maxStreamInflates tokens is free, waiting at most wait for it.
func inflateStream(c *compress, wait time.Duration) ([]byte, error) {
	select {
	case streamInflates <- struct{}{}:
	default:
		timer := time.NewTimer(wait)
		select {
		case streamInflates <- struct{}{}:
			timer.Stop()
		case <-timer.C:
			return nil, fmt.Errorf("%w; waited %v", errInflateBusy, wait)
		}
	}
	defer func() { <-streamInflates }()
	return decompressBuffer(c)
}

// streamMsg is one message read off a stream: its type and decoded body.
type streamMsg struct {
	t      messageType
	ping   ping            // pingMsg
	ack    ackResp         // ackRespMsg
	join   bool            // pushPullMsg
	states []pushNodeState // pushPullMsg
	user   []byte          // pushPullMsg: the delegate's state; userMsg: the message
	err    string          // errMsg

	// hold, when set, is the buffer the message was read from, which its
	// states may view: releaseStream gives it back to the push/pull buffer
	// pool once the core is done with the message. Only a driver that
	// knows nothing else uses the buffer sets it (the simulator).
	hold []byte
}

// encodeStream frames msg as one stream message: compressed and encrypted as
// cfg says, with nonces from nonces.
func encodeStream(cfg *Config, nonces io.Reader, msg []byte) ([]byte, error) {
	if cfg.EnableCompression {
		comp, err := compressPayload(msg, cfg.MsgpackUseNewTimeFormat)
		if err != nil {
			return nil, fmt.Errorf("compress stream message: %w", err)
		}
		msg = comp
	}
	if key := cfg.outboundKey(); key != nil {
		enc, err := encryptStream(nonces, encryptionVersionFor(cfg.ProtocolVersion), key, msg, cfg.Label)
		if err != nil {
			return nil, fmt.Errorf("encrypt stream message: %w", err)
		}
		msg = enc
	}
	return msg, nil
}

// encodeRequest frames msg as the request that opens a stream: the label
// header, then the message as encodeStream frames it.
func encodeRequest(cfg *Config, nonces io.Reader, msg []byte) ([]byte, error) {
	body, err := encodeStream(cfg, nonces, msg)
	if err != nil {
		return nil, err
	}
	if cfg.Label == "" {
		return body, nil
	}
	if err := checkLabel(cfg.Label); err != nil {
		return nil, err
	}
	out := appendLabelHeader(make([]byte, 0, labelOverhead(cfg.Label)+len(body)), cfg.Label)
	return append(out, body...), nil
}

// readStream reads the envelope of one stream message (decrypting and
// decompressing as needed) and returns its type and a reader positioned at
// its body.
func readStream(cfg *Config, sink metricSink, conn io.Reader, label string) (messageType, io.Reader, error) {
	return readStreamBy(cfg, sink, conn, label, time.Time{})
}

// readStreamBy is readStream on a stream whose deadline is known: a
// compressed message waits for its turn to be decompressed until then.
// Without one (the simulator, which never reads two streams at once) it
// waits for TCPTimeout at most.
func readStreamBy(cfg *Config, sink metricSink, conn io.Reader, label string, deadline time.Time) (messageType, io.Reader, error) {
	var r io.Reader
	if h, ok := conn.(heldStream); ok {
		r = h.held() // already in memory: a buffer would only copy it
	} else {
		r = bufio.NewReader(conn)
	}
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, nil, err
	}
	t := messageType(b[0])
	keys, plaintextOK := cfg.inboundKeys()
	if t == encryptMsg {
		if len(keys) == 0 {
			return 0, nil, errors.New("remote state is encrypted and encryption is not configured")
		}
		plain, err := decryptStream(keys, r, label, maxPushStateBytes)
		if plain != nil {
			sink.AddSampleWithLabels([]string{"memberlist", "size", "remote"}, float32(len(plain)), cfg.MetricLabels)
		}
		if err != nil {
			return 0, nil, err
		}
		if len(plain) == 0 {
			return 0, nil, errors.New("decrypted stream message is empty")
		}
		t = messageType(plain[0])
		r = &memReader{b: plain[1:]}
	} else if !plaintextOK {
		return 0, nil, errors.New("encryption is configured but remote state is not encrypted")
	}
	if t == compressMsg {
		var cm compress
		if err := decodeFromReaderLimit(r, &cm, maxCompressedStreamBytes); err != nil {
			return 0, nil, fmt.Errorf("decode compressed stream message: %w", err)
		}
		wait := cfg.TCPTimeout
		if !deadline.IsZero() {
			wait = time.Until(deadline)
		}
		plain, err := inflateStream(&cm, wait)
		if err != nil {
			return 0, nil, err
		}
		if len(plain) == 0 {
			return 0, nil, errors.New("decompressed message is empty")
		}
		t = messageType(plain[0])
		r = &memReader{b: plain[1:]}
	}
	return t, r, nil
}

// decodeStreamBody decodes the body of a stream message of type t, within
// the bounds net.go sets. A type with no body known here decodes to just its
// type: whoever handles it decides.
func decodeStreamBody(t messageType, r io.Reader) (*streamMsg, error) {
	m := &streamMsg{t: t}
	var err error
	switch t {
	case pushPullMsg:
		m.join, m.states, m.user, err = decodePushPull(r, maxPushStateNodes)
	case userMsg:
		m.user, err = decodeUserMsgStream(r, maxUserMsgBytes)
	case pingMsg:
		err = decodeFromReader(r, &m.ping)
	case ackRespMsg:
		err = decodeFromReader(r, &m.ack)
	case errMsg:
		var resp errResp
		err = decodeFromReader(r, &resp)
		m.err = resp.Error
	}
	if err != nil {
		return nil, fmt.Errorf("decode %v: %w", t, err)
	}
	return m, nil
}

// readReply reads the answer to a request we sent.
func readReply(cfg *Config, sink metricSink, r io.Reader) (*streamMsg, error) {
	return readReplyBy(cfg, sink, r, time.Time{})
}

// readReplyBy is readReply on a stream whose deadline is known.
func readReplyBy(cfg *Config, sink metricSink, r io.Reader, deadline time.Time) (*streamMsg, error) {
	t, body, err := readStreamBy(cfg, sink, r, cfg.Label, deadline)
	if err != nil {
		return nil, err
	}
	return decodeStreamBody(t, body)
}

// readRequest reads the request an inbound stream opens with: the label
// header, which must be ours, the envelope and the body. A rejected stream
// is counted and logged here; when the peer should hear why, errReply is
// the error message to answer with. admit, when not nil, may refuse a
// request by type before its body is read (the shell bounds concurrent
// push/pulls with it).
func readRequest(cfg *Config, sink metricSink, logger *log.Logger, conn net.Conn, admit func(messageType) bool) (msg *streamMsg, errReply []byte) {
	return readRequestBy(cfg, sink, logger, conn, admit, time.Time{})
}

// readRequestBy is readRequest on a stream whose deadline is known.
func readRequestBy(cfg *Config, sink metricSink, logger *log.Logger, conn net.Conn, admit func(messageType) bool, deadline time.Time) (msg *streamMsg, errReply []byte) {
	// reject counts a refused stream by reason, or as "timeout" when err
	// is the stream's deadline passing: a peer too slow to send its request
	// within TCPTimeout, whatever it had sent so far.
	reject := func(reason string, err error, format string, args ...any) {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			reason = "timeout"
		}
		countRejected(sink, cfg.MetricLabels, "tcp", reason)
		logger.Printf("[DEBUG] memberlist: "+format+" %s", append(args, LogConn(conn))...)
	}
	rest, label, err := RemoveLabelHeaderFromStream(conn)
	if err != nil {
		reject("label", err, "failed to receive and remove the stream label header: %s", err)
		return nil, nil
	}
	if label, err = cfg.inboundLabel(label); err != nil {
		reject("label", err, "discarding stream: %v", err)
		return nil, nil
	}
	t, body, err := readStreamBy(cfg, sink, rest, label, deadline)
	if err != nil {
		if err == io.EOF {
			return nil, nil
		}
		reject("decode", err, "failed to receive: %s", err)
		out, eerr := encodeMsg(errMsg, &errResp{Error: err.Error()}, cfg.MsgpackUseNewTimeFormat)
		if eerr != nil {
			return nil, nil
		}
		return nil, out
	}
	if admit != nil && !admit(t) {
		return nil, nil
	}
	msg, err = decodeStreamBody(t, body)
	if err != nil {
		reject("decode", err, "failed to read %v: %s", t, err)
		return nil, nil
	}
	return msg, nil
}

// ---------------------------------------------------------------------------
// The shell's streams

// writeStream sends msg, framed with encodeStream, on conn.
func (m *Memberlist) writeStream(conn net.Conn, msg []byte) error {
	buf, err := encodeStream(m.config, crand.Reader, msg)
	if err != nil {
		return err
	}
	return m.write(conn, buf, len(buf))
}

// write writes buf to conn, counting counted bytes as sent.
func (m *Memberlist) write(conn net.Conn, buf []byte, counted int) error {
	metrics.IncrCounterWithLabels([]string{"memberlist", "tcp", "sent"}, float32(counted), m.config.MetricLabels)
	n, err := conn.Write(buf)
	if err != nil {
		return err
	}
	if n != len(buf) {
		return fmt.Errorf("only %d of %d bytes written", n, len(buf))
	}
	return nil
}

// request dials to and sends msg as the request that opens the stream.
func (m *Memberlist) request(to Address, msg []byte, deadline time.Time) (net.Conn, error) {
	if to.Name == "" && m.config.RequireNodeNames {
		return nil, ErrNodeNamesRequired
	}
	buf, err := encodeRequest(m.config, crand.Reader, msg)
	if err != nil {
		return nil, err
	}
	conn, err := m.transport.DialAddressTimeout(to, time.Until(deadline))
	if err != nil {
		return nil, &dialError{err}
	}
	m.trackConn(conn, true)
	_ = conn.SetDeadline(deadline)
	err = m.write(conn, buf, len(buf)-labelOverhead(m.config.Label))
	putPushBuf(msg) // written (a Writer keeps nothing), or never will be
	if err != nil {
		m.closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// closeConn closes a stream the shell opened or accepted.
func (m *Memberlist) closeConn(conn net.Conn) {
	_ = conn.Close()
	m.trackConn(conn, false)
}

// exchange performs the stream exchange the core asked for: it sends the
// request and reads the one message the peer answers with, by the core's
// deadline (or ctx's, when earlier; ctx also cancels).
func (m *Memberlist) exchange(ctx context.Context, o *outExchange) (*streamMsg, error) {
	deadline := o.deadline
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn, err := m.request(o.to, o.msg, deadline)
	if err != nil {
		return nil, err
	}
	defer m.closeConn(conn)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	metrics.IncrCounterWithLabels([]string{"memberlist", "tcp", "connect"}, 1, m.config.MetricLabels)
	m.logger.Printf("[DEBUG] memberlist: Initiating stream exchange with: %s %s", o.to.Name, conn.RemoteAddr())
	reply, err := readReplyBy(m.config, globalMetrics{}, conn, deadline)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if refusedReply(err) {
			// The answer broke a bound or did not decode: counted as an
			// inbound stream's would be. The core reports the failed
			// exchange as it does any other.
			countRejected(globalMetrics{}, m.config.MetricLabels, "tcp", "decode")
			m.logger.Printf("[DEBUG] memberlist: Refused the answer to a stream exchange: %s %s", err, LogConn(conn))
		}
		return nil, fmt.Errorf("%w %s", err, LogConn(conn))
	}
	return reply, nil
}

// refusedReply tells an answer refused for what it holds (a bound broken,
// something that does not decode or decrypt) from one that never came
// whole: the peer closed the stream, the network failed or the deadline
// passed.
func refusedReply(err error) bool {
	var netErr *net.OpError
	return !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
		!errors.Is(err, os.ErrDeadlineExceeded) && !errors.As(err, &netErr)
}

// sendReliable sends a user message over a stream.
func (m *Memberlist) sendReliable(to Address, msg []byte) error {
	buf, err := encodeUserMsgStream(msg, m.config.MsgpackUseNewTimeFormat)
	if err != nil {
		return err
	}
	conn, err := m.request(to, buf, time.Now().Add(m.config.TCPTimeout))
	if err != nil {
		return err
	}
	m.closeConn(conn)
	return nil
}

// handleConn serves one inbound stream: it reads the request, lets the core
// answer it on the event loop, and writes the answer back.
func (m *Memberlist) handleConn(conn net.Conn) {
	defer m.wg.Done()
	m.logger.Printf("[DEBUG] memberlist: Stream connection %s", LogConn(conn))
	metrics.IncrCounterWithLabels([]string{"memberlist", "tcp", "accept"}, 1, m.config.MetricLabels)
	member := memberSource{m: m, conn: conn}
	if !m.admitStream(conn, &member) {
		return
	}
	defer func() { <-m.streamSem }()
	m.trackConn(conn, true)
	defer m.closeConn(conn)
	// One deadline, for reading and writing, bounds the whole exchange: a
	// peer that sends or reads slowly holds the stream's goroutine and
	// buffers for TCPTimeout at most.
	deadline := time.Now().Add(m.config.TCPTimeout)
	_ = conn.SetDeadline(deadline)

	pushPull := false
	admit := func(t messageType) bool {
		if t != pushPullMsg {
			return true
		}
		n := m.pushPullReqs.Add(1)
		if n > maxPushPullRequests {
			m.pushPullReqs.Add(-1)
			// Counted and logged at DEBUG, as every refusal a peer can
			// cause at will: the metric shows it without a log flood.
			countRejected(globalMetrics{}, m.config.MetricLabels, "tcp", "push_pull_limit")
			m.logger.Printf("[DEBUG] memberlist: Too many pending push/pull requests (%d), closing %s", maxPushPullRequests, LogConn(conn))
			return false
		}
		if n > maxPushPullRequests-memberPushPullReserve && !member.is() {
			m.pushPullReqs.Add(-1)
			countRejected(globalMetrics{}, m.config.MetricLabels, "tcp", "reserved")
			m.logger.Printf("[DEBUG] memberlist: Too many pending push/pull requests (%d of %d), the rest are kept for members; closing %s",
				n-1, maxPushPullRequests, LogConn(conn))
			return false
		}
		pushPull = true
		return true
	}
	msg, errReply := readRequestBy(m.config, globalMetrics{}, m.logger, conn, admit, deadline)
	if pushPull {
		defer m.pushPullReqs.Add(-1)
	}
	reply := errReply
	if msg != nil {
		if err := m.do(func(c *core) { reply = c.handleStream(time.Now(), msg, conn.RemoteAddr()) }); err != nil {
			return
		}
	}
	if reply == nil {
		return
	}
	if err := m.writeStream(conn, reply); err != nil {
		m.logger.Printf("[ERR] memberlist: Failed to answer stream: %s %s", err, LogConn(conn))
	}
	putPushBuf(reply)
}

// admitStream decides whether the inbound stream conn, which holds one of
// the streamSem slots, is served. A stream refused is closed unread, and its
// slot is given back before the refusal is counted, so that once counted it
// holds nothing.
func (m *Memberlist) admitStream(conn net.Conn, member *memberSource) bool {
	reason, why := "", ""
	if err := sourceAllowed(m.config, conn.RemoteAddr()); err != nil {
		reason, why = "cidr", fmt.Sprintf("Blocked stream: %v", err)
	} else if held := len(m.streamSem); held > maxInboundStreams-memberStreamReserve && !member.is() {
		// The last memberStreamReserve slots are for members. The slot
		// this stream holds is counted in held already.
		reason = "reserved"
		why = fmt.Sprintf("Too many inbound streams (%d of %d), the rest are kept for members; closing", held, maxInboundStreams)
	}
	if reason == "" {
		return true
	}
	_ = conn.Close()
	<-m.streamSem
	// Counted and logged at DEBUG, as every refusal a peer can cause at
	// will: the metric shows it without a log flood.
	countRejected(globalMetrics{}, m.config.MetricLabels, "tcp", reason)
	m.logger.Printf("[DEBUG] memberlist: %s %s", why, LogConn(conn))
	return false
}

// memberSource answers, once, whether a stream comes from the IP address of
// a known member; see memberStreamReserve. It is asked only when the node
// is short of slots.
type memberSource struct {
	m      *Memberlist
	conn   net.Conn
	known  bool
	answer bool
}

// is reports whether the stream's source address is one that a member of
// the table advertises (this node and dead and left members included: a
// node back from a partition or a pause is still in the table). A source
// that names no IP address (an in-memory transport) counts as a member, as
// no per-source bound applies to it either.
func (s *memberSource) is() bool {
	if !s.known {
		s.known = true
		s.answer = true
		if a := s.conn.RemoteAddr(); a != nil {
			if ip, err := addrIP(a); err == nil {
				s.answer = snapshotHasIP(s.m.snap.Load(), ip)
			}
		}
	}
	return s.answer
}

// snapshotHasIP reports whether a member of s advertises ip. It looks at
// every member, a few microseconds per thousand of them (55 us for 10,000),
// so it runs only for streams that arrive while the node is short of
// slots.
func snapshotHasIP(s *snapshot, ip net.IP) bool {
	if ip4 := ip.To4(); ip4 != nil {
		ip = ip4
	}
	for i := range s.n {
		if a := s.at(i).Addr; string(a) == string(ip) || (len(a) != len(ip) && net.IP(a).Equal(ip)) {
			return true
		}
	}
	return false
}
