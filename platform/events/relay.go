package events

import (
	"context"
	"time"

	"example.com/productapi/platform/db"
)

const (
	relayBatch = 100
	// relayLockID is the Postgres advisory lock the in-process relay takes
	// for its transaction: one instance fans out at a time, so deliveries
	// are created in seq order and a key's events cannot be reordered by
	// two relays committing batches out of order. (SKIP LOCKED would let
	// instances split the outbox, but then a later batch may commit first.)
	relayLockID = 0x65766e7473 // "evnts"
)

// relayLoop moves committed outbox rows to the transport: fan-out to
// event_deliveries in-process, or publish to JetStream.
func (b *Bus) relayLoop(ctx context.Context) {
	tick := time.NewTicker(b.cfg.PollInterval)
	defer tick.Stop()
	gauges := time.NewTicker(5 * time.Second)
	defer gauges.Stop()
	for {
		var n int
		var err error
		if b.nats != nil {
			n, err = b.nats.publishPending(ctx)
		} else {
			n, err = b.relayLocal(ctx)
		}
		if err != nil && ctx.Err() == nil {
			b.warn("relay", "events relay failed; will retry", "err", err)
		}
		if n > 0 && b.nats == nil {
			wake(b.dispatchWake)
		}
		if err == nil && n == relayBatch {
			continue // probably more behind
		}
		select {
		case <-ctx.Done():
			return
		case <-b.relayWake:
		case <-tick.C:
		case <-gauges.C:
			b.refreshGauges(ctx)
		}
	}
}

// relayLocal fans a batch of unpublished events out to one delivery row per
// subscribed consumer and marks them published, in one short transaction.
func (b *Bus) relayLocal(ctx context.Context) (int, error) {
	var pending int64
	if err := b.cfg.DB.WithContext(ctx).Model(&outboxRow{}).Where("published_at IS NULL").Limit(1).Count(&pending).Error; err != nil || pending == 0 {
		return 0, err
	}
	var rows []outboxRow
	err := db.Transact(ctx, b.cfg.DB, func(ctx context.Context) error {
		tx := db.Conn(ctx, b.cfg.DB)
		if b.cfg.Postgres {
			var got bool
			if err := tx.Raw("SELECT pg_try_advisory_xact_lock(?)", relayLockID).Scan(&got).Error; err != nil {
				return err
			}
			if !got {
				return nil // another instance is relaying
			}
		}
		if err := tx.Where("published_at IS NULL").Order("seq").Limit(relayBatch).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		consumers := b.consumers()
		t := now()
		var ds []deliveryRow
		seqs := make([]int64, 0, len(rows))
		for _, r := range rows {
			seqs = append(seqs, r.Seq)
			for _, c := range consumers {
				if b.subscription(c).typeSet[r.Type] {
					ds = append(ds, deliveryRow{Consumer: c, EventID: r.ID, Seq: r.Seq, EventKey: r.Key, NextAttemptAt: t})
				}
			}
		}
		if len(ds) > 0 {
			if err := tx.Clauses(doNothing).CreateInBatches(ds, 200).Error; err != nil {
				return err
			}
		}
		return tx.Model(&outboxRow{}).Where("seq IN ?", seqs).Update("published_at", t).Error
	})
	if err != nil {
		return 0, err
	}
	if len(rows) > 0 {
		b.m.published.WithLabelValues("inprocess").Add(float64(len(rows)))
	}
	return len(rows), nil
}
