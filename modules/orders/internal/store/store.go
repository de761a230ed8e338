// Package store is the only code that touches the orders module's tables.
package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"example.com/productapi/modules/orders"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/query"
)

// Row is the orders table.
type Row struct {
	ID                string
	UserID            string
	Status            orders.Status
	TotalCents        int64
	Currency          string
	Version           int64
	CreatedAt         time.Time
	UpdatedAt         time.Time
	PaymentAttempts   int
	PaymentNextAt     *time.Time
	PaymentLeaseUntil *time.Time
}

func (Row) TableName() string { return "orders" }

// ToOrder is the public view (without items).
func (r Row) ToOrder() orders.Order {
	return orders.Order{ID: r.ID, UserID: r.UserID, Status: r.Status, TotalCents: r.TotalCents, Currency: trimCurrency(r.Currency),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// Postgres char(3) comes back padded only if shorter; keep it tidy anyway.
func trimCurrency(c string) string {
	for len(c) > 0 && c[len(c)-1] == ' ' {
		c = c[:len(c)-1]
	}
	return c
}

// ItemRow is the order_items table.
type ItemRow struct {
	OrderID        string `gorm:"primaryKey"`
	LineNo         int    `gorm:"primaryKey"`
	ProductID      string
	SKU            string `gorm:"column:sku"`
	Name           string
	UnitPriceCents int64
	Quantity       int64
}

func (ItemRow) TableName() string { return "order_items" }

// ToItem is the public view.
func (r ItemRow) ToItem() orders.Item {
	return orders.Item{ProductID: r.ProductID, SKU: r.SKU, Name: r.Name, UnitPriceCents: r.UnitPriceCents, Quantity: r.Quantity}
}

// KeyRow is the order_idempotency_keys table.
type KeyRow struct {
	UserID         string `gorm:"primaryKey"`
	IdemKey        string `gorm:"primaryKey"`
	RequestHash    string
	OrderID        string
	ResponseStatus int
	ResponseBody   string
	CreatedAt      time.Time
}

func (KeyRow) TableName() string { return "order_idempotency_keys" }

// Columns maps API fields of an order to columns: the allow-list that keeps
// request input out of SQL identifiers.
var Columns = map[string]string{
	"id": "id", "user_id": "user_id", "status": "status", "total_cents": "total_cents", "currency": "currency",
	"created_at": "created_at", "updated_at": "updated_at",
}

// ItemColumns maps API fields of an item to columns.
var ItemColumns = map[string]string{
	"product_id": "product_id", "sku": "sku", "name": "name", "unit_price_cents": "unit_price_cents", "quantity": "quantity",
}

// Store reads and writes orders.
type Store struct {
	db       *gorm.DB
	postgres bool
}

func New(conn *gorm.DB, postgres bool) *Store { return &Store{db: conn, postgres: postgres} }

// Transact runs fn in a unit of work (or joins the caller's).
func (s *Store) Transact(ctx context.Context, fn func(ctx context.Context) error) error {
	return db.Transact(ctx, s.db, fn)
}

// Now is the store's clock: UTC, microseconds (what both stores keep).
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// ClaimKey inserts the idempotency record unless (user, key) exists. With
// ON CONFLICT DO NOTHING a concurrent duplicate waits for the first
// transaction: if it commits, the claim fails and the caller replays the
// stored response; if it rolls back, the claim succeeds. Nothing is aborted,
// so the transaction stays usable on Postgres.
func (s *Store) ClaimKey(ctx context.Context, k KeyRow) (bool, error) {
	res := db.Conn(ctx, s.db).Clauses(clause.OnConflict{DoNothing: true}).Create(&k)
	return res.RowsAffected == 1, res.Error
}

// Key returns an idempotency record.
func (s *Store) Key(ctx context.Context, userID, key string) (KeyRow, error) {
	var k KeyRow
	err := db.Conn(ctx, s.db).Where("user_id = ? AND idem_key = ?", userID, key).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return KeyRow{}, orders.ErrNotFound
	}
	return k, err
}

// SaveResponse stores the response to replay for a claimed key.
func (s *Store) SaveResponse(ctx context.Context, userID, key string, status int, body []byte) error {
	return db.Conn(ctx, s.db).Model(&KeyRow{}).Where("user_id = ? AND idem_key = ?", userID, key).
		Updates(map[string]any{"response_status": status, "response_body": string(body)}).Error
}

// PurgeKeys deletes idempotency records created before cutoff.
func (s *Store) PurgeKeys(ctx context.Context, cutoff time.Time) (int64, error) {
	res := db.Conn(ctx, s.db).Where("created_at < ?", cutoff).Delete(&KeyRow{})
	return res.RowsAffected, res.Error
}

// Insert writes an order and its items.
func (s *Store) Insert(ctx context.Context, r *Row, items []ItemRow) error {
	conn := db.Conn(ctx, s.db)
	if err := conn.Create(r).Error; err != nil {
		return err
	}
	return conn.Create(&items).Error
}

// Get returns an order with the given columns (all when none).
func (s *Store) Get(ctx context.Context, id string, cols ...string) (Row, error) {
	var r Row
	q := db.Conn(ctx, s.db)
	if len(cols) > 0 {
		q = q.Select(cols)
	}
	err := q.Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Row{}, orders.ErrNotFound
	}
	return r, err
}

// ListFilter narrows a list: UserID scopes to one user (customers always;
// admins with ?user_id=), Status to one status.
type ListFilter struct {
	UserID string
	Status string
}

