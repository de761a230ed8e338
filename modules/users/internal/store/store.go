// Package store is the only code that touches the users table.
package store

import (
	"context"
	"errors"
	"example.com/productapi/platform/db"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"example.com/productapi/modules/users"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/query"
)

// Row is the users table.
type Row struct {
	ID           string
	Email        string
	Name         string
	Role         string
	PasswordHash string
	Version      int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// ErasedAt is set once the user exercised the right to erasure; such a
	// row is anonymised and every read below treats it as gone.
	ErasedAt *time.Time
	// ExternalSubject links an account provisioned for an external OIDC
	// principal ("<issuer>|<sub>"); nil for local accounts.
	ExternalSubject *string
}

func (Row) TableName() string { return "users" }

// ToUser is the public view.
func (r Row) ToUser() users.User {
	return users.User{ID: r.ID, Email: r.Email, Name: r.Name, Role: r.Role, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// Columns maps API fields to columns; it is also the allow-list that keeps
// request input out of SQL identifiers.
var Columns = map[string]string{
	"id": "id", "email": "email", "name": "name", "role": "role",
	"created_at": "created_at", "updated_at": "updated_at",
}

// Store reads and writes users.
type Store struct{ db *gorm.DB }

func New(conn *gorm.DB) *Store { return &Store{db: conn} }

// Transact runs fn in a unit of work (or joins the caller's).
func (s *Store) Transact(ctx context.Context, fn func(ctx context.Context) error) error {
	return db.Transact(ctx, s.db, fn)
}

func (s *Store) Create(ctx context.Context, r *Row) error {
	err := db.Conn(ctx, s.db).Create(r).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return users.ErrEmailTaken
	}
	return err
}

func (s *Store) get(ctx context.Context, where string, arg any) (Row, error) {
	var r Row
	err := db.Conn(ctx, s.db).Where(where, arg).Where("erased_at IS NULL").Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return r, users.ErrNotFound
	}
	return r, err
}

func (s *Store) ByID(ctx context.Context, id string) (Row, error) { return s.get(ctx, "id = ?", id) }

func (s *Store) ByEmail(ctx context.Context, email string) (Row, error) {
	return s.get(ctx, "email = ?", email)
}

// Update applies changes (column -> value) when the row still has
// expectVersion (0 = any), bumping the version. A map, not a struct, so zero
// values are written too.
func (s *Store) Update(ctx context.Context, id string, expectVersion int64, changes map[string]any) (Row, error) {
	matched, err := db.UpdateVersioned(db.Conn(ctx, s.db).Model(&Row{}).Where("erased_at IS NULL"), id, expectVersion, changes)
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return Row{}, users.ErrEmailTaken
	}
	if err != nil {
		return Row{}, err
	}
	if !matched {
		if _, err := s.ByID(ctx, id); err != nil {
			return Row{}, err
		}
		return Row{}, apperr.New(apperr.KindPreconditionFailed, "precondition_failed", "the user changed since you read it; fetch it again")
	}
	return s.ByID(ctx, id)
}

// AdminExists reports whether any admin account exists.
func (s *Store) AdminExists(ctx context.Context) (bool, error) {
	var n int64
	err := db.Conn(ctx, s.db).Model(&Row{}).Where("role = ? AND erased_at IS NULL", users.RoleAdmin).Limit(1).Count(&n).Error
	return n > 0, err
}

// LockAdmins returns the IDs of every admin, locking their rows until the
// transaction ends (FOR UPDATE in id order; SQLite ignores the clause, its
// write transactions run one at a time). Rows a concurrent transaction
// demoted or erased before committing drop out of the result once it
// commits (Postgres re-checks locked rows against the condition).
func (s *Store) LockAdmins(ctx context.Context) ([]string, error) {
	var ids []string
	err := db.Conn(ctx, s.db).Model(&Row{}).Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("role = ? AND erased_at IS NULL", users.RoleAdmin).Order("id").Pluck("id", &ids).Error
	return ids, err
}

// List returns one keyset page, selecting only the needed columns.
func (s *Store) List(ctx context.Context, p query.Params, ks *query.Keyset) ([]Row, bool, error) {
	q := db.Conn(ctx, s.db).Model(&Row{}).Select(p.Columns(Columns, "id", "version")).Where("erased_at IS NULL")
	if v, ok := p.String("role"); ok {
		q = q.Where("role = ?", v)
	}
	if v, ok := p.String("email"); ok {
		q = q.Where("email = ?", v)
	}
	var rows []Row
	if err := query.ApplyKeyset(q, Columns[p.Sort.Field], "id", p.Sort.Desc, ks, p.Limit).Find(&rows).Error; err != nil {
		return nil, false, err
	}
	page, more := query.NextPage(rows, p.Limit)
	return page, more, nil
}

// ErasedEmail is the tombstone an erased account's email becomes: unique
// per row (the unique index holds) and in the reserved .invalid TLD, so the
// address itself is free to register again.
func ErasedEmail(id string) string { return "erased+" + id + "@invalid" }

// erasedPasswordHash matches no password (it is not a valid encoded hash).
const erasedPasswordHash = "!erased"

// Erase anonymises a user in place: the row and its id stay (references
// elsewhere remain valid), the personal data goes. False when there is no
// such user or it was erased before.
func (s *Store) Erase(ctx context.Context, id string, at time.Time) (bool, error) {
	res := db.Conn(ctx, s.db).Model(&Row{}).Where("id = ? AND erased_at IS NULL", id).Updates(map[string]any{
		"email": ErasedEmail(id), "name": "", "password_hash": erasedPasswordHash, "external_subject": nil,
		"erased_at": at, "updated_at": at, "version": gorm.Expr("version + 1"),
	})
	return res.RowsAffected == 1, res.Error
}

// Erased reports whether the user with this id was erased.
func (s *Store) Erased(ctx context.Context, id string) (bool, error) {
	var n int64
	err := db.Conn(ctx, s.db).Model(&Row{}).Where("id = ? AND erased_at IS NOT NULL", id).Count(&n).Error
	return n > 0, err
}

// ByExternalSubject returns the (not erased) account linked to an external
// principal.
func (s *Store) ByExternalSubject(ctx context.Context, subject string) (Row, error) {
	return s.get(ctx, "external_subject = ?", subject)
}
