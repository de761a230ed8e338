package web

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// wantRoutes are the routes the service registers, with their operationIds.
func wantRoutes() map[string]string {
	return map[string]string{
		"GET /livez":               "getLiveness",
		"GET /readyz":              "getReadiness",
		"GET /metrics":             "getMetrics",
		"GET /openapi.yaml":        "getOpenAPIYAML",
		"GET /openapi.json":        "getOpenAPIJSON",
		"GET /docs":                "getDocs",
		"POST /v1/auth/register":   "registerUser",
		"POST /v1/auth/login":      "login",
		"GET /v1/users/me":         "getCurrentUser",
		"PATCH /v1/users/me":       "updateCurrentUser",
		"DELETE /v1/users/me":      "eraseCurrentUser",
		"GET /v1/users/me/export":  "exportCurrentUser",
		"GET /v1/users":            "listUsers",
		"GET /v1/users/{id}":       "getUser",
		"PATCH /v1/users/{id}":     "updateUserRole",
		"GET /v1/products":         "listProducts",
		"POST /v1/products":        "createProduct",
		"GET /v1/products/{id}":    "getProduct",
		"PATCH /v1/products/{id}":  "updateProduct",
		"DELETE /v1/products/{id}": "deleteProduct",

		"POST /v1/orders":                              "createOrder",
		"GET /v1/orders":                               "listOrders",
		"GET /v1/orders/{id}":                          "getOrder",
		"POST /v1/orders/{id}/cancel":                  "cancelOrder",
		"POST /v1/orders/{id}/ship":                    "shipOrder",
		"GET /v1/admin/reports/product-sales":          "listProductSales",
		"POST /v1/admin/reports/product-sales/rebuild": "rebuildProductSales",

		"GET /v1/admin/flags":       "listFlags",
		"GET /v1/admin/flags/{key}": "getFlag",
		"PUT /v1/admin/flags/{key}": "putFlag",
		"GET /v1/admin/audit":       "listAuditEntries",

		"GET /v1/admin/dead-letters":              "listDeadLetters",
		"GET /v1/admin/dead-letters/{id}":         "getDeadLetter",
		"POST /v1/admin/dead-letters/{id}/replay": "replayDeadLetter",

		"GET /v1/admin/stats": "getAdminStats",

		"POST /ofrep/v1/evaluate/flags/{key}": "ofrepEvaluateFlag",
		"POST /ofrep/v1/evaluate/flags":       "ofrepEvaluateFlags",

		"POST /v1/auth/mfa":             "loginMFA",
		"POST /v1/auth/refresh":         "refreshTokens",
		"POST /v1/auth/logout":          "logout",
		"POST /v1/console/login":        "consoleLogin",
		"POST /v1/console/mfa":          "consoleLoginMFA",
		"POST /v1/console/refresh":      "consoleRefreshTokens",
		"POST /v1/console/logout":       "consoleLogout",
		"POST /v1/users/me/mfa":         "enrolMFA",
		"DELETE /v1/users/me/mfa":       "disableMFA",
		"POST /v1/users/me/mfa/confirm": "confirmMFA",
	}
}

func decodeYAML(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(OpenAPIYAML(), &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return doc
}

func TestOpenAPIOperations(t *testing.T) {
	doc := decodeYAML(t)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	tags := map[string]bool{}
	for _, tg := range doc["tags"].([]any) {
		tags[tg.(map[string]any)["name"].(string)] = true
	}
	got := map[string]string{}
	seen := map[string]string{}
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			o := op.(map[string]any)
			id, _ := o["operationId"].(string)
			got[key] = id
			if prev, dup := seen[id]; dup {
				t.Errorf("%s: operationId %q already used by %s", key, id, prev)
			}
			seen[id] = key
			for _, f := range []string{"summary", "description"} {
				if s, _ := o[f].(string); strings.TrimSpace(s) == "" {
					t.Errorf("%s: no %s", key, f)
				}
			}
			ts, _ := o["tags"].([]any)
			if len(ts) == 0 {
				t.Errorf("%s: no tags", key)
			}
			for _, tg := range ts {
				if !tags[tg.(string)] {
					t.Errorf("%s: tag %v is not declared", key, tg)
				}
			}
		}
	}
	if !reflect.DeepEqual(got, wantRoutes()) {
		t.Errorf("operations = %v\nwant %v", got, wantRoutes())
	}
}

// TestOpenAPIRefsAndKeywords checks every $ref resolves and that the 3.0
// keyword `nullable` (ignored by 3.1 validators) is not used.
func TestOpenAPIRefsAndKeywords(t *testing.T) {
	doc := decodeYAML(t)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if k == "nullable" {
					t.Errorf("%s: use type [T, 'null'] instead of nullable in OpenAPI 3.1", path)
				}
				if k == "$ref" {
					if !resolves(doc, c.(string)) {
						t.Errorf("%s: $ref %v does not resolve", path, c)
					}
				}
				walk(path+"/"+k, c)
			}
		case []any:
			for _, c := range x {
				walk(path+"[]", c)
			}
		}
	}
	walk("", doc)
}

