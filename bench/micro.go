// This file owns the micro benchmarks: the hot paths of one library reachable through
// its public API and the wire, timed with testing.Benchmark in a child process.

package main

import (
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

const (
	wireAck      = 2
	wireCompound = 7
	wireCompress = 9
	wireHasCRC   = 12
)

// micro runs every micro benchmark for im with j.N members where a table is built.
func micro(im impl, j job) ([]fig, error) {
	testing.Init()
	benchtime := "1s"
	if j.Short {
		benchtime = "5x"
	}
	if err := flag.Set("test.benchtime", benchtime); err != nil {
		return nil, err
	}
	var figs []fig
	add := func(name string, r testing.BenchmarkResult, failed error) error {
		if failed != nil {
			return fmt.Errorf("%s: %w", name, failed)
		}
		if r.N == 0 {
			return fmt.Errorf("%s: the benchmark did not run", name)
		}
		figs = append(figs,
			fig{Name: "micro: " + name + " (ns/op)", Value: float64(r.NsPerOp())},
			fig{Name: "micro: " + name + " (allocs/op)", Value: float64(r.AllocsPerOp()), ZeroOK: true},
		)
		return nil
	}

	if err := add(queueBench(im)); err != nil {
		return figs, err
	}
	if err := add(pingBench(im)); err != nil {
		return figs, err
	}
	stop := profileWindow("micro-merge-"+im.name, 0)
	err := add(mergeBench(im, j.N))
	stop()
	if err != nil {
		return figs, err
	}

	// One table of N members serves Members() and the repeated push/pull.
	big, err := newBigNode(im, j.N)
	if err != nil {
		return figs, err
	}
	defer big.close()
	if err := add(membersBench(big, j.N)); err != nil {
		return figs, err
	}
	if err := add(membersReusedBench(big, j.N)); err != nil {
		return figs, err
	}
	stop = profileWindow("micro-pushpull-"+im.name, 0)
	err = add(pushPullAgainBench(big, j.N))
	stop()
	if err != nil {
		return figs, err
	}
	return figs, nil
}

const queueBroadcasts = 10000

// queueBench queues 10,000 named broadcasts (as for a 16-node cluster) and drains
// them with GetBroadcasts into 1,400-byte packets until none is left.
func queueBench(im impl) (string, testing.BenchmarkResult, error) {
	names := make([]string, queueBroadcasts)
	msgs := make([][]byte, queueBroadcasts)
	for i := range names {
		names[i] = memberName(i)
		msgs[i] = bytes.Repeat([]byte{byte(i)}, 40)
	}
	var failed error
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			q := im.newQueue(16)
			for i := range names {
				q.add(names[i], msgs[i])
			}
			for q.len() > 0 {
				if len(q.get(2, 1400)) == 0 {
					failed = errors.New("GetBroadcasts returned nothing with broadcasts queued")
					return
				}
			}
		}
	})
	return "TransmitLimitedQueue: queue 10,000 then drain", r, failed
}

// ackSeq returns the sequence numbers of the acks in a packet, looking through the
// CRC, compression and compound wrappers a library may put around them.
func ackSeq(b []byte, out []uint32) []uint32 {
	if len(b) == 0 {
		return out
	}
	switch b[0] {
	case wireHasCRC:
		if len(b) >= 5 {
			return ackSeq(b[5:], out)
		}
	case wireCompound:
		if len(b) < 2 {
			return out
		}
		n := int(b[1])
		lens, body := b[2:], b[2:]
		if len(lens) < 2*n {
			return out
		}
		body = body[2*n:]
		for i := range n {
			l := int(binary.BigEndian.Uint16(lens[2*i:]))
			if l > len(body) {
				return out
			}
			out = ackSeq(body[:l], out)
			body = body[l:]
		}
	case wireCompress:
		var c struct {
			Algo uint8
			Buf  []byte
		}
		if codec.NewDecoderBytes(b[1:], &codec.MsgpackHandle{}).Decode(&c) != nil || c.Algo != 0 {
			return out
		}
		r := lzw.NewReader(bytes.NewReader(c.Buf), lzw.LSB, 8)
		inner, err := io.ReadAll(io.LimitReader(r, 1<<20))
		_ = r.Close()
		if err == nil {
			return ackSeq(inner, out)
		}
	case wireAck:
		var a struct {
			SeqNo   uint32
			Payload []byte
		}
		if codec.NewDecoderBytes(b[1:], &codec.MsgpackHandle{}).Decode(&a) == nil {
			out = append(out, a.SeqNo)
		}
	}
	return out
}

// ackWatcher is a memNode's onWrite that reports the acks it sends.
type ackWatcher struct{ acks chan uint32 }

func newAckWatcher() *ackWatcher { return &ackWatcher{acks: make(chan uint32, 256)} }

func (w *ackWatcher) onWrite(b []byte) {
	if len(b) == 0 || (b[0] != wireAck && b[0] != wireCompound && b[0] != wireCompress && b[0] != wireHasCRC) {
		return
	}
	for _, s := range ackSeq(b, nil) {
		select {
		case w.acks <- s:
		default:
		}
	}
}

