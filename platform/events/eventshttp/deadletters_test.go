package eventshttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	_ "github.com/jackc/pgx/v5/stdlib"

	"example.com/productapi/platform/db"
	"example.com/productapi/platform/events"
	"example.com/productapi/platform/events/eventshttp"
	"example.com/productapi/platform/query"
	"example.com/productapi/platform/routemeta"
	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/dbtest"
)

const (
	typPlaced = "orders.order_placed.v1"
	typOther  = "products.stock_changed.v1"
)

type payload struct {
	N int `json:"n"`
}

// deadLetterAPI is the admin API on a bare gin engine.
func deadLetterAPI(b *events.Bus) *gin.Engine {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	eventshttp.Routes(routemeta.NewTable().On(r.Group("/v1")), b, query.NewCodec([]byte("test-cursor-key")), "")
	return r
}

func do(t *testing.T, h http.Handler, method, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	var body map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	}
	return rec.Code, body
}

func TestDeadLettersAndReplayOverHTTP(t *testing.T) {
	for _, st := range dbtest.Stores(t, "events") {
		t.Run(st.Name, func(t *testing.T) {
			t.Parallel()
			dlTest(t, st.Open(t))
		})
	}
}

// dlTest lists, reads and replays dead letters of two consumers on d.
func dlTest(t *testing.T, d *db.DB) {
	if err := d.Gorm.Exec(`CREATE TABLE test_effects (consumer text NOT NULL, event_id text NOT NULL, ekey text NOT NULL, n integer NOT NULL)`).Error; err != nil {
		t.Fatal(err)
	}
	b, err := events.New(events.Config{
		DB: d.Gorm, Postgres: d.Dialect == db.Postgres, Log: slog.New(slog.DiscardHandler),
		MaxAttempts: 3, BaseBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, HandlerTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	var healthy atomic.Bool
	var calls atomic.Int32
	b.Subscribe("fragile", []string{typPlaced}, func(ctx context.Context, e events.Event) error {
		calls.Add(1)
		if healthy.Load() {
			return recordEffect(d, "fragile")(ctx, e)
		}
		return fmt.Errorf("stock service said no for %s", e.Key)
	})
	b.Subscribe("strict", []string{typOther}, func(ctx context.Context, e events.Event) error {
		return events.Permanent(errors.New("payload is not valid for this consumer"))
	})
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	placed, _ := b.Append(ctx, typPlaced, "o-1", payload{7})
	other, _ := b.Append(ctx, typOther, "p-1", payload{8})
	testkit.Eventually(t, 10*time.Second, "two dead letters", func() bool {
		return count(t, d, `SELECT COUNT(*) FROM event_dead_letters`) == 2
	})
	if c := calls.Load(); c != 3 {
		t.Errorf("fragile called %d times before dead-lettering, want MaxAttempts=3", c)
	}
	api := deadLetterAPI(b)

	code, list := do(t, api, "GET", "/v1/admin/dead-letters?consumer=strict")
	items, _ := list["data"].([]any)
	if code != 200 || len(items) != 1 {
		t.Fatalf("list strict: %d %v", code, list)
	}
	strict := items[0].(map[string]any)
	if strict["attempts"].(float64) != 1 || strict["event_id"] != other.ID || strict["replayed_at"] != nil ||
		strict["error"] != "payload is not valid for this consumer" {
		t.Errorf("permanent dead letter = %v", strict)
	}
	// Paging: limit=1 walks both.
	code, page := do(t, api, "GET", "/v1/admin/dead-letters?limit=1")
	next, _ := page["next_cursor"].(string)
	if code != 200 || next == "" {
		t.Fatalf("page 1: %d %v", code, page)
	}
	code, page2 := do(t, api, "GET", "/v1/admin/dead-letters?limit=1&cursor="+next)
	if code != 200 || page2["next_cursor"] != nil || len(page2["data"].([]any)) != 1 {
		t.Fatalf("page 2: %d %v", code, page2)
	}
	if code, _ := do(t, api, "GET", "/v1/admin/dead-letters?limit=1000"); code != 400 {
		t.Errorf("limit=1000: %d, want 400", code)
	}

	code, list = do(t, api, "GET", "/v1/admin/dead-letters?type="+typPlaced)
	if code != 200 {
		t.Fatalf("list by type: %d %v", code, list)
	}
	dl := list["data"].([]any)[0].(map[string]any)
	id := dl["id"].(string)
	if dl["event_id"] != placed.ID || dl["attempts"].(float64) != 3 || dl["error"] != "stock service said no for o-1" {
		t.Errorf("dead letter = %v", dl)
	}
	if p, _ := dl["payload"].(map[string]any); p["n"].(float64) != 7 {
		t.Errorf("payload = %v, want the object", dl["payload"])
	}
	if code, one := do(t, api, "GET", "/v1/admin/dead-letters/"+id); code != 200 || one["id"] != id || one["payload"] == nil {
		t.Errorf("get: %d %v", code, one)
	}
	if code, one := do(t, api, "GET", "/v1/admin/dead-letters/"+id+"?fields=id,error"); code != 200 || len(one) != 2 ||
		one["id"] != id || one["error"] != "stock service said no for o-1" {
		t.Errorf("get with fields: %d %v", code, one)
	}
	if code, _ := do(t, api, "GET", "/v1/admin/dead-letters/"+id+"?fields=secret"); code != 400 {
		t.Errorf("get with an unknown field: %d, want 400", code)
	}
	for _, bad := range []string{"nope", "0190a0b0-0000-7000-8000-000000000000"} {
		if code, _ := do(t, api, "GET", "/v1/admin/dead-letters/"+bad); code != 404 {
			t.Errorf("get %s: %d, want 404", bad, code)
		}
		if code, _ := do(t, api, "POST", "/v1/admin/dead-letters/"+bad+"/replay"); code != 404 {
			t.Errorf("replay %s: %d, want 404", bad, code)
		}
	}

	healthy.Store(true)
	code, replayed := do(t, api, "POST", "/v1/admin/dead-letters/"+id+"/replay")
	if code != 200 || replayed["replayed_at"] == nil {
		t.Fatalf("replay: %d %v", code, replayed)
	}
	if rows, _ := countEffects(t, d, "fragile"); rows != 1 {
		t.Fatalf("replay effects = %d, want 1", rows)
	}
	if code, body := do(t, api, "POST", "/v1/admin/dead-letters/"+id+"/replay"); code != 409 {
		t.Fatalf("second replay: %d %v, want 409", code, body)
	}
	// A replay that fails again is pending (202) and dead-letters anew.
	code, list = do(t, api, "GET", "/v1/admin/dead-letters?consumer=strict")
	if code != 200 {
		t.Fatalf("list by consumer: %d %v", code, list)
	}
	sid := list["data"].([]any)[0].(map[string]any)["id"].(string)
	if code, body := do(t, api, "POST", "/v1/admin/dead-letters/"+sid+"/replay"); code != 202 {
		t.Fatalf("failing replay: %d %v, want 202", code, body)
	}
	testkit.Eventually(t, 5*time.Second, "new dead letter", func() bool {
		return count(t, d, `SELECT COUNT(*) FROM event_dead_letters WHERE consumer = 'strict' AND replayed_at IS NULL`) == 1
	})
	if code, list := do(t, api, "GET", "/v1/admin/dead-letters?replayed=false"); code != 200 || len(list["data"].([]any)) != 1 {
		t.Errorf("open dead letters: %d %v", code, list)
	}
}

// recordEffect is a transactional handler body: one row per handling.
func recordEffect(base *db.DB, consumer string) events.Handler {
	return func(ctx context.Context, e events.Event) error {
		return db.Conn(ctx, base.Gorm).Exec(`INSERT INTO test_effects (consumer, event_id, ekey, n) VALUES (?, ?, ?, 1)`,
			consumer, e.ID, e.Key).Error
	}
}

func countEffects(t *testing.T, d *db.DB, consumer string) (rows, distinct int64) {
	t.Helper()
	if err := d.Gorm.Raw(`SELECT COUNT(*), COUNT(DISTINCT event_id) FROM test_effects WHERE consumer = ?`, consumer).
		Row().Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	return rows, distinct
}

func count(t *testing.T, d *db.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := d.Gorm.Raw(q, args...).Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