func resolves(doc map[string]any, ref string) bool {
	if !strings.HasPrefix(ref, "#/") {
		return false
	}
	var cur any = doc
	for _, part := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// TestOpenAPISparseResponses: sparse fieldsets may drop any property, so
// resource schemas must not require any; list envelopes require both keys.
func TestOpenAPISparseResponses(t *testing.T) {
	schemas := decodeYAML(t)["components"].(map[string]any)["schemas"].(map[string]any)
	for _, name := range []string{"Product", "User"} {
		if r, ok := schemas[name].(map[string]any)["required"]; ok {
			t.Errorf("%s requires %v", name, r)
		}
	}
	for _, name := range []string{"ProductList", "UserList"} {
		req := schemas[name].(map[string]any)["required"].([]any)
		var names []string
		for _, r := range req {
			names = append(names, r.(string))
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "data,next_cursor" {
			t.Errorf("%s requires %v", name, names)
		}
	}
}

func TestOpenAPIJSONMatchesYAML(t *testing.T) {
	js := OpenAPIJSON()
	var fromJSON any
	if err := json.Unmarshal(js, &fromJSON); err != nil {
		t.Fatalf("OpenAPIJSON is not JSON: %v", err)
	}
	b, err := json.Marshal(decodeYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	var fromYAML any
	if err := json.Unmarshal(b, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Error("OpenAPIJSON differs from openapi.yaml")
	}
	// Key order is kept: paths appear as written.
	if i, j := bytes.Index(js, []byte(`"/livez"`)), bytes.Index(js, []byte(`"/v1/products"`)); i < 0 || j < i {
		t.Error("OpenAPIJSON does not keep the YAML key order")
	}
}

func TestYAMLToJSON(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a: 1\nb: [x, 2.5, true, null]\n", `{"a":1,"b":["x",2.5,true,null]}`},
		{"z: 1\na: 2\n", `{"z":1,"a":2}`},
		{"'200': {x: '1'}\n", `{"200":{"x":"1"}}`},
		{"a: &A {k: v}\nb: *A\n", `{"a":{"k":"v"},"b":{"k":"v"}}`},
		{"s: \"<b>\"\n", `{"s":"\u003cb\u003e"}`},
		{"", `null`},
	}
	for _, c := range cases {
		got, err := YAMLToJSON([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("YAMLToJSON(%q) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	if _, err := YAMLToJSON([]byte("a: [")); err == nil {
		t.Error("want an error for invalid YAML")
	}
}

// TestDocsHTMLSelfContained: the page loads nothing from the network but
// its own files and /openapi.json (the machine serving it may have no
// internet), and has no inline script or style: DocsCSP (script-src 'self',
// style-src 'self') would block them and leave the page blank.
func TestDocsHTMLSelfContained(t *testing.T) {
	page := string(DocsHTML())
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//`)
	for _, name := range []string{"", "docs.js", "docs.css"} {
		a, ok := DocsFile(name)
		if !ok || a.ETag == "" || a.ContentType == "" {
			t.Fatalf("docs file %q: found %v, %+v", name, ok, a.ContentType)
		}
		if m := external.Find(a.Body); m != nil {
			t.Errorf("docs file %q loads an external resource: %q", name, m)
		}
	}
	for _, want := range []string{`<html lang="en"`, "<main", "<nav", `<script src="/docs/docs.js"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the docs page lacks %q", want)
		}
	}
	if js, _ := DocsFile("docs.js"); !strings.Contains(string(js.Body), `"/openapi.json"`) {
		t.Error("docs.js does not load /openapi.json")
	}
	for _, m := range regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(page, -1) {
		if !strings.Contains(m[1], `src="/docs/`) || strings.TrimSpace(m[2]) != "" {
			t.Errorf("the docs page has an inline script: %q", m[0])
		}
	}
	for _, bad := range []*regexp.Regexp{regexp.MustCompile(`(?i)\son[a-z]+\s*=`), regexp.MustCompile(`(?i)\sstyle\s*=`), regexp.MustCompile(`(?i)<style`)} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("the docs page has inline code or style (blocked by DocsCSP): %q", m)
		}
	}
	// Every local file the page references is served.
	for _, m := range regexp.MustCompile(`(?:src|href)="/docs/([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if _, ok := DocsFile(m[1]); !ok {
			t.Errorf("the docs page references /docs/%s, which is not embedded", m[1])
		}
	}
	if _, ok := DocsFile("../openapi.yaml"); ok {
		t.Error("DocsFile escapes its directory")
	}
}
