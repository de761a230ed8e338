package app

// OpenAPI conformance: web/openapi.yaml is the published contract, so the
// suite fails when
//   - a registered route is missing from the document, or the document
//     promises an operation the router does not serve
//     (TestEveryRouteIsDocumented);
//   - a real request/response pair does not validate against the document
//     (TestResponsesMatchOpenAPI): every exchange of a realistic flow on each
//     store goes through kin-openapi's openapi3filter.ValidateRequest and
//     ValidateResponse, plus the checks kin-openapi leaves out (304 and 204
//     responses, undocumented statuses, headers and query parameters,
//     X-Request-ID on every response, security requirements).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"example.com/productapi/platform/ids"
	"example.com/productapi/web"
)

// undocumentedRoutes are registered routes that are deliberately not part of
// the API document, each with the reason. Keep it empty unless a route is
// truly not API surface (e.g. static files of an operator console); the
// operational endpoints (/livez, /readyz, /metrics) and the documentation
// endpoints (/openapi.yaml, /openapi.json, /docs) are documented.
var undocumentedRoutes = map[string]string{
	"GET /admin/{path}": "the operator console's static files (HTML, JS, CSS), not API; tested by console_test.go and the browser test",
	"GET /docs/{file}":  "the script and style of the /docs page, not API; tested by console_test.go and the browser test",
}

// oaGinParam matches gin path parameters (:id) and wildcards (*path).
var oaGinParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// oaPath converts a gin route path to an OpenAPI path template.
func oaPath(ginPath string) string { return oaGinParam.ReplaceAllString(ginPath, "{$1}") }

func TestEveryRouteIsDocumented(t *testing.T) {
	contract := loadOpenAPIContract(t)
	s := newServer(t, sqliteStore) // routes do not depend on the store

	registered := map[string]bool{}
	for _, r := range s.app.router.Routes() {
		registered[r.Method+" "+oaPath(r.Path)] = true
	}
	documented := map[string]string{}
	for path, item := range contract.doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+path] = op.OperationID
		}
	}

	for _, key := range oaSortedKeys(registered) {
		_, isDocumented := documented[key]
		reason, allowed := undocumentedRoutes[key]
		switch {
		case allowed && isDocumented:
			t.Errorf("%s is documented but still listed in undocumentedRoutes (%s): remove it from the list", key, reason)
		case !allowed && !isDocumented:
			t.Errorf("route %s is registered but not documented in web/openapi.yaml", key)
		}
	}
	for key := range undocumentedRoutes {
		if !registered[key] {
			t.Errorf("undocumentedRoutes lists %s, which is not registered: remove it", key)
		}
	}
	for _, key := range oaSortedKeys(documented) {
		if !registered[key] {
			t.Errorf("web/openapi.yaml documents %s (operationId %s) but no such route is registered", key, documented[key])
		}
	}
}

func oaSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// --- the contract -----------------------------------------------------------

// openAPIContract is web/openapi.yaml loaded for validation.
type openAPIContract struct {
	doc    *openapi3.T
	router routers.Router
}

// serverOnlySchemas are the shapes only the service produces. The published
// document leaves them open (clients should tolerate new properties); here
// they are closed (additionalProperties: false) so that a property the
// service sends but the document does not describe fails the test.
var serverOnlySchemas = []string{"Problem", "FieldError", "Liveness", "Readiness", "User", "UserExport", "UserList", "TokenResponse", "Product", "ProductList",
	"Order", "OrderItem", "OrderList", "ProductSales", "ProductSalesList", "Flag", "FlagList", "AuditEntry", "AuditList",
	"DeadLetter", "DeadLetterList", "AdminStats", "AdminStatsRoute", "AdminStatsCacheLevel", "OfrepEvaluationSuccess", "OfrepEvaluationFailure", "OfrepFlagNotFound",
	"OfrepBulkEvaluationSuccess", "OfrepBulkEvaluationFailure"}

func loadOpenAPIContract(t *testing.T) *openAPIContract {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(web.OpenAPIYAML())
	if err != nil {
		t.Fatalf("load web/openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("web/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	closed := false
	for _, name := range serverOnlySchemas {
		ref := doc.Components.Schemas[name]
		if ref == nil || ref.Value == nil {
			t.Fatalf("web/openapi.yaml has no schema %s", name)
		}
		if ap := ref.Value.AdditionalProperties; ap.Has == nil && ap.Schema == nil {
			ref.Value.AdditionalProperties = openapi3.AdditionalProperties{Has: &closed}
		}
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("route web/openapi.yaml: %v", err)
	}
	return &openAPIContract{doc: doc, router: router}
}

// apiResponseHeaders are the headers that carry API semantics. When the
// service sends one, the document must list it for that response.
// (Transport and security headers such as Content-Length, Content-Encoding,
// X-Content-Type-Options are out of scope; Vary: Accept-Encoding is added by
// the compression layer and ignored.)
var apiResponseHeaders = []string{"ETag", "Location", "Link", "Cache-Control", "Vary", "Retry-After",
	"WWW-Authenticate", "RateLimit", "RateLimit-Policy", "Age", "Warning", "Allow"}

// requestHeadersOutsideParameters are request headers OpenAPI describes
// elsewhere (security schemes, request bodies) or the document describes
// globally (X-Request-ID, in info.description).
var requestHeadersOutsideParameters = map[string]bool{"Content-Type": true, "Authorization": true, "X-Request-Id": true,
	"Accept": true, "Accept-Encoding": true}

// validationStatuses are the answers to a request the service finds
// malformed. If the document accepts such a request, the two disagree.
var validationStatuses = map[int]bool{400: true, 413: true, 415: true, 422: true}

// oaExchange is one request and the service's answer, as sent and received.
type oaExchange struct {
	method, path string
	header       http.Header // request headers
	body         []byte      // request body; nil when none
	// beyondSchema, when set, says the service rejects the request for a
	// rule no schema in the document can express (an unknown name inside
	// `fields`, a tampered cursor, min > max).
	beyondSchema string
	resp         response
}

// route finds the documented operation an exchange addresses.
func (c *openAPIContract) route(x oaExchange) (*routers.Route, map[string]string, error) {
	req := httptest.NewRequest(x.method, x.path, nil)
	return c.router.FindRoute(req)
}

// check validates one exchange against the document and returns every
// disagreement, each naming the operation and the reason.
func (c *openAPIContract) check(x oaExchange) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if x.resp.Header.Get("X-Request-ID") == "" {
		fail("no X-Request-ID header (the contract puts one on every response)")
	}

	route, pathParams, err := c.route(x)
	if err != nil {
		// Not an operation of the document: only a problem answer for an
		// unknown route (404) or method (405) is right.
		if x.resp.Status != http.StatusNotFound && x.resp.Status != http.StatusMethodNotAllowed {
			fail("no operation in web/openapi.yaml matches (%v), yet the service answered %d", err, x.resp.Status)
		}
		problems = append(problems, c.checkProblemBody(x.resp)...)
		return problems
	}
	op := route.Operation

	// --- the request ---------------------------------------------------
	var docRejects []string
	for name := range oaQuery(x.path) {
		if oaParam(route, openapi3.ParameterInQuery, name) == nil {
			docRejects = append(docRejects, fmt.Sprintf("query parameter %q is not documented", name))
		}
	}
	for name := range x.header {
		if !requestHeadersOutsideParameters[name] && oaParam(route, openapi3.ParameterInHeader, name) == nil {
			docRejects = append(docRejects, fmt.Sprintf("request header %q is not documented", name))
		}
	}
	req := httptest.NewRequest(x.method, x.path, bytes.NewReader(x.body))
	if x.body == nil {
		req = httptest.NewRequest(x.method, x.path, http.NoBody)
	}
	req.Header = x.header.Clone()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true, SkipSettingDefaults: true}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		docRejects = append(docRejects, err.Error())
	}
	status := x.resp.Status
	switch {
	case len(docRejects) > 0 && status < 400:
		fail("the document rejects this request (%s), but the service accepted it with %d", strings.Join(docRejects, "; "), status)
	case len(docRejects) == 0 && validationStatuses[status] && x.beyondSchema == "":
		fail("the service rejected with %d a request the document accepts: tighten the schema (or, when no schema can express the rule, mark the call as beyond the schema): %.300s",
			status, x.resp.Body)
	case len(docRejects) > 0 && x.beyondSchema != "":
		fail("the call is marked beyond the schema (%s), but the document already rejects it: %s", x.beyondSchema, strings.Join(docRejects, "; "))
	}

	// Security: the document's requirement against what the service did.
	hasBearer := strings.HasPrefix(x.header.Get("Authorization"), "Bearer ")
	switch needs := oaRequiresBearer(c.doc, op); {
	case needs && !hasBearer && status != http.StatusUnauthorized:
		fail("the document requires bearerAuth, but the service answered %d to a request without a token", status)
	case !needs && x.header.Get("Authorization") == "" && status == http.StatusUnauthorized && x.resp.Header.Get("WWW-Authenticate") != "":
		// A 401 without a challenge (wrong login credentials) is not about
		// the token; one with a challenge asks for a token the document
		// says the operation does not need.
		fail("the document marks the operation public (security: []), but the service asked an anonymous request for a token (401, WWW-Authenticate: %s)",
			x.resp.Header.Get("WWW-Authenticate"))
	}

	// --- the response --------------------------------------------------
	documented := op.Responses.Status(status)
	if documented == nil {
		documented = op.Responses.Default()
	}
	if documented == nil || documented.Value == nil {
		fail("status %d is not documented (documented: %s)", status, strings.Join(oaSortedKeys(op.Responses.Map()), ", "))
		return problems
	}
	doc := documented.Value
	for _, name := range apiResponseHeaders {
		values := x.resp.Header.Values(name)
		if name == "Vary" {
			values = oaWithoutToken(values, "Accept-Encoding")
		}
		if len(values) > 0 && oaHeader(doc, name) == nil {
			fail("the service sends %s: %q, which the document does not list for status %d", name, strings.Join(values, ", "), status)
		}
	}
	if len(doc.Content) == 0 && len(x.resp.Body) > 0 {
		fail("status %d is documented without a body, but the service sent %d bytes: %.200s", status, len(x.resp.Body), x.resp.Body)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: x.resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(x.resp.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		fail("response does not validate: %v\nbody: %.500s", err, x.resp.Body)
	}
	return problems
}

