// Package userstest holds an in-memory fake of users.Service, for peers'
// tests, and the contract suite every implementation of that Service must
// pass (the real one in usersimpl, this fake, later an HTTP client).
package userstest

import (
	"context"
	"strings"
	"sync"
	"time"

	"example.com/productapi/modules/users"
	"example.com/productapi/platform/ids"
)

// Fake is an in-memory users.Service, safe for concurrent use. The zero
// value is not usable: call NewFake.
type Fake struct {
	mu    sync.Mutex
	users map[string]users.User
}

var _ users.Service = (*Fake)(nil)

// NewFake returns a fake without accounts.
func NewFake() *Fake { return &Fake{users: map[string]users.User{}} }

// Register adds a customer account as registration does (email trimmed
// and lower-cased, name trimmed) and returns it.
func (f *Fake) Register(email, name string) users.User {
	now := time.Now().UTC()
	u := users.User{ID: ids.New(), Email: strings.ToLower(strings.TrimSpace(email)), Name: strings.TrimSpace(name),
		Role: users.RoleCustomer, CreatedAt: now, UpdatedAt: now}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[u.ID] = u
	return u
}

// Get implements users.Service.
func (f *Fake) Get(_ context.Context, id string) (users.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[id]
	if !ok {
		return users.User{}, users.ErrNotFound
	}
	return u, nil
}
