// Package salesview is a read model (CQRS) fed only by orders events: units
// sold, revenue and paid orders per product. A sale counts when an order is
// paid (orders.order_paid.v1) and is taken back when a paid order is
// cancelled (orders.order_cancelled.v1 with previous_status "paid");
// pending orders, declined payments and orders cancelled before payment
// never count. Updates are additive, so delivery order does not matter, and
// the view runs as a transactional subscription: the upsert commits with
// the bus's inbox record, so each event counts exactly once. It can be
// rebuilt from scratch by replaying the stored events.
package salesview

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"example.com/productapi/modules/orders"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/events"
	"example.com/productapi/platform/query"
)

// Consumer is the view's subscription name on the bus.
const Consumer = "orders-sales-view"

// Types are the event types the view consumes.
var Types = []string{orders.EventOrderPaid, orders.EventOrderCancelled}

// Row is one product's line of the report.
type Row struct {
	ProductID    string `gorm:"primaryKey"`
	SKU          string `gorm:"column:sku"`
	Name         string
	Currency     string
	UnitsSold    int64
	RevenueCents int64
	PaidOrders   int64
	UpdatedAt    time.Time
}

func (Row) TableName() string { return "order_sales_by_product" }

// JSON is the public representation.
func (r Row) JSON() map[string]any {
	c := r.Currency
	for len(c) > 0 && c[len(c)-1] == ' ' {
		c = c[:len(c)-1]
	}
	return map[string]any{"id": r.ProductID, "product_id": r.ProductID, "sku": r.SKU, "name": r.Name, "currency": c,
		"units_sold": r.UnitsSold, "revenue_cents": r.RevenueCents, "paid_orders": r.PaidOrders, "updated_at": r.UpdatedAt.UTC()}
}

// Columns maps API fields to columns (allow-list).
var Columns = map[string]string{
	"id": "product_id", "product_id": "product_id", "sku": "sku", "name": "name", "currency": "currency",
	"units_sold": "units_sold", "revenue_cents": "revenue_cents", "paid_orders": "paid_orders", "updated_at": "updated_at",
}

// Replayer replays stored events to one consumer (platform/events.Bus).
type Replayer interface {
	Redeliver(ctx context.Context, consumer string, types []string) error
}

// View reads and writes the read model.
type View struct {
	db       *gorm.DB
	postgres bool
	bus      Replayer
}

func New(conn *gorm.DB, postgres bool, bus Replayer) *View {
	return &View{db: conn, postgres: postgres, bus: bus}
}

// Handle applies one event. It runs inside the bus's unit of work.
func (v *View) Handle(ctx context.Context, e events.Event) error {
	var sign int64
	var items []orders.EventItem
	var currency string
	var at time.Time
	switch e.Type {
	case orders.EventOrderPaid:
		var p orders.OrderPaidV1
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return events.Permanent(err)
		}
		sign, items, currency, at = 1, p.Items, p.Currency, p.PaidAt
	case orders.EventOrderCancelled:
		var p orders.OrderCancelledV1
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return events.Permanent(err)
		}
		if p.PreviousStatus != orders.StatusPaid {
			return nil // never counted
		}
		sign, items, currency, at = -1, p.Items, p.Currency, p.CancelledAt
	default:
		return nil
	}
	if len(items) == 0 {
		return events.Permanent(errors.New("salesview: event without items"))
	}
	conn := db.Conn(ctx, v.db)
	for _, it := range items {
		row := Row{ProductID: it.ProductID, SKU: it.SKU, Name: it.Name, Currency: currency,
			UnitsSold: sign * it.Quantity, RevenueCents: sign * it.Quantity * it.UnitPriceCents, PaidOrders: sign, UpdatedAt: at.UTC()}
		err := conn.Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "product_id"}},
			DoUpdates: clause.Assignments(map[string]any{
				"units_sold":    gorm.Expr("order_sales_by_product.units_sold + excluded.units_sold"),
				"revenue_cents": gorm.Expr("order_sales_by_product.revenue_cents + excluded.revenue_cents"),
				"paid_orders":   gorm.Expr("order_sales_by_product.paid_orders + excluded.paid_orders"),
				// The latest name and SKU win; updated_at only moves forward.
				"sku":  gorm.Expr("excluded.sku"),
				"name": gorm.Expr("excluded.name"),
				"updated_at": gorm.Expr("CASE WHEN excluded.updated_at > order_sales_by_product.updated_at " +
					"THEN excluded.updated_at ELSE order_sales_by_product.updated_at END"),
			}),
		}).Create(&row).Error
		if err != nil {
			return err
		}
	}
	return nil
}

// List returns one keyset page of the report.
func (v *View) List(ctx context.Context, p query.Params, ks *query.Keyset, cols []string) ([]Row, bool, error) {
	q := db.Conn(ctx, v.db).Model(&Row{}).Select(cols)
	q = query.ApplyKeyset(q, Columns[p.Sort.Field], "product_id", p.Sort.Desc, ks, p.Limit)
	var rows []Row
	if err := q.Find(&rows).Error; err != nil {
		return nil, false, err
	}
	page, more := query.NextPage(rows, p.Limit)
	return page, more, nil
}

// Rebuild empties the view and asks the bus to replay every stored event
// of its types to it, in one transaction: emptying the table, forgetting
// the consumer's inbox and queueing the replay commit together, so no
// event is counted twice or lost. On Postgres the table is locked first,
// so a live delivery either committed before (then it is wiped and
// replayed) or waits and is then deduplicated by the inbox.
func (v *View) Rebuild(ctx context.Context) error {
	return db.Transact(ctx, v.db, func(ctx context.Context) error {
		conn := db.Conn(ctx, v.db)
		if v.postgres {
			if err := conn.Exec("LOCK TABLE order_sales_by_product IN EXCLUSIVE MODE").Error; err != nil {
				return err
			}
		}
		if err := conn.Session(&gorm.Session{AllowGlobalUpdate: true}).Delete(&Row{}).Error; err != nil {
			return err
		}
		return v.bus.Redeliver(ctx, Consumer, Types)
	})
}
