package cache

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sony/gobreaker/v2"
)

// maxPending bounds the invalidations remembered by name while Redis is
// unreachable; past it the whole namespace is purged from L2 on recovery.
const maxPending = 10000

// pending remembers invalidations Redis did not receive (breaker open,
// timeout). Without it, an entry deleted during an outage would come back
// from L2 once Redis answers again, for up to L2TTL. Until a key is replayed,
// L2 reads of it are skipped (the L2 copy may be the invalidated value), and
// the housekeeping loop replays the deletes as soon as Redis answers.
type pending struct {
	mu   sync.Mutex
	keys map[string]uint64 // key -> seq of its latest failed invalidation
	all  uint64            // seq of the overflow that requires a purge; 0 = none
	seq  uint64
	n    atomic.Int64 // len(keys), +1 if all: lets reads skip the lock when empty
}

func newPending() *pending { return &pending{keys: make(map[string]uint64)} }

func (p *pending) add(keys ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	if p.all == 0 {
		for _, k := range keys {
			p.keys[k] = p.seq
		}
		if len(p.keys) <= maxPending {
			p.n.Store(int64(len(p.keys)))
			return
		}
		clear(p.keys)
	}
	p.all = p.seq
	p.n.Store(1)
}

// blocks reports whether L2 may hold a value this instance invalidated.
func (p *pending) blocks(key string) bool {
	if p.n.Load() == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.keys[key]
	return ok || p.all != 0
}

func (p *pending) snapshot() (map[string]uint64, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make(map[string]uint64, len(p.keys))
	for k, s := range p.keys {
		keys[k] = s
	}
	return keys, p.all
}

// done forgets replayed keys, unless they failed again since the snapshot.
func (p *pending) done(keys map[string]uint64, all uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, s := range keys {
		if p.keys[k] == s {
			delete(p.keys, k)
		}
	}
	if all != 0 && p.all == all {
		p.all = 0
	}
	n := int64(len(p.keys))
	if p.all != 0 {
		n++
	}
	p.n.Store(n)
}

// replay pushes what Redis missed: deletes (or a namespace purge after an
// overflow) with their pub/sub notices, and version increments. It stops at
// the first failure; the next tick tries again.
func (c *Cache) replay(ctx context.Context) {
	if c.l2.state() == gobreaker.StateOpen {
		return
	}
	keys, all := c.pend.snapshot()
	if all != 0 {
		if c.l2.deleteMatching(ctx, globEscape(c.dataKey(""))+"*") != nil ||
			c.publish(ctx, message{All: true}) != nil {
			return
		}
		c.pend.done(nil, all)
	}
	const batch = 500
	names := make([]string, 0, batch)
	done := make(map[string]uint64, batch)
	flush := func() bool {
		if len(names) == 0 {
			return true
		}
		dataKeys := make([]string, len(names))
		for i, k := range names {
			dataKeys[i] = c.dataKey(k)
		}
		if _, err := c.l2.writeAndPublish(ctx, dataKeys, nil, 0, c.channel, c.encode(message{Keys: names})); err != nil {
			return false
		}
		c.pend.done(done, 0)
		names, done = names[:0], make(map[string]uint64, batch)
		return true
	}
	for k, s := range keys {
		names = append(names, k)
		done[k] = s
		if len(names) == batch && !flush() {
			return
		}
	}
	if !flush() {
		return
	}
	for name, by := range c.vers.failedBumps() {
		if c.pushVersion(ctx, name, by, true) != nil {
			return
		}
	}
}

// globEscape quotes SCAN MATCH metacharacters in a literal prefix.
func globEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`).Replace(s)
}
