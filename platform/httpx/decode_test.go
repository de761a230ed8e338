package httpx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/apperr"
)

type sampleBody struct {
	Name     string   `json:"name" validate:"required,notblank,max=20"`
	Quantity int      `json:"quantity" validate:"gte=1,lte=10"`
	Tags     []string `json:"tags,omitempty" validate:"max=3"`
	Active   *bool    `json:"active,omitempty"`
	Extra    any      `json:"extra,omitempty"`
	Items    []struct {
		SKU string `json:"sku"`
	} `json:"items,omitempty"`
}

func decodeRequest(t *testing.T, contentType, body string, limit int64) (sampleBody, error) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	if contentType != "" {
		c.Request.Header.Set("Content-Type", contentType)
	}
	if limit > 0 {
		c.Request.Body = http.MaxBytesReader(w, c.Request.Body, limit)
	}
	var dst sampleBody
	return dst, Decode(c, &dst)
}

func TestDecode(t *testing.T) {
	cases := []struct {
		name, ct, body string
		limit          int64
		kind           apperr.Kind
		detail         string
	}{
		{"ok", "application/json", `{"name":"a","quantity":2}`, 0, -1, ""},
		{"ok with charset", "application/json; charset=utf-8", `{"name":"a","quantity":2}`, 0, -1, ""},
		{"+json is not application/json", "application/merge-patch+json", `{"name":"a","quantity":2}`, 0, apperr.KindUnsupportedMedia, "application/json"},
		{"null for a string", "application/json", `{"name":null,"quantity":2}`, 0, apperr.KindInvalid, `"name" must not be null`},
		{"null for an optional pointer", "application/json", `{"name":"a","quantity":2,"active":null}`, 0, apperr.KindInvalid, `"active" must not be null`},
		{"null for a list", "application/json", `{"name":"a","quantity":2,"tags":null}`, 0, apperr.KindInvalid, `"tags" must not be null`},
		{"duplicate key", "application/json", `{"name":"a","quantity":2,"name":"b"}`, 0, apperr.KindInvalid, `"name" appears twice`},
		{"duplicate key in a nested object", "application/json", `{"name":"a","quantity":2,"items":[{"sku":"x","sku":"y"}]}`, 0, apperr.KindInvalid, `"sku" appears twice`},
		{"same key in sibling objects", "application/json", `{"name":"a","quantity":2,"items":[{"sku":"x"},{"sku":"y"}]}`, 0, -1, ""},
		{"null any value", "application/json", `{"name":"a","quantity":2,"extra":null}`, 0, -1, ""},
		{"null in a nested struct", "application/json", `{"name":"a","quantity":2,"items":[{"sku":null}]}`, 0, apperr.KindInvalid, `"items[0].sku" must not be null`},
		{"null element", "application/json", `{"name":"a","quantity":2,"items":[null]}`, 0, apperr.KindInvalid, "items[0] must not be null"},
		{"no content type", "", `{"name":"a","quantity":2}`, 0, apperr.KindUnsupportedMedia, "application/json"},
		{"form", "application/x-www-form-urlencoded", `name=a`, 0, apperr.KindUnsupportedMedia, "application/json"},
		{"empty", "application/json", ``, 0, apperr.KindInvalid, "empty"},
		{"malformed", "application/json", `{"name":`, 0, apperr.KindInvalid, "malformed"},
		{"unknown field", "application/json", `{"name":"a","quantity":1,"role":"admin"}`, 0, apperr.KindInvalid, `unknown field "role"`},
		{"wrong type", "application/json", `{"name":"a","quantity":"1"}`, 0, apperr.KindInvalid, `"quantity" must be an integer`},
		{"array body", "application/json", `[1]`, 0, apperr.KindInvalid, "JSON object"},
		{"trailing data", "application/json", `{"name":"a","quantity":1}{}`, 0, apperr.KindInvalid, "single JSON value"},
		{"too large", "application/json", `{"name":"` + strings.Repeat("x", 100) + `"}`, 32, apperr.KindTooLarge, "32 bytes"},
		{"NUL in a value", "application/json", `{"name":"a\u0000","quantity":1}`, 0, apperr.KindInvalid, "NUL"},
		{"NUL in a key", "application/json", `{"name":"a","quantity":1,"\u0000":1}`, 0, apperr.KindInvalid, "NUL"},
		{"NUL in a list", "application/json", `{"name":"a","quantity":1,"tags":["\u0000"]}`, 0, apperr.KindInvalid, "NUL"},
		{"escaped backslash then u0000", "application/json", `{"name":"a\\u0000","quantity":1}`, 0, -1, ""},
		{"escaped quote then u0000", "application/json", `{"name":"\"\\\u0000","quantity":1}`, 0, apperr.KindInvalid, "NUL"},
		{"invalid UTF-8", "application/json", "{\"name\":\"\xff\",\"quantity\":1}", 0, apperr.KindInvalid, "UTF-8"},
		{"UTF-8 encoded surrogate", "application/json", "{\"name\":\"\xed\xa0\x80\",\"quantity\":1}", 0, apperr.KindInvalid, "UTF-8"},
		{"lone high surrogate", "application/json", `{"name":"\ud800","quantity":1}`, 0, apperr.KindInvalid, "surrogate"},
		{"high surrogate then text", "application/json", `{"name":"\uD83Dx","quantity":1}`, 0, apperr.KindInvalid, "surrogate"},
		{"lone low surrogate", "application/json", `{"name":"\udc00","quantity":1}`, 0, apperr.KindInvalid, "surrogate"},
		{"surrogate pair", "application/json", `{"name":"\ud83d\ude00","quantity":1}`, 0, -1, ""},
		{"NUL outside strings is malformed", "application/json", "{\"name\":\"a\",\"quantity\":1}\x00", 0, apperr.KindInvalid, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeRequest(t, tc.ct, tc.body, tc.limit)
			if tc.kind == -1 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			e := apperr.As(err)
			if err == nil || e.Kind != tc.kind || !strings.Contains(e.Message, tc.detail) {
				t.Fatalf("got %v (kind %d), want kind %d mentioning %q", err, e.Kind, tc.kind, tc.detail)
			}
		})
	}
}

