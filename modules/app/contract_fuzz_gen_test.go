package app

// Request generation for the contract fuzz suite: the valid request of an
// operation, built from the document (path parameters from the fixtures,
// the request body's example or schema, required headers), and the
// mutations that break one aspect of it.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// fzRaw is JSON text spliced into a body as is: numbers no float64 holds
// (1e309), invalid UTF-8, raw control characters.
type fzRaw string

// fzDraft is a request under construction.
type fzDraft struct {
	g        *fzGen
	who      string // anonymous, customer, admin
	method   string
	params   map[string]string // path parameter -> raw (escaped) segment
	query    []string          // raw k=v pairs
	rawQuery *string           // replaces query entirely
	header   http.Header
	body     any    // JSON tree; used when hasBody and rawBody == nil
	hasBody  bool   // send a body
	rawBody  []byte // replaces body
	chunked  bool   // send without Content-Length
	notes    []string
	// oddPath: a path parameter that is not one plain segment (empty, "..",
	// an encoded slash): another route, or none, answers.
	oddPath bool
	// oddMethod: a method the document does not list for the path.
	oddMethod bool
}

// fzMutation breaks one aspect of a request.
type fzMutation struct {
	name  string
	apply func(d *fzDraft, rng *rand.Rand)
}

func (d *fzDraft) apply(m fzMutation, rng *rand.Rand) {
	m.apply(d, rng)
	d.notes = append(d.notes, m.name)
}

// fzRequest is a request exactly as sent.
type fzRequest struct {
	who, method       string
	rawPath, rawQuery string
	header            http.Header
	body              []byte // nil: no body
	chunked           bool
	notes             []string
	pathParams        map[string]string // decoded, for the document's validator
	oddPath           bool
	oddMethod         bool
}

func (d *fzDraft) build() *fzRequest {
	r := &fzRequest{who: d.who, method: d.method, header: d.header.Clone(), chunked: d.chunked,
		notes: append([]string(nil), d.notes...), pathParams: map[string]string{}, oddPath: d.oddPath, oddMethod: d.oddMethod}
	path := d.g.op.path
	for name, v := range d.params {
		path = strings.ReplaceAll(path, "{"+name+"}", v)
		dec, err := url.PathUnescape(v)
		if err != nil {
			dec = v
		}
		r.pathParams[name] = dec
	}
	r.rawPath = path
	if d.rawQuery != nil {
		r.rawQuery = *d.rawQuery
	} else {
		r.rawQuery = strings.Join(d.query, "&")
	}
	switch {
	case d.rawBody != nil:
		r.body = d.rawBody
	case d.hasBody:
		r.body = fzEncode(d.body)
	}
	return r
}

// fzGen generates the requests of one operation.
type fzGen struct {
	h       *fzHarness
	op      *fzOp
	schema  *openapi3.Schema // request body schema; nil when none
	example any              // request body example (JSON tree)
}

func newFzGen(h *fzHarness, op *fzOp) *fzGen {
	g := &fzGen{h: h, op: op}
	if rb := op.op.RequestBody; rb != nil && rb.Value != nil {
		if mt := rb.Value.Content.Get("application/json"); mt != nil {
			if mt.Schema != nil {
				g.schema = mt.Schema.Value
			}
			if mt.Example != nil {
				g.example = fzTree(mt.Example)
			}
		}
	}
	return g
}

// fzParams are the operation's parameters in one location, path-item
// parameters included.
func fzParams(op *fzOp, in string) []*openapi3.Parameter {
	var out []*openapi3.Parameter
	for _, ps := range []openapi3.Parameters{op.item.Parameters, op.op.Parameters} {
		for _, p := range ps {
			if p.Value != nil && p.Value.In == in {
				out = append(out, p.Value)
			}
		}
	}
	return out
}

