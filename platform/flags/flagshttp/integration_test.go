package flagshttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/audit/audithttp"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/flags"
	"example.com/productapi/platform/flags/flagshttp"
	"example.com/productapi/platform/flags/flagstore"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/query"
	"example.com/productapi/platform/routemeta"
)

type instance struct {
	flags  *flags.Flags
	audit  *audit.Log
	router *gin.Engine
	reg    *prometheus.Registry
	token  string
}

var domainSeq struct {
	sync.Mutex
	n int
}

func newInstance(t *testing.T, d *db.DB, rc *redis.Client, ns, seed string) *instance {
	t.Helper()
	domainSeq.Lock()
	domainSeq.n++
	domain := fmt.Sprintf("%s-%d", t.Name(), domainSeq.n)
	domainSeq.Unlock()
	cursors := query.NewCodec([]byte("test-cursor-key-0123456789abcdef"))
	reg := prometheus.NewRegistry()
	al := audit.New(d.Gorm)
	f, err := flags.New(context.Background(), flags.Options{Source: flagstore.New(d.Gorm), Redis: rc, Namespace: ns, SeedFile: seed,
		Registerer: reg, Domain: domain, PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.Start(ctx)
	t.Cleanup(func() { cancel(); f.Close() })

	tokens := auth.NewTokens([]byte("test-signing-key-0123456789abcdef"), "test", time.Hour)
	tok, err := tokens.Issue("admin-1", auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	r.Use(httpx.Base(slogDiscard(), 1<<20)...)
	r.Use(flagshttp.Middleware())
	v1 := r.Group("/v1", tokens.Authenticate())
	admin := v1.Group("", auth.Require(auth.RoleAdmin))
	routes := routemeta.NewTable()
	flagshttp.AdminRoutes(routes.On(admin), flagstore.NewAdmin(d.Gorm, al, f), cursors, "")
	audithttp.Routes(routes.On(admin), al, cursors, "")
	flagshttp.OFREPRoutes(routes.On(&r.RouterGroup), f)
	return &instance{flags: f, audit: al, router: r, reg: reg, token: tok}
}

func (in *instance) do(t *testing.T, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if strings.HasPrefix(path, "/v1/") {
		req.Header.Set("Authorization", "Bearer "+in.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	in.router.ServeHTTP(w, req)
	return w
}

func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("status %d body %q: %v", w.Code, w.Body.String(), err)
	}
	return m
}

const seedJSON = `{"$schema":"https://flagd.dev/schema/v0/flags.json","flags":{
 "orders.checkout_enabled":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on","metadata":{"description":"kill switch"}},
 "extra.colour":{"state":"ENABLED","variants":{"red":"r","blue":"b"},"defaultVariant":"red"}}}`

func writeSeed(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "flags.json")
	if err := os.WriteFile(p, []byte(seedJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSeedInsertsMissingOnlyAndRegistryDefaults(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			d := st.Open(t)
			a := newInstance(t, d, nil, "seed", writeSeed(t))
			ctx := context.Background()
			for _, k := range []string{checkoutEnabled, searchEnabled, flags.L2CacheEnabled, flags.RateLimitEnabled} {
				if !a.flags.Bool(ctx, k, false) {
					t.Fatalf("%s not on by default", k)
				}
			}
			// An operator change survives a restart with the seed file.
			w := a.do(t, http.MethodPut, "/v1/admin/flags/"+checkoutEnabled, `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`)
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			b := newInstance(t, d, nil, "seed", writeSeed(t))
			if b.flags.Bool(ctx, checkoutEnabled, true) {
				t.Fatal("seed overwrote an operator change")
			}
			w = b.do(t, http.MethodGet, "/v1/admin/flags/"+searchEnabled, "")
			if m := decode(t, w); w.Code != 200 || m["metadata"].(map[string]any)["description"] == "" {
				t.Fatalf("%d %v", w.Code, m)
			}
		})
	}
}

// Two instances on one database (and one Redis when available) see a PUT
// within 2 s and emit PROVIDER_CONFIGURATION_CHANGED with the key.
func TestChangePropagatesToOtherInstance(t *testing.T) {
	for _, st := range stores(t) {
		modes := []string{"poll"}
		if st.Name == "postgres" && os.Getenv("TEST_REDIS_URL") != "" {
			modes = append(modes, "pubsub")
		}
		for _, mode := range modes {
			t.Run(st.Name+"/"+mode, func(t *testing.T) {
				d := st.Open(t)
				var rc *redis.Client
				ns := fmt.Sprintf("flagstest%d", time.Now().UnixNano())
				if mode == "pubsub" {
					rc = testRedis(t)
				}
				a := newInstance(t, d, rc, ns, "")
				b := newInstance(t, d, rc, ns, "")
				changed := make(chan []string, 8)
				cb := func(e openfeature.EventDetails) { changed <- e.FlagChanges }
				b.flags.Client().AddHandler(openfeature.ProviderConfigChange, &cb)

				ctx := context.Background()
				if !b.flags.Bool(ctx, searchEnabled, false) {
					t.Fatal("precondition: search on")
				}
				start := time.Now()
				w := a.do(t, http.MethodPut, "/v1/admin/flags/"+searchEnabled,
					`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`)
				if w.Code != http.StatusOK {
					t.Fatalf("%d %s", w.Code, w.Body)
				}
				if a.flags.Bool(ctx, searchEnabled, true) {
					t.Fatal("the writer does not see its own change at once")
				}
				for b.flags.Bool(ctx, searchEnabled, true) {
					if time.Since(start) > 2*time.Second {
						t.Fatal("other instance did not see the change within 2 s")
					}
					time.Sleep(20 * time.Millisecond)
				}
				select {
				case keys := <-changed:
					if len(keys) != 1 || keys[0] != searchEnabled {
						t.Fatalf("changed keys %v", keys)
					}
				case <-time.After(2 * time.Second):
					t.Fatal("no PROVIDER_CONFIGURATION_CHANGED event")
				}
				src := "poll"
				if mode == "pubsub" {
					src = "pubsub"
				}
				if n := testutil.ToFloat64(counterVec(t, b.reg, "flags_refresh_total", src)); n < 1 {
					// with pubsub a poll may win the race; either must have fired
					if testutil.ToFloat64(counterVec(t, b.reg, "flags_refresh_total", "poll")) < 1 {
						t.Fatalf("no %s refresh counted", src)
					}
				}
			})
		}
	}
}

// counterVec reads flags_refresh_total{source=src} from a registry.
func counterVec(t *testing.T, reg *prometheus.Registry, name, src string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == src {
					g.Set(m.GetCounter().GetValue())
				}
			}
		}
	}
	return g
}

