package audithttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/audit/audithttp"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/routemeta"
)

func TestRecordAndList(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			d := st.Open(t)
			cursors := queryCodec()
			log := audit.New(d.Gorm)
			admin := auth.WithPrincipal(context.Background(), auth.Principal{UserID: "admin-1", Role: auth.RoleAdmin})
			other := auth.WithPrincipal(context.Background(), auth.Principal{UserID: "admin-2", Role: auth.RoleAdmin})
			for i := 0; i < 5; i++ {
				ctx := audit.WithRequestID(admin, fmt.Sprintf("req-%d", i))
				if err := log.Record(ctx, audit.Entry{Action: "products.create", TargetType: "product", TargetID: fmt.Sprint(i),
					After: map[string]any{"n": i}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := log.Record(other, audit.Entry{Action: "users.role_change", TargetType: "user", TargetID: "u1",
				Before: json.RawMessage(`{"role":"customer"}`), After: map[string]string{"role": "admin"}}); err != nil {
				t.Fatal(err)
			}
			// A record inside a unit of work that rolls back disappears with it.
			boom := errors.New("boom")
			err := db.Transact(admin, d.Gorm, func(ctx context.Context) error {
				if err := log.Record(ctx, audit.Entry{Action: "products.create", TargetType: "product", TargetID: "rolled-back"}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}

			r := gin.New()
			g := r.Group("/v1", func(c *gin.Context) {
				c.Set("auth.principal", auth.Principal{UserID: "admin-1", Role: auth.RoleAdmin})
				c.Next()
			})
			audithttp.Routes(routemeta.NewTable().On(g), log, cursors, "")
			get := func(path string) (int, map[string]any) {
				w := httptest.NewRecorder()
				r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
				var m map[string]any
				_ = json.Unmarshal(w.Body.Bytes(), &m)
				return w.Code, m
			}
			code, m := get("/v1/admin/audit")
			data := m["data"].([]any)
			if code != 200 || len(data) != 6 || m["next_cursor"] != nil {
				t.Fatalf("%d %v", code, m)
			}
			newest := data[0].(map[string]any)
			if newest["action"] != "users.role_change" || newest["actor_id"] != "admin-2" ||
				newest["before"].(map[string]any)["role"] != "customer" || newest["after"].(map[string]any)["role"] != "admin" {
				t.Fatalf("newest %v", newest)
			}
			if data[5].(map[string]any)["before"] != nil || data[5].(map[string]any)["request_id"] != "req-0" {
				t.Fatalf("oldest %v", data[5])
			}
			// filters + cursor walk
			var seen []string
			path := "/v1/admin/audit?actor_id=admin-1&limit=2"
			for path != "" {
				code, m := get(path)
				if code != 200 {
					t.Fatalf("%d %v", code, m)
				}
				for _, it := range m["data"].([]any) {
					e := it.(map[string]any)
					if e["actor_id"] != "admin-1" {
						t.Fatalf("filter leaked %v", e)
					}
					seen = append(seen, e["target_id"].(string))
				}
				path = ""
				if nc, ok := m["next_cursor"].(string); ok {
					path = "/v1/admin/audit?actor_id=admin-1&limit=2&cursor=" + nc
				}
			}
			if strings.Join(seen, ",") != "4,3,2,1,0" {
				t.Fatalf("walk %v", seen)
			}
			if code, m := get("/v1/admin/audit?action=users.role_change"); code != 200 || len(m["data"].([]any)) != 1 {
				t.Fatalf("%d %v", code, m)
			}
			// a cursor used with another filter is refused
			_, m = get("/v1/admin/audit?limit=1")
			if code, _ := get("/v1/admin/audit?limit=1&action=x&cursor=" + m["next_cursor"].(string)); code != 400 {
				t.Fatalf("rebound cursor: %d", code)
			}
			if code, _ := get("/v1/admin/audit?bogus=1"); code != 400 {
				t.Fatalf("unknown param: %d", code)
			}
		})
	}
}

func TestRoutesRequireAdmin(t *testing.T) {
	d := openSQLite(t)
	log := audit.New(d.Gorm)
	r := gin.New()
	g := r.Group("/v1", func(c *gin.Context) {
		c.Set("auth.principal", auth.Principal{UserID: "c1", Role: auth.RoleCustomer})
		c.Next()
	})
	audithttp.Routes(routemeta.NewTable().On(g), log, queryCodec(), "")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/admin/audit", nil))
	if w.Code != http.StatusForbidden {
		t.Fatalf("customer got %d", w.Code)
	}
}