// baseline is the valid request as one caller.
func (g *fzGen) baseline(rng *rand.Rand, who string) *fzDraft {
	h := g.h
	d := &fzDraft{g: g, who: who, method: g.op.method, params: map[string]string{}, header: http.Header{}}
	for _, p := range fzParams(g.op, openapi3.ParameterInPath) {
		d.params[p.Name] = url.PathEscape(h.pathValue(g.op, p.Name))
	}
	for _, p := range fzParams(g.op, openapi3.ParameterInQuery) {
		// Optional parameters now and then, with a valid value.
		if !p.Required && (p.Name == "cursor" || rng.IntN(3) != 0) {
			continue
		}
		if v, ok := fzValidParam(p, rng); ok {
			d.query = append(d.query, url.QueryEscape(p.Name)+"="+url.QueryEscape(v))
		}
	}
	for _, p := range fzParams(g.op, openapi3.ParameterInHeader) {
		if !p.Required {
			continue
		}
		v := "x"
		if strings.EqualFold(p.Name, "Idempotency-Key") {
			v = fmt.Sprintf("fz-%d-%d", h.seed%100000, h.next())
		} else if p.Example != nil {
			v = fmt.Sprint(p.Example)
		}
		d.header.Set(p.Name, v)
	}
	if tok := h.tokens[who]; tok != "" {
		d.header.Set("Authorization", "Bearer "+tok)
	}
	if g.schema != nil {
		d.hasBody = true
		d.header.Set("Content-Type", "application/json")
		if g.example != nil {
			d.body = fzCopy(g.example)
		} else {
			d.body = fzValid(g.schema, rng, 0)
		}
		d.body = g.uniquify(d.body)
	}
	return d
}

// uniquify makes the example's unique fields unique and points IDs at the
// fixtures, so the valid request can succeed more than once.
func (g *fzGen) uniquify(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "email":
				x[k] = g.h.email("body")
			case "sku":
				x[k] = fmt.Sprintf("FZ-%d-%d", g.h.seed%100000, g.h.next())
			case "product_id":
				x[k] = g.h.productID
			default:
				x[k] = g.uniquify(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = g.uniquify(e)
		}
	}
	return v
}

// fzValidParam is a value the parameter's schema accepts.
func fzValidParam(p *openapi3.Parameter, rng *rand.Rand) (string, bool) {
	if p.Example != nil {
		return fmt.Sprint(p.Example), true
	}
	if p.Schema == nil || p.Schema.Value == nil {
		return "", false
	}
	s := p.Schema.Value
	if len(s.Enum) > 0 {
		return fmt.Sprint(s.Enum[rng.IntN(len(s.Enum))]), true
	}
	switch {
	case s.Type.Is("boolean"):
		return strconv.FormatBool(rng.IntN(2) == 0), true
	case s.Type.Is("integer"):
		lo, hi := 0, 100
		if s.Min != nil {
			lo = int(*s.Min)
		}
		if s.Max != nil {
			hi = int(*s.Max)
		}
		if hi < lo {
			hi = lo
		}
		return strconv.Itoa(lo + rng.IntN(hi-lo+1)), true
	case s.Type.Is("string") && s.Pattern == "" && s.Format == "":
		return "fz", true
	}
	return "", false
}

// fzValid is a value for a schema without an example (best effort: the
// service decides what is valid; the document decides what must be refused).
func fzValid(s *openapi3.Schema, rng *rand.Rand, depth int) any {
	if s == nil || depth > 4 {
		return nil
	}
	if s.Example != nil {
		return fzTree(s.Example)
	}
	if len(s.Enum) > 0 {
		return fzTree(s.Enum[rng.IntN(len(s.Enum))])
	}
	switch {
	case s.Type.Is("object"):
		m := map[string]any{}
		for _, k := range s.Required {
			if p := s.Properties[k]; p != nil {
				m[k] = fzValid(p.Value, rng, depth+1)
			}
		}
		return m
	case s.Type.Is("array"):
		if s.Items != nil {
			return []any{fzValid(s.Items.Value, rng, depth+1)}
		}
		return []any{}
	case s.Type.Is("integer"), s.Type.Is("number"):
		if s.Min != nil {
			return *s.Min
		}
		return 1
	case s.Type.Is("boolean"):
		return true
	case s.Type.Is("string"):
		if s.Format == "email" {
			return "fz@example.com"
		}
		return "fuzz-value"
	}
	return nil
}

// --- mutations ---------------------------------------------------------------

const fzMiB = 1 << 20

