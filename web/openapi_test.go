// Validation of the OpenAPI document with kin-openapi (the library the
// service's contract tests use).

package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

func loadDoc(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return doc
}

func TestOpenAPIValidatesWithKinOpenAPI(t *testing.T) {
	for name, data := range map[string][]byte{"yaml": OpenAPIYAML(), "json": OpenAPIJSON()} {
		t.Run(name, func(t *testing.T) {
			doc := loadDoc(t, data)
			if doc.OpenAPI != "3.1.0" {
				t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
			}
			got := map[string]string{}
			for path, item := range doc.Paths.Map() {
				for method, op := range item.Operations() {
					got[method+" "+path] = op.OperationID
				}
			}
			if want := wantRoutes(); !reflect.DeepEqual(got, want) {
				t.Errorf("operations = %v\nwant %v", got, want)
			}
		})
	}
}

// TestOpenAPIAcceptsRealShapes checks that the schemas accept what the
// service really sends (sparse fieldsets, null cursors, 304s, problems) and
// reject what it never sends.
func TestOpenAPIAcceptsRealShapes(t *testing.T) {
	doc := loadDoc(t, OpenAPIYAML())
	route := func(method, path string) *routers.Route {
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Fatalf("no operation %s %s", method, path)
		}
		return &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: item.GetOperation(method)}
	}
	cases := []struct {
		name, method, path, url, reqBody string
		status                           int
		respType, respBody               string
		wantErr                          bool
	}{
		{"sparse product", "GET", "/v1/products/{id}", "/v1/products/p1?fields=id,name", "", 200, "application/json", `{"id":"p1","name":"Mug"}`, false},
		{"full product", "GET", "/v1/products/{id}", "/v1/products/p1", "", 200, "application/json", `{"id":"p1","sku":"MUG-1","name":"Mug","description":"","price_cents":1299,"currency":"EUR","stock":0,"category":"","created_at":"2025-01-02T03:04:05Z","updated_at":"2025-01-02T03:04:05.123456Z"}`, false},
		{"bad currency", "GET", "/v1/products/{id}", "/v1/products/p1", "", 200, "application/json", `{"currency":"eur"}`, true},
		{"not modified", "GET", "/v1/products/{id}", "/v1/products/p1", "", 304, "", "", false},
		{"last page", "GET", "/v1/products", "/v1/products?limit=5&in_stock=true&sort=-price_cents", "", 200, "application/json", `{"data":[{"id":"p1"}],"next_cursor":null}`, false},
		{"next page", "GET", "/v1/users", "/v1/users?role=admin", "", 200, "application/json", `{"data":[{"id":"u1","email":"a@example.com"}],"next_cursor":"abc"}`, false},
		{"envelope without cursor", "GET", "/v1/products", "/v1/products", "", 200, "application/json", `{"data":[]}`, true},
		{"limit out of range", "GET", "/v1/products", "/v1/products?limit=101", "", 200, "application/json", `{"data":[],"next_cursor":null}`, true},
		{"unknown sort", "GET", "/v1/products", "/v1/products?sort=stock", "", 200, "application/json", `{"data":[],"next_cursor":null}`, true},
		{"problem", "GET", "/v1/products/{id}", "/v1/products/nope", "", 404, "application/problem+json", `{"type":"https://productapi.example/problems/products.not_found","title":"Not found","status":404,"detail":"product not found","instance":"/v1/products/nope","request_id":"r1"}`, false},
		{"validation problem", "POST", "/v1/products", "/v1/products", `{"sku":"A-1","name":"n","price_cents":1,"currency":"EUR"}`, 422, "application/problem+json", `{"type":"https://productapi.example/problems/validation","title":"Validation failed","status":422,"errors":[{"field":"price_cents","message":"must be >= 0"}]}`, false},
		{"login", "POST", "/v1/auth/login", "/v1/auth/login", `{"email":"a@example.com","password":"x"}`, 200, "application/json", `{"access_token":"t","token_type":"Bearer","expires_in":900,"refresh_token":"rt_x"}`, false},
		{"login without refresh token", "POST", "/v1/auth/login", "/v1/auth/login", `{"email":"a@example.com","password":"x"}`, 200, "application/json", `{"access_token":"t","token_type":"Bearer","expires_in":900,"refresh_token":null}`, true},
		{"login mfa challenge", "POST", "/v1/auth/login", "/v1/auth/login", `{"email":"a@example.com","password":"x"}`, 200, "application/json", `{"mfa_required":true,"mfa_token":"m","expires_in":300}`, false},
		{"login neither", "POST", "/v1/auth/login", "/v1/auth/login", `{"email":"a@example.com","password":"x"}`, 200, "application/json", `{"mfa_required":true,"expires_in":300}`, true},
		{"create", "POST", "/v1/products", "/v1/products", `{"sku":"A-1","name":"n","price_cents":1,"currency":"EUR"}`, 201, "application/json", `{"id":"p1"}`, false},
		{"create unknown field", "POST", "/v1/products", "/v1/products", `{"sku":"A-1","name":"n","price_cents":1,"currency":"EUR","x":1}`, 201, "application/json", `{"id":"p1"}`, true},
		{"empty patch", "PATCH", "/v1/products/{id}", "/v1/products/p1", `{}`, 200, "application/json", `{"id":"p1"}`, true},
		{"blank name", "PATCH", "/v1/products/{id}", "/v1/products/p1", `{"name":"  "}`, 200, "application/json", `{"id":"p1"}`, true},
		{"role patch", "PATCH", "/v1/users/{id}", "/v1/users/u1", `{"role":"admin"}`, 200, "application/json", `{"id":"u1","role":"admin"}`, false},
		{"delete", "DELETE", "/v1/products/{id}", "/v1/products/p1", "", 204, "", "", false},
		{"ready", "GET", "/readyz", "/readyz", "", 200, "application/json", `{"status":"degraded","checks":{"database":"ok","redis":"degraded"}}`, false},
		{"unready", "GET", "/readyz", "/readyz", "", 503, "application/json", `{"status":"unavailable","checks":{"database":"down","server":"draining"}}`, false},
		{"metrics", "GET", "/metrics", "/metrics", "", 200, "text/plain; version=0.0.4; charset=utf-8", "# HELP up\n", false},
		{"yaml", "GET", "/openapi.yaml", "/openapi.yaml", "", 200, "application/yaml", string(OpenAPIYAML()), false},
		{"json", "GET", "/openapi.json", "/openapi.json", "", 200, "application/json", string(OpenAPIJSON()), false},
		{"docs", "GET", "/docs", "/docs", "", 200, "text/html; charset=utf-8", string(DocsHTML()), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.url, strings.NewReader(c.reqBody))
			if c.reqBody != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			params := map[string]string{}
			if strings.Contains(c.path, "{id}") {
				params["id"] = c.url[strings.LastIndex(c.url, "/")+1:]
			}
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route(c.method, c.path),
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
			reqErr := openapi3filter.ValidateRequest(context.Background(), in)
			h := http.Header{}
			if c.respType != "" {
				h.Set("Content-Type", c.respType)
			}
			out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: c.status, Header: h}
			out.SetBodyBytes([]byte(c.respBody))
			respErr := openapi3filter.ValidateResponse(context.Background(), out)
			if got := reqErr != nil || respErr != nil; got != c.wantErr {
				t.Errorf("wantErr=%v, request: %v, response: %v", c.wantErr, reqErr, respErr)
			}
		})
	}
}
