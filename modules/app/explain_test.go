package app

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"example.com/productapi/web"
)

// TestKeysetQueryUsesIndexRangeScan checks on Postgres that every list
// ordering the API offers is served by an index range scan: for each sort
// (both directions, read from the OpenAPI contract so a new sort cannot
// skip this test) and for the category filter with the default sort, the
// planner must read the (sort column, id) index in the sort's direction,
// with the cursor's row-value predicate as the index condition, and
// neither sort rows nor scan the table. That is what makes page 5,000 cost
// what page 1 costs.
//
// The SQL is not rebuilt here: a GORM callback records the statement and
// bind values the store really sends while the test walks the list over
// HTTP (the store's query builder lives in an internal package), and the
// test asks Postgres to EXPLAIN exactly that statement with those values.
// The planner is not nudged (no enable_seqscan = off): the table has
// enough rows and fresh statistics for the index to win on its merits, so
// a missing or unusable index fails the test.
func TestKeysetQueryUsesIndexRangeScan(t *testing.T) {
	requirePostgres(t)
	const (
		rows  = 5000
		limit = 100
	)
	queries := &listQueries{}
	s := startServer(t, testConfig(t, postgresStore), func(a *App) { a.onOpen = queries.register })
	ctx := context.Background()
	if err := s.app.products.Seeder().Seed(ctx, rows, 1000, func(int) {}); err != nil {
		t.Fatalf("seed: %v", err)
	}
	if err := s.app.db.Gorm.Exec("ANALYZE products").Error; err != nil {
		t.Fatal(err)
	}

	type listCase struct {
		name, query string
		keys        []string // index keys the plan may range-scan, e.g. "created_at, id"
		desc        bool
		matching    int // rows the list has
	}
	var cases []listCase
	for _, sortBy := range productSorts(t) {
		field, desc := strings.CutPrefix(sortBy, "-")
		cases = append(cases, listCase{"sort=" + sortBy, "sort=" + url.QueryEscape(sortBy), []string{field + ", id"}, desc, rows})
	}
	// A filtered list keeps its keyset range scan: on the (category,
	// created_at, id) index, or, when the planner expects the category to be
	// common (1 in 8 here), on (created_at, id) with category as a filter.
	var books int
	if err := s.app.db.Gorm.Raw("SELECT count(*) FROM products WHERE category = 'books'").Scan(&books).Error; err != nil {
		t.Fatal(err)
	}
	cases = append(cases, listCase{"category+default_sort", "category=books", []string{"category, created_at, id", "created_at, id"}, true, books})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v1/products?limit=" + strconv.Itoa(limit) + "&" + tc.query
			queries.reset()
			first, _ := s.page(t, path)
			checkKeysetPlan(t, s, queries.last(t), tc.keys, tc.desc, false)

			// Walk to the middle of the list, then explain the page query
			// that carries the cursor predicate.
			next := first.NextCursor
			for i := 1; i < tc.matching/limit/2; i++ {
				if next == nil {
					t.Fatalf("walk ended after %d pages", i)
				}
				p, _ := s.page(t, path+"&cursor="+url.QueryEscape(*next))
				next = p.NextCursor
			}
			if next == nil {
				t.Fatal("no cursor for the middle page")
			}
			queries.reset()
			s.page(t, path+"&cursor="+url.QueryEscape(*next))
			checkKeysetPlan(t, s, queries.last(t), tc.keys, tc.desc, true)
		})
	}
}

