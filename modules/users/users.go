// Package users is the contract of the users module: the types and the small
// Service other modules may call. It is a leaf package (imports no module),
// so peers can depend on it without cycles; usersimpl implements it.
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
