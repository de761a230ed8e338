// Package app holds the users use cases; it owns transactions and rules.
package app

import (
	"context"
	"example.com/productapi/platform/audit"
	"log/slog"
	"strings"
	"time"

	"example.com/productapi/modules/users"
	"example.com/productapi/modules/users/internal/store"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/ids"
	"example.com/productapi/platform/query"
)

// Service implements the users use cases and users.Service.
type Service struct {
	store  *store.Store
	tokens *auth.Tokens
	audit  *audit.Log
	log    *slog.Logger
	lc     lifecycle // refresh tokens and MFA (sessions.go, mfa.go)
	// privacy holds what the privacy rights need (privacy.go).
	privacy Privacy
}

// Options complete the Service at construction: the privacy rights'
// connections and the token lifecycle.
type Options struct {
	Privacy Privacy
	Auth    AuthOptions
}

func New(st *store.Store, tokens *auth.Tokens, trail *audit.Log, log *slog.Logger, o Options) *Service {
	return &Service{store: st, tokens: tokens, audit: trail, log: log, privacy: o.Privacy, lc: newLifecycle(o.Auth)}
}

var _ users.Service = (*Service)(nil)

// NormalizeEmail makes emails comparable: trimmed and lower-cased.
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// Register creates a customer account.
func (s *Service) Register(ctx context.Context, email, password, name string) (users.User, error) {
	return s.create(ctx, email, password, name, users.RoleCustomer)
}

