// This file owns ref, the shared immutable values of the member table and
// the news queue, and how a node makes them: a node of a Simulation interns
// them, so that its many nodes hold one copy of what they all know, and any
// other node allocates its own, which costs far less (unique.Make
// registers a cleanup with the runtime for every new value; at 10,000 new
// members in one push/pull that was over a third of the join's time).
//
// Interning goes through process-wide caches in front of unique.Make, for
// what every node of a cluster interns alike: a member's info (makeInfo),
// the alive message that announces it at an incarnation (aliveNews), and
// other news by its bytes (cachedNews). unique.Make
// walks a shared trie and turns a weak pointer into a strong one on every
// call, about a microsecond; a simulation of N nodes makes each of these N
// times per member, and a node that joins makes N of them at once. A cache
// slot holds the latest value made for its hash, so a repeat costs one hash
// and one comparison. The slots are atomic: nodes on different goroutines
// share the caches, and a slot overwritten by another node's value is only
// a miss.

package memberlist

import (
	"hash/maphash"
	"sync/atomic"
	"unique"
	"unsafe"
)

// ref points at an immutable value: a member's info, or an encoded news
// message. Interned refs to equal values are equal; refs a node allocated
// for itself are equal only to themselves, and nothing depends on more.
type ref[T comparable] struct{ p *T }

// Value is the value r points at.
func (r ref[T]) Value() T { return *r.p }

// interned is the ref to h's value, the one unique.Make shares. A
// unique.Handle is a pointer to its value; holding that pointer keeps the
// value interned exactly as holding the handle does.
// TestInternedRef checks the layout this relies on.
func interned[T comparable](h unique.Handle[T]) ref[T] {
	return *(*ref[T])(unsafe.Pointer(&h))
}

// ownInfo is a ref to k for one node's table, with strings of its own (k's
// may view a packet's bytes).
func ownInfo(k memberInfo) ref[memberInfo] {
	// The name and the metadata share one copy.
	if n := len(k.name) + len(k.meta); n > 0 {
		b := make([]byte, 0, n)
		b = append(append(b, k.name...), k.meta...)
		all := unsafe.String(unsafe.SliceData(b), n)
		k.name, k.meta = all[:len(k.name)], all[len(k.name):]
	}
	return ref[memberInfo]{p: &k}
}

// ownBytes is a ref to a copy of b, for one node's news queue.
func ownBytes(b []byte) ref[string] {
	s := string(b)
	return ref[string]{p: &s}
}

// ownedBytes is a ref to b itself, which the caller gives up: nothing may
// write b afterwards.
func ownedBytes(b []byte) ref[string] {
	s := unsafe.String(unsafe.SliceData(b), len(b))
	return ref[string]{p: &s}
}

// info is the ref for a member's info: interned when c is a simulation's
// node, else c's own. The arguments are as for makeInfo.
func (c *core) info(name string, ip []byte, port uint16, meta []byte, vsn []byte) ref[memberInfo] {
	if c.shared {
		return makeInfo(name, ip, port, meta, vsn)
	}
	return ownInfo(infoKey(name, ip, port, meta, vsn))
}

// aliveNews is the encoded alive message that says member info is alive at
// incarnation inc: interned through the cache when c is a simulation's
// node, else encoded for c alone.
func (c *core) aliveNews(info ref[memberInfo], inc uint32) ref[string] {
	if c.shared {
		return aliveNews(info, inc)
	}
	return ownedBytes(encodeAlive(info.Value(), inc))
}

// newsBytes is the ref for buf, an encoded news message: interned when c is
// a simulation's node, else a copy for c alone.
func (c *core) newsBytes(buf []byte) ref[string] {
	if c.shared {
		return cachedNews(buf)
	}
	return ownBytes(buf)
}

// defaultInternCacheBits sizes each cache in a process with a node or a
// few: 2^12 slots, 32 KiB of pointers. NewSimulation grows them for its
// many nodes.
const defaultInternCacheBits = 12

type infoSlot struct{ info ref[memberInfo] }

type aliveSlot struct {
	info ref[memberInfo]
	inc  uint32
	msg  ref[string]
}

type newsSlot struct{ msg ref[string] }

type hostPortSlot struct {
	key hostPortKey
	s   string
}

