package usersimpl

import (
	"context"
	"strings"
	"testing"
	"time"

	"example.com/productapi/modules/users"
	"example.com/productapi/modules/users/userstest"
	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/events"
	"example.com/productapi/platform/query"
	"example.com/productapi/platform/testkit/dbtest"
)

// newModule builds the module alone on d, with the platform parts it needs.
func newModule(t *testing.T, d *db.DB) *Module {
	t.Helper()
	bus, err := events.New(events.Config{DB: d.Gorm, Postgres: d.Dialect == db.Postgres})
	if err != nil {
		t.Fatal(err)
	}
	cursors := query.NewCodec([]byte("test-cursor-secret-0123456789abcdef"))
	m, err := New(Deps{DB: d.Gorm, Cursors: cursors, Audit: audit.New(d.Gorm), Privacy: Privacy{Events: bus},
		Tokens: auth.NewTokens([]byte("test-signing-key-0123456789abcdef"), "test", time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestServiceHonoursTheContract(t *testing.T) {
	for _, st := range dbtest.Stores(t, "events", "audit", "users") {
		t.Run(st.Name, func(t *testing.T) {
			userstest.RunServiceContract(t, func(t *testing.T) userstest.Subject {
				m := newModule(t, st.Open(t))
				return userstest.Subject{Service: m.Service(), Register: func(t *testing.T, email, name string) users.User {
					u, err := m.Accounts().Register(context.Background(), email, "contract-pass-1", name)
					if err != nil {
						t.Fatal(err)
					}
					return u
				}}
			})
		})
	}
}

func TestNewNamesEveryMissingDependency(t *testing.T) {
	_, err := New(Deps{})
	if err == nil {
		t.Fatal("New without dependencies succeeded")
	}
	for _, dep := range []string{"DB", "Tokens", "Cursors", "Audit", "Privacy.Events"} {
		if !strings.Contains(err.Error(), "Deps."+dep+" is required") {
			t.Errorf("error %q does not name Deps.%s", err, dep)
		}
	}
}