func (s *Service) create(ctx context.Context, email, password, name, role string) (users.User, error) {
	hash, err := auth.HashPassword(password)
	if err != nil {
		return users.User{}, apperr.Internal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	row := store.Row{ID: ids.New(), Email: NormalizeEmail(email), Name: strings.TrimSpace(name), Role: role,
		PasswordHash: hash, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := s.store.Create(ctx, &row); err != nil {
		return users.User{}, err
	}
	return row.ToUser(), nil
}

// Login checks credentials. An unknown email burns the same Argon2 time as a
// wrong password and both return the same error, so accounts can't be probed.
func (s *Service) Login(ctx context.Context, email, password string) (users.Token, error) {
	row, err := s.store.ByEmail(ctx, NormalizeEmail(email))
	if apperr.KindOf(err) == apperr.KindNotFound {
		auth.BurnPasswordCheck(password)
		return users.Token{}, users.ErrInvalidCredentials
	}
	if err != nil {
		return users.Token{}, err
	}
	ok, err := auth.VerifyPassword(row.PasswordHash, password)
	if err != nil || !ok {
		return users.Token{}, users.ErrInvalidCredentials
	}
	return s.passwordVerified(ctx, row)
}

// Get implements users.Service.
func (s *Service) Get(ctx context.Context, id string) (users.User, error) {
	row, err := s.Row(ctx, id)
	return row.ToUser(), err
}

// Row returns the stored row (with its version, for ETags).
func (s *Service) Row(ctx context.Context, id string) (store.Row, error) {
	if !ids.Valid(id) {
		return store.Row{}, users.ErrNotFound
	}
	return s.store.ByID(ctx, id)
}

// ProfileChanges is a partial update of one's own account.
type ProfileChanges struct {
	Email    *string
	Name     *string
	Password *string
	// CurrentPassword must be right to change Email or Password; when
	// given, it is checked whatever changes.
	CurrentPassword *string
}

// ErrWrongPassword refuses a profile change whose current_password is wrong.
var ErrWrongPassword = apperr.New(apperr.KindForbidden, "users.wrong_password", "current_password is incorrect")

// ReauthRequired is the failing field of a credential change without the
// current password (the handler lists it with the other failing fields;
// UpdateProfile refuses such a change too).
var ReauthRequired = apperr.FieldError{Field: "current_password", Message: "is required to change email or password"}

// UpdateProfile applies a partial update of the caller's own account.
// Changing the email or the password needs the current password (a stolen
// access token alone cannot take the account over), and a new password
// ends every session in the same unit of work: refresh tokens issued
// before it stop working, the caller's own included.
func (s *Service) UpdateProfile(ctx context.Context, id string, expectVersion int64, ch ProfileChanges) (store.Row, error) {
	if ch.CurrentPassword != nil || ch.Email != nil || ch.Password != nil {
		if ch.CurrentPassword == nil || *ch.CurrentPassword == "" {
			return store.Row{}, apperr.Validation(ReauthRequired)
		}
		row, err := s.store.ByID(ctx, id)
		if err != nil {
			return store.Row{}, err
		}
		if ok, err := auth.VerifyPassword(row.PasswordHash, *ch.CurrentPassword); err != nil || !ok {
			s.log.WarnContext(ctx, "profile change: wrong current password", "user_id", id)
			return store.Row{}, ErrWrongPassword
		}
		if expectVersion == 0 {
			// The version the password was checked against: a password
			// changed meanwhile makes this a 412, not a change authorised
			// by the old password.
			expectVersion = row.Version
		}
	}
	changes := map[string]any{}
	if ch.Email != nil {
		changes["email"] = NormalizeEmail(*ch.Email)
	}
	if ch.Name != nil {
		changes["name"] = strings.TrimSpace(*ch.Name)
	}
	if ch.Password != nil {
		hash, err := auth.HashPassword(*ch.Password)
		if err != nil {
			return store.Row{}, apperr.Internal(err)
		}
		changes["password_hash"] = hash
	}
	var row store.Row
	err := s.store.Transact(ctx, func(ctx context.Context) error {
		var err error
		if row, err = s.store.Update(ctx, id, expectVersion, changes); err != nil || ch.Password == nil {
			return err
		}
		return s.RevokeAllSessions(ctx, id)
	})
	return row, err
}

// SetRole changes a user's role (admin action), recorded in the audit
// trail in the same transaction. Access tokens carry the role and live for
// minutes, so a demotion takes effect when the token expires.
func (s *Service) SetRole(ctx context.Context, actor auth.Principal, id string, expectVersion int64, role string) (store.Row, error) {
	if !ids.Valid(id) {
		return store.Row{}, users.ErrNotFound
	}
	var row store.Row
	err := s.store.Transact(ctx, func(ctx context.Context) error {
		before, err := s.store.ByID(ctx, id)
		if err != nil {
			return err
		}
		if before.Role == users.RoleAdmin && role != users.RoleAdmin {
			if err := s.keepAnAdmin(ctx, id); err != nil {
				return err
			}
		}
		if row, err = s.store.Update(ctx, id, expectVersion, map[string]any{"role": role}); err != nil {
			return err
		}
		return s.audit.Record(ctx, audit.Entry{Action: "users.role_change", TargetType: "user", TargetID: id,
			Before: map[string]string{"role": before.Role}, After: map[string]string{"role": row.Role}})
	})
	if err == nil {
		s.log.InfoContext(ctx, "role changed", "actor", actor.UserID, "user", id, "role", role)
	}
	return row, err
}

// ErrLastAdmin refuses to demote or erase the only admin left: nobody
// could administer the service any more.
var ErrLastAdmin = apperr.New(apperr.KindConflict, "users.last_admin",
	"this is the last admin account; make another account admin first")

// keepAnAdmin fails with ErrLastAdmin unless an admin other than id
// remains. Call it in the unit of work of the demotion or erasure, before
// writing: it locks every admin row (Postgres; in id order, so concurrent
// callers queue instead of deadlocking), so two admins demoting each other
// at once are decided one after the other and the second sees the first's
// change. SQLite runs one write transaction at a time anyway.
func (s *Service) keepAnAdmin(ctx context.Context, id string) error {
	admins, err := s.store.LockAdmins(ctx)
	if err != nil {
		return err
	}
	for _, a := range admins {
		if a != id {
			return nil
		}
	}
	return ErrLastAdmin
}

// List returns a page of users for an admin. An unknown role is a 400 (as
// the document's enum says), not an empty page that hides a typo.
func (s *Service) List(ctx context.Context, p query.Params, ks *query.Keyset) ([]store.Row, bool, error) {
	if r, ok := p.String("role"); ok && r != users.RoleCustomer && r != users.RoleAdmin {
		return nil, false, apperr.Invalid(query.CodeFilter, "filter role must be one of customer, admin")
	}
	return s.store.List(ctx, p, ks)
}

// EnsureAdmin creates an admin with these credentials, or promotes and resets
// the password of an existing account with this email. Used by the CLI.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (users.User, bool, error) {
	row, err := s.store.ByEmail(ctx, NormalizeEmail(email))
	if apperr.KindOf(err) == apperr.KindNotFound {
		name, _, _ := strings.Cut(email, "@")
		u, err := s.create(ctx, email, password, name, users.RoleAdmin)
		return u, true, err
	}
	if err != nil {
		return users.User{}, false, err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return users.User{}, false, apperr.Internal(err)
	}
	row, err = s.store.Update(ctx, row.ID, 0, map[string]any{"role": users.RoleAdmin, "password_hash": hash})
	return row.ToUser(), false, err
}

// BootstrapAdmin creates the configured admin on start, only when no admin
// exists yet (so a later password change is never overwritten).
func (s *Service) BootstrapAdmin(ctx context.Context, email, password string) error {
	if email == "" {
		return nil
	}
	exists, err := s.store.AdminExists(ctx)
	if err != nil || exists {
		return err
	}
	u, _, err := s.EnsureAdmin(ctx, email, password)
	if err == nil {
		s.log.InfoContext(ctx, "bootstrap admin created", "user_id", u.ID, "email", u.Email)
	}
	return err
}
