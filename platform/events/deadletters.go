package events

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"gorm.io/gorm"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/ids"
	"example.com/productapi/platform/query"
)

// DeadLetter is a delivery given up on, as the admin API shows it.
type DeadLetter struct {
	ID         string          `json:"id"`
	Consumer   string          `json:"consumer"`
	EventID    string          `json:"event_id"`
	EventType  string          `json:"event_type"`
	EventKey   string          `json:"event_key"`
	Payload    json.RawMessage `json:"payload"`
	Error      string          `json:"error"`
	Attempts   int             `json:"attempts"`
	FailedAt   time.Time       `json:"failed_at"`
	ReplayedAt *time.Time      `json:"replayed_at"`
}

func (r deadLetterRow) dto() DeadLetter {
	d := DeadLetter{ID: r.ID, Consumer: r.Consumer, EventID: r.EventID, EventType: r.EventType, EventKey: r.EventKey,
		Payload: json.RawMessage(r.Payload), Error: r.Error, Attempts: r.Attempts, FailedAt: r.FailedAt.UTC()}
	if r.ReplayedAt != nil {
		t := r.ReplayedAt.UTC()
		d.ReplayedAt = &t
	}
	return d
}

// Errors of the dead-letter API.
var (
	ErrDeadLetterNotFound = apperr.New(apperr.KindNotFound, "events.dead_letter_not_found", "dead letter not found")
	ErrAlreadyReplayed    = apperr.New(apperr.KindConflict, "events.dead_letter_replayed", "dead letter was already replayed")
	ErrUnknownConsumer    = apperr.New(apperr.KindConflict, "events.consumer_unknown", "no handler is subscribed under this consumer name in this service")
)

// deadLetterFields are the selectable fields of a dead letter.
var deadLetterFields = []string{"id", "consumer", "event_id", "event_type", "event_key", "payload", "error", "attempts", "failed_at", "replayed_at"}

// DeadLetterListSpec is the allow-list of GET /admin/dead-letters. Dead
// letter IDs are UUIDv7 minted at failed_at, so id order is failed_at
// order and the keyset needs the id alone.
var DeadLetterListSpec = query.Spec{
	Resource: "dead_letters", Fields: deadLetterFields,
	Sorts: []string{"failed_at"}, DefaultSort: "-failed_at",
	Filters: map[string]query.FilterKind{
		"consumer": query.FilterString, "type": query.FilterString, "replayed": query.FilterBool,
	},
	DefaultLimit: 20, MaxLimit: 100,
}

// DeadLetters lists one page; filters are those of DeadLetterListSpec.
func (b *Bus) DeadLetters(ctx context.Context, p query.Params, ks *query.Keyset) ([]DeadLetter, bool, error) {
	q := b.cfg.DB.WithContext(ctx).Model(&deadLetterRow{})
	if v, ok := p.String("consumer"); ok {
		q = q.Where("consumer = ?", v)
	}
	if v, ok := p.String("type"); ok {
		q = q.Where("event_type = ?", v)
	}
	if v, ok := p.Bool("replayed"); ok {
		if v {
			q = q.Where("replayed_at IS NOT NULL")
		} else {
			q = q.Where("replayed_at IS NULL")
		}
	}
	var rows []deadLetterRow
	if err := query.ApplyKeyset(q, "id", "id", p.Sort.Desc, ks, p.Limit).Find(&rows).Error; err != nil {
		return nil, false, apperr.Internal(err)
	}
	rows, more := query.NextPage(rows, p.Limit)
	out := make([]DeadLetter, len(rows))
	for i, r := range rows {
		out[i] = r.dto()
	}
	return out, more, nil
}

// DeadLetter returns one dead letter; unknown or malformed IDs are not found.
func (b *Bus) DeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	if !ids.Valid(id) {
		return DeadLetter{}, ErrDeadLetterNotFound
	}
	var row deadLetterRow
	err := b.cfg.DB.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return DeadLetter{}, ErrDeadLetterNotFound
	}
	if err != nil {
		return DeadLetter{}, apperr.Internal(err)
	}
	return row.dto(), nil
}

// Replay marks a dead letter replayed and runs its delivery again now, in
// this process. handled reports whether the handler succeeded during the
// call; if not, the delivery stays pending with the usual backoff (and may
// end in a new dead letter). A dead letter is replayed at most once.
func (b *Bus) Replay(ctx context.Context, id string) (dl DeadLetter, handled bool, err error) {
	if !ids.Valid(id) {
		return DeadLetter{}, false, ErrDeadLetterNotFound
	}
	lease := newLease()
	t := now()
	var (
		row     deadLetterRow
		started bool
	)
	err = db.Transact(ctx, b.cfg.DB, func(ctx context.Context) error {
		tx := db.Conn(ctx, b.cfg.DB)
		if err := tx.Where("id = ?", id).Take(&row).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrDeadLetterNotFound
			}
			return err
		}
		if row.ReplayedAt != nil {
			return ErrAlreadyReplayed
		}
		if b.subscription(row.Consumer) == nil {
			return ErrUnknownConsumer
		}
		res := tx.Model(&deadLetterRow{}).Where("id = ? AND replayed_at IS NULL", id).Update("replayed_at", t)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrAlreadyReplayed // a concurrent replay won
		}
		if b.cfg.Audit != nil { // an operator's action, in its unit of work
			if err := b.cfg.Audit.Record(ctx, audit.Entry{Action: "events.replay", TargetType: "dead_letter", TargetID: id,
				Before: map[string]any{"consumer": row.Consumer, "replayed": false}, After: map[string]any{"consumer": row.Consumer, "replayed": true}}); err != nil {
				return err
			}
		}
		row.ReplayedAt = &t
		var seq int64
		if err := tx.Model(&outboxRow{}).Where("id = ?", row.EventID).Pluck("seq", &seq).Error; err != nil {
			return err
		}
		if seq == 0 {
			return apperr.New(apperr.KindConflict, "events.event_pruned", "the event is no longer in the outbox")
		}
		until := t.Add(b.cfg.leaseFor())
		d := deliveryRow{Consumer: row.Consumer, EventID: row.EventID, Seq: seq, EventKey: row.EventKey,
			NextAttemptAt: t, Lease: lease, LockedUntil: &until}
		res = tx.Clauses(doNothing).Create(&d)
		started = res.Error == nil && res.RowsAffected == 1 // else already pending: the dispatcher has it
		return res.Error
	})
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) {
			return DeadLetter{}, false, err
		}
		return DeadLetter{}, false, apperr.Internal(err)
	}
	b.m.dead.Dec()
	b.log.Info("dead letter replayed", "dead_letter_id", id, "consumer", row.Consumer, "event_id", row.EventID)
	if started {
		c := claimed{Consumer: row.Consumer, EventID: row.EventID, EventKey: row.EventKey, Lease: lease,
			Type: row.EventType, OKey: row.EventKey, OccurredAt: t, Payload: row.Payload}
		var o outboxRow
		if err := b.cfg.DB.WithContext(ctx).Where("id = ?", row.EventID).Take(&o).Error; err == nil {
			c.OccurredAt, c.Headers = o.OccurredAt, o.Headers
		}
		handled = b.deliver(ctx, c) == outcomeOK
	}
	wake(b.dispatchWake)
	return row.dto(), handled, nil
}
