// Package users is the contract of the users module: the types and the small
// Service other modules may call. It is a leaf package (imports no module),
// so peers can depend on it without cycles; usersimpl implements it and
// only the composition root imports that.
package users

import (
	"context"
	"time"

	"example.com/productapi/platform/apperr"
)

// Roles.
const (
	RoleCustomer = "customer"
	RoleAdmin    = "admin"
)

// User is the public view of an account (never the password hash).
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Service is what other modules may ask of users.
type Service interface {
	// Get returns a user by ID or ErrNotFound.
	Get(ctx context.Context, id string) (User, error)
}

// Accounts is what the composition root asks of users beyond Service, and
// no peer may: the operator console signs in through the same credential
// flow as /v1/auth (Login, LoginMFA, Refresh, Logout), OIDC logins
// provision their account (ProvisionExternal), the CLI and the start-up
// create the first admin (EnsureAdmin, BootstrapAdmin), and an operator
// (or a test) registers accounts and revokes every session of one.
type Accounts interface {
	Register(ctx context.Context, email, password, name string) (User, error)
	Login(ctx context.Context, email, password string) (Token, error)
	LoginMFA(ctx context.Context, mfaToken, code string) (Token, error)
	Refresh(ctx context.Context, refreshToken string) (Token, error)
	Logout(ctx context.Context, refreshToken string) error
	RevokeAllSessions(ctx context.Context, userID string) error
	// ProvisionExternal returns the local user ID of an external (OIDC)
	// identity, creating or updating the account.
	ProvisionExternal(ctx context.Context, subject, email, name, role string) (string, error)
	// EnsureAdmin creates an admin with these credentials, or promotes and
	// resets the password of the account with this email (true: created).
	EnsureAdmin(ctx context.Context, email, password string) (User, bool, error)
	// BootstrapAdmin creates the configured admin only while no admin
	// exists (empty email: nothing to do).
	BootstrapAdmin(ctx context.Context, email, password string) error
}

// Token is a login result: the tokens, or (password right, second factor
// pending) an MFA challenge to complete at POST /v1/auth/mfa.
type Token struct {
	AccessToken  string `json:"access_token,omitempty"`
	TokenType    string `json:"token_type,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	MFARequired  bool   `json:"mfa_required,omitempty"`
	MFAToken     string `json:"mfa_token,omitempty"`
}

// Errors with stable codes.
var (
	ErrNotFound           = apperr.New(apperr.KindNotFound, "users.not_found", "user not found")
	ErrEmailTaken         = apperr.New(apperr.KindConflict, "users.email_taken", "an account with this email already exists")
	ErrInvalidCredentials = apperr.New(apperr.KindUnauthorized, "users.invalid_credentials", "email or password is incorrect")
)

// EventUserErased is published (through the outbox, in the transaction of
// the erasure) when a user exercised the right to erasure. Peers holding
// personal links to the user detach them. Schema:
// docs/events/users.user_erased.v1.schema.json.
const EventUserErased = "users.user_erased.v1"

// UserErasedV1 is the payload of users.user_erased.v1. It carries the ID
// only: the personal data is already gone when it is published.
type UserErasedV1 struct {
	UserID   string    `json:"user_id"`
	ErasedAt time.Time `json:"erased_at"`
}
