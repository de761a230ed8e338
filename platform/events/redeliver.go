package events

import (
	"context"
	"fmt"

	"example.com/productapi/platform/db"
)

const redeliverBatch = 500

// Redeliver replays every stored event of types, in outbox order, to one
// consumer, forgetting its inbox rows for them. It rebuilds a read model
// from scratch: clear the model, then call Redeliver. The work is queued
// in batches of short transactions and runs through the in-process
// dispatcher (also under NATS), per key in order; Redeliver returns once
// everything is queued, not handled. Only events still in the outbox can
// be replayed (see the retention notes in docs/events.md).
func (b *Bus) Redeliver(ctx context.Context, consumer string, types []string) error {
	sub := b.subscription(consumer)
	if sub == nil {
		return fmt.Errorf("events: Redeliver: consumer %q is not subscribed", consumer)
	}
	for _, t := range types {
		if !sub.typeSet[t] {
			return fmt.Errorf("events: Redeliver: consumer %q does not subscribe to %q", consumer, t)
		}
	}
	if len(types) == 0 {
		return nil
	}
	var last int64
	for {
		var rows []outboxRow
		err := db.Transact(ctx, b.cfg.DB, func(ctx context.Context) error {
			tx := db.Conn(ctx, b.cfg.DB)
			if err := tx.Select("seq", "id", "key").Where("type IN ? AND seq > ?", types, last).
				Order("seq").Limit(redeliverBatch).Find(&rows).Error; err != nil {
				return err
			}
			if len(rows) == 0 {
				return nil
			}
			idsOf := make([]string, len(rows))
			ds := make([]deliveryRow, len(rows))
			t := now()
			for i, r := range rows {
				idsOf[i] = r.ID
				ds[i] = deliveryRow{Consumer: consumer, EventID: r.ID, Seq: r.Seq, EventKey: r.Key, NextAttemptAt: t}
			}
			if err := tx.Where("consumer = ? AND event_id IN ?", consumer, idsOf).Delete(&inboxRow{}).Error; err != nil {
				return err
			}
			return tx.Clauses(doNothing).CreateInBatches(ds, 200).Error
		})
		if err != nil {
			return fmt.Errorf("events: Redeliver %s: %w", consumer, err)
		}
		if len(rows) > 0 {
			last = rows[len(rows)-1].Seq
			wake(b.dispatchWake)
		}
		if len(rows) < redeliverBatch {
			return nil
		}
	}
}
