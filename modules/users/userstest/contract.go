package userstest

import (
	"context"
	"errors"
	"testing"

	"example.com/productapi/modules/users"
	"example.com/productapi/platform/ids"
)

// Subject is one implementation of users.Service under test, and how to
// create accounts in it.
type Subject struct {
	Service users.Service
	// Register creates a customer account (the ID is the
	// implementation's) and returns it.
	Register func(t *testing.T, email, name string) users.User
}

// RunServiceContract checks the observable behaviour of users.Service that
// callers rely on. newSubject returns a fresh subject without accounts per
// case.
func RunServiceContract(t *testing.T, newSubject func(t *testing.T) Subject) {
	ctx := context.Background()

	t.Run("Get returns the account", func(t *testing.T) {
		s := newSubject(t)
		ann := s.Register(t, " Ann@Example.com ", " Ann ")
		bob := s.Register(t, "bob@example.com", "Bob")
		for _, want := range []users.User{ann, bob} {
			got, err := s.Service.Get(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != want.ID || got.Email != want.Email || got.Name != want.Name || got.Role != users.RoleCustomer {
				t.Errorf("Get(%s) = %+v, want %+v", want.ID, got, want)
			}
		}
		if ann.Email != "ann@example.com" || ann.Name != "Ann" {
			t.Errorf("registered %+v: email not normalized or name not trimmed", ann)
		}
	})

	t.Run("Get of an unknown ID is ErrNotFound", func(t *testing.T) {
		s := newSubject(t)
		s.Register(t, "ann@example.com", "Ann")
		for _, id := range []string{ids.New(), "not-an-id", ""} {
			if _, err := s.Service.Get(ctx, id); !errors.Is(err, users.ErrNotFound) {
				t.Errorf("Get(%q) err = %v, want users.ErrNotFound", id, err)
			}
		}
	})
}