func TestAdminRoutes(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			d := st.Open(t)
			a := newInstance(t, d, nil, "admin", writeSeed(t))
			ctx := context.Background()

			// list
			w := a.do(t, http.MethodGet, "/v1/admin/flags?limit=2", "")
			m := decode(t, w)
			if w.Code != 200 || len(m["data"].([]any)) != 2 || m["next_cursor"] == nil {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			first := m["data"].([]any)[0].(map[string]any)
			for _, f := range []string{"key", "state", "variants", "defaultVariant", "metadata", "version", "updated_at", "updated_by"} {
				if _, ok := first[f]; !ok {
					t.Fatalf("list item lacks %s: %v", f, first)
				}
			}
			w = a.do(t, http.MethodGet, "/v1/admin/flags?cursor="+m["next_cursor"].(string)+"&limit=100", "")
			if m2 := decode(t, w); w.Code != 200 || len(m2["data"].([]any)) != 3 { // 5 flags: 4 registered + extra.colour
				t.Fatalf("%d %s", w.Code, w.Body)
			}

			// get, unknown
			if w := a.do(t, http.MethodGet, "/v1/admin/flags/no.such.flag", ""); w.Code != 404 {
				t.Fatalf("unknown: %d", w.Code)
			}
			w = a.do(t, http.MethodGet, "/v1/admin/flags/"+checkoutEnabled, "")
			etag := w.Header().Get("ETag")
			if w.Code != 200 || etag != `"1"` {
				t.Fatalf("%d etag %q", w.Code, etag)
			}
			cur := decode(t, w)

			// invalid -> 422 listing problems; old one keeps serving
			w = a.do(t, http.MethodPut, "/v1/admin/flags/"+checkoutEnabled, `{"state":"MAYBE","variants":{"on":true,"off":"no"},"defaultVariant":"gone"}`)
			p := decode(t, w)
			if w.Code != 422 || len(p["errors"].([]any)) < 3 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if !a.flags.Bool(ctx, checkoutEnabled, false) {
				t.Fatal("invalid PUT changed the flag")
			}
			// unknown field -> 400; wrong content type -> 415
			if w := a.do(t, http.MethodPut, "/v1/admin/flags/"+checkoutEnabled, `{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","bogus":1}`); w.Code != 400 {
				t.Fatalf("unknown field: %d %s", w.Code, w.Body)
			}

			// PUT back what we read (read-only fields ignored), with If-Match.
			cur["defaultVariant"] = "off"
			cur["metadata"].(map[string]any)["updated_at"] = "whatever"
			body, _ := json.Marshal(cur)
			w = a.do(t, http.MethodPut, "/v1/admin/flags/"+checkoutEnabled, string(body), "If-Match", etag)
			if w.Code != 200 || w.Header().Get("ETag") != `"2"` {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if got := decode(t, w); got["version"].(float64) != 2 || got["updated_by"] != "admin-1" || got["defaultVariant"] != "off" {
				t.Fatalf("%v", got)
			} else if _, ok := got["metadata"].(map[string]any)["updated_at"]; ok {
				t.Fatal("read-only metadata stored")
			}
			if a.flags.Bool(ctx, checkoutEnabled, true) {
				t.Fatal("change not served")
			}
			// stale If-Match -> 412
			if w := a.do(t, http.MethodPut, "/v1/admin/flags/"+checkoutEnabled, string(body), "If-Match", etag); w.Code != 412 {
				t.Fatalf("stale If-Match: %d", w.Code)
			}
			// If-Match: * needs a current flag: it never creates one.
			if w := a.do(t, http.MethodPut, "/v1/admin/flags/web.star", `{"state":"ENABLED","variants":{"a":"x"},"defaultVariant":"a"}`, "If-Match", "*"); w.Code != 412 {
				t.Fatalf("If-Match * on a missing flag: %d %s", w.Code, w.Body)
			}
			// create -> 201
			w = a.do(t, http.MethodPut, "/v1/admin/flags/web.banner", `{"state":"ENABLED","variants":{"a":"hello"},"defaultVariant":"a"}`)
			if w.Code != 201 || w.Header().Get("Location") == "" {
				t.Fatalf("create: %d %s", w.Code, w.Body)
			}
			// invalid key -> 422
			if w := a.do(t, http.MethodPut, "/v1/admin/flags/Bad%20Key", `{"state":"ENABLED","variants":{"a":"x"},"defaultVariant":"a"}`); w.Code != 422 {
				t.Fatalf("bad key: %d", w.Code)
			}

			// audit trail: newest first, with before/after
			w = a.do(t, http.MethodGet, "/v1/admin/audit?action=flags.update", "")
			m = decode(t, w)
			items := m["data"].([]any)
			if w.Code != 200 || len(items) != 1 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			e := items[0].(map[string]any)
			if e["actor_id"] != "admin-1" || e["actor_role"] != "admin" || e["target_id"] != checkoutEnabled || e["request_id"] == "" ||
				e["before"].(map[string]any)["defaultVariant"] != "on" || e["after"].(map[string]any)["defaultVariant"] != "off" {
				t.Fatalf("audit entry %v", e)
			}
			w = a.do(t, http.MethodGet, "/v1/admin/audit", "")
			all := decode(t, w)["data"].([]any)
			if len(all) != 2 || all[0].(map[string]any)["action"] != "flags.create" || all[1].(map[string]any)["before"] == nil {
				t.Fatalf("audit list %s", w.Body)
			}
			if all[0].(map[string]any)["before"] != nil {
				t.Fatal("create has a before")
			}
			// A PUT answers with its result even when If-None-Match matches it.
			if w := a.do(t, http.MethodPut, "/v1/admin/flags/"+checkoutEnabled, string(body), "If-None-Match", `"3"`); w.Code != 200 || w.Body.Len() == 0 {
				t.Fatalf("PUT with If-None-Match: %d %q", w.Code, w.Body)
			}
		})
	}
}

