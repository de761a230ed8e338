package events

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"example.com/productapi/platform/db"
)

// Rows of the events tables. Only this package touches them.

type outboxRow struct {
	Seq         int64     `gorm:"column:seq;primaryKey;autoIncrement"`
	ID          string    `gorm:"column:id"`
	Type        string    `gorm:"column:type"`
	Key         string    `gorm:"column:key"`
	OccurredAt  time.Time `gorm:"column:occurred_at"`
	Payload     string    `gorm:"column:payload"`
	Headers     string    `gorm:"column:headers"` // JSON object of trace context headers, or ''
	PublishedAt *time.Time
}

func (outboxRow) TableName() string { return "event_outbox" }

func (r outboxRow) event() Event {
	return Event{ID: r.ID, Type: r.Type, Key: r.Key, OccurredAt: r.OccurredAt.UTC(), Payload: json.RawMessage(r.Payload),
		Headers: decodeHeaders(r.Headers)}
}

type deliveryRow struct {
	Consumer      string `gorm:"column:consumer;primaryKey"`
	EventID       string `gorm:"column:event_id;primaryKey"`
	Seq           int64
	EventKey      string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	Lease         string
	LockedUntil   *time.Time
}

func (deliveryRow) TableName() string { return "event_deliveries" }

type inboxRow struct {
	Consumer    string `gorm:"column:consumer;primaryKey"`
	EventID     string `gorm:"column:event_id;primaryKey"`
	ProcessedAt time.Time
}

func (inboxRow) TableName() string { return "event_inbox" }

type deadLetterRow struct {
	ID         string `gorm:"column:id;primaryKey"`
	Consumer   string
	EventID    string
	EventType  string
	EventKey   string
	Payload    string
	Error      string
	Attempts   int
	FailedAt   time.Time
	ReplayedAt *time.Time
}

func (deadLetterRow) TableName() string { return "event_dead_letters" }

// claimed is a delivery this worker holds a lease on, with its event.
// (Flat rather than embedding deliveryRow: GORM's Raw().Scan does not fill
// promoted fields.)
type claimed struct {
	Consumer    string
	EventID     string
	Seq         int64
	EventKey    string
	Attempts    int
	Lease       string
	LockedUntil *time.Time
	Type        string
	OKey        string `gorm:"column:okey"`
	OccurredAt  time.Time
	Payload     string
	Headers     string
}

func (c claimed) event() Event {
	return Event{ID: c.EventID, Type: c.Type, Key: c.OKey, OccurredAt: c.OccurredAt.UTC(), Payload: json.RawMessage(c.Payload),
		Headers: decodeHeaders(c.Headers)}
}

// dueSQL selects deliveries that may run now: due, not leased, and the
// oldest pending one of their (consumer, key), which is what keeps a key's
// events in order. A leased or backing-off head blocks its key.
const dueSQL = `SELECT d.consumer, d.event_id, d.seq, d.event_key, d.attempts, d.lease, d.locked_until, o.type, o.key AS okey, o.occurred_at, o.payload, o.headers
FROM event_deliveries d JOIN event_outbox o ON o.id = d.event_id
WHERE d.consumer IN ? AND d.next_attempt_at <= ? AND (d.locked_until IS NULL OR d.locked_until <= ?)
  AND NOT EXISTS (SELECT 1 FROM event_deliveries e
                  WHERE e.consumer = d.consumer AND e.event_key = d.event_key AND d.event_key <> '' AND e.seq < d.seq)
ORDER BY d.seq LIMIT ?`

// claim leases up to limit due deliveries. The transaction is short: pick
// rows (SKIP LOCKED on Postgres so instances never wait on each other),
// stamp the lease, commit. The handler runs later, outside it.
func (b *Bus) claim(ctx context.Context, consumers []string, limit int) ([]claimed, string, error) {
	t := now()
	// Look without a transaction first: on SQLite an idle poll then never
	// takes the write lock.
	var peek []claimed
	if err := b.cfg.DB.WithContext(ctx).Raw(dueSQL, consumers, t, t, 1).Scan(&peek).Error; err != nil || len(peek) == 0 {
		return nil, "", err
	}
	lease := newLease()
	until := t.Add(b.cfg.leaseFor())
	var rows []claimed
	err := db.Transact(ctx, b.cfg.DB, func(ctx context.Context) error {
		tx := db.Conn(ctx, b.cfg.DB)
		q := dueSQL
		if b.cfg.Postgres {
			q += " FOR UPDATE OF d SKIP LOCKED"
		}
		rows = rows[:0]
		if err := tx.Raw(q, consumers, t, t, limit).Scan(&rows).Error; err != nil {
			return err
		}
		for i := range rows {
			r := &rows[i]
			if err := tx.Model(&deliveryRow{}).Where("consumer = ? AND event_id = ?", r.Consumer, r.EventID).
				Updates(map[string]any{"lease": lease, "locked_until": until}).Error; err != nil {
				return err
			}
			r.Lease, r.LockedUntil = lease, &until
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return rows, lease, nil
}

// inboxHas reports whether consumer already handled event.
func inboxHas(tx *gorm.DB, consumer, eventID string) (bool, error) {
	var n int64
	err := tx.Model(&inboxRow{}).Where("consumer = ? AND event_id = ?", consumer, eventID).Count(&n).Error
	return n > 0, err
}

// markHandled records the inbox row. A conflict means another worker
// handled it concurrently: the caller's transaction must roll back, so
// the insert is not DO NOTHING.
func markHandled(tx *gorm.DB, consumer, eventID string) error {
	return tx.Create(&inboxRow{Consumer: consumer, EventID: eventID, ProcessedAt: now()}).Error
}

// releaseDelivery removes a delivery this worker still leases; false means
// the lease was lost (expired and taken by another worker).
func releaseDelivery(tx *gorm.DB, consumer, eventID, lease string) (bool, error) {
	res := tx.Where("consumer = ? AND event_id = ? AND lease = ?", consumer, eventID, lease).Delete(&deliveryRow{})
	return res.RowsAffected == 1, res.Error
}

var doNothing = clause.OnConflict{DoNothing: true}
