// Package store is the only code that touches the products table.
package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"example.com/productapi/modules/products"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/query"
)

// Row is the products table.
type Row struct {
	ID          string
	SKU         string `gorm:"column:sku"`
	Name        string
	Description string
	PriceCents  int64
	Currency    string
	Stock       int64
	Category    string
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (Row) TableName() string { return "products" }

// ToProduct is the public view.
func (r Row) ToProduct() products.Product {
	return products.Product{ID: r.ID, SKU: r.SKU, Name: r.Name, Description: r.Description, PriceCents: r.PriceCents,
		Currency: r.Currency, Stock: r.Stock, Category: r.Category, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// ErrStale is returned when If-Match names an old version.
var ErrStale = apperr.New(apperr.KindPreconditionFailed, "precondition_failed",
	"the product changed since you read it (If-Match does not match); fetch it again")

// Store reads and writes products.
type Store struct {
	db       *gorm.DB
	postgres bool
	cursors  *query.Codec // signs and verifies list cursors
}

func New(conn *gorm.DB, postgres bool, cursors *query.Codec) *Store {
	return &Store{db: conn, postgres: postgres, cursors: cursors}
}

// Transact runs fn in a unit of work (or joins the caller's).
func (s *Store) Transact(ctx context.Context, fn func(ctx context.Context) error) error {
	return db.Transact(ctx, s.db, fn)
}

func (s *Store) Create(ctx context.Context, r *Row) error {
	err := db.Conn(ctx, s.db).Create(r).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return products.ErrSKUTaken
	}
	return err
}

// CreateBatch inserts many rows in one statement per batch (seeding).
func (s *Store) CreateBatch(ctx context.Context, rows []Row) error {
	err := db.Conn(ctx, s.db).CreateInBatches(rows, 500).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return products.ErrSKUTaken
	}
	return err
}

// ByID loads the named columns of one product (all when cols is empty).
func (s *Store) ByID(ctx context.Context, id string, cols ...string) (Row, error) {
	var r Row
	q := db.Conn(ctx, s.db)
	if len(cols) > 0 {
		q = q.Select(cols)
	}
	err := q.Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return r, products.ErrNotFound
	}
	return r, err
}

// Update applies changes (column -> value) if the row still has expectVersion
// (0 = any version), bumping the version. A map so zero values (stock 0) are
// written too.
func (s *Store) Update(ctx context.Context, id string, expectVersion int64, changes map[string]any) (Row, error) {
	matched, err := db.UpdateVersioned(db.Conn(ctx, s.db).Model(&Row{}), id, expectVersion, changes)
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return Row{}, products.ErrSKUTaken
	}
	if err != nil {
		return Row{}, err
	}
	if !matched {
		return Row{}, s.missOrStale(ctx, id)
	}
	return s.ByID(ctx, id)
}

// Delete removes a product if it still has expectVersion (0 = any).
func (s *Store) Delete(ctx context.Context, id string, expectVersion int64) error {
	q := db.Conn(ctx, s.db).Where("id = ?", id)
	if expectVersion > 0 {
		q = q.Where("version = ?", expectVersion)
	}
	res := q.Delete(&Row{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return s.missOrStale(ctx, id)
	}
	return nil
}

func (s *Store) missOrStale(ctx context.Context, id string) error {
	if _, err := s.ByID(ctx, id, "id"); err != nil {
		return err
	}
	return ErrStale
}

// List returns one keyset page with only the needed columns selected.
func (s *Store) List(ctx context.Context, p PageQuery, ks *query.Keyset) ([]Row, bool, error) {
	q := db.Conn(ctx, s.db).Model(&Row{}).Select(p.Columns(Columns, "id"))
	if v, ok := p.String("category"); ok {
		q = q.Where("category = ?", v)
	}
	if v, ok := p.Int("min_price_cents"); ok {
		q = q.Where("price_cents >= ?", v)
	}
	if v, ok := p.Int("max_price_cents"); ok {
		q = q.Where("price_cents <= ?", v)
	}
	if v, ok := p.Bool("in_stock"); ok {
		if v {
			q = q.Where("stock > 0")
		} else {
			q = q.Where("stock = 0")
		}
	}
	if v, ok := p.String("q"); ok {
		pattern := "%" + escapeLike(v) + "%"
		like := "LIKE" // SQLite: case-insensitive for ASCII
		if s.postgres {
			like = "ILIKE" // trigram index
		}
		if p.SKUPrefix {
			// upper(sku) LIKE 'TERM%' uses products_sku_upper_prefix on Postgres.
			q = q.Where(`(name `+like+` ? ESCAPE '\' OR upper(sku) LIKE ? ESCAPE '\')`,
				pattern, strings.ToUpper(escapeLike(v))+"%")
		} else {
			q = q.Where(`name `+like+` ? ESCAPE '\'`, pattern)
		}
	}
	var rows []Row
	if err := query.ApplyKeyset(q, Columns[p.Sort.Field], "id", p.Sort.Desc, ks, p.Limit).Find(&rows).Error; err != nil {
		return nil, false, err
	}
	page, more := query.NextPage(rows, p.Limit)
	return page, more, nil
}

// escapeLike makes a search term literal inside a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