// internCaches are the caches' slots, replaced whole when grown.
type internCaches struct {
	mask  uint64
	infos []atomic.Pointer[infoSlot]
	alive []atomic.Pointer[aliveSlot]
	news  []atomic.Pointer[newsSlot]
	// hostPorts holds "host:port" strings of member addresses.
	hostPorts []atomic.Pointer[hostPortSlot]
}

func newInternCaches(bits int) *internCaches {
	n := uint64(1) << bits
	return &internCaches{
		mask:  n - 1,
		infos: make([]atomic.Pointer[infoSlot], n),
		alive: make([]atomic.Pointer[aliveSlot], n),
		news:  make([]atomic.Pointer[newsSlot], n),

		hostPorts: make([]atomic.Pointer[hostPortSlot], n),
	}
}

var caches atomic.Pointer[internCaches]

// internCachesOf returns the caches, made at the default size on first use.
func internCachesOf() *internCaches {
	if c := caches.Load(); c != nil {
		return c
	}
	caches.CompareAndSwap(nil, newInternCaches(defaultInternCacheBits))
	return caches.Load()
}

// growInternCaches makes sure each cache has at least 2^bits slots. What
// smaller ones held is dropped: they are only caches.
func growInternCaches(bits int) {
	for {
		c := caches.Load()
		if c != nil && c.mask+1 >= 1<<bits {
			return
		}
		if caches.CompareAndSwap(c, newInternCaches(bits)) {
			return
		}
	}
}

// cachedInfo is unique.Make(k) through the cache.
func cachedInfo(k memberInfo) ref[memberInfo] {
	c := internCachesOf()
	slot := &c.infos[memberHash(k.name)&c.mask]
	if e := slot.Load(); e != nil && e.info.Value() == k {
		return e.info
	}
	h := interned(unique.Make(k))
	slot.Store(&infoSlot{info: h})
	return h
}

// aliveNews is the encoded alive message that says member info is alive at
// incarnation inc, interned, through the cache.
func aliveNews(info ref[memberInfo], inc uint32) ref[string] {
	c := internCachesOf()
	i := info.Value()
	slot := &c.alive[(memberHash(i.name)^uint64(inc)*0x9e3779b97f4a7c15)&c.mask]
	if e := slot.Load(); e != nil && e.info == info && e.inc == inc {
		return e.msg
	}
	h := internBytes(encodeAlive(i, inc))
	slot.Store(&aliveSlot{info: info, inc: inc, msg: h})
	return h
}

// cachedNews is internBytes(buf) through the cache: the suspect and dead
// messages every node of a simulation gossips on byte for byte alike (in a
// partition of 10,000 nodes, 50 million suspicions and as many deaths,
// where unique.Make's lookups were a tenth of the run).
func cachedNews(buf []byte) ref[string] {
	c := internCachesOf()
	v := unsafe.String(unsafe.SliceData(buf), len(buf))
	slot := &c.news[memberHash(v)&c.mask]
	if e := slot.Load(); e != nil && e.msg.Value() == v {
		return e.msg
	}
	h := internBytes(buf)
	slot.Store(&newsSlot{msg: h})
	return h
}

// encodeAlive encodes the alive message that says member i is alive at
// incarnation inc, in a buffer of its own, exactly its size.
func encodeAlive(i memberInfo, inc uint32) []byte {
	a := alive{Incarnation: inc, Node: i.name, Addr: i.ip[:i.ipLen:i.ipLen], Port: i.port, Vsn: i.vsn[:]}
	if i.hasMeta {
		a.Meta = i.metaView()
	}
	// Not encodeFast: through its interface a would escape, one more
	// allocation for every alive message a node queues.
	b := make([]byte, 1, 1+a.wireLen())
	b[0] = byte(aliveMsg)
	return a.appendWire(b)
}

// cachedHostPort is joinHostPort of ip and port, whose key is k, through
// the process-wide cache: a simulation's nodes gossip to and probe the same
// members, and each core's own small cache missed most of the time (a
// twentieth of what a heal allocated).
func cachedHostPort(k hostPortKey, ip []byte) string {
	c := internCachesOf()
	h := maphash.Comparable(memberHashSeed, k)
	slot := &c.hostPorts[h&c.mask]
	if e := slot.Load(); e != nil && e.key == k {
		return e.s
	}
	s := joinHostPort(ip, k.port)
	slot.Store(&hostPortSlot{key: k, s: s})
	return s
}
