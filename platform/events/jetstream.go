package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"example.com/productapi/platform/db"
)

// natsTransport publishes the outbox to a JetStream stream and consumes it
// with durable pull consumers.
//
// Consumers: one durable per (consumer, event type), named
// "<consumer>__<type with dots as underscores>", each filtering one
// subject. One durable per consumer with FilterSubjects would be tidier,
// but multi-subject filters need nats-server 2.10 and Debian ships 2.9.
// MaxDeliver is unlimited: attempts come from the message's NumDelivered
// and the bus dead-letters itself at MaxAttempts (the dead letter lands in
// the same store as the in-process ones, and replays run in-process).
type natsTransport struct {
	b       *Bus
	nc      *nats.Conn
	js      jetstream.JetStream
	mu      sync.Mutex
	ensured bool // the stream exists (with our settings)
	up      atomic.Bool
}

const (
	natsOpTimeout = 5 * time.Second
	// duplicateWindow is how long JetStream remembers a Nats-Msg-Id: a
	// relay that published but crashed before marking the row is deduped
	// if it re-publishes within it (and the inbox catches the rest).
	duplicateWindow = 5 * time.Minute
)

func newNATSTransport(b *Bus) (*natsTransport, error) {
	t := &natsTransport{b: b}
	gauge := b.m.up.WithLabelValues("jetstream")
	gauge.Set(0)
	nc, err := nats.Connect(b.cfg.NATSURL,
		nats.Name("productapi-events"),
		nats.RetryOnFailedConnect(true), // unreachable at start: keep trying, do not fail start-up
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.Timeout(2*time.Second),
		nats.PingInterval(10*time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ConnectHandler(func(*nats.Conn) {
			t.up.Store(true)
			gauge.Set(1)
			b.log.Info("events: connected to NATS")
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			t.up.Store(true)
			gauge.Set(1)
			b.log.Info("events: reconnected to NATS")
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			t.up.Store(false)
			gauge.Set(0)
			b.warn("nats-disconnect", "events: disconnected from NATS; events wait in the outbox", "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("events: NATS: %w", err)
	}
	if nc.IsConnected() {
		t.up.Store(true)
		gauge.Set(1)
	} else {
		b.log.Warn("events: NATS unreachable at start; retrying in the background")
	}
	t.nc = nc
	if t.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("events: JetStream: %w", err)
	}
	return t, nil
}

func (t *natsTransport) health() error {
	if !t.nc.IsConnected() {
		return errors.New("nats: not connected")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.ensured {
		return errors.New("nats: stream not set up yet")
	}
	return nil
}

func (t *natsTransport) close() {
	_ = t.nc.FlushTimeout(2 * time.Second) // acks and naks still buffered
	t.nc.Close()
	t.b.m.up.WithLabelValues("jetstream").Set(0)
}

// ensureStream creates or updates the stream once per connection lifetime
// (again after an error).
func (t *natsTransport) ensureStream(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ensured {
		return nil
	}
	if !t.nc.IsConnected() {
		return errors.New("nats: not connected")
	}
	ctx, cancel := context.WithTimeout(ctx, natsOpTimeout)
	defer cancel()
	_, err := t.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       t.b.cfg.Stream,
		Subjects:   []string{t.b.prefix + ".>"},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		Duplicates: duplicateWindow,
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", t.b.cfg.Stream, err)
	}
	t.ensured = true
	return nil
}

// publishPending publishes a batch of unpublished outbox rows in seq order,
// each with Nats-Msg-Id = event ID, and marks the acknowledged prefix
// published. No transaction is held while waiting for NATS. Several
// instances may publish the same rows; JetStream drops the duplicates.
func (t *natsTransport) publishPending(ctx context.Context) (int, error) {
	b := t.b
	var rows []outboxRow
	if err := b.cfg.DB.WithContext(ctx).Where("published_at IS NULL").Order("seq").Limit(relayBatch).Find(&rows).Error; err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}
	if err := t.ensureStream(ctx); err != nil {
		return 0, err
	}
	var (
		acked   []int64
		pubErr  error
		payload []byte
	)
	for _, r := range rows {
		if !t.nc.IsConnected() {
			// Publishing now would only fill the reconnect buffer.
			pubErr = errors.New("nats: not connected")
			break
		}
		ev := r.event()
		var err error
		if payload, err = json.Marshal(ev); err != nil {
			pubErr = err
			break
		}
		pctx, cancel := context.WithTimeout(ctx, natsOpTimeout)
		msg := &nats.Msg{Subject: b.subject(ev.Type), Data: payload}
		if len(ev.Headers) > 0 {
			// The trace context as NATS headers too, where NATS tooling
			// and non-Go consumers look for it.
			msg.Header = nats.Header{}
			for k, v := range ev.Headers {
				msg.Header.Set(k, v)
			}
		}
		_, err = t.js.PublishMsg(pctx, msg, jetstream.WithMsgID(ev.ID))
		cancel()
		if err != nil {
			pubErr = fmt.Errorf("publish %s: %w", ev.Type, err)
			if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound) {
				t.mu.Lock()
				t.ensured = false
				t.mu.Unlock()
			}
			break
		}
		acked = append(acked, r.Seq)
	}
	if len(acked) > 0 {
		if err := b.cfg.DB.WithContext(context.WithoutCancel(ctx)).Model(&outboxRow{}).
			Where("seq IN ? AND published_at IS NULL", acked).Update("published_at", now()).Error; err != nil {
			return 0, err // republished later; deduped by Nats-Msg-Id and the inbox
		}
		b.m.published.WithLabelValues("jetstream").Add(float64(len(acked)))
	}
	if pubErr != nil {
		return len(acked), pubErr
	}
	return len(acked), nil
}

// durableName is the JetStream durable for one consumer and type.
func durableName(consumer, typ string) string {
	return consumer + "__" + strings.ReplaceAll(typ, ".", "_")
}

// consumeLoop fetches and handles messages of one type for one consumer,
// one at a time, until ctx ends. Every failure (NATS down, consumer
// missing) is retried with backoff; nothing here gives up.
func (t *natsTransport) consumeLoop(ctx context.Context, sub *subscription, typ string) {
	b := t.b
	name := durableName(sub.consumer, typ)
	var cons jetstream.Consumer
	failures := 0
	pause := func() bool {
		failures++
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff(min(failures, 6), 200*time.Millisecond, 5*time.Second)):
			return true
		}
	}
	for ctx.Err() == nil {
		if cons == nil {
			if err := t.ensureStream(ctx); err != nil {
				b.warn("consumer:"+name, "events: JetStream not ready; retrying", "consumer", name, "err", err)
				if !pause() {
					return
				}
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, natsOpTimeout)
			c, err := t.js.CreateOrUpdateConsumer(cctx, b.cfg.Stream, jetstream.ConsumerConfig{
				Durable:       name,
				FilterSubject: b.subject(typ),
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       b.cfg.leaseFor(),
				MaxDeliver:    -1,
				DeliverPolicy: jetstream.DeliverAllPolicy,
				MaxAckPending: 1000,
			})
			cancel()
			if err != nil {
				b.warn("consumer:"+name, "events: creating JetStream consumer failed; retrying", "consumer", name, "err", err)
				if errors.Is(err, jetstream.ErrStreamNotFound) {
					t.mu.Lock()
					t.ensured = false
					t.mu.Unlock()
				}
				if !pause() {
					return
				}
				continue
			}
			cons = c
		}
		batch, err := cons.Fetch(32, jetstream.FetchMaxWait(time.Second))
		if err == nil {
			for msg := range batch.Messages() {
				t.handle(ctx, sub, msg)
			}
			err = batch.Error()
		}
		if err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
				cons = nil
			}
			b.warn("fetch:"+name, "events: fetching from JetStream failed; retrying", "consumer", name, "err", err)
			if !pause() {
				return
			}
			continue
		}
		failures = 0
	}
}

