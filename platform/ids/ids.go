// Package ids mints and checks resource IDs. IDs are UUIDv7 strings: opaque
// to clients, time-ordered (good B-tree locality) and safe to mint in any
// service after a split.
package ids

import (
	"github.com/google/uuid"
)

// New returns a fresh UUIDv7 in canonical lower-case form.
func New() string { return uuid.Must(uuid.NewV7()).String() }

// Valid reports whether s is a canonical UUID string. Handlers use it to turn
// a malformed ID into a 404 without touching the database.
func Valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}