// Values every body field is tried with: boundary and overflowing numbers,
// odd strings, wrong types.
var fzJSONValues = []struct{ name, raw string }{
	{"0", "0"}, {"-1", "-1"}, {"2^31", "2147483648"}, {"2^63", "9223372036854775808"},
	{"-2^63-1", "-9223372036854775809"}, {"1e309", "1e309"}, {"1.5", "1.5"}, {"-0", "-0"}, {"1e2", "1e2"},
	{"empty string", `""`}, {"blank string", `"   "`},
	{"unicode", `"Zoë 漢字 😀 \u202e\u200b"`}, {"NUL", `"a\u0000b"`},
	{"invalid UTF-8", "\"a\xff\xfeb\""}, {"lone surrogate", `"\ud800"`},
	{"raw newline (invalid JSON)", "\"a\nb\""}, {"markup", `"<script>alert(1)</script>"`},
	{"format verbs", `"%s%n%x"`}, {"quote injection", `"' OR '1'='1"`},
	{"64 KiB string", `"` + strings.Repeat("x", 64<<10) + `"`},
	{"true", "true"}, {"null", "null"}, {"[]", "[]"}, {"{}", "{}"}, {`"123"`, `"123"`},
	{"[1]", "[1]"}, {`{"a":1}`, `{"a":1}`},
}

// Values every query parameter is tried with (already escaped).
var fzQueryValues = []struct{ name, raw string }{
	{"empty", ""}, {"0", "0"}, {"-1", "-1"}, {"2^31", "2147483648"}, {"2^63", "9223372036854775808"},
	{"-2^63-1", "-9223372036854775809"}, {"1e309", "1e309"}, {"1.5", "1.5"}, {"abc", "abc"},
	{"TRUE", "TRUE"}, {"null", "null"}, {"NUL", "a%00b"}, {"invalid UTF-8", "%ff%fe"},
	{"unicode", "Zo%C3%AB%E2%80%AE%F0%9F%98%80"}, {"4 KiB", strings.Repeat("a", 4096)},
	{"malformed escape", "%zz"}, {"plus", "a+b"}, {"commas", "%2C%2C"}, {"minus", "-"},
}