// List returns one keyset page of orders with the given columns.
func (s *Store) List(ctx context.Context, f ListFilter, p query.Params, ks *query.Keyset, cols []string) ([]Row, bool, error) {
	q := db.Conn(ctx, s.db).Model(&Row{}).Select(cols)
	if f.UserID != "" {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	q = query.ApplyKeyset(q, Columns[p.Sort.Field], "id", p.Sort.Desc, ks, p.Limit)
	var rows []Row
	if err := q.Find(&rows).Error; err != nil {
		return nil, false, err
	}
	page, more := query.NextPage(rows, p.Limit)
	return page, more, nil
}

// Items loads the items of many orders in one query, keyed by order ID.
// cols lists the item columns wanted (order_id and line_no are added).
func (s *Store) Items(ctx context.Context, orderIDs []string, cols []string) (map[string][]ItemRow, error) {
	out := make(map[string][]ItemRow, len(orderIDs))
	if len(orderIDs) == 0 {
		return out, nil
	}
	sel := append([]string{"order_id", "line_no"}, cols...)
	var rows []ItemRow
	err := db.Conn(ctx, s.db).Select(sel).Where("order_id IN ?", orderIDs).Order("order_id, line_no").Find(&rows).Error
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.OrderID] = append(out[r.OrderID], r)
	}
	return out, nil
}

// ForUser returns every order of a user, oldest first.
func (s *Store) ForUser(ctx context.Context, userID string) ([]Row, error) {
	var rows []Row
	err := db.Conn(ctx, s.db).Where("user_id = ?", userID).Order("created_at, id").Find(&rows).Error
	return rows, err
}

// SetStatus moves an order from (version, from) to status `to`, bumping the
// version: optimistic concurrency, so of two racing transitions exactly one
// matches. It reports whether this one did.
func (s *Store) SetStatus(ctx context.Context, id string, version int64, from, to orders.Status, now time.Time) (bool, error) {
	updates := map[string]any{"status": to, "version": gorm.Expr("version + 1"), "updated_at": now}
	if to != orders.StatusPending {
		updates["payment_lease_until"] = nil
		updates["payment_next_at"] = nil
	}
	res := db.Conn(ctx, s.db).Model(&Row{}).Where("id = ? AND version = ? AND status = ?", id, version, from).Updates(updates)
	return res.RowsAffected == 1, res.Error
}

// ClaimPayment takes the payment lease of a pending order whose payment is
// not in flight (no lease, or an expired one). It returns the order and
// whether the lease was taken. The attempt is counted only when it fails
// (DeferPayment): a charge the circuit breaker refused is no attempt.
func (s *Store) ClaimPayment(ctx context.Context, id string, now, leaseUntil time.Time) (Row, bool, error) {
	res := db.Conn(ctx, s.db).Model(&Row{}).
		Where("id = ? AND status = ? AND (payment_lease_until IS NULL OR payment_lease_until < ?)", id, orders.StatusPending, now).
		Update("payment_lease_until", leaseUntil)
	if res.Error != nil || res.RowsAffected == 0 {
		return Row{}, false, res.Error
	}
	r, err := s.Get(ctx, id)
	return r, err == nil, err
}

// DeferPayment records a failed attempt of a pending order: it counts the
// attempt, drops the lease and sets when the reconciler may try again.
func (s *Store) DeferPayment(ctx context.Context, id string, next time.Time) error {
	return db.Conn(ctx, s.db).Model(&Row{}).Where("id = ? AND status = ?", id, orders.StatusPending).
		Updates(map[string]any{"payment_lease_until": nil, "payment_next_at": next,
			"payment_attempts": gorm.Expr("payment_attempts + 1")}).Error
}

// ReleasePayment drops the lease of a pending order without counting an
// attempt or moving its retry time (the circuit breaker refused the call).
func (s *Store) ReleasePayment(ctx context.Context, id string) error {
	return db.Conn(ctx, s.db).Model(&Row{}).Where("id = ? AND status = ?", id, orders.StatusPending).
		Update("payment_lease_until", nil).Error
}

// DuePayments lists pending orders created before createdBefore whose
// payment is not in flight and whose retry time has come, oldest first.
func (s *Store) DuePayments(ctx context.Context, now, createdBefore time.Time, limit int) ([]Row, error) {
	var rows []Row
	err := db.Conn(ctx, s.db).Select("id", "payment_attempts").
		Where("status = ? AND created_at < ?", orders.StatusPending, createdBefore).
		Where("payment_lease_until IS NULL OR payment_lease_until < ?", now).
		Where("payment_next_at IS NULL OR payment_next_at <= ?", now).
		Order("created_at").Limit(limit).Find(&rows).Error
	return rows, err
}

// PendingPayments lists pending orders whose payment is not in flight,
// whatever their age and retry time, in (created_at, id) order after the
// position (afterCreated, afterID) (afterID "": from the start): the
// backlog to pay once the provider is back.
func (s *Store) PendingPayments(ctx context.Context, now, afterCreated time.Time, afterID string, limit int) ([]Row, error) {
	var rows []Row
	q := db.Conn(ctx, s.db).Select("id", "created_at").
		Where("status = ?", orders.StatusPending).
		Where("payment_lease_until IS NULL OR payment_lease_until < ?", now)
	if afterID != "" { // ids are uuids on Postgres: no comparing with ''
		q = q.Where("created_at > ? OR (created_at = ? AND id > ?)", afterCreated, afterCreated, afterID)
	}
	err := q.Order("created_at, id").Limit(limit).Find(&rows).Error
	return rows, err
}