// productSorts reads the sort values GET /v1/products accepts from the
// OpenAPI document.
func productSorts(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	var get struct {
		Parameters []struct {
			Name   string `json:"name"`
			Schema struct {
				Enum []string `json:"enum"`
			} `json:"schema"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(web.OpenAPIJSON(), &doc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(doc.Paths["/v1/products"]["get"], &get); err != nil {
		t.Fatalf("OpenAPI: GET /v1/products: %v", err)
	}
	for _, p := range get.Parameters {
		if p.Name == "sort" && len(p.Schema.Enum) > 0 {
			return p.Schema.Enum
		}
	}
	t.Fatal("OpenAPI: GET /v1/products has no sort enum")
	return nil
}

// statement is one SQL statement as the store sent it.
type statement struct {
	sql  string
	vars []any
}

// listQueries records the products list queries (the SELECTs with an
// ORDER BY) that GORM runs.
type listQueries struct {
	mu   sync.Mutex
	seen []statement
}

// register records the products list queries from now on; it must run
// before anything else uses db (App.onOpen).
func (q *listQueries) register(db *gorm.DB) error {
	return db.Callback().Query().After("gorm:query").Register("explain_test:capture", func(tx *gorm.DB) {
		sql := tx.Statement.SQL.String()
		if tx.Statement.Table != "products" || !strings.Contains(sql, "ORDER BY") {
			return
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		q.seen = append(q.seen, statement{sql: sql, vars: slices.Clone(tx.Statement.Vars)})
	})
}

func (q *listQueries) reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seen = nil
}

func (q *listQueries) last(t *testing.T) statement {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.seen) == 0 {
		t.Fatal("the request ran no products list query (served from cache?)")
	}
	return q.seen[len(q.seen)-1]
}

// planNode is one node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType  string     `json:"Node Type"`
	IndexName string     `json:"Index Name"`
	Direction string     `json:"Scan Direction"`
	IndexCond string     `json:"Index Cond"`
	Filter    string     `json:"Filter"`
	Plans     []planNode `json:"Plans"`
}

func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// checkKeysetPlan explains st and requires an index (only) scan of an index
// keyed exactly on one of keys, in the sort's direction, with no Sort and no
// Seq Scan anywhere; with a cursor, the row-value predicate must be part of
// the index condition (a range scan), not a filter on rows already read.
//
// Both plans Postgres may run are checked: the custom plan for these bind
// values, and the generic plan. pgx sends the store's queries as prepared
// statements, and after five executions the plan cache may switch a
// statement to its generic plan, planned without the values.
func checkKeysetPlan(t *testing.T, s *testServer, st statement, keys []string, desc, cursor bool) {
	t.Helper()
	if hasPredicate := strings.Contains(st.sql, ") < (") || strings.Contains(st.sql, ") > ("); hasPredicate != cursor {
		t.Fatalf("cursor=%v but the statement is %s", cursor, st.sql)
	}
	for _, generic := range []bool{false, true} {
		raw := explain(t, s, st, generic)
		var plans []struct {
			Plan planNode `json:"Plan"`
		}
		if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
			t.Fatalf("explain output %s: %v", raw, err)
		}
		kind := "custom plan"
		if generic {
			kind = "generic plan"
		}
		failed := false
		fail := func(format string, args ...any) {
			t.Helper()
			failed = true
			t.Errorf(kind+": "+format, args...)
		}
		var scans []planNode
		plans[0].Plan.walk(func(n planNode) {
			switch n.NodeType {
			case "Sort", "Incremental Sort", "Seq Scan", "Bitmap Heap Scan":
				fail("plan has a %s node", n.NodeType)
			case "Index Scan", "Index Only Scan":
				scans = append(scans, n)
			}
		})
		if len(scans) != 1 {
			fail("want exactly one index scan, plan has %d", len(scans))
		}
		wantDir := "Forward"
		if desc {
			wantDir = "Backward"
		}
		for _, n := range scans {
			var def string
			if err := s.app.db.Gorm.Raw("SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ?", n.IndexName).
				Scan(&def).Error; err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(keys, func(k string) bool { return strings.HasSuffix(def, "("+k+")") }) {
				fail("scans index %s = %q, want one keyed on (%s)", n.IndexName, def, strings.Join(keys, ") or ("))
			}
			if n.Direction != wantDir {
				fail("scan direction %q, want %q", n.Direction, wantDir)
			}
			if cursor && !strings.Contains(n.IndexCond, "ROW(") {
				fail("cursor predicate is not an index condition (Index Cond %q, Filter %q)", n.IndexCond, n.Filter)
			}
			if strings.Contains(n.Filter, "ROW(") {
				fail("cursor predicate is applied as a filter: %q", n.Filter)
			}
		}
		if failed {
			t.Logf("statement: %s\nvars: %v\n%s: %s", st.sql, st.vars, kind, raw)
		}
	}
}

// explain returns EXPLAIN (FORMAT JSON) of st: the custom plan for its bind
// values, or the generic plan of st prepared on one connection with
// plan_cache_mode = force_generic_plan (Postgres 15 has no EXPLAIN
// (GENERIC_PLAN)); the values are then written as literals.
func explain(t *testing.T, s *testServer, st statement, generic bool) []byte {
	t.Helper()
	ctx := context.Background()
	var raw []byte
	if !generic {
		if err := s.app.db.SQL.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) "+st.sql, st.vars...).Scan(&raw); err != nil {
			t.Fatalf("explain %s: %v", st.sql, err)
		}
		return raw
	}
	conn, err := s.app.db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	args := make([]string, len(st.vars))
	for i, v := range st.vars {
		args[i] = sqlLiteral(t, v)
	}
	for _, q := range []string{"SET plan_cache_mode = force_generic_plan", "PREPARE keyset_probe AS " + st.sql} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	defer func() {
		_, _ = conn.ExecContext(ctx, "DEALLOCATE keyset_probe")
		_, _ = conn.ExecContext(ctx, "RESET plan_cache_mode")
	}()
	q := "EXPLAIN (FORMAT JSON) EXECUTE keyset_probe(" + strings.Join(args, ", ") + ")"
	if err := conn.QueryRowContext(ctx, q).Scan(&raw); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return raw
}

// sqlLiteral writes a bind value the store uses as an SQL literal.
func sqlLiteral(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case time.Time:
		return "'" + v.UTC().Format("2006-01-02 15:04:05.999999999Z07:00") + "'"
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	t.Fatalf("no literal for bind value %#v (%T)", v, v)
	return ""
}