// handle runs one JetStream message through the consumer's handler.
func (t *natsTransport) handle(ctx context.Context, sub *subscription, msg jetstream.Msg) {
	b := t.b
	var ev Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil || ev.ID == "" {
		b.log.Error("events: undecodable JetStream message dropped", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	// The NATS headers win over the envelope's copy.
	for _, k := range b.cfg.Propagator.Fields() {
		if v := msg.Headers().Get(k); v != "" {
			if ev.Headers == nil {
				ev.Headers = map[string]string{}
			}
			ev.Headers[k] = v
		}
	}
	meta, err := msg.Metadata()
	if err != nil {
		_ = msg.Nak()
		return
	}
	err = b.runHandler(ctx, sub, ev, "nats", func(context.Context) error { return nil })
	if err == nil {
		b.m.deliveries.WithLabelValues(sub.consumer, "ok").Inc()
		// A lost ack means one more delivery, which the inbox absorbs.
		_ = msg.Ack()
		return
	}
	attempts := int(meta.NumDelivered)
	b.logFailure(sub.consumer, ev.Type, ev.ID, attempts, err)
	if IsPermanent(err) || attempts >= b.cfg.MaxAttempts {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		derr := db.Transact(bctx, b.cfg.DB, func(tctx context.Context) error {
			return b.insertDeadLetter(tctx, sub.consumer, ev, errorText(err), attempts)
		})
		cancel()
		if derr == nil {
			b.m.deliveries.WithLabelValues(sub.consumer, "dead").Inc()
			_ = msg.Term()
			return
		}
		b.warn("deadletter", "events: recording a dead letter failed; redelivering", "err", derr)
	}
	b.m.deliveries.WithLabelValues(sub.consumer, "retry").Inc()
	_ = msg.NakWithDelay(backoff(attempts, b.cfg.BaseBackoff, b.cfg.MaxBackoff))
}
