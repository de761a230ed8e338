package audithttp_test

import (
	"example.com/productapi/platform/testkit/dbtest"

	"testing"

	"github.com/gin-gonic/gin"
	_ "github.com/jackc/pgx/v5/stdlib"

	"example.com/productapi/platform/db"
	"example.com/productapi/platform/query"
)

// stores lists the stores every test runs on, migrated for audit.
func stores(t *testing.T) []dbtest.Store { return dbtest.Stores(t, "audit", "flags") }

func openSQLite(t *testing.T) *db.DB { return dbtest.SQLite(t, "audit", "flags") }

func init() { gin.SetMode(gin.TestMode) }

func queryCodec() *query.Codec { return query.NewCodec([]byte("test-cursor-key-0123456789abcdef")) }
