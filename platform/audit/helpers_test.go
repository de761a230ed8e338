package audit_test

import (
	"example.com/productapi/platform/testkit/dbtest"

	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// stores lists the stores every test runs on, migrated for audit and flags.
func stores(t *testing.T) []dbtest.Store { return dbtest.Stores(t, "audit", "flags") }