// Every failing field is listed, under its JSON name.
func TestDecodeListsEveryFailingField(t *testing.T) {
	_, err := decodeRequest(t, "application/json", `{"name":"   ","quantity":11,"tags":["a","b","c","d"]}`, 0)
	e := apperr.As(err)
	if e.Kind != apperr.KindValidation {
		t.Fatalf("kind %d: %v", e.Kind, err)
	}
	got := map[string]string{}
	for _, f := range e.Fields {
		got[f.Field] = f.Message
	}
	want := map[string]string{"name": "must not be blank", "quantity": "must be <= 10", "tags": "must have at most 3 items"}
	for field, msg := range want {
		if got[field] != msg {
			t.Errorf("field %s: got %q want %q (all: %v)", field, got[field], msg, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields = %v", got)
	}
}

// The problem body never echoes Go type names or internal causes.
func TestErrorHidesInternals(t *testing.T) {
	gin.SetMode(gin.TestMode)
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodGet, "/x", nil)
	Error(c, apperr.Internal(errorString("pq: relation \"secret_table\" does not exist")))
	if w.Code != 500 || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d type %q", w.Code, w.Header().Get("Content-Type"))
	}
	if strings.Contains(w.Body.String(), "secret_table") {
		t.Fatalf("leaked cause: %s", w.Body)
	}

	w = httptest.NewRecorder()
	c, _ = gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodGet, "/x", nil)
	Error(c, apperr.Unavailable("db.down", "database unavailable", 1500*1e6))
	if w.Code != 503 || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("503 without Retry-After: %d %q", w.Code, w.Header().Get("Retry-After"))
	}
	var p Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Type != ProblemBaseURI+"db.down" || p.Status != 503 {
		t.Fatalf("problem = %+v (%v)", p, err)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// FuzzDecodeJSON: any body either decodes into a value that passes
// validation, or yields a client error (400/422) whose message is valid
// UTF-8 and names no Go type. It must never panic or report an internal
// error.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"a","quantity":1}`, `{"name":"a","quantity":1,"tags":["x"],"active":true}`,
		`{}`, `[]`, `null`, `{"name":1}`, `{"quantity":1e400}`, `{"name":"\ud800"}`, `{"name":"\u0000","quantity":1}`, "{\"name\":\"\xff\"}", `{"a":{"b":[`, "{\"name\":\"a\"}\n{}", `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var dst sampleBody
		err := DecodeJSON(raw, &dst)
		if err == nil {
			// Nothing a store cannot hold, nothing silently replaced.
			for _, s := range append([]string{dst.Name}, dst.Tags...) {
				if strings.IndexByte(s, 0) >= 0 {
					t.Fatalf("NUL accepted from %q", raw)
				}
				if strings.ContainsRune(s, utf8.RuneError) && !bytes.Contains(raw, []byte("\uFFFD")) &&
					!bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`)) {
					t.Fatalf("U+FFFD substituted in %q", raw)
				}
			}
			err = Validate(&dst)
			if err == nil {
				if dst.Quantity < 1 || dst.Quantity > 10 || strings.TrimSpace(dst.Name) == "" {
					t.Fatalf("invalid value accepted: %+v", dst)
				}
				return
			}
		}
		e := apperr.As(err)
		if e.Kind != apperr.KindInvalid && e.Kind != apperr.KindValidation {
			t.Fatalf("kind %d for %q: %v", e.Kind, raw, err)
		}
		if !utf8.ValidString(e.Message) || strings.Contains(e.Message, "httpx.") || strings.Contains(e.Message, "main.") {
			t.Fatalf("bad message %q", e.Message)
		}
		if bytes.Contains([]byte(e.Message), []byte("sampleBody")) {
			t.Fatalf("Go type leaked: %q", e.Message)
		}
	})
}

// The custom tags are part of the validator from the start: no caller
// registers anything.
func TestValidateSKUTag(t *testing.T) {
	type body struct {
		SKU string `json:"sku" validate:"sku"`
	}
	for _, ok := range []string{"A", "SKU-1.b_2", strings.Repeat("x", 64)} {
		if err := Validate(body{SKU: ok}); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "ü", strings.Repeat("x", 65)} {
		e := apperr.As(Validate(body{SKU: bad}))
		if e.Kind != apperr.KindValidation || len(e.Fields) != 1 || e.Fields[0].Field != "sku" || !strings.Contains(e.Fields[0].Message, "1-64 characters") {
			t.Errorf("%q: got %+v", bad, e)
		}
	}
}
