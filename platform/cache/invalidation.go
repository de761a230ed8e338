package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"example.com/productapi/platform/pubsub"
)

// message is what instances publish on <namespace>:invalidate.
type message struct {
	Origin   string           `json:"o"`
	Keys     []string         `json:"k,omitempty"`
	Versions map[string]int64 `json:"v,omitempty"`
	All      bool             `json:"a,omitempty"` // drop every L1 entry
	// Ack names a Redis list every receiver pushes to once it has applied
	// the message; the publisher waits for as many entries as PUBLISH
	// reported receivers.
	Ack string `json:"ack,omitempty"`
}

func (c *Cache) encode(m message) []byte {
	m.Origin = c.origin
	b, _ := json.Marshal(m) // strings, ints and bools cannot fail to marshal
	return b
}

func (c *Cache) publish(ctx context.Context, m message) error {
	m.Ack = c.newAckKey()
	receivers, err := c.l2.publish(ctx, c.channel, c.encode(m))
	if err == nil {
		c.awaitAcks(ctx, m.Ack, receivers)
	}
	return err
}

// newAckKey returns a fresh ack list name, or "" when acks are off.
func (c *Cache) newAckKey() string {
	if c.cfg.AckTimeout < 0 {
		return ""
	}
	return fmt.Sprintf("%sack:%s:%d", c.prefix, c.origin, c.ackSeq.Add(1))
}

// awaitAcks blocks until n receivers confirmed the message or AckTimeout
// passed. A timeout is counted, not returned: the write has happened, and
// a peer that did not answer (stuck, or its subscription just dropped,
// which makes it purge its whole L1 when it resubscribes) still has L1TTL
// as the bound.
func (c *Cache) awaitAcks(ctx context.Context, key string, n int64) {
	if key == "" || n <= 0 {
		return
	}
	deadline := time.Now().Add(c.cfg.AckTimeout)
	for got := int64(0); got < n; got++ {
		left := time.Until(deadline)
		if left < time.Millisecond || !c.l2.popAck(ctx, key, left) {
			c.st.ackTimeouts.Add(1)
			c.subLog.warn("invalidation not confirmed by every instance in time", "waited", c.cfg.AckTimeout, "confirmed", got, "receivers", n)
			return
		}
	}
}

// Invalidate deletes keys from L1 and L2 and tells the other instances, all
// before returning, so once a write is acknowledged no instance serves the
// old value from cache: it waits (up to AckTimeout) until every subscribed
// instance confirms it dropped its copy. L2 is
// deleted and the notice published before L1 is dropped: the other order
// would let a concurrent read refill L1 from the not-yet-deleted L2 copy.
// If Redis cannot be reached, L1 is still dropped, the Redis side is queued
// and replayed when Redis answers, and an error wrapping ErrL2Unavailable
// says that peers may serve their copy for up to L1TTL. Cancelling ctx does
// not abandon an invalidation: the write it follows has happened.
func (c *Cache) Invalidate(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	var err error
	if c.l2 != nil {
		dataKeys := make([]string, len(keys))
		for i, k := range keys {
			dataKeys[i] = c.dataKey(k)
		}
		ack := c.newAckKey()
		var receivers int64
		receivers, err = c.l2.writeAndPublish(context.WithoutCancel(ctx), dataKeys, nil, 0, c.channel, c.encode(message{Keys: keys, Ack: ack}))
		if err != nil {
			c.pend.add(keys...)
			err = fmt.Errorf("invalidate %d key(s), queued for retry: %w", len(keys), err)
		}
		c.dropLocal(keys...)
		if err == nil {
			c.awaitAcks(context.WithoutCancel(ctx), ack, receivers)
		}
		return err
	}
	c.dropLocal(keys...)
	return nil
}

// dropLocal removes keys from L1 and moves the epoch, so a load that started
// before this point (and may have read the old value) does not fill L1.
func (c *Cache) dropLocal(keys ...string) {
	c.invalidatedAt.Store(time.Now().UnixNano())
	c.epoch.Add(1)
	for _, k := range keys {
		c.l1.delete(k)
	}
}

// dropAllLocal forgets everything this instance could have missed.
func (c *Cache) dropAllLocal() {
	c.invalidatedAt.Store(time.Now().UnixNano())
	c.epoch.Add(1)
	c.l1.purge()
	c.vers.expireAll()
}

func (c *Cache) apply(payload string) {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		c.st.pubsubErrors.Add(1)
		c.subLog.warn("ignoring malformed invalidation message", "err", err)
		return
	}
	if m.Ack != "" {
		defer c.l2.pushAck(c.life, m.Ack, c.cfg.AckTimeout)
	}
	if m.Origin == c.origin {
		return // already applied locally, before publishing
	}
	if m.All {
		c.dropAllLocal()
	}
	if len(m.Keys) > 0 {
		c.dropLocal(m.Keys...)
	}
	for name, v := range m.Versions {
		c.vers.seen(name, v, c.jitter(c.cfg.L1TTL))
	}
}

// Start subscribes to the invalidation channel. It returns once the first
// subscription attempt has finished (subscribed or failed, so a dead Redis
// delays start-up by one dial timeout at most) or ctx is done. The
// subscriber keeps reconnecting (pubsub.Subscribe) until ctx is done or Close.
// After any gap it drops all of L1, since messages may have been missed.
// Without Redis it does nothing.
func (c *Cache) Start(ctx context.Context) {
	if c.l2 == nil {
		return
	}
	c.startOnce.Do(func() {
		subCtx, cancel := context.WithCancel(c.life)
		stop := context.AfterFunc(ctx, cancel)
		first := make(chan struct{})
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer stop()
			defer cancel()
			c.follow(subCtx, first)
		}()
		select {
		case <-first:
		case <-ctx.Done():
		}
	})
}

// follow keeps the invalidation subscription until ctx ends; first is
// closed once the first attempt has finished, subscribed or not.
func (c *Cache) follow(ctx context.Context, first chan<- struct{}) {
	var once sync.Once
	signal := func() { once.Do(func() { close(first) }) }
	defer signal()
	defer c.subscribed.Store(false)
	pubsub.Subscribe(ctx, c.l2.rdb, c.channel, pubsub.Handlers{
		HealthEvery: c.healthEvery,
		Subscribed: func(_ context.Context, afterGap bool) {
			if afterGap {
				c.dropAllLocal()
			}
			c.subscribed.Store(true)
			signal()
		},
		Message: func(_ context.Context, payload string) { c.apply(payload) },
		Down: func(err error) {
			c.subscribed.Store(false)
			signal()
			c.st.pubsubErrors.Add(1)
			c.subLog.warn("invalidation subscription down; retrying", "err", err)
		},
	})
}