// Values every path parameter is tried with (already escaped); odd ones
// change the route.
var fzPathValues = []struct {
	name, raw string
	odd       bool
}{
	{"empty", "", true}, {"dot", ".", true}, {"dot-dot", "..", true}, {"encoded dot-dot", "%2e%2e", true},
	{"encoded slash", "a%2Fb", true}, {"slash", "a/b", true},
	{"NUL", "a%00b", false}, {"invalid UTF-8", "%ff%fe", false}, {"unicode", "%C3%BCn%C3%AF%F0%9F%98%80", false},
	{"10 KB", strings.Repeat("a", 10000), false}, {"-1", "-1", false}, {"0", "0", false},
	{"2^63", "9223372036854775808", false}, {"1e309", "1e309", false},
	{"quote injection", "%27%20OR%20%271%27%3D%271", false}, {"space", "%20", false}, {"null", "null", false},
	{"malformed escape", "%zz", false}, {"uuid", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", false},
}

var fzETags = []string{`*`, `W/"x"`, `"x"`, `x`, `"`, `"a", "b"`, `""`, `W/`, `,,,`, `"` + strings.Repeat("e", 8192) + `"`, "\"\xc3\xbcn\xc3\xaf\""}

var fzContentTypes = []string{"", "text/plain", "application/json; charset=iso-8859-1", "application/x-www-form-urlencoded",
	"multipart/form-data; boundary=x", "application/json, text/plain", "application/json;", "application/problem+json",
	"APPLICATION/JSON", "application/jsonx", ";;;", `application/json; charset="`, "\xe9"}

// mutations is the operation's catalogue of single mutations.
func (g *fzGen) mutations() []fzMutation {
	var ms []fzMutation
	add := func(name string, f func(d *fzDraft, rng *rand.Rand)) { ms = append(ms, fzMutation{name, f}) }
	h := g.h

	// Callers and tokens.
	add("auth: none", func(d *fzDraft, _ *rand.Rand) { d.header.Del("Authorization") })
	for _, v := range []string{"Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a.b.c", "Token abc", "Bearer " + strings.Repeat("t", 16<<10),
		"Bearer \xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", "Bearer " + fzUnsignedJWT(h.userIDs["admin"])} {
		add(fmt.Sprintf("auth: %.40q", v), func(d *fzDraft, _ *rand.Rand) { d.header.Set("Authorization", v) })
	}
	add("auth: token with a byte more", func(d *fzDraft, _ *rand.Rand) { d.header.Set("Authorization", "Bearer "+h.tokens["admin"]+"x") })
	add("auth: lowercase scheme", func(d *fzDraft, _ *rand.Rand) { d.header.Set("Authorization", "bearer "+h.tokens["admin"]) })
	add("auth: two headers", func(d *fzDraft, _ *rand.Rand) {
		d.header["Authorization"] = []string{"Bearer " + h.tokens["customer"], "Bearer " + h.tokens["admin"]}
	})

	// Headers.
	for _, ct := range fzContentTypes {
		add(fmt.Sprintf("Content-Type: %q", ct), func(d *fzDraft, _ *rand.Rand) { d.header.Set("Content-Type", ct) })
	}
	add("Content-Type: twice", func(d *fzDraft, _ *rand.Rand) { d.header["Content-Type"] = []string{"application/json", "text/plain"} })
	for _, name := range []string{"If-Match", "If-None-Match"} {
		for _, v := range fzETags {
			add(fmt.Sprintf("%s: %.40q", name, v), func(d *fzDraft, _ *rand.Rand) { d.header.Set(name, v) })
		}
	}
	for _, v := range []string{"", " ", strings.Repeat("k", 255), strings.Repeat("k", 256), strings.Repeat("k", 10<<10),
		"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", "a\tb", `"quoted"`} {
		add(fmt.Sprintf("Idempotency-Key: %.40q", v), func(d *fzDraft, _ *rand.Rand) { d.header.Set("Idempotency-Key", v) })
	}
	add("Idempotency-Key: reused", func(d *fzDraft, _ *rand.Rand) { d.header.Set("Idempotency-Key", "fz-reused") })
	add("header: 32 KiB value", func(d *fzDraft, _ *rand.Rand) { d.header.Set("X-Fuzz", strings.Repeat("h", 32<<10)) })
	add("header: beyond the header limit", func(d *fzDraft, _ *rand.Rand) { d.header.Set("X-Fuzz", strings.Repeat("h", 70<<10)) })
	add("header: 200 headers", func(d *fzDraft, _ *rand.Rand) {
		for i := range 200 {
			d.header.Set(fmt.Sprintf("X-Fuzz-%d", i), "v")
		}
	})
	for _, v := range []string{strings.Repeat("r", 4096), "\xc3\xbcn\xc3\xaf", "../../x", ""} {
		add(fmt.Sprintf("X-Request-ID: %.20q", v), func(d *fzDraft, _ *rand.Rand) { d.header.Set("X-Request-ID", v) })
	}
	add("Accept: application/xml", func(d *fzDraft, _ *rand.Rand) { d.header.Set("Accept", "application/xml") })
	add("X-Forwarded-For: garbage", func(d *fzDraft, _ *rand.Rand) { d.header.Set("X-Forwarded-For", "1.2.3.4, garbage, ::1, 999.1.1.1") })

	// Methods the document does not list.
	if g.op.method == "GET" {
		add("method: HEAD", func(d *fzDraft, _ *rand.Rand) { d.method, d.oddMethod = "HEAD", true })
	}
	add("method: OPTIONS", func(d *fzDraft, _ *rand.Rand) { d.method, d.oddMethod = "OPTIONS", true })

	// Path parameters.
	for _, p := range fzParams(g.op, openapi3.ParameterInPath) {
		name := p.Name
		for _, v := range fzPathValues {
			add(fmt.Sprintf("path %s: %s", name, v.name), func(d *fzDraft, _ *rand.Rand) {
				d.params[name] = v.raw
				d.oddPath = d.oddPath || v.odd
			})
		}
		add("path "+name+": valid with a byte more", func(d *fzDraft, _ *rand.Rand) { d.params[name] += "x" })
		add("path "+name+": upper case", func(d *fzDraft, _ *rand.Rand) { d.params[name] = strings.ToUpper(d.params[name]) })
		add("path "+name+": trailing slash", func(d *fzDraft, _ *rand.Rand) { d.params[name] += "/"; d.oddPath = true })
	}

	// Query strings.
	for _, p := range fzParams(g.op, openapi3.ParameterInQuery) {
		name := url.QueryEscape(p.Name)
		for _, v := range fzQueryValues {
			add(fmt.Sprintf("query %s: %s", p.Name, v.name), func(d *fzDraft, _ *rand.Rand) { d.setQuery(name, name+"="+v.raw) })
		}
		add("query "+p.Name+": repeated", func(d *fzDraft, rng *rand.Rand) {
			a, _ := fzValidParam(p, rng)
			b, _ := fzValidParam(p, rng)
			d.setQuery(name, name+"="+url.QueryEscape(a)+"&"+name+"="+url.QueryEscape(b))
		})
		add("query "+p.Name+": without =", func(d *fzDraft, _ *rand.Rand) { d.setQuery(name, name) })
		add("query "+p.Name+": ; separator", func(d *fzDraft, rng *rand.Rand) {
			v, _ := fzValidParam(p, rng)
			d.setQuery(name, name+"="+url.QueryEscape(v)+";zz=1")
		})
	}
	add("query: unknown parameter", func(d *fzDraft, _ *rand.Rand) { d.query = append(d.query, "zz_fuzz=1") })
	for _, raw := range []string{"a=1;b=2", "%zz", "&&&", "=x", "a=%", strings.Repeat("p=1&", 500) + "p=1", strings.Repeat("q", 8192), "%00=1"} {
		add(fmt.Sprintf("query: raw %.30q", raw), func(d *fzDraft, _ *rand.Rand) { d.rawQuery = &raw })
	}

	// Bodies.
	if g.schema == nil {
		add("body: unexpected JSON object", func(d *fzDraft, _ *rand.Rand) {
			d.rawBody = []byte(`{"zz_fuzz":1}`)
			d.header.Set("Content-Type", "application/json")
		})
		add("body: unexpected, over 1 MiB", func(d *fzDraft, _ *rand.Rand) {
			d.rawBody = bytes.Repeat([]byte(" "), fzMiB+1)
			d.header.Set("Content-Type", "application/json")
		})
		return ms
	}
	add("body: none", func(d *fzDraft, _ *rand.Rand) { d.hasBody = false })
	for _, raw := range []string{"", "   ", "null", "[]", `"s"`, "0", "true", "{", "{}", "{}{}", "{} x", `{"a":}`,
		"\xef\xbb\xbf{}", strings.Repeat("[", 100000), "{\x00}", "\xff\xfe{}", "email=a&password=b"} {
		add(fmt.Sprintf("body: raw %.30q", raw), func(d *fzDraft, _ *rand.Rand) { d.rawBody = []byte(raw) })
	}
	add("body: 1 MiB of whitespace after the object (at the limit)", func(d *fzDraft, _ *rand.Rand) {
		b := fzEncode(d.body)
		if pad := fzMiB - len(b); pad > 0 {
			b = append(b, bytes.Repeat([]byte(" "), pad)...)
		}
		d.rawBody = b
	})
	add("body: over 1 MiB", func(d *fzDraft, _ *rand.Rand) { d.rawBody = fzOversized(d.body) })
	add("body: over 1 MiB, chunked", func(d *fzDraft, _ *rand.Rand) { d.rawBody, d.chunked = fzOversized(d.body), true })
	add("body: chunked", func(d *fzDraft, _ *rand.Rand) { d.chunked = true })
	add("body: extra field", func(d *fzDraft, _ *rand.Rand) { fzSet(&d.body, []any{"zz_fuzz_extra"}, 1) })

	for _, path := range g.fieldPaths() {
		label := fzPathLabel(path)
		for _, v := range fzJSONValues {
			add(fmt.Sprintf("body %s: %s", label, v.name), func(d *fzDraft, _ *rand.Rand) { fzSet(&d.body, path, fzRaw(v.raw)) })
		}
		if len(path) == 1 {
			key := path[0].(string)
			add("body "+label+": missing", func(d *fzDraft, _ *rand.Rand) {
				if m, ok := d.body.(map[string]any); ok {
					delete(m, key)
				}
			})
			add("body "+label+": duplicate key", func(d *fzDraft, _ *rand.Rand) {
				b := fzEncode(d.body)
				if len(b) > 2 && b[0] == '{' {
					d.rawBody = append([]byte(fmt.Sprintf(`{%q:"dup",`, key)), b[1:]...)
				}
			})
			add("body "+label+": over 1 MiB string", func(d *fzDraft, _ *rand.Rand) {
				fzSet(&d.body, path, strings.Repeat("x", fzMiB))
			})
		}
	}
	// Arrays: empty, long, repeated items.
	for _, path := range g.arrayPaths() {
		label := fzPathLabel(path)
		add("body "+label+": empty array", func(d *fzDraft, _ *rand.Rand) { fzSet(&d.body, path, []any{}) })
		for _, n := range []int{2, 51, 1001} {
			add(fmt.Sprintf("body %s: %d copies of the first item", label, n), func(d *fzDraft, _ *rand.Rand) {
				if a, ok := dig(d.body, path...).([]any); ok && len(a) > 0 {
					items := make([]any, n)
					for i := range items {
						items[i] = fzCopy(a[0])
					}
					fzSet(&d.body, path, items)
				}
			})
		}
	}
	return ms
}

// setQuery replaces the pairs of one parameter.
func (d *fzDraft) setQuery(name, pairs string) {
	kept := d.query[:0:0]
	for _, kv := range d.query {
		if k, _, _ := strings.Cut(kv, "="); k != name {
			kept = append(kept, kv)
		}
	}
	d.query = append(kept, pairs)
}

// fieldPaths are the body's leaves in the example, plus the schema's
// top-level properties the example leaves out.
func (g *fzGen) fieldPaths() [][]any {
	var paths [][]any
	seen := map[string]bool{}
	var walk func(v any, path []any)
	walk = func(v any, path []any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k], append(append([]any(nil), path...), k))
			}
			if len(x) > 0 {
				return
			}
		case []any:
			if len(x) > 0 {
				walk(x[0], append(append([]any(nil), path...), 0))
				return
			}
		}
		if len(path) > 0 {
			paths = append(paths, path)
			seen[fzPathLabel(path)] = true
		}
	}
	base := g.example
	if base == nil {
		base = fzValid(g.schema, rand.New(rand.NewPCG(1, 1)), 0)
	}
	walk(base, nil)
	for _, k := range oaSortedKeys(g.schema.Properties) {
		if !seen[k] {
			if m, ok := base.(map[string]any); !ok || m[k] == nil {
				paths = append(paths, []any{k})
			}
		}
	}
	return paths
}

