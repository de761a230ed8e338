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
	// Canonical means u.String() == s. A 36-character s that parses has
	// its dashes where String puts them and hex digits elsewhere, so it is
	// canonical exactly when no digit is upper case; checked byte by byte
	// because u.String() allocates, on every single-product request.
	if _, err := uuid.Parse(s); err != nil {
		return false
	}
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'F' {
			return false
		}
	}
	return true
}
