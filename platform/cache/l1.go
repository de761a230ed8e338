package cache

import (
	"sync"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// entry is what L1 stores. It is immutable once stored, so readers share it
// without copying (that keeps an L1 hit allocation-free). The one exception,
// decoded, is Typed's decoding of value: a pure function of it, so racing
// writers store the same thing.
type entry struct {
	value      []byte
	found      bool  // false: a cached "not found"
	loadedAt   int64 // unix nanos when the value was loaded from the source
	freshUntil int64 // unix nanos; after this the entry only serves stale-if-error
	seq        uint64
	decoded    atomic.Value
}

func (e *entry) fresh(now int64) bool { return now < e.freshUntil }

func (e *entry) result(now int64, source string) Result {
	return Result{Value: e.value, Found: e.found, Age: time.Duration(now - e.loadedAt), Source: source, entry: e}
}

// l1 bounds go-cache by entry count, which go-cache itself cannot do.
//
// Eviction is FIFO by insertion: every Set appends (key, seq) to a queue and,
// while the cache is over its bound, the queue head is popped. A head whose
// item is already expired is simply dropped (free, not an eviction); a head
// whose seq no longer matches the stored item is a tombstone left by an
// overwrite or delete and is skipped; otherwise the item is evicted. Each Set
// pushes one ref and each pop consumes one, so eviction is amortised O(1),
// and because TTLs are roughly uniform the oldest insert is also the entry
// closest to expiry. Reads never touch the queue, so hits take only
// go-cache's read lock.
type l1 struct {
	gc  *gocache.Cache
	max int

	mu    sync.Mutex // serialises writers: insert + bound check + queue
	seq   uint64
	queue []queued
	head  int

	evictions atomic.Uint64
}

type queued struct {
	key string
	seq uint64
}

func newL1(max int) *l1 {
	// A cleanup interval of 0 means go-cache starts no janitor goroutine: its
	// janitor is only stopped by a finalizer, so Close could not stop it.
	// Our housekeeping loop calls sweep instead and stops with the Cache.
	return &l1{gc: gocache.New(gocache.NoExpiration, 0), max: max}
}

// get returns the entry even if it is past freshness (the caller decides);
// go-cache hides it once the stale-if-error window is over too.
func (l *l1) get(key string) (*entry, bool) {
	v, ok := l.gc.Get(key)
	if !ok {
		return nil, false
	}
	return v.(*entry), true
}

// set stores e until fresh+keep (keep is the stale-if-error window).
func (l *l1) set(key string, e *entry, fresh, keep time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	e.seq = l.seq
	e.freshUntil = time.Now().Add(fresh).UnixNano()
	l.gc.Set(key, e, fresh+keep)
	l.queue = append(l.queue, queued{key, e.seq})
	for l.gc.ItemCount() > l.max && l.head < len(l.queue) {
		l.popLocked()
	}
	l.compactLocked()
}

func (l *l1) popLocked() {
	q := l.queue[l.head]
	l.queue[l.head] = queued{} // release the key string
	l.head++
	v, ok := l.gc.Get(q.key)
	switch {
	case !ok:
		l.gc.Delete(q.key) // expired but still held by go-cache: drop it for free
	case v.(*entry).seq == q.seq:
		l.gc.Delete(q.key)
		l.evictions.Add(1)
	}
}

// compactLocked keeps the queue's memory proportional to the bound: it
// reclaims the consumed head, and filters tombstones when overwrites and
// deletes have piled them up. Both are O(len) once per O(len) pushes.
func (l *l1) compactLocked() {
	if l.head > 0 && l.head >= len(l.queue)/2 {
		n := copy(l.queue, l.queue[l.head:])
		clear(l.queue[n:])
		l.queue, l.head = l.queue[:n], 0
	}
	if len(l.queue) <= 2*l.max+1024 {
		return
	}
	live := l.queue[:0]
	for _, q := range l.queue[l.head:] {
		v, ok := l.gc.Get(q.key)
		if !ok {
			l.gc.Delete(q.key)
			continue
		}
		if v.(*entry).seq == q.seq {
			live = append(live, q)
		}
	}
	clear(l.queue[len(live):])
	l.queue, l.head = live, 0
}

func (l *l1) delete(key string) { l.gc.Delete(key) }

// purge drops everything, e.g. after pub/sub messages may have been missed.
func (l *l1) purge() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gc.Flush()
	clear(l.queue)
	l.queue, l.head = l.queue[:0], 0
}

// sweep is the janitor's work: free expired items and compact the queue.
func (l *l1) sweep() {
	l.gc.DeleteExpired()
	l.mu.Lock()
	l.compactLocked()
	l.mu.Unlock()
}

func (l *l1) len() int { return l.gc.ItemCount() }