// arrayPaths are the example's arrays of objects.
func (g *fzGen) arrayPaths() [][]any {
	var paths [][]any
	if m, ok := g.example.(map[string]any); ok {
		for _, k := range oaSortedKeys(m) {
			if a, ok := m[k].([]any); ok && len(a) > 0 {
				paths = append(paths, []any{k})
			}
		}
	}
	return paths
}

func fzPathLabel(path []any) string {
	var b strings.Builder
	for i, p := range path {
		switch x := p.(type) {
		case string:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(x)
		case int:
			fmt.Fprintf(&b, "[%d]", x)
		}
	}
	return b.String()
}

// fzOversized is the body with a string field grown past 1 MiB.
func fzOversized(body any) []byte {
	b := fzEncode(body)
	if len(b) > 1 && b[0] == '{' {
		return append([]byte(`{"zz_pad":"`+strings.Repeat("x", fzMiB)+`",`), b[1:]...)
	}
	return append(b, bytes.Repeat([]byte(" "), fzMiB+1)...)
}

// fzUnsignedJWT is an alg=none token claiming to be the admin.
func fzUnsignedJWT(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		enc([]byte(fmt.Sprintf(`{"sub":%q,"role":"admin","iss":"productapi","aud":"productapi","exp":4102444800}`, sub))) + "."
}

