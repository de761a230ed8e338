package app

// Contract fuzzing: for every operation of web/openapi.yaml (paths x methods
// of the document, so a new route is covered as soon as it is documented)
// the suite sends the operation's valid request and many broken variants
// (wrong types, boundary and overflowing numbers, empty/huge/unicode/NUL/
// invalid-UTF-8 strings, missing, extra and duplicate fields, malformed
// query strings, odd headers and path parameters, HEAD), as anonymous,
// customer and admin, and asserts on every answer:
//   - no 5xx;
//   - every 4xx/5xx is an RFC 9457 problem (OFREP's own 400/404 bodies
//     excepted, as the document says) and leaks nothing internal;
//   - a request the document rejects is not accepted (2xx);
//   - the status is one the document lists for the operation;
//   - a refused request (4xx), and any GET or HEAD, changes no stored state
//     (every table is compared before and after, see contract_fuzz_state_test.go).
//
// CONTRACT_FUZZ_SEED fixes the generator (the seed is printed; a failure
// prints the exact request). CONTRACT_FUZZ_BUDGET bounds a run per store:
// a duration (default 60s, e.g. 10m for a long run) shared by the
// operations, or a number of requests per operation.
//
// Files: this one drives the service; contract_fuzz_gen_test.go generates
// requests; contract_fuzz_state_test.go snapshots the database;
// contract_fuzz_check_test.go holds the oracles and knownDefects.

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"example.com/productapi/platform/ids"
)

// fzOp is one documented operation.
type fzOp struct {
	method, path string // path is the document's template (/v1/products/{id})
	item         *openapi3.PathItem
	op           *openapi3.Operation
}

func (o *fzOp) id() string { return o.op.OperationID }

// fzOps lists the document's operations in a stable order.
func fzOps(c *openAPIContract) []*fzOp {
	var ops []*fzOp
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, &fzOp{method: method, path: path, item: item, op: op})
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].path != ops[j].path {
			return ops[i].path < ops[j].path
		}
		return ops[i].method < ops[j].method
	})
	return ops
}

// fzBudget is a run's bound: time shared by all operations, or requests per
// operation.
type fzBudget struct {
	total time.Duration
	perOp int
}

func (b fzBudget) String() string {
	if b.perOp > 0 {
		return fmt.Sprintf("%d requests per operation", b.perOp)
	}
	return b.total.String() + " per store"
}

func fzConfig(t *testing.T) (seed uint64, budget fzBudget) {
	t.Helper()
	seed = uint64(time.Now().UnixNano())
	if s := os.Getenv("CONTRACT_FUZZ_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CONTRACT_FUZZ_SEED=%q: %v", s, err)
		}
		seed = v
	}
	budget = fzBudget{total: 60 * time.Second}
	if s := os.Getenv("CONTRACT_FUZZ_BUDGET"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			budget = fzBudget{perOp: n}
		} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
			budget = fzBudget{total: d}
		} else {
			t.Fatalf("CONTRACT_FUZZ_BUDGET=%q: want a duration (60s, 10m) or a number of requests per operation", s)
		}
	}
	return seed, budget
}

func TestContractFuzz(t *testing.T) {
	contract := loadOpenAPIContract(t)
	seed, budget := fzConfig(t)
	t.Logf("contract fuzz: seed %d (rerun with CONTRACT_FUZZ_SEED=%d), budget %s", seed, seed, budget)
	ops := fzOps(contract)
	eachStore(t, func(t *testing.T, kind storeKind) {
		h := newFzHarness(t, kind, contract, seed)
		perOp := budget.total / time.Duration(len(ops))
		total := fzTally{}
		for _, op := range ops {
			// Each operation has its own generator: a failure reproduces with
			// the seed without replaying the operations before it.
			rng := rand.New(rand.NewPCG(seed, fzHash(op.id())))
			tally := h.fuzzOperation(op, rng, budget.perOp, perOp)
			total.add(tally)
			t.Logf("%-22s %-6s %-40s %s", op.id(), op.method, op.path, tally)
		}
		t.Logf("all %d operations: %s", len(ops), total)
		h.reportKnownDefects()
	})
}