func TestOFREP(t *testing.T) {
	d := openSQLite(t)
	a := newInstance(t, d, nil, "ofrep", writeSeed(t))
	put := a.do(t, http.MethodPut, "/v1/admin/flags/beta.users", `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off",
		"targeting":{"if":[{"in":[{"var":"targetingKey"},["u1","u2"]]},"on",null]},"metadata":{"description":"beta"}}`)
	if put.Code != 201 {
		t.Fatalf("%d %s", put.Code, put.Body)
	}
	a.do(t, http.MethodPut, "/v1/admin/flags/old.thing", `{"state":"DISABLED","variants":{"on":true},"defaultVariant":"on"}`)

	cases := []struct {
		name, path, body string
		status           int
		want             map[string]any
	}{
		{"match", "/ofrep/v1/evaluate/flags/beta.users", `{"context":{"targetingKey":"u1"}}`, 200,
			map[string]any{"key": "beta.users", "value": true, "reason": "TARGETING_MATCH", "variant": "on"}},
		{"default", "/ofrep/v1/evaluate/flags/beta.users", `{"context":{"targetingKey":"u9"}}`, 200,
			map[string]any{"key": "beta.users", "value": false, "reason": "DEFAULT", "variant": "off"}},
		{"static string", "/ofrep/v1/evaluate/flags/extra.colour", `{"context":{}}`, 200,
			map[string]any{"value": "r", "reason": "STATIC", "variant": "red"}},
		{"empty body", "/ofrep/v1/evaluate/flags/extra.colour", ``, 200, map[string]any{"value": "r"}},
		{"disabled: no value", "/ofrep/v1/evaluate/flags/old.thing", `{"context":{}}`, 200, map[string]any{"reason": "DISABLED", "value": nil}},
		{"not found", "/ofrep/v1/evaluate/flags/nope", `{"context":{}}`, 404,
			map[string]any{"key": "nope", "errorCode": "FLAG_NOT_FOUND"}},
		{"malformed", "/ofrep/v1/evaluate/flags/beta.users", `{"context":`, 400,
			map[string]any{"key": "beta.users", "errorCode": "PARSE_ERROR"}},
		{"context not object", "/ofrep/v1/evaluate/flags/beta.users", `{"context":[1]}`, 400,
			map[string]any{"key": "beta.users", "errorCode": "INVALID_CONTEXT"}},
		{"targetingKey not string", "/ofrep/v1/evaluate/flags/beta.users", `{"context":{"targetingKey":7}}`, 400,
			map[string]any{"errorCode": "INVALID_CONTEXT"}},
		{"bulk bad body", "/ofrep/v1/evaluate/flags", `[]`, 400, map[string]any{"errorCode": "PARSE_ERROR"}},
		{"NUL in the context", "/ofrep/v1/evaluate/flags/beta.users", `{"context":{"targetingKey":"u\u0000"}}`, 400,
			map[string]any{"key": "beta.users", "errorCode": "PARSE_ERROR"}},
		{"invalid UTF-8", "/ofrep/v1/evaluate/flags", "{\"context\":{\"targetingKey\":\"\xff\"}}", 400,
			map[string]any{"errorCode": "PARSE_ERROR"}},
		{"null body", "/ofrep/v1/evaluate/flags/beta.users", `null`, 400, map[string]any{"errorCode": "PARSE_ERROR"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := a.do(t, http.MethodPost, tc.path, tc.body)
			m := decode(t, w)
			if w.Code != tc.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			for k, v := range tc.want {
				if fmt.Sprint(m[k]) != fmt.Sprint(v) {
					t.Fatalf("%s = %v, want %v (%s)", k, m[k], v, w.Body)
				}
			}
			if tc.status == 200 {
				if _, ok := m["metadata"].(map[string]any); !ok {
					t.Fatalf("no metadata object: %s", w.Body)
				}
			}
		})
	}

	t.Run("bulk with ETag", func(t *testing.T) {
		body := `{"context":{"targetingKey":"u1"}}`
		w := a.do(t, http.MethodPost, "/ofrep/v1/evaluate/flags", body)
		m := decode(t, w)
		etag := w.Header().Get("ETag")
		if w.Code != 200 || etag == "" {
			t.Fatalf("%d %q %s", w.Code, etag, w.Body)
		}
		list := m["flags"].([]any)
		found := false
		for _, it := range list {
			e := it.(map[string]any)
			if e["key"] == "beta.users" {
				found = e["value"] == true && e["reason"] == "TARGETING_MATCH"
			}
		}
		if !found || len(list) != 7 { // every flag of the table: the seed's, this test's and the registered ones
			t.Fatalf("bulk %s", w.Body)
		}
		if w := a.do(t, http.MethodPost, "/ofrep/v1/evaluate/flags", body, "If-None-Match", etag); w.Code != 304 || w.Body.Len() != 0 {
			t.Fatalf("If-None-Match: %d", w.Code)
		}
		// Another context sees other values: another ETag.
		if w := a.do(t, http.MethodPost, "/ofrep/v1/evaluate/flags", `{"context":{"targetingKey":"u9"}}`, "If-None-Match", etag); w.Code != 200 {
			t.Fatalf("other context: %d", w.Code)
		}
		// A change to a flag changes the ETag.
		a.do(t, http.MethodPut, "/v1/admin/flags/extra.colour", `{"state":"ENABLED","variants":{"red":"r","blue":"b"},"defaultVariant":"blue"}`)
		if w := a.do(t, http.MethodPost, "/ofrep/v1/evaluate/flags", body, "If-None-Match", etag); w.Code != 200 {
			t.Fatalf("after change: %d", w.Code)
		}
	})

	// Evaluations are counted per key/variant/reason.
	if n := testutil.CollectAndCount(a.reg, "flag_evaluations_total"); n == 0 {
		t.Fatal("no evaluation metrics")
	}
}