// --- JSON trees ----------------------------------------------------------------

// fzTree turns a decoded YAML/JSON example into a JSON tree of
// map[string]any, []any and scalars.
func fzTree(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil
	}
	return out
}

func fzCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = fzCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = fzCopy(e)
		}
		return a
	}
	return v
}

// fzSet sets the value at path, creating objects on the way.
func fzSet(root *any, path []any, val any) {
	if len(path) == 0 {
		*root = val
		return
	}
	switch k := path[0].(type) {
	case string:
		m, ok := (*root).(map[string]any)
		if !ok {
			m = map[string]any{}
			*root = m
		}
		child := m[k]
		fzSet(&child, path[1:], val)
		m[k] = child
	case int:
		a, ok := (*root).([]any)
		if !ok || k >= len(a) {
			return
		}
		fzSet(&a[k], path[1:], val)
	}
}

// fzEncode writes a JSON tree with sorted keys (deterministic) and fzRaw
// spliced verbatim.
func fzEncode(v any) []byte {
	var b bytes.Buffer
	var enc func(v any)
	enc = func(v any) {
		switch x := v.(type) {
		case fzRaw:
			b.WriteString(string(x))
		case map[string]any:
			b.WriteByte('{')
			for i, k := range oaSortedKeys(x) {
				if i > 0 {
					b.WriteByte(',')
				}
				kb, _ := json.Marshal(k)
				b.Write(kb)
				b.WriteByte(':')
				enc(x[k])
			}
			b.WriteByte('}')
		case []any:
			b.WriteByte('[')
			for i, e := range x {
				if i > 0 {
					b.WriteByte(',')
				}
				enc(e)
			}
			b.WriteByte(']')
		default:
			raw, err := json.Marshal(x)
			if err != nil {
				raw = []byte("null")
			}
			b.Write(raw)
		}
	}
	enc(v)
	return b.Bytes()
}