func fzHash(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// fzTally counts requests and answers.
type fzTally struct {
	requests, refused, ok, failures, known int
	statuses                               map[int]int
}

func (t *fzTally) count(status int) {
	if t.statuses == nil {
		t.statuses = map[int]int{}
	}
	t.requests++
	t.statuses[status]++
	switch {
	case status >= 200 && status < 400:
		t.ok++
	case status >= 400 && status < 500:
		t.refused++
	}
}

func (t *fzTally) add(o fzTally) {
	t.requests += o.requests
	t.refused += o.refused
	t.ok += o.ok
	t.failures += o.failures
	t.known += o.known
	for s, n := range o.statuses {
		if t.statuses == nil {
			t.statuses = map[int]int{}
		}
		t.statuses[s] += n
	}
}

func (t fzTally) String() string {
	codes := make([]int, 0, len(t.statuses))
	for s := range t.statuses {
		codes = append(codes, s)
	}
	sort.Ints(codes)
	parts := make([]string, len(codes))
	for i, s := range codes {
		parts[i] = fmt.Sprintf("%d:%d", s, t.statuses[s])
	}
	return fmt.Sprintf("%d requests (%d ok, %d refused), %d failures, %d known defects [%s]",
		t.requests, t.ok, t.refused, t.failures, t.known, strings.Join(parts, " "))
}

// --- the harness ------------------------------------------------------------

// fzPrincipals are the callers a request is sent as.
var fzPrincipals = []string{"anonymous", "customer", "admin"}

// fzHarness is one running service with its fixtures: the callers, and the
// resources the operations' path parameters name.
type fzHarness struct {
	t        *testing.T
	kind     storeKind
	s        *testServer
	contract *openAPIContract
	seed     uint64
	n        int // uniquifies emails, SKUs, keys

	bootstrap string            // the bootstrap admin's token: mints callers, never fuzzed
	tokens    map[string]string // customer, admin -> access token
	userIDs   map[string]string // customer, admin -> user ID

	victimID     string // a customer that {id} of /v1/users names
	productID    string
	orderID      string
	deadLetterID string
	paidEvent    fzEvent // an orders.order_paid.v1 event the sales view handled

	state *fzState
	known map[string]int // knownDefects name -> hits
}

type fzEvent struct{ ID, Type, Key, Payload string }

// fzFlagKey is the flag the flag operations write: the service's own flags
// (kill switches, rate limiting) must stay on during the run.
const fzFlagKey = "fuzz.flag"

func newFzHarness(t *testing.T, kind storeKind, contract *openAPIContract, seed uint64) *fzHarness {
	t.Helper()
	h := &fzHarness{t: t, kind: kind, s: newServer(t, kind), contract: contract, seed: seed,
		tokens: map[string]string{}, userIDs: map[string]string{}, known: map[string]int{}}
	h.bootstrap = h.s.adminToken()
	h.victimID, _ = h.s.register(h.email("victim"))
	h.mint("customer")
	h.mint("admin")
	h.ensureProduct()
	h.orderID = h.newOrder()
	h.paidEvent = h.waitPaidEvent(h.orderID)
	r := h.s.do("PUT", "/v1/admin/flags/"+fzFlagKey, h.bootstrap, map[string]any{
		"state": "ENABLED", "variants": map[string]bool{"on": true, "off": false}, "defaultVariant": "on"})
	expect(t, r, 201)
	h.state = newFzState(t, h.s.app.db.Gorm, kind)
	return h
}

func (h *fzHarness) next() int { h.n++; return h.n }

func (h *fzHarness) email(who string) string {
	return fmt.Sprintf("fz-%s-%d-%d@example.com", who, h.seed%100000, h.next())
}

// mint registers a new caller (admins are promoted by the bootstrap admin)
// and logs it in.
func (h *fzHarness) mint(who string) {
	h.t.Helper()
	email := h.email(who)
	id, tok := h.s.register(email)
	if who == "admin" {
		expect(h.t, h.s.do("PATCH", "/v1/users/"+id, h.bootstrapToken(), map[string]string{"role": "admin"}), 200)
		tok = h.s.login(email, "customer-pass-1")
	}
	h.tokens[who], h.userIDs[who] = tok, id
}

// bootstrapToken is the bootstrap admin's token, renewed when it expired.
func (h *fzHarness) bootstrapToken() string {
	if h.s.do("GET", "/v1/users/me?fields=id", h.bootstrap, nil).Status != 200 {
		h.bootstrap = h.s.adminToken()
	}
	return h.bootstrap
}

// ensureCallers re-mints a caller a fuzzed request logged out, erased,
// demoted or otherwise changed.
func (h *fzHarness) ensureCallers() {
	for _, who := range []string{"customer", "admin"} {
		r := h.s.do("GET", "/v1/users/me?fields=role", h.tokens[who], nil)
		if r.Status != 200 || r.JSON(h.t)["role"] != who {
			h.mint(who)
		}
	}
}

// ensureProduct keeps a product with stock for orders and {id}.
func (h *fzHarness) ensureProduct() {
	if h.productID != "" {
		r := h.s.do("GET", "/v1/products/"+h.productID+"?fields=stock", "", nil)
		if r.Status == 200 && r.JSON(h.t)["stock"].(float64) >= 10 {
			return
		}
	}
	p := h.s.createProduct(h.bootstrapToken(), map[string]any{"sku": fmt.Sprintf("FZ-FIX-%d", h.next()), "stock": 1_000_000})
	h.productID = p["id"].(string)
}

// newOrder places an order of the customer.
func (h *fzHarness) newOrder() string {
	h.t.Helper()
	h.ensureProduct()
	r := h.s.do("POST", "/v1/orders", h.tokens["customer"],
		map[string]any{"items": []map[string]any{{"product_id": h.productID, "quantity": 1}}},
		"Idempotency-Key", fmt.Sprintf("fz-fixture-%d", h.next()))
	expect(h.t, r, 201)
	return r.JSON(h.t)["id"].(string)
}

// waitPaidEvent waits for the simulated payment of an order and for the
// sales view to handle its order_paid event: a dead letter of that event
// can be replayed without side effects (the consumer is idempotent).
func (h *fzHarness) waitPaidEvent(orderID string) fzEvent {
	h.t.Helper()
	gdb := h.s.app.db.Gorm
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ev fzEvent
		if err := gdb.Raw("SELECT id, type, key, payload FROM event_outbox WHERE type = ? AND key = ?", "orders.order_paid.v1", orderID).Scan(&ev).Error; err != nil {
			h.t.Fatal(err)
		}
		if ev.ID != "" {
			var n int64
			if err := gdb.Raw("SELECT count(*) FROM event_inbox WHERE consumer = ? AND event_id = ?", "orders-sales-view", ev.ID).Scan(&n).Error; err != nil {
				h.t.Fatal(err)
			}
			if n > 0 {
				return ev
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("order %s was never paid and handled by the sales view", orderID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newDeadLetter stores a dead letter of the paid event (as the bus does
// after the last failed attempt), so {id} of /v1/admin/dead-letters names
// one that can be read and replayed.
func (h *fzHarness) newDeadLetter() string {
	h.t.Helper()
	id := ids.New()
	ev := h.paidEvent
	if err := h.s.app.db.Gorm.Exec(`INSERT INTO event_dead_letters (id, consumer, event_id, event_type, event_key, payload, error, attempts, failed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, "orders-sales-view", ev.ID, ev.Type, ev.Key, ev.Payload, "contract fuzz: simulated failure", 8, time.Now().UTC()).Error; err != nil {
		h.t.Fatal(err)
	}
	return id
}

// prepare refreshes the fixtures an operation's path names, so each
// operation starts from resources in their initial state.
func (h *fzHarness) prepare(op *fzOp) {
	h.ensureCallers()
	h.ensureProduct()
	switch {
	case strings.HasPrefix(op.path, "/v1/orders/{"):
		h.orderID = h.newOrder()
	case strings.HasPrefix(op.path, "/v1/admin/dead-letters/{"):
		h.deadLetterID = h.newDeadLetter()
	}
	h.state.invalidate()
}

// pathValue is the valid value of a path parameter: the fixture the
// collection in front of it names.
func (h *fzHarness) pathValue(op *fzOp, name string) string {
	segs := strings.Split(op.path, "/")
	for i, s := range segs {
		if s != "{"+name+"}" || i == 0 {
			continue
		}
		switch segs[i-1] {
		case "users":
			return h.victimID
		case "products":
			return h.productID
		case "orders":
			return h.orderID
		case "dead-letters":
			return h.deadLetterID
		case "flags":
			if strings.HasPrefix(op.path, "/ofrep/") {
				return "orders.checkout_enabled"
			}
			return fzFlagKey
		}
	}
	// A parameter of a route added later: the document's example, else a
	// plain value; the suite still fuzzes around it.
	for _, p := range fzParams(op, openapi3.ParameterInPath) {
		if p.Name == name && p.Example != nil {
			return fmt.Sprint(p.Example)
		}
	}
	return "x"
}

// fuzzOperation sends the operation's requests until its budget is spent:
// first the valid request as every caller and each single mutation once
// (in a seeded order), then random combinations of mutations.
func (h *fzHarness) fuzzOperation(op *fzOp, rng *rand.Rand, maxRequests int, budget time.Duration) fzTally {
	h.prepare(op)
	g := newFzGen(h, op)
	deadline := time.Now().Add(budget)
	more := func(sent int) bool {
		if maxRequests > 0 {
			return sent < maxRequests
		}
		return time.Now().Before(deadline)
	}
	var tally fzTally
	muts := g.mutations()
	order := rng.Perm(len(muts))
	for i := 0; more(i); i++ {
		var d *fzDraft
		switch {
		case i < len(fzPrincipals):
			d = g.baseline(rng, fzPrincipals[i])
		case i-len(fzPrincipals) < len(muts):
			d = g.baseline(rng, fzPrincipals[rng.IntN(len(fzPrincipals))])
			d.apply(muts[order[i-len(fzPrincipals)]], rng)
		default:
			d = g.baseline(rng, fzPrincipals[rng.IntN(len(fzPrincipals))])
			for n := 1 + rng.IntN(3); n > 0; n-- {
				d.apply(muts[rng.IntN(len(muts))], rng)
			}
		}
		h.exchange(op, d, &tally)
		if h.t.Failed() && tally.failures >= 20 {
			h.t.Errorf("%s: stopping after %d failures", op.id(), tally.failures)
			break
		}
	}
	return tally
}

// exchange sends one request, checks the answer and keeps the fixtures
// usable after a request that changed them.
func (h *fzHarness) exchange(op *fzOp, d *fzDraft, tally *fzTally) {
	h.t.Helper()
	req := d.build()
	safe := req.method == "GET" || req.method == "HEAD"
	before := h.state.before()
	resp := h.send(req)
	tally.count(resp.Status)
	var after *fzSnapshot
	if resp.Status >= 400 && resp.Status < 500 || safe {
		after = h.state.after()
	}
	for _, f := range h.check(op, req, resp, before, after) {
		if name := matchKnownDefect(h.kind, req, resp, f); name != "" {
			h.known[name]++
			tally.known++
			continue
		}
		tally.failures++
		if tally.failures <= 5 {
			h.t.Errorf("%s: %s\n%s", op.id(), f.message, fzDescribe(h.seed, req, resp))
		}
	}
	if resp.Status < 400 && !safe || resp.Status >= 500 {
		// The request changed something (or may have): callers and
		// fixtures may be gone, and the state must settle again.
		h.ensureCallers()
		h.ensureProduct()
		h.state.invalidate()
	}
}

func (h *fzHarness) reportKnownDefects() {
	for _, name := range oaSortedKeys(h.known) {
		h.t.Logf("skipped (knownDefects) %d x %s", h.known[name], name)
	}
}

// send performs the request exactly as built (raw path and query).
func (h *fzHarness) send(r *fzRequest) response {
	h.t.Helper()
	var body io.Reader = http.NoBody
	if r.body != nil {
		body = bytes.NewReader(r.body)
		if r.chunked {
			// No Content-Length: the size limit must hold for a stream too.
			body = io.MultiReader(bytes.NewReader(r.body))
		}
	}
	req, err := http.NewRequest(r.method, h.s.srv.URL+"/", body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.URL.Opaque = r.rawPath
	req.URL.RawQuery = r.rawQuery
	req.Header = r.header.Clone()
	res, err := fzClient.Do(req)
	var raw []byte
	if err == nil {
		raw, err = io.ReadAll(res.Body)
		_ = res.Body.Close()
	}
	if err != nil {
		if !fzParsableTarget(r) {
			// net/http answers an unparsable request target with a bare 400
			// and closes the connection, which can reset it while a large
			// request is still being written: the same transport refusal.
			return response{Status: http.StatusBadRequest, Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}}
		}
		h.t.Fatalf("transport error: %v\n%s", err, fzDescribe(h.seed, r, response{}))
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: raw}
}

// fzClient follows no redirects: a 3xx is an answer to check.
var fzClient = &http.Client{
	Timeout:       60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