// checkProblemBody validates an answer outside every operation (unknown
// route or method) against the Problem schema.
func (c *openAPIContract) checkProblemBody(r response) []string {
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		return []string{fmt.Sprintf("answer %d outside the documented operations has Content-Type %q, want application/problem+json", r.Status, ct)}
	}
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		return []string{fmt.Sprintf("problem body is not JSON: %v", err)}
	}
	if err := c.doc.Components.Schemas["Problem"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return []string{fmt.Sprintf("problem body does not match #/components/schemas/Problem: %v\nbody: %s", err, r.Body)}
	}
	return nil
}

// oaQuery returns the query parameters of a request path.
func oaQuery(path string) url.Values {
	u, err := url.Parse(path)
	if err != nil {
		return nil
	}
	return u.Query()
}

// oaParam looks a parameter up on the operation, then on its path item.
func oaParam(route *routers.Route, in, name string) *openapi3.Parameter {
	for _, params := range []openapi3.Parameters{route.Operation.Parameters, route.PathItem.Parameters} {
		for _, p := range params {
			if p.Value != nil && p.Value.In == in && (p.Value.Name == name || in == openapi3.ParameterInHeader && strings.EqualFold(p.Value.Name, name)) {
				return p.Value
			}
		}
	}
	return nil
}

func oaHeader(r *openapi3.Response, name string) *openapi3.HeaderRef {
	for k, h := range r.Headers {
		if strings.EqualFold(k, name) {
			return h
		}
	}
	return nil
}

// oaRequiresBearer: the operation's security (or the document's default)
// demands a bearer token and offers no anonymous alternative.
func oaRequiresBearer(doc *openapi3.T, op *openapi3.Operation) bool {
	reqs := doc.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	if len(reqs) == 0 {
		return false
	}
	for _, r := range reqs {
		if len(r) == 0 {
			return false
		}
	}
	return true
}

func oaWithoutToken(values []string, token string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if p := strings.TrimSpace(part); p != "" && !strings.EqualFold(p, token) {
				out = append(out, p)
			}
		}
	}
	return out
}

// --- driving the service -----------------------------------------------------

// oaClient sends requests through the test server and checks every
// exchange against the contract.
type oaClient struct {
	t        *testing.T
	s        *testServer
	contract *openAPIContract
	// successes counts 2xx answers per operationId, to prove every
	// documented operation was exercised.
	successes map[string]int
}

// do sends the request, expects the status, and validates the exchange.
func (c *oaClient) do(want int, method, path, token string, body any, headers ...string) response {
	c.t.Helper()
	return c.send(want, "", method, path, token, body, headers...)
}

// rejectedBeyondSchema is do for a request the service must reject for a
// rule no schema of the document can express; rule says which.
func (c *oaClient) rejectedBeyondSchema(want int, rule, method, path, token string, body any, headers ...string) response {
	c.t.Helper()
	return c.send(want, rule, method, path, token, body, headers...)
}

func (c *oaClient) send(want int, rule, method, path, token string, body any, headers ...string) response {
	c.t.Helper()
	x := oaExchange{method: method, path: path, header: http.Header{}, beyondSchema: rule}
	// The same request testServer.do sends.
	switch b := body.(type) {
	case nil:
	case string:
		x.body = []byte(b)
	case []byte:
		x.body = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		x.body = raw
	}
	if body != nil {
		x.header.Set("Content-Type", "application/json")
	}
	if token != "" {
		x.header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		x.header.Set(headers[i], headers[i+1])
	}

	x.resp = c.s.do(method, path, token, body, headers...)
	if want >= 400 && !c.contract.answersProblem(x, want) {
		// A protocol with its own error bodies (OFREP): the status here, the
		// body against its documented schema in check, no leaks either way.
		if x.resp.Status != want {
			c.t.Fatalf("status %d, want %d: %s", x.resp.Status, want, x.resp.Body)
		}
		oaCheckNoLeak(c.t, x.resp)
	} else {
		expect(c.t, x.resp, want)
	}
	name := method + " " + path
	if route, _, err := c.contract.route(x); err == nil {
		name = fmt.Sprintf("%s (%s %s)", route.Operation.OperationID, method, path)
		if x.resp.Status >= 200 && x.resp.Status < 300 {
			c.successes[route.Operation.OperationID]++
		}
	}
	for _, p := range c.contract.check(x) {
		c.t.Errorf("%s -> %d: %s", name, x.resp.Status, p)
	}
	return x.resp
}

// answersProblem reports whether the document describes the answer with
// this status as an RFC 9457 problem. Only operations whose protocol fixes
// other error bodies (OFREP) document an error without one.
func (c *openAPIContract) answersProblem(x oaExchange, status int) bool {
	route, _, err := c.route(x)
	if err != nil {
		return true // outside the document: a problem
	}
	r := route.Operation.Responses.Status(status)
	if r == nil {
		r = route.Operation.Responses.Default()
	}
	if r == nil || r.Value == nil {
		return true // undocumented: check reports it; expect the usual problem
	}
	return r.Value.Content.Get("application/problem+json") != nil || len(r.Value.Content) == 0
}

