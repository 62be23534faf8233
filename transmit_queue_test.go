// transmit_queue_test.go checks what TransmitLimitedQueue adds to the queue
// of broadcast.go: its zero value, callbacks that call back into it, and use
// from many goroutines at once. broadcast_test.go checks the algorithm.

package memberlist

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestZeroValueQueue(t *testing.T) {
	var q TransmitLimitedQueue
	q.Prune(0)
	q.Reset()
	if n := q.NumQueued(); n != 0 {
		t.Fatalf("NumQueued = %d", n)
	}
	if got := q.GetBroadcasts(0, 1000); got != nil {
		t.Fatalf("GetBroadcasts = %q", strs(got))
	}
	// No NumNodes: a lone node, limit 0 since RetransmitMult is 0, so the
	// message goes out once.
	q.QueueBroadcast(plain("m", nil))
	if got := strs(q.GetBroadcasts(0, 1000)); !slices.Equal(got, []string{"m"}) {
		t.Fatalf("GetBroadcasts = %q", got)
	}
	if n := q.NumQueued(); n != 0 {
		t.Fatalf("NumQueued = %d after the only send", n)
	}
}

// reentrantBcast queues a follow-up from Finished, which would deadlock if
// the queue called Finished with its lock held.
type reentrantBcast struct {
	q    *TransmitLimitedQueue
	next Broadcast
	done bool
}

func (b *reentrantBcast) Invalidates(Broadcast) bool { return false }
func (b *reentrantBcast) Message() []byte            { return []byte("r") }
func (b *reentrantBcast) Finished() {
	b.done = true
	if b.next != nil {
		b.q.QueueBroadcast(b.next)
	}
}

func TestCallbacksMayUseTheQueue(t *testing.T) {
	q := &TransmitLimitedQueue{RetransmitMult: 1}
	q.NumNodes = func() int { return q.NumQueued() + 1 }
	follow := plain("follow-up", nil)
	r := &reentrantBcast{q: q, next: follow}
	q.QueueBroadcast(r)
	if got := strs(q.GetBroadcasts(0, 100)); !slices.Equal(got, []string{"r"}) {
		t.Fatalf("GetBroadcasts = %q", got)
	}
	if !r.done {
		t.Fatal("Finished not called after the last allowed send")
	}
	if got := queueOrder(q); !slices.Equal(got, []string{"follow-up"}) {
		t.Fatalf("queue = %q, want the follow-up queued from Finished", got)
	}
}

func TestQueueConcurrentUse(t *testing.T) {
	log := newFinishLog()
	q := &TransmitLimitedQueue{NumNodes: func() int { return 50 }, RetransmitMult: 2}
	const workers, perWorker = 4, 300
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				id := fmt.Sprintf("w%d-%d", w, i)
				switch i % 3 {
				case 0:
					q.QueueBroadcast(&namedBcast{id: id, name: fmt.Sprint(i % 17), msg: []byte(id), log: log})
				case 1:
					q.QueueBroadcast(&uniqueBcast{id: id, msg: []byte(id), log: log})
				default:
					q.QueueBroadcast(&plainBcast{id: id, key: fmt.Sprint(i % 5), msg: []byte(id), log: log})
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 400 {
			q.GetBroadcasts(2, 1400)
			_ = q.NumQueued()
			if i%50 == 0 {
				q.Prune(100)
			}
		}
	}()
	wg.Wait()
	q.Reset()
	if got := log.total(); got != workers*perWorker {
		t.Fatalf("%d Finished calls, want %d", got, workers*perWorker)
	}
	for id, c := range log.count {
		if c != 1 {
			t.Fatalf("%s finished %d times", id, c)
		}
	}
}