// roundTrip sends node a ping with seq and waits for its ack.
func (w *ackWatcher) roundTrip(n memNode, ping []byte, seq uint32, from net.Addr) error {
	n.packet(bytes.Clone(ping), from)
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case s := <-w.acks:
			if s == seq {
				return nil
			}
		case <-timeout.C:
			return fmt.Errorf("no ack for ping %d within 10s", seq)
		}
	}
}

var pingFrom = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}

// pingBench hands a lone node a ping packet through its Transport's PacketCh and
// waits for the ack it writes.
func pingBench(im impl) (string, testing.BenchmarkResult, error) {
	const name = "micro-ping"
	w := newAckWatcher()
	n, err := im.startMem(name, nil, w.onWrite)
	if err != nil {
		return "", testing.BenchmarkResult{}, err
	}
	defer func() { _ = n.Shutdown() }()
	const seq = 4242
	ping := pingPacket(name, seq)
	var failed error
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := w.roundTrip(n, ping, seq, pingFrom); err != nil {
				failed = err
				return
			}
		}
	})
	return "ping in, ack out", r, failed
}

// deliver writes msg to n as an inbound stream and reads the reply to its end.
func deliver(n memNode, msg []byte) error {
	local, remote := net.Pipe()
	defer func() { _ = local.Close() }()
	_ = local.SetDeadline(time.Now().Add(60 * time.Second))
	n.stream(remote)
	werr := make(chan error, 1)
	go func() {
		_, err := local.Write(msg)
		werr <- err
	}()
	_, rerr := io.Copy(io.Discard, local)
	_ = local.Close()
	if err := <-werr; err != nil {
		return fmt.Errorf("write push/pull: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("read push/pull reply: %w", rerr)
	}
	return nil
}

// mergeBench joins a fresh node by a push/pull carrying members new members and
// waits until it reported every one joined.
func mergeBench(im impl, members int) (string, testing.BenchmarkResult, error) {
	msg := pushPullStream(members, true)
	var failed error
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			ev := newEvents("micro-merge")
			ev.expect(members + 1)
			n, err := im.startMem("micro-merge", ev, func([]byte) {})
			if err != nil {
				failed = err
				return
			}
			b.StartTimer()
			err = deliver(n, msg)
			if err == nil {
				select {
				case <-ev.converged:
				case <-time.After(60 * time.Second):
					err = fmt.Errorf("merge not done within 60s: %d of %d members", ev.alive.Load(), members)
				}
			}
			b.StopTimer()
			_ = n.Shutdown()
			if err != nil {
				failed = err
				return
			}
		}
	})
	return fmt.Sprintf("push/pull join of %s new members, until all NotifyJoin", thousands(members)), r, failed
}

// bigNode is a node whose table holds N members, learned by one push/pull.
type bigNode struct {
	memNode
	w *ackWatcher
}

func newBigNode(im impl, members int) (*bigNode, error) {
	ev := newEvents("micro-big")
	ev.expect(members + 1)
	w := newAckWatcher()
	n, err := im.startMem("micro-big", ev, w.onWrite)
	if err != nil {
		return nil, err
	}
	big := &bigNode{memNode: n, w: w}
	if err := deliver(n, pushPullStream(members, true)); err != nil {
		big.close()
		return nil, err
	}
	select {
	case <-ev.converged:
	case <-time.After(60 * time.Second):
		big.close()
		return nil, fmt.Errorf("table of %d members not built within 60s", members)
	}
	return big, nil
}

func (b *bigNode) close() { _ = b.Shutdown() }

// membersBench lists the members with Members().
func membersBench(big *bigNode, members int) (string, testing.BenchmarkResult, error) {
	return listBench(fmt.Sprintf("Members() of %s", thousands(members+1)), big.members, members)
}

// membersReusedBench lists the members into a slice reused between calls, as a
// caller that polls the list would: AppendMembers in ours, Members() in the
// reference, which has no such call.
func membersReusedBench(big *bigNode, members int) (string, testing.BenchmarkResult, error) {
	return listBench(fmt.Sprintf("Members() of %s into a reused slice (ours: AppendMembers)", thousands(members+1)), big.membersReused, members)
}

// listBench benchmarks list, which lists a table of about members members and
// returns how many it got.
func listBench(name string, list func() int, members int) (string, testing.BenchmarkResult, error) {
	var failed error
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if got := list(); got < members/2 {
				failed = fmt.Errorf("listed %d members, want about %d", got, members+1)
				return
			}
		}
	})
	return name, r, failed
}

// pushPullAgainBench repeats the periodic push/pull of a peer that knows the same
// members: the node reads them, replies with its whole table, merges nothing new.
// A ping after each exchange makes sure the merge is over, whatever thread does it.
func pushPullAgainBench(big *bigNode, members int) (string, testing.BenchmarkResult, error) {
	msg := pushPullStream(members, false)
	var failed error
	var seq uint32
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := deliver(big.memNode, msg); err != nil {
				failed = err
				return
			}
			seq++
			if err := big.w.roundTrip(big.memNode, pingPacket(big.name(), seq), seq, pingFrom); err != nil {
				failed = err
				return
			}
		}
	})
	return fmt.Sprintf("push/pull of %s known members, reply and merge", thousands(members)), r, failed
}

// thousands formats n with comma separators.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