// oaCheckNoLeak is checkProblem's leak check for error bodies that are not
// problems.
func oaCheckNoLeak(t *testing.T, r response) {
	t.Helper()
	low := strings.ToLower(string(r.Body))
	for _, leak := range []string{"sql", "gorm", "pgx", "sqlite", "goroutine", ".go:", "select ", "insert ", "duplicate key", "127.0.0.1"} {
		if strings.Contains(low, leak) {
			t.Fatalf("error body leaks %q: %s", leak, r.Body)
		}
	}
}

func (c *oaClient) login(email, password string) string {
	c.t.Helper()
	r := c.do(200, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password})
	return r.JSON(c.t)["access_token"].(string)
}

func oaStr(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func TestResponsesMatchOpenAPI(t *testing.T) {
	contract := loadOpenAPIContract(t)
	t.Run("validator catches drift", func(t *testing.T) { testValidatorCatchesDrift(t, contract) })

	eachStore(t, func(t *testing.T, kind storeKind) {
		c := &oaClient{t: t, s: newServer(t, kind), contract: contract, successes: map[string]int{}}
		const pw = "customer-pass-1"

		// Operations and documentation.
		c.do(200, "GET", "/livez", "", nil)
		c.do(200, "GET", "/readyz", "", nil)
		c.do(200, "GET", "/metrics", "", nil)
		c.do(200, "GET", "/openapi.yaml", "", nil)
		c.do(200, "GET", "/openapi.json", "", nil)
		c.do(200, "GET", "/docs", "", nil)

		// Accounts.
		alice := c.do(201, "POST", "/v1/auth/register", "", map[string]string{"email": "alice@example.com", "password": pw, "name": "Alice"}).JSON(t)
		bob := c.do(201, "POST", "/v1/auth/register", "", map[string]string{"email": "bob@example.com", "password": pw, "name": "Bob"}).JSON(t)
		c.do(409, "POST", "/v1/auth/register", "", map[string]string{"email": "ALICE@example.com", "password": pw, "name": "Alice again"})
		c.do(422, "POST", "/v1/auth/register", "", map[string]string{"email": "not-an-email", "password": "short", "name": " "})
		c.do(400, "POST", "/v1/auth/register", "", map[string]string{"email": "carol@example.com", "password": pw, "name": "Carol", "role": "admin"})
		c.do(415, "POST", "/v1/auth/register", "", `email=carol@example.com`, "Content-Type", "application/x-www-form-urlencoded")
		c.do(400, "POST", "/v1/auth/register", "", `{"email":`)
		tok := c.login("alice@example.com", pw)
		c.do(401, "POST", "/v1/auth/login", "", map[string]string{"email": "alice@example.com", "password": "wrong-password"})
		c.do(401, "POST", "/v1/auth/login", "", map[string]string{"email": "nobody@example.com", "password": "wrong-password"})
		c.do(422, "POST", "/v1/auth/login", "", map[string]string{"email": "alice@example.com"})

		// Token lifecycle: refresh rotates, reuse is refused, logout is 204.
		full := c.do(200, "POST", "/v1/auth/login", "", map[string]string{"email": "bob@example.com", "password": pw}).JSON(t)
		rotated := c.do(200, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": oaStr(full, "refresh_token")}).JSON(t)
		c.do(401, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": oaStr(full, "refresh_token")})
		c.do(422, "POST", "/v1/auth/refresh", "", map[string]string{})
		c.do(400, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": "rt_x", "extra": "y"})
		c.do(204, "POST", "/v1/auth/logout", "", map[string]string{"refresh_token": oaStr(rotated, "refresh_token")})
		c.do(204, "POST", "/v1/auth/logout", "", map[string]string{"refresh_token": "rt_unknown"})

		// TOTP: enrol, confirm, two-step login, disable with a recovery code.
		bobTok := oaStr(rotated, "access_token")
		secret := oaStr(c.do(201, "POST", "/v1/users/me/mfa", bobTok, nil).JSON(t), "secret")
		c.do(401, "POST", "/v1/users/me/mfa", "", nil)
		c.do(409, "DELETE", "/v1/users/me/mfa", bobTok, map[string]string{"code": "123456"})
		waitForFreshStep(t)
		c.rejectedBeyondSchema(422, "wrong TOTP code", "POST", "/v1/users/me/mfa/confirm", bobTok, map[string]string{"code": wrongCode(t, secret)})
		conf := c.do(200, "POST", "/v1/users/me/mfa/confirm", bobTok, map[string]string{"code": codeAt(t, secret, -1)}).JSON(t)
		c.do(409, "POST", "/v1/users/me/mfa/confirm", bobTok, map[string]string{"code": codeAt(t, secret, 0)})
		c.do(409, "POST", "/v1/users/me/mfa", bobTok, nil)
		challenge := oaStr(c.do(200, "POST", "/v1/auth/login", "", map[string]string{"email": "bob@example.com", "password": pw}).JSON(t), "mfa_token")
		c.do(401, "POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": challenge, "code": wrongCode(t, secret)})
		c.do(422, "POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": challenge})
		c.do(200, "POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": challenge, "code": codeAt(t, secret, 0)})
		// The console's copies of the credential endpoints answer the same.
		consoleChallenge := oaStr(c.do(200, "POST", "/v1/console/login", "", map[string]string{"email": "bob@example.com", "password": pw}).JSON(t), "mfa_token")
		c.do(200, "POST", "/v1/console/mfa", "", map[string]string{"mfa_token": consoleChallenge, "code": codeAt(t, secret, 1)})
		c.do(401, "POST", "/v1/console/login", "", map[string]string{"email": "alice@example.com", "password": "wrong-password"})
		consoleSession := c.do(200, "POST", "/v1/console/login", "", map[string]string{"email": "alice@example.com", "password": pw}).JSON(t)
		consoleRotated := c.do(200, "POST", "/v1/console/refresh", "", map[string]string{"refresh_token": oaStr(consoleSession, "refresh_token")}).JSON(t)
		c.do(401, "POST", "/v1/console/refresh", "", map[string]string{"refresh_token": oaStr(consoleSession, "refresh_token")})
		c.do(204, "POST", "/v1/console/logout", "", map[string]string{"refresh_token": oaStr(consoleRotated, "refresh_token")})
		recovery, _ := conf["recovery_codes"].([]any)
		if len(recovery) != 10 {
			t.Fatalf("recovery codes: %v", conf)
		}
		c.rejectedBeyondSchema(422, "wrong TOTP code", "DELETE", "/v1/users/me/mfa", bobTok, map[string]string{"code": wrongCode(t, secret)})
		c.do(204, "DELETE", "/v1/users/me/mfa", bobTok, map[string]string{"code": recovery[0].(string)})

		me := c.do(200, "GET", "/v1/users/me", tok, nil)
		c.do(200, "GET", "/v1/users/me?fields=id,email", tok, nil)
		c.rejectedBeyondSchema(400, "unknown name in fields", "GET", "/v1/users/me?fields=id,password_hash", tok, nil)
		c.do(304, "GET", "/v1/users/me", tok, nil, "If-None-Match", me.Header.Get("ETag"))
		c.do(401, "GET", "/v1/users/me", "", nil)
		c.do(401, "GET", "/v1/users/me", tok+"x", nil)
		c.do(200, "PATCH", "/v1/users/me", tok, map[string]string{"name": "Alice Liddell"}, "If-Match", me.Header.Get("ETag"))
		c.do(412, "PATCH", "/v1/users/me", tok, map[string]string{"name": "Stale"}, "If-Match", me.Header.Get("ETag"))
		c.do(422, "PATCH", "/v1/users/me", tok, map[string]any{})
		c.do(409, "PATCH", "/v1/users/me", tok, map[string]string{"email": "bob@example.com", "current_password": pw})
		c.do(422, "PATCH", "/v1/users/me", tok, map[string]string{"email": "bob@example.com"})
		c.do(403, "PATCH", "/v1/users/me", tok, map[string]string{"email": "bob@example.com", "current_password": "wrong-password"})
		c.do(200, "GET", "/v1/users/"+oaStr(alice, "id"), tok, nil)
		c.do(200, "GET", "/v1/users/me/export", tok, nil)
		c.do(401, "GET", "/v1/users/me/export", "", nil)
		c.do(404, "GET", "/v1/users/"+oaStr(bob, "id"), tok, nil)

		// Admin: the bootstrap admin lists users and changes roles.
		admin := c.login(adminEmail, adminPassword)
		adminID := oaStr(c.do(200, "GET", "/v1/users/me?fields=id", admin, nil).JSON(t), "id")
		first := c.do(200, "GET", "/v1/users?limit=2&sort=email", admin, nil)
		cursor := oaStr(first.JSON(t), "next_cursor")
		if cursor == "" || first.Header.Get("Link") == "" {
			t.Fatalf("users page 1 has no next cursor or Link: %s", first.Body)
		}
		c.do(200, "GET", "/v1/users?limit=2&sort=email&cursor="+url.QueryEscape(cursor), admin, nil)
		c.do(304, "GET", "/v1/users?limit=2&sort=email", admin, nil, "If-None-Match", first.Header.Get("ETag"))
		c.do(200, "GET", "/v1/users?role=admin&fields=id,email,role", admin, nil)
		c.do(200, "GET", "/v1/users?email=bob%40example.com", admin, nil)
		c.rejectedBeyondSchema(400, "cursor bound to another sort", "GET", "/v1/users?limit=2&sort=-email&cursor="+url.QueryEscape(cursor), admin, nil)
		c.rejectedBeyondSchema(400, "tampered cursor", "GET", "/v1/users?limit=2&sort=email&cursor=x"+url.QueryEscape(cursor), admin, nil)
		c.do(400, "GET", "/v1/users?limit=0", admin, nil)
		c.do(400, "GET", "/v1/users?sort=password_hash", admin, nil)
		c.do(400, "GET", "/v1/users?colour=red", admin, nil)
		c.do(403, "GET", "/v1/users", tok, nil)
		c.do(401, "GET", "/v1/users", "", nil)
		bobRead := c.do(200, "GET", "/v1/users/"+oaStr(bob, "id"), admin, nil)
		c.do(304, "GET", "/v1/users/"+oaStr(bob, "id"), admin, nil, "If-None-Match", bobRead.Header.Get("ETag"))
		c.do(200, "GET", "/v1/users/"+oaStr(bob, "id")+"?fields=id,role", admin, nil)
		c.do(404, "GET", "/v1/users/not-an-id", admin, nil)
		c.do(403, "PATCH", "/v1/users/"+oaStr(bob, "id"), tok, map[string]string{"role": "admin"})
		c.do(422, "PATCH", "/v1/users/"+oaStr(bob, "id"), admin, map[string]string{"role": "overlord"})
		c.do(200, "PATCH", "/v1/users/"+oaStr(bob, "id"), admin, map[string]string{"role": "admin"}, "If-Match", bobRead.Header.Get("ETag"))
		c.do(412, "PATCH", "/v1/users/"+oaStr(bob, "id"), admin, map[string]string{"role": "customer"}, "If-Match", bobRead.Header.Get("ETag"))
		c.do(200, "PATCH", "/v1/users/"+oaStr(bob, "id"), admin, map[string]string{"role": "customer"})
		c.do(409, "PATCH", "/v1/users/"+adminID, admin, map[string]string{"role": "customer"}) // the last admin
		c.do(409, "DELETE", "/v1/users/me", admin, nil)
		c.do(404, "PATCH", "/v1/users/not-an-id", admin, map[string]string{"role": "customer"})

		// Products: writes.
		widget := map[string]any{"sku": "CONF-1", "name": "Widget", "description": "A widget", "price_cents": 1999, "currency": "EUR", "stock": 5, "category": "tools"}
		created := c.do(201, "POST", "/v1/products", admin, widget)
		pid := oaStr(created.JSON(t), "id")
		for i, p := range []map[string]any{
			{"sku": "CONF-2", "name": "Gadget", "price_cents": 500, "currency": "EUR", "stock": 0, "category": "tools"},
			{"sku": "CONF-3", "name": "Gizmo", "price_cents": 2500, "currency": "USD", "stock": 3, "category": "toys"},
			{"sku": "CONF-4", "name": "Widget mini", "price_cents": 999, "currency": "EUR", "stock": 9},
		} {
			if i == 0 {
				c.do(201, "POST", "/v1/products", admin, p, "X-Request-ID", "conformance-1")
				continue
			}
			c.do(201, "POST", "/v1/products", admin, p)
		}
		c.do(409, "POST", "/v1/products", admin, widget)
		c.do(401, "POST", "/v1/products", "", widget)
		c.do(403, "POST", "/v1/products", tok, widget)
		c.do(422, "POST", "/v1/products", admin, map[string]any{"sku": "bad sku!", "name": " ", "price_cents": -1, "currency": "euro", "stock": -5})
		c.do(400, "POST", "/v1/products", admin, `{"sku":"CONF-9","name":"n","price_cents":1,"currency":"EUR","colour":"red"}`)
		c.do(400, "POST", "/v1/products", admin, `{"sku":"CONF-9","name":"n","price_cents":"cheap","currency":"EUR"}`)
		c.do(415, "POST", "/v1/products", admin, `{"sku":"CONF-9"}`, "Content-Type", "text/plain")
		c.do(413, "POST", "/v1/products", admin, `{"sku":"CONF-9","name":"n","price_cents":1,"currency":"EUR","description":"`+strings.Repeat("x", 1<<20)+`"}`)

		// Products: single reads.
		got := c.do(200, "GET", "/v1/products/"+pid, "", nil)
		etag := got.Header.Get("ETag")
		c.do(200, "GET", "/v1/products/"+pid+"?fields=id,name,price_cents", "", nil)
		c.rejectedBeyondSchema(400, "unknown name in fields", "GET", "/v1/products/"+pid+"?fields=id,cost", "", nil)
		c.do(304, "GET", "/v1/products/"+pid, "", nil, "If-None-Match", etag)
		c.do(404, "GET", "/v1/products/not-an-id", "", nil)
		c.do(404, "GET", "/v1/products/00000000-0000-7000-8000-000000000000", "", nil)
		c.do(401, "GET", "/v1/products/"+pid, "garbage", nil)

		// Products: updates.
		c.do(200, "PATCH", "/v1/products/"+pid, admin, map[string]any{"stock": 7}, "If-Match", etag)
		c.do(412, "PATCH", "/v1/products/"+pid, admin, map[string]any{"stock": 0}, "If-Match", etag)
		c.do(422, "PATCH", "/v1/products/"+pid, admin, map[string]any{})
		c.do(422, "PATCH", "/v1/products/"+pid, admin, map[string]any{"price_cents": -1})
		c.do(409, "PATCH", "/v1/products/"+pid, admin, map[string]any{"sku": "CONF-2"})
		c.do(404, "PATCH", "/v1/products/not-an-id", admin, map[string]any{"stock": 1})
		c.do(403, "PATCH", "/v1/products/"+pid, tok, map[string]any{"stock": 1})
		c.do(401, "PATCH", "/v1/products/"+pid, "", map[string]any{"stock": 1})

		// Products: lists with fieldsets, sorts, filters and cursors.
		list := c.do(200, "GET", "/v1/products", "", nil)
		c.do(304, "GET", "/v1/products", "", nil, "If-None-Match", list.Header.Get("ETag"))
		for _, sortBy := range []string{"created_at", "-created_at", "price_cents", "-price_cents", "name", "-name"} {
			path := "/v1/products?limit=2&fields=id,name,price_cents&sort=" + sortBy
			for pages := 0; path != ""; pages++ {
				if pages > 10 {
					t.Fatalf("sort %s: cursor walk does not end", sortBy)
				}
				r := c.do(200, "GET", path, "", nil)
				path = ""
				if next := oaStr(r.JSON(t), "next_cursor"); next != "" {
					path = "/v1/products?limit=2&fields=id,name,price_cents&sort=" + sortBy + "&cursor=" + url.QueryEscape(next)
				}
			}
		}
		c.do(200, "GET", "/v1/products?category=tools&min_price_cents=100&max_price_cents=5000&in_stock=true", "", nil)
		c.do(200, "GET", "/v1/products?in_stock=false&fields=id,stock", "", nil)
		c.do(200, "GET", "/v1/products?q=Widget&sort=name&fields=id,name", "", nil)
		c.do(400, "GET", "/v1/products?in_stock=yes", "", nil)
		page1 := c.do(200, "GET", "/v1/products?limit=1&sort=price_cents", "", nil)
		next := oaStr(page1.JSON(t), "next_cursor")
		c.rejectedBeyondSchema(400, "cursor bound to another sort", "GET", "/v1/products?limit=1&sort=-price_cents&cursor="+url.QueryEscape(next), "", nil)
		c.rejectedBeyondSchema(400, "min_price_cents > max_price_cents", "GET", "/v1/products?min_price_cents=500&max_price_cents=100", "", nil)
		c.rejectedBeyondSchema(400, "unknown name in fields", "GET", "/v1/products?fields=id,cost", "", nil)
		c.do(400, "GET", "/v1/products?limit=101", "", nil)
		c.do(400, "GET", "/v1/products?sort=stock", "", nil)
		c.do(400, "GET", "/v1/products?min_price_cents=cheap", "", nil)
		c.do(400, "GET", "/v1/products?colour=red", "", nil)
		c.do(401, "GET", "/v1/products", "garbage", nil)

		// Products: deletes.
		fresh := c.do(200, "GET", "/v1/products/"+pid, "", nil).Header.Get("ETag")
		c.do(412, "DELETE", "/v1/products/"+pid, admin, nil, "If-Match", etag)
		c.do(403, "DELETE", "/v1/products/"+pid, tok, nil)
		c.do(401, "DELETE", "/v1/products/"+pid, "", nil)
		c.do(204, "DELETE", "/v1/products/"+pid, admin, nil, "If-Match", fresh)
		c.do(404, "DELETE", "/v1/products/"+pid, admin, nil)
		c.do(404, "GET", "/v1/products/"+pid, "", nil)

		// Orders: checkout with idempotency, reads, transitions.
		aliceID := oaStr(alice, "id")
		opid := oaStr(c.do(201, "POST", "/v1/products", admin, map[string]any{"sku": "CONF-ORD", "name": "Orderable", "price_cents": 1000, "currency": "EUR", "stock": 10}).JSON(t), "id")
		line := map[string]any{"items": []map[string]any{{"product_id": opid, "quantity": 1}}}
		o1 := c.do(201, "POST", "/v1/orders", tok, line, "Idempotency-Key", "conf-1")
		oid := oaStr(o1.JSON(t), "id")
		if again := c.do(201, "POST", "/v1/orders", tok, line, "Idempotency-Key", "conf-1"); again.Header.Get("Idempotent-Replayed") != "true" || oaStr(again.JSON(t), "id") != oid {
			t.Errorf("replayed checkout: Idempotent-Replayed %q, id %q; want true, %s", again.Header.Get("Idempotent-Replayed"), oaStr(again.JSON(t), "id"), oid)
		}
		c.do(400, "POST", "/v1/orders", tok, line)
		c.do(400, "POST", "/v1/orders", tok, line, "Idempotency-Key", strings.Repeat("k", 256))
		c.rejectedBeyondSchema(422, "Idempotency-Key reused with another body", "POST", "/v1/orders", tok,
			map[string]any{"items": []map[string]any{{"product_id": opid, "quantity": 2}}}, "Idempotency-Key", "conf-1")
		c.rejectedBeyondSchema(422, "a product repeated in items", "POST", "/v1/orders", tok,
			map[string]any{"items": []map[string]any{{"product_id": opid, "quantity": 1}, {"product_id": opid, "quantity": 2}}}, "Idempotency-Key", "conf-dup")
		c.do(422, "POST", "/v1/orders", tok, map[string]any{"items": []any{}}, "Idempotency-Key", "conf-empty")
		c.do(422, "POST", "/v1/orders", tok, map[string]any{"items": []map[string]any{{"product_id": opid, "quantity": 0}}}, "Idempotency-Key", "conf-zero")
		c.do(400, "POST", "/v1/orders", tok, `{"items":[{"product_id":"`+opid+`","quantity":1}],"total_cents":1}`, "Idempotency-Key", "conf-extra")
		c.do(415, "POST", "/v1/orders", tok, `items=1`, "Idempotency-Key", "conf-form", "Content-Type", "application/x-www-form-urlencoded")
		c.do(409, "POST", "/v1/orders", tok, map[string]any{"items": []map[string]any{{"product_id": opid, "quantity": 1000}}}, "Idempotency-Key", "conf-big")
		c.do(401, "POST", "/v1/orders", "", line, "Idempotency-Key", "conf-anon")
		waitPaid := func(id string) {
			t.Helper()
			for i := 0; oaStr(c.s.do("GET", "/v1/orders/"+id, tok, nil).JSON(t), "status") != "paid"; i++ {
				if i > 250 {
					t.Fatalf("order %s was never paid", id)
				}
				time.Sleep(20 * time.Millisecond) // the simulated provider pays it
			}
		}
		waitPaid(oid) // so that the reads below are stable
		c.do(200, "GET", "/v1/orders/"+oid+"?include=items&fields=id,status,items.sku", tok, nil)
		order := c.do(200, "GET", "/v1/orders/"+oid, tok, nil)
		c.do(304, "GET", "/v1/orders/"+oid, tok, nil, "If-None-Match", order.Header.Get("ETag"))
		c.do(200, "GET", "/v1/orders/"+oid+"?include=items", admin, nil)
		c.rejectedBeyondSchema(400, "item field without include=items", "GET", "/v1/orders/"+oid+"?fields=id,items.sku", tok, nil)
		c.do(404, "GET", "/v1/orders/not-an-id", tok, nil)
		c.do(401, "GET", "/v1/orders/"+oid, "", nil)
		orders := c.do(200, "GET", "/v1/orders?include=items&limit=5", tok, nil)
		c.do(304, "GET", "/v1/orders?include=items&limit=5", tok, nil, "If-None-Match", orders.Header.Get("ETag"))
		c.do(200, "GET", "/v1/orders?user_id="+aliceID, admin, nil)
		c.do(200, "GET", "/v1/orders?status=pending&sort=-total_cents&fields=id,status,total_cents", tok, nil)
		c.do(400, "GET", "/v1/orders?sort=status", tok, nil)
		c.do(400, "GET", "/v1/orders?limit=101", tok, nil)
		c.do(401, "GET", "/v1/orders", "", nil)
		c.do(412, "POST", "/v1/orders/"+oid+"/cancel", tok, nil, "If-Match", `"999"`)
		c.do(200, "POST", "/v1/orders/"+oid+"/cancel", tok, nil)
		c.do(409, "POST", "/v1/orders/"+oid+"/cancel", tok, nil)
		c.do(404, "POST", "/v1/orders/not-an-id/cancel", tok, nil)
		c.do(401, "POST", "/v1/orders/"+oid+"/cancel", "", nil)
		o2 := oaStr(c.do(201, "POST", "/v1/orders", tok, line, "Idempotency-Key", "conf-2").JSON(t), "id")
		waitPaid(o2)
		c.do(403, "POST", "/v1/orders/"+o2+"/ship", tok, nil)
		c.do(200, "POST", "/v1/orders/"+o2+"/ship", admin, nil)
		c.do(409, "POST", "/v1/orders/"+o2+"/ship", admin, nil)
		c.do(404, "POST", "/v1/orders/not-an-id/ship", admin, nil)
		sales := c.do(200, "GET", "/v1/admin/reports/product-sales", admin, nil)
		for i := 0; i < 50; i++ { // eventually consistent: wait until the events are in
			time.Sleep(50 * time.Millisecond)
			r := c.s.do("GET", "/v1/admin/reports/product-sales", admin, nil)
			if r.Header.Get("ETag") == sales.Header.Get("ETag") {
				break
			}
			sales = r
		}
		c.do(304, "GET", "/v1/admin/reports/product-sales", admin, nil, "If-None-Match", sales.Header.Get("ETag"))
		c.do(200, "GET", "/v1/admin/reports/product-sales?fields=id,units_sold&sort=-units_sold&limit=1", admin, nil)
		c.do(400, "GET", "/v1/admin/reports/product-sales?sort=name", admin, nil)
		c.do(403, "GET", "/v1/admin/reports/product-sales", tok, nil)
		c.do(403, "POST", "/v1/admin/reports/product-sales/rebuild", tok, nil)

		// Feature flags: list, read, replace, create.
		flagList := c.do(200, "GET", "/v1/admin/flags", admin, nil)
		c.do(304, "GET", "/v1/admin/flags", admin, nil, "If-None-Match", flagList.Header.Get("ETag"))
		for path, pages := "/v1/admin/flags?limit=2&sort=-key&fields=key,state,version", 0; path != ""; pages++ {
			if pages > 10 {
				t.Fatal("flags: cursor walk does not end")
			}
			r := c.do(200, "GET", path, admin, nil)
			path = ""
			if next := oaStr(r.JSON(t), "next_cursor"); next != "" {
				if r.Header.Get("Link") == "" {
					t.Errorf("flags page with a next cursor has no Link header")
				}
				path = "/v1/admin/flags?limit=2&sort=-key&fields=key,state,version&cursor=" + url.QueryEscape(next)
			}
		}
		c.do(400, "GET", "/v1/admin/flags?limit=0", admin, nil)
		c.do(400, "GET", "/v1/admin/flags?sort=state", admin, nil)
		c.rejectedBeyondSchema(400, "unknown name in fields", "GET", "/v1/admin/flags?fields=key,colour", admin, nil)
		c.do(403, "GET", "/v1/admin/flags", tok, nil)
		c.do(401, "GET", "/v1/admin/flags", "", nil)
		const checkoutPath = "/v1/admin/flags/orders.checkout_enabled"
		checkout := c.do(200, "GET", checkoutPath, admin, nil)
		c.do(304, "GET", checkoutPath, admin, nil, "If-None-Match", checkout.Header.Get("ETag"))
		c.do(400, "GET", checkoutPath+"?fields=key", admin, nil)
		c.do(404, "GET", "/v1/admin/flags/no.such_flag", admin, nil)
		c.do(404, "GET", "/v1/admin/flags/Not%20a%20key", admin, nil)
		c.do(403, "GET", checkoutPath, tok, nil)
		c.do(401, "GET", checkoutPath, "", nil)
		switchedOff := map[string]any{"state": "ENABLED", "variants": map[string]any{"on": true, "off": false}, "defaultVariant": "off"}
		c.do(200, "PUT", checkoutPath, admin, switchedOff, "If-Match", checkout.Header.Get("ETag"))
		if r := c.do(503, "POST", "/v1/orders", tok, line, "Idempotency-Key", "conf-off"); r.Header.Get("Retry-After") == "" {
			t.Error("checkout switched off: 503 without Retry-After")
		}
		c.do(200, "GET", "/v1/orders/"+o2, tok, nil) // everything else keeps working
		c.do(412, "PUT", checkoutPath, admin, switchedOff, "If-Match", checkout.Header.Get("ETag"))
		c.do(200, "PUT", checkoutPath, admin, checkout.Body) // what GET returned, read-only fields included
		c.do(201, "POST", "/v1/orders", tok, line, "Idempotency-Key", "conf-3")
		search := c.do(200, "GET", "/v1/admin/flags/products.search_enabled", admin, nil)
		c.do(200, "PUT", "/v1/admin/flags/products.search_enabled", admin, switchedOff)
		if r := c.do(503, "GET", "/v1/products?q=Orderable", "", nil); r.Header.Get("Retry-After") == "" {
			t.Error("search switched off: 503 without Retry-After")
		}
		c.do(200, "GET", "/v1/products?category=tools&sort=name", "", nil)
		c.do(200, "PUT", "/v1/admin/flags/products.search_enabled", admin, search.Body, "If-Match", `"2"`)
		c.do(200, "GET", "/v1/products?q=Orderable", "", nil)
		validFlag := map[string]any{"state": "ENABLED", "variants": map[string]any{"on": true, "off": false}, "defaultVariant": "on"}
		c.do(422, "PUT", "/v1/admin/flags/conformance.bad", admin, map[string]any{"state": "MAYBE", "variants": map[string]any{"on": true}, "defaultVariant": "on"})
		c.do(422, "PUT", "/v1/admin/flags/conformance.bad", admin, map[string]any{"state": "ENABLED", "variants": map[string]any{"on": nil}, "defaultVariant": "on"})
		c.do(422, "PUT", "/v1/admin/flags/Not%20a%20key", admin, validFlag)
		c.rejectedBeyondSchema(422, "variants of different types; defaultVariant not a variant", "PUT", "/v1/admin/flags/conformance.bad", admin,
			map[string]any{"state": "ENABLED", "variants": map[string]any{"on": true, "off": "no"}, "defaultVariant": "maybe"})
		c.rejectedBeyondSchema(422, "unknown JSON Logic operator", "PUT", "/v1/admin/flags/conformance.bad", admin,
			map[string]any{"state": "ENABLED", "variants": map[string]any{"on": true, "off": false}, "defaultVariant": "on", "targeting": map[string]any{"frobnicate": []any{1}}})
		c.do(400, "PUT", "/v1/admin/flags/conformance.bad", admin, `{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on","colour":"red"}`)
		c.do(400, "PUT", "/v1/admin/flags/conformance.bad", admin, `{"state":`)
		c.do(415, "PUT", "/v1/admin/flags/conformance.bad", admin, `{"state":"ENABLED"}`, "Content-Type", "text/plain")
		c.do(413, "PUT", "/v1/admin/flags/conformance.bad", admin, `{"state":"`+strings.Repeat("x", 1<<20)+`","variants":{"on":true},"defaultVariant":"on"}`)
		c.do(403, "PUT", "/v1/admin/flags/conformance.bad", tok, validFlag)
		c.do(401, "PUT", "/v1/admin/flags/conformance.bad", "", validFlag)
		c.do(412, "PUT", "/v1/admin/flags/conformance.bad", admin, validFlag, "If-Match", `"1"`)
		c.do(404, "GET", "/v1/admin/flags/conformance.bad", admin, nil)
		dark := c.do(201, "PUT", "/v1/admin/flags/conformance.dark_launch", admin, map[string]any{"state": "DISABLED",
			"variants": map[string]any{"on": true, "off": false}, "defaultVariant": "off", "metadata": map[string]any{"description": "Not yet.", "team": "checkout"}})
		if loc := dark.Header.Get("Location"); !strings.HasSuffix(loc, "/v1/admin/flags/conformance.dark_launch") {
			t.Errorf("created flag: Location %q", loc)
		}
		c.do(201, "PUT", "/v1/admin/flags/conformance.rollout", admin, map[string]any{"state": "ENABLED",
			"variants": map[string]any{"blue": "#00f", "red": "#f00"}, "defaultVariant": "blue",
			"targeting": map[string]any{"fractional": []any{[]any{"blue", 50}, []any{"red", 50}}}})
		c.do(200, "GET", "/v1/admin/flags/conformance.rollout", admin, nil)

		// Audit trail.
		trail := c.do(200, "GET", "/v1/admin/audit?action=flags.update", admin, nil)
		if data, _ := trail.JSON(t)["data"].([]any); len(data) == 0 {
			t.Errorf("audit: no flags.update entries after flag changes: %s", trail.Body)
		}
		c.do(304, "GET", "/v1/admin/audit?action=flags.update", admin, nil, "If-None-Match", trail.Header.Get("ETag"))
		auditPage := c.do(200, "GET", "/v1/admin/audit?limit=1&actor_id="+adminID, admin, nil)
		if next := oaStr(auditPage.JSON(t), "next_cursor"); next == "" || auditPage.Header.Get("Link") == "" {
			t.Errorf("audit page 1 has no next cursor or Link: %s", auditPage.Body)
		} else {
			c.do(200, "GET", "/v1/admin/audit?limit=1&actor_id="+adminID+"&cursor="+url.QueryEscape(next), admin, nil)
			c.rejectedBeyondSchema(400, "cursor bound to another filter", "GET", "/v1/admin/audit?limit=1&cursor="+url.QueryEscape(next), admin, nil)
		}
		c.do(200, "GET", "/v1/admin/audit?sort=id&fields=id,occurred_at,action,target_type,target_id,before,after", admin, nil)
		c.do(400, "GET", "/v1/admin/audit?sort=action", admin, nil)
		c.do(400, "GET", "/v1/admin/audit?action=", admin, nil)
		c.do(403, "GET", "/v1/admin/audit", tok, nil)
		c.do(401, "GET", "/v1/admin/audit", "", nil)

		// OFREP: public evaluation.
		const ofrep = "/ofrep/v1/evaluate/flags"
		c.do(200, "POST", ofrep+"/orders.checkout_enabled", "", nil)
		c.do(200, "POST", ofrep+"/products.search_sku_match", "", map[string]any{"context": map[string]any{"targetingKey": aliceID, "role": "customer"}})
		c.do(200, "POST", ofrep+"/conformance.rollout", "", map[string]any{"context": map[string]any{"targetingKey": aliceID}})
		if ev := c.do(200, "POST", ofrep+"/conformance.dark_launch", "", map[string]any{"context": nil}).JSON(t); ev["reason"] != "DISABLED" || ev["value"] != nil {
			t.Errorf("disabled flag evaluated to %v", ev)
		}
		c.do(404, "POST", ofrep+"/no.such_flag", "", map[string]any{"context": map[string]any{}})
		c.do(400, "POST", ofrep+"/orders.checkout_enabled", "", map[string]any{"context": "alice"})
		c.do(400, "POST", ofrep+"/orders.checkout_enabled", "", map[string]any{"context": map[string]any{"targetingKey": 42}})
		c.do(400, "POST", ofrep+"/orders.checkout_enabled", "", `{"ctx":{}}`)
		c.do(400, "POST", ofrep+"/orders.checkout_enabled", "", `{"context":`)
		c.do(415, "POST", ofrep+"/orders.checkout_enabled", "", `{}`, "Content-Type", "text/plain")
		c.rejectedBeyondSchema(413, "request body over 1 MiB", "POST", ofrep+"/orders.checkout_enabled", "", `{"context":{"targetingKey":"`+strings.Repeat("x", 1<<20)+`"}}`)
		bulkBody := map[string]any{"context": map[string]any{"targetingKey": aliceID}}
		bulk := c.do(200, "POST", ofrep, "", bulkBody)
		c.do(304, "POST", ofrep, "", bulkBody, "If-None-Match", bulk.Header.Get("ETag"))
		c.do(200, "POST", ofrep, "", nil)
		c.do(400, "POST", ofrep, "", map[string]any{"context": []any{}})
		c.do(400, "POST", ofrep, "", `[]`)

		// Dead letters: none yet, then one for a real consumer and event.
		c.do(200, "GET", "/v1/admin/dead-letters", admin, nil)
		c.do(404, "GET", "/v1/admin/dead-letters/not-an-id", admin, nil)
		c.do(404, "GET", "/v1/admin/dead-letters/"+ids.New(), admin, nil)
		c.do(404, "POST", "/v1/admin/dead-letters/"+ids.New()+"/replay", admin, nil)
		c.do(404, "POST", "/v1/admin/dead-letters/not-an-id/replay", admin, nil)
		c.do(400, "GET", "/v1/admin/dead-letters?replayed=maybe", admin, nil)
		c.do(400, "GET", "/v1/admin/dead-letters?colour=red", admin, nil)
		c.do(403, "GET", "/v1/admin/dead-letters", tok, nil)
		c.do(401, "GET", "/v1/admin/dead-letters", "", nil)
		c.do(403, "POST", "/v1/admin/dead-letters/"+ids.New()+"/replay", tok, nil)
		// The sales view's delivery of o2's orders.order_paid.v1, as the bus
		// would have recorded it after the last failed attempt. The view has
		// handled the event already, so the replay succeeds (200).
		var paid struct{ ID, Type, Key, Payload string }
		gdb := c.s.app.db.Gorm
		if err := gdb.Raw("SELECT id, type, key, payload FROM event_outbox WHERE type = ? AND key = ?", "orders.order_paid.v1", o2).Scan(&paid).Error; err != nil || paid.ID == "" {
			t.Fatalf("order_paid event of %s: %v (%+v)", o2, err, paid)
		}
		for i := 0; ; i++ {
			var n int64
			if err := gdb.Raw("SELECT count(*) FROM event_inbox WHERE consumer = ? AND event_id = ?", "orders-sales-view", paid.ID).Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				break
			}
			if i > 250 {
				t.Fatal("the sales view never handled the order_paid event")
			}
			time.Sleep(20 * time.Millisecond)
		}
		dl := ids.New()
		if err := gdb.Exec(`INSERT INTO event_dead_letters (id, consumer, event_id, event_type, event_key, payload, error, attempts, failed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, dl, "orders-sales-view", paid.ID, paid.Type, paid.Key, paid.Payload, "conformance: simulated failure", 8, time.Now().UTC()).Error; err != nil {
			t.Fatal(err)
		}
		c.do(200, "GET", "/v1/admin/dead-letters?consumer=orders-sales-view&type=orders.order_paid.v1&replayed=false&sort=-failed_at&limit=5", admin, nil)
		c.do(200, "GET", "/v1/admin/dead-letters?fields=id,consumer,replayed_at", admin, nil)
		c.do(200, "GET", "/v1/admin/dead-letters/"+dl, admin, nil)
		if r := c.do(200, "POST", "/v1/admin/dead-letters/"+dl+"/replay", admin, nil).JSON(t); r["replayed_at"] == nil {
			t.Errorf("replayed dead letter without replayed_at: %v", r)
		}
		c.do(409, "POST", "/v1/admin/dead-letters/"+dl+"/replay", admin, nil)
		c.do(200, "GET", "/v1/admin/dead-letters?replayed=true", admin, nil)

		// The operator console's live figures.
		if st := c.do(200, "GET", "/v1/admin/stats", admin, nil).JSON(t); st["status"] == nil || len(st["routes"].([]any)) == 0 {
			t.Errorf("admin stats without status or routes: %v", st)
		}
		c.do(400, "GET", "/v1/admin/stats?window=60", admin, nil)
		c.do(403, "GET", "/v1/admin/stats", tok, nil)
		c.do(401, "GET", "/v1/admin/stats", "", nil)

		// The report is rebuilt from the stored events.
		c.do(202, "POST", "/v1/admin/reports/product-sales/rebuild", admin, nil)

		// The right to erasure, on an account of its own.
		c.do(201, "POST", "/v1/auth/register", "", map[string]string{"email": "erin@example.com", "password": pw, "name": "Erin"})
		erin := c.login("erin@example.com", pw)
		c.do(401, "DELETE", "/v1/users/me", "", nil)
		c.do(204, "DELETE", "/v1/users/me", erin, nil)
		c.do(404, "DELETE", "/v1/users/me", erin, nil)
		c.do(404, "GET", "/v1/users/me/export", erin, nil)

		// Outside the document: unknown route and method.
		c.do(404, "GET", "/v1/nowhere", "", nil)
		c.do(405, "PUT", "/v1/products", admin, nil)

		// Every documented operation was exercised successfully at least once.
		for path, item := range contract.doc.Paths.Map() {
			for method, op := range item.Operations() {
				if c.successes[op.OperationID] == 0 {
					t.Errorf("%s %s (%s) was never answered with a success: add it to this flow", method, path, op.OperationID)
				}
			}
		}
	})
}

// testValidatorCatchesDrift proves the checks are live: each hand-made
// exchange below is wrong in one way and must be reported.
func testValidatorCatchesDrift(t *testing.T, contract *openAPIContract) {
	okHeader := func(kv ...string) http.Header {
		h := http.Header{"X-Request-Id": {"r1"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	jsonResp := func(status int, body string, kv ...string) response {
		return response{Status: status, Header: okHeader(append([]string{"Content-Type", "application/json; charset=utf-8"}, kv...)...), Body: []byte(body)}
	}
	problem := func(status int) response {
		return response{Status: status, Header: okHeader("Content-Type", "application/problem+json"),
			Body: []byte(fmt.Sprintf(`{"type":"https://productapi.example/problems/x","title":"X","status":%d,"request_id":"r1"}`, status))}
	}
	withHeader := func(r response, k, v string) response { r.Header.Set(k, v); return r }
	bearer := http.Header{"Authorization": {"Bearer t"}}
	jsonBody := http.Header{"Authorization": {"Bearer t"}, "Content-Type": {"application/json"}}
	product := `{"id":"p1","sku":"MUG-1","name":"Mug","description":"","price_cents":1299,"currency":"EUR","stock":0,"category":"","created_at":"2025-01-02T03:04:05Z","updated_at":"2025-01-02T03:04:05Z"}`
	create := []byte(`{"sku":"MUG-1","name":"Mug","price_cents":1299,"currency":"EUR"}`)

	good := []oaExchange{
		{method: "GET", path: "/v1/products/p1", header: http.Header{}, resp: jsonResp(200, product, "ETag", `"1"`, "Cache-Control", "public, max-age=60")},
		{method: "GET", path: "/v1/products?fields=id&limit=5", header: http.Header{}, resp: jsonResp(200, `{"data":[{"id":"p1"}],"next_cursor":null}`)},
		{method: "POST", path: "/v1/products", header: jsonBody, body: create, resp: jsonResp(201, product, "Location", "/v1/products/p1")},
		{method: "GET", path: "/v1/nowhere", header: http.Header{}, resp: problem(404)},
	}
	for _, x := range good {
		if p := contract.check(x); len(p) > 0 {
			t.Errorf("%s %s -> %d: a conforming exchange was reported: %v", x.method, x.path, x.resp.Status, p)
		}
	}

	noID := jsonResp(200, product)
	noID.Header.Del("X-Request-ID")
	type drift struct {
		oaExchange
		want string // a substring of the report
	}
	bad := map[string]drift{
		"wrong property type": {oaExchange{method: "GET", path: "/v1/products/p1", header: http.Header{},
			resp: jsonResp(200, `{"id":"p1","price_cents":"12"}`)}, "price_cents"},
		"undocumented property": {oaExchange{method: "GET", path: "/v1/products/p1", header: http.Header{},
			resp: jsonResp(200, `{"id":"p1","password_hash":"x"}`)}, "password_hash"},
		"undocumented problem member": {oaExchange{method: "GET", path: "/v1/products/p1", header: http.Header{},
			resp: response{Status: 404, Header: okHeader("Content-Type", "application/problem+json"),
				Body: []byte(`{"type":"https://productapi.example/problems/x","title":"X","status":404,"stack":"main.go:1"}`)}}, `"stack"`},
		"cacheable problem": {oaExchange{method: "GET", path: "/v1/products/p1", header: http.Header{},
			resp: withHeader(problem(404), "Cache-Control", "public, max-age=60")}, `"Cache-Control"`},
		"list without next_cursor": {oaExchange{method: "GET", path: "/v1/products", header: http.Header{},
			resp: jsonResp(200, `{"data":[]}`)}, `"next_cursor" is missing`},
		"undocumented status": {oaExchange{method: "GET", path: "/v1/products/p1", header: http.Header{},
			resp: problem(418)}, "status 418 is not documented"},
		"problem as application/json": {oaExchange{method: "GET", path: "/v1/products/p1", header: http.Header{},
			resp: jsonResp(404, `{"type":"https://productapi.example/problems/x","title":"X","status":404}`)}, "Content-Type has unexpected value"},
		"undocumented response header": {oaExchange{method: "GET", path: "/v1/products/p1", header: http.Header{},
			resp: jsonResp(200, product, "Location", "/elsewhere")}, "sends Location"},
		"no X-Request-ID": {oaExchange{method: "GET", path: "/v1/products/p1", header: http.Header{},
			resp: noID}, "no X-Request-ID"},
		"body on 204": {oaExchange{method: "DELETE", path: "/v1/products/p1", header: bearer,
			resp: response{Status: 204, Header: okHeader(), Body: []byte("{}")}}, "documented without a body"},
		"body on 304": {oaExchange{method: "GET", path: "/v1/products/p1", header: http.Header{"If-None-Match": {`"1"`}},
			resp: response{Status: 304, Header: okHeader(), Body: []byte("x")}}, "documented without a body"},
		"document rejects, service takes": {oaExchange{method: "GET", path: "/v1/products?limit=500", header: http.Header{},
			resp: jsonResp(200, `{"data":[],"next_cursor":null}`)}, "but the service accepted it with 200"},
		"undocumented query parameter": {oaExchange{method: "GET", path: "/v1/products?colour=red", header: http.Header{},
			resp: jsonResp(200, `{"data":[],"next_cursor":null}`)}, `query parameter "colour" is not documented`},
		"undocumented request header": {oaExchange{method: "POST", path: "/v1/products",
			header: http.Header{"Authorization": {"Bearer t"}, "Content-Type": {"application/json"}, "Idempotency-Key": {"k"}}, body: create,
			resp: jsonResp(201, product)}, `request header "Idempotency-Key" is not documented`},
		"service rejects, document takes": {oaExchange{method: "POST", path: "/v1/products", header: jsonBody, body: create,
			resp: problem(422)}, "a request the document accepts"},
		"beyond schema, but schema says": {oaExchange{method: "GET", path: "/v1/products?limit=500", header: http.Header{}, beyondSchema: "test",
			resp: problem(400)}, "already rejects it"},
		"served without the token": {oaExchange{method: "GET", path: "/v1/users/me", header: http.Header{},
			resp: jsonResp(200, `{"id":"u1"}`)}, "requires bearerAuth"},
		"public operation wants a token": {oaExchange{method: "GET", path: "/v1/products", header: http.Header{},
			resp: withHeader(problem(401), "WWW-Authenticate", `Bearer realm="api"`)}, "marks the operation public"},
		"operation not in the document": {oaExchange{method: "GET", path: "/v1/not-in-the-document", header: bearer,
			resp: jsonResp(200, `{"data":[],"next_cursor":null}`)}, "no operation in web/openapi.yaml matches"},
	}
	for _, name := range oaSortedKeys(bad) {
		x := bad[name]
		p := contract.check(x.oaExchange)
		if !strings.Contains(strings.Join(p, "\n"), x.want) {
			t.Errorf("%s: %s %s -> %d was not reported as %q; reports: %q", name, x.method, x.path, x.resp.Status, x.want, p)
		}
	}
}
