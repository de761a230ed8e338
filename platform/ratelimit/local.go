package ratelimit

import (
	"hash/maphash"
	"sync"
	"time"
)

// Local is an in-process sliding-window log: per key, the admission times
// of the requests still inside the window. Exact (a window of any position
// never holds more than Limit admissions) at the cost of Limit timestamps
// per busy key; idle keys are swept.
type Local struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [64]localShard
}

type localShard struct {
	mu        sync.Mutex
	logs      map[string]*admissions
	lastSweep int64
}

// admissions are the admission times (unix ns, ascending) inside the window.
type admissions struct {
	ts     []int64
	window int64
}

// sweepEvery bounds how often a shard drops idle keys.
const sweepEvery = int64(10 * time.Second)

// NewLocal builds a local limiter; now nil means time.Now.
func NewLocal(now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	l := &Local{now: now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].logs = make(map[string]*admissions)
	}
	return l
}

// Allow admits one request of key under p, or refuses it. Refused requests
// are not counted: a client that keeps knocking is admitted again as soon
// as its earlier admissions leave the window.
func (l *Local) Allow(key string, p Policy) Decision {
	now := l.now().UnixNano()
	window := int64(p.Window)
	// The log key is p.Name + "\x00" + key, built in a stack buffer: the
	// lookup of a key already tracked (a client's every request after its
	// first) then allocates nothing; only a new key is copied to a string.
	var buf [128]byte
	full := append(append(append(buf[:0], p.Name...), 0), key...)
	s := &l.shards[maphash.Bytes(l.seed, full)%uint64(len(l.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	if now-s.lastSweep > sweepEvery {
		s.sweep(now)
	}
	a := s.logs[string(full)] // no allocation: the compiler looks up the bytes
	if a == nil {
		a = &admissions{window: window}
		s.logs[string(full)] = a
	}
	a.window = window
	// The window is (now-W, now]: an admission exactly W ago has left it.
	i := 0
	for i < len(a.ts) && a.ts[i] <= now-window {
		i++
	}
	if i > 0 {
		a.ts = append(a.ts[:0], a.ts[i:]...)
	}
	d := Decision{}
	if len(a.ts) < p.Limit {
		if n := len(a.ts); n > 0 && now < a.ts[n-1] {
			now = a.ts[n-1] // the wall clock stepped back: keep the log ordered
		}
		a.ts = append(a.ts, now)
		d.Allowed = true
	}
	d.Remaining = max(p.Limit-len(a.ts), 0)
	if len(a.ts) > 0 {
		d.Reset = time.Duration(a.ts[0] + window - now)
	}
	return d
}

// sweep drops keys whose every admission has left its window.
func (s *localShard) sweep(now int64) {
	s.lastSweep = now
	for k, a := range s.logs {
		if n := len(a.ts); n == 0 || a.ts[n-1] <= now-a.window {
			delete(s.logs, k)
		}
	}
}

// Keys reports how many keys are tracked (tests, metrics).
func (l *Local) Keys() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.logs)
		s.mu.Unlock()
	}
	return n
}
