// This file owns two process-wide caches in front of unique.Make, for what
// every node of a cluster interns alike: a member's info (makeInfo) and the
// alive message that announces it at an incarnation (aliveNews). unique.Make
// walks a shared trie and turns a weak pointer into a strong one on every
// call, about a microsecond; a simulation of N nodes makes each of these N
// times per member, and a node that joins makes N of them at once. A cache
// slot holds the latest value made for its hash, so a repeat costs one hash
// and one comparison. The slots are atomic: nodes on different goroutines
// share the caches, and a slot overwritten by another node's value is only
// a miss.

package memberlist

import (
	"sync/atomic"
	"unique"
)

// defaultInternCacheBits sizes each cache in a process with a node or a
// few: 2^12 slots, 32 KiB of pointers. NewSimulation grows them for its
// many nodes.
const defaultInternCacheBits = 12

type infoSlot struct{ info unique.Handle[memberInfo] }

type aliveSlot struct {
	info unique.Handle[memberInfo]
	inc  uint32
	msg  unique.Handle[string]
}

// internCaches are the two caches' slots, replaced whole when grown.
type internCaches struct {
	mask  uint64
	infos []atomic.Pointer[infoSlot]
	alive []atomic.Pointer[aliveSlot]
}

func newInternCaches(bits int) *internCaches {
	n := uint64(1) << bits
	return &internCaches{mask: n - 1, infos: make([]atomic.Pointer[infoSlot], n), alive: make([]atomic.Pointer[aliveSlot], n)}
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
func cachedInfo(k memberInfo) unique.Handle[memberInfo] {
	c := internCachesOf()
	slot := &c.infos[memberHash(k.name)&c.mask]
	if e := slot.Load(); e != nil && e.info.Value() == k {
		return e.info
	}
	h := unique.Make(k)
	slot.Store(&infoSlot{info: h})
	return h
}

// aliveNews is the encoded alive message that says member info is alive at
// incarnation inc, interned, through the cache.
func aliveNews(info unique.Handle[memberInfo], inc uint32) unique.Handle[string] {
	c := internCachesOf()
	i := info.Value()
	slot := &c.alive[(memberHash(i.name)^uint64(inc)*0x9e3779b97f4a7c15)&c.mask]
	if e := slot.Load(); e != nil && e.info == info && e.inc == inc {
		return e.msg
	}
	a := alive{Incarnation: inc, Node: i.name, Addr: i.ip[:i.ipLen:i.ipLen], Port: i.port, Vsn: i.vsn[:]}
	if i.hasMeta {
		a.Meta = i.metaView()
	}
	h := internBytes(encodeFast(aliveMsg, &a))
	slot.Store(&aliveSlot{info: info, inc: inc, msg: h})
	return h
}