func TestMiddlewareBuildsEvaluationContext(t *testing.T) {
	r := gin.New()
	tokens := auth.NewTokens([]byte("test-signing-key-0123456789abcdef"), "test", time.Hour)
	var got openfeature.EvaluationContext
	r.Use(flagshttp.Middleware())
	r.GET("/v1/x", tokens.Authenticate(), func(c *gin.Context) { got = flags.EvalContextFrom(c.Request.Context()) })
	tok, _ := tokens.Issue("user-7", auth.RoleCustomer)
	req := httptest.NewRequest(http.MethodGet, "/v1/x", bytes.NewReader(nil))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", "ua/1")
	r.ServeHTTP(httptest.NewRecorder(), req)
	attrs := got.Attributes()
	if got.TargetingKey() != "user-7" || attrs["role"] != "customer" || attrs["path"] != "/v1/x" || attrs["user_agent"] != "ua/1" || attrs["ip"] == nil {
		t.Fatalf("%q %v", got.TargetingKey(), attrs)
	}
	// anonymous: sticky per client IP
	req = httptest.NewRequest(http.MethodGet, "/v1/x", nil)
	r.ServeHTTP(httptest.NewRecorder(), req)
	if !strings.HasPrefix(got.TargetingKey(), "anon:") || got.Attributes()["authenticated"] != false {
		t.Fatalf("%q %v", got.TargetingKey(), got.Attributes())
	}
}
