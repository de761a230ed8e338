// Package audit is the append-only trail of admin actions: who did what to
// which object, when, with the object before and after. Records join the
// caller's unit of work (platform/db.Conn), so an entry commits or rolls
// back with the change it describes. Nothing here updates or deletes a
// row, and the migration makes the database refuse it too.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/query"
)

// Entry is one audited action. Actor and request ID default to what ctx
// carries (auth.FromContext, WithRequestID / audithttp.Middleware).
type Entry struct {
	// Action is "<module>.<verb>": "flags.update", "users.role_change",
	// "products.create".
	Action     string
	TargetType string // "flag", "user", "product"
	TargetID   string
	// Before and After are marshalled to JSON (json.RawMessage and []byte
	// are taken as JSON as they are); nil is stored as NULL (a creation has
	// no before, a deletion no after).
	Before, After any
	// Optional overrides of what ctx carries.
	ActorID, ActorRole, RequestID string
	OccurredAt                    time.Time
}

// Record is one stored entry as the API shows it.
type Record struct {
	ID         string          `json:"id"`
	OccurredAt time.Time       `json:"occurred_at"`
	ActorID    string          `json:"actor_id"`
	ActorRole  string          `json:"actor_role"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   string          `json:"target_id"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
	RequestID  string          `json:"request_id"`
}

// Log writes and lists the audit trail (platform/audit/audithttp serves
// the list).
type Log struct {
	db  *gorm.DB
	now func() time.Time
}

// New returns the audit log on base.
func New(base *gorm.DB) *Log {
	return &Log{db: base, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

type requestIDKey struct{}

// WithRequestID stores the request ID for Record.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request ID stored by WithRequestID (or
// audithttp.Middleware).
func RequestIDFrom(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey{}).(string)
	return s
}

var errInvalidEntry = errors.New("audit: entry needs Action, TargetType and TargetID")

// Record appends e to the trail inside the unit of work ctx carries (or on
// its own when there is none).
func (a *Log) Record(ctx context.Context, e Entry) error {
	if e.Action == "" || e.TargetType == "" || e.TargetID == "" {
		return apperr.Internal(errInvalidEntry)
	}
	if p, ok := auth.FromContext(ctx); ok {
		if e.ActorID == "" {
			e.ActorID = p.UserID
		}
		if e.ActorRole == "" {
			e.ActorRole = p.Role
		}
	}
	if e.RequestID == "" {
		e.RequestID = RequestIDFrom(ctx)
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = a.now()
	}
	before, err := jsonOrNil(e.Before)
	if err != nil {
		return apperr.Internal(fmt.Errorf("audit: before: %w", err))
	}
	after, err := jsonOrNil(e.After)
	if err != nil {
		return apperr.Internal(fmt.Errorf("audit: after: %w", err))
	}
	id, err := uuid.NewV7()
	if err != nil {
		return apperr.Internal(err)
	}
	err = db.Conn(ctx, a.db).Exec(`INSERT INTO audit_log (id, occurred_at, actor_id, actor_role, action, target_type, target_id, "before", "after", request_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id.String(), e.OccurredAt.UTC(), e.ActorID, e.ActorRole, e.Action, e.TargetType, e.TargetID,
		before, after, e.RequestID).Error
	if err != nil {
		return apperr.Internal(fmt.Errorf("audit %s %s/%s: %w", e.Action, e.TargetType, e.TargetID, err))
	}
	return nil
}

// jsonOrNil returns v as JSON text, or nil (SQL NULL) for nil.
func jsonOrNil(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if v == nil {
			return nil, nil
		}
		if !json.Valid(v) {
			return nil, errors.New("invalid JSON")
		}
		return string(v), nil
	case []byte:
		if v == nil {
			return nil, nil
		}
		if !json.Valid(v) {
			return nil, errors.New("invalid JSON")
		}
		return string(v), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	return string(b), nil
}

var fields = []string{"id", "occurred_at", "actor_id", "actor_role", "action", "target_type", "target_id", "before", "after", "request_id"}

// ListSpec is the allow-list of GET /admin/audit: newest first (UUIDv7
// ids are time-ordered), filters actor_id and action.
var ListSpec = query.Spec{
	Resource: "audit", Fields: fields,
	Sorts: []string{"id"}, DefaultSort: "-id",
	Filters:      map[string]query.FilterKind{"actor_id": query.FilterID, "action": query.FilterString},
	DefaultLimit: 20, MaxLimit: 100,
}

type dbRow struct {
	ID         string
	OccurredAt time.Time
	ActorID    string
	ActorRole  string
	Action     string
	TargetType string
	TargetID   string
	Before     *string
	After      *string
	RequestID  string
}

// List returns one page of the trail and whether another follows.
func (a *Log) List(ctx context.Context, p query.Params, ks *query.Keyset) ([]Record, bool, error) {
	q := db.Conn(ctx, a.db).Table("audit_log").
		Select(`id, occurred_at, actor_id, actor_role, action, target_type, target_id, "before", "after", request_id`)
	if v, ok := p.Filter("actor_id"); ok {
		q = q.Where("actor_id = ?", v)
	}
	if v, ok := p.Filter("action"); ok {
		q = q.Where("action = ?", v)
	}
	var rows []dbRow
	if err := query.ApplyKeyset(q, "id", "id", p.Sort.Desc, ks, p.Limit).Scan(&rows).Error; err != nil {
		return nil, false, apperr.Internal(fmt.Errorf("list audit log: %w", err))
	}
	page, more := query.NextPage(rows, p.Limit)
	out := make([]Record, len(page))
	for i, r := range page {
		out[i] = Record{ID: r.ID, OccurredAt: r.OccurredAt.UTC(), ActorID: r.ActorID, ActorRole: r.ActorRole, Action: r.Action,
			TargetType: r.TargetType, TargetID: r.TargetID, Before: rawOrNull(r.Before), After: rawOrNull(r.After), RequestID: r.RequestID}
	}
	return out, more, nil
}

func rawOrNull(s *string) json.RawMessage {
	if s == nil {
		return json.RawMessage("null")
	}
	return json.RawMessage(*s)
}
