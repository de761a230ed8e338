package app

// The contract fuzz suite's oracles, and the known defects it skips until
// their fixes are merged.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// fzFailure is one broken promise about one exchange.
type fzFailure struct {
	kind    string // 5xx, problem, leak, state, accepted, status
	message string
}

// fzLeaks are fragments of internals that must never reach a client: SQL
// and driver text, Go errors, file paths, stack traces.
var fzLeaks = []string{"sql", "pq:", "pgx", "gorm", "sqlite", "postgres", "duplicate key", "violates", "constraint",
	"syntax error", "no such table", "select ", "insert ", "update ", "delete from", " where ",
	"goroutine", "panic", "runtime error", "nil pointer", ".go:", "/work/", "/usr/", "/home/", "/tmp/",
	"go struct", "go value", "json: cannot", "json: unknown", "unmarshal", "reflect", "127.0.0.1", "\tat "}

// check applies every oracle to one exchange. before/after are the stored
// state around it (after is nil when the request may change it).
func (h *fzHarness) check(op *fzOp, req *fzRequest, resp response, before, after *fzSnapshot) []fzFailure {
	var fs []fzFailure
	fail := func(kind, format string, args ...any) {
		fs = append(fs, fzFailure{kind, fmt.Sprintf(format, args...)})
	}
	status := resp.Status

	if status >= 500 {
		fail("5xx", "answered %d", status)
	}
	if fzTransportRefusal(req, resp) {
		// net/http refused the request before any handler ran, with its
		// own text/plain answer the service cannot shape: an unparsable
		// request target, or headers over http.max_header_bytes.
		return fs
	}
	if status >= 400 {
		fs = append(fs, fzCheckErrorBody(op, req, resp)...)
	}
	if after != nil {
		if diff := fzDiff(before, after); diff != "" {
			why := "a refused request changed the stored state"
			if status < 400 {
				why = "a " + req.method + " (a safe method) changed the stored state"
			}
			fail("state", "%s:\n%s", why, diff)
		}
	}
	if status >= 200 && status < 300 && !req.oddMethod && !req.oddPath {
		if rejects := h.documentRejects(op, req); len(rejects) > 0 {
			fail("accepted", "the document rejects this request (%s), but the service accepted it with %d", strings.Join(rejects, "; "), status)
		}
	}
	// 413 for a body sent to an operation that takes none: the document's
	// global rule (info: bodies at most 1 MiB, 413) covers it.
	bodyTooLarge := status == http.StatusRequestEntityTooLarge && op.op.RequestBody == nil && req.body != nil
	if !req.oddMethod && !(req.oddPath && (status == 404 || status == 405 || status/100 == 3)) && !bodyTooLarge {
		if op.op.Responses.Status(status) == nil && op.op.Responses.Default() == nil {
			fail("status", "status %d is not documented for %s (documented: %s)", status, op.id(), strings.Join(oaSortedKeys(op.op.Responses.Map()), ", "))
		}
	}
	return fs
}

// fzCheckErrorBody: an RFC 9457 problem (or, where the document says so,
// the protocol's own JSON error), without internals.
func fzCheckErrorBody(op *fzOp, req *fzRequest, resp response) []fzFailure {
	var fs []fzFailure
	fail := func(kind, format string, args ...any) {
		fs = append(fs, fzFailure{kind, fmt.Sprintf(format, args...)})
	}
	ct := resp.Header.Get("Content-Type")
	problem := fzAnswersProblem(op, resp.Status) || req.oddMethod
	switch {
	case problem && ct != "application/problem+json":
		fail("problem", "error answer with Content-Type %q, want application/problem+json", ct)
	case req.method == "HEAD":
		// No body to look at.
	case problem:
		var p map[string]any
		if err := json.Unmarshal(resp.Body, &p); err != nil {
			fail("problem", "problem body is not a JSON object: %v", err)
			break
		}
		typ, _ := p["type"].(string)
		title, _ := p["title"].(string)
		st, _ := p["status"].(float64)
		if typ == "" || title == "" || int(st) != resp.Status {
			fail("problem", "problem without type, title or the right status")
		}
	default:
		var v map[string]any
		if err := json.Unmarshal(resp.Body, &v); err != nil {
			fail("problem", "error body is not a JSON object: %v", err)
		}
	}
	low := strings.ToLower(string(resp.Body))
	echo := strings.ToLower(req.rawPath + "?" + req.rawQuery + " " + string(req.body))
	for _, leak := range fzLeaks {
		if strings.Contains(low, leak) && !strings.Contains(echo, leak) {
			fail("leak", "error body leaks %q", leak)
		}
	}
	return fs
}

func fzTransportRefusal(req *fzRequest, resp response) bool {
	if resp.Status == http.StatusRequestHeaderFieldsTooLarge {
		return true
	}
	return resp.Status == http.StatusBadRequest && !fzParsableTarget(req) && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain")
}

// fzParsableTarget: net/http can parse the request target (else it refuses
// the request itself).
func fzParsableTarget(req *fzRequest) bool {
	target := req.rawPath
	if req.rawQuery != "" {
		target += "?" + req.rawQuery
	}
	_, err := url.ParseRequestURI(target)
	return err == nil
}

// fzAnswersProblem: the document describes the status's answer as a
// problem (all but OFREP's own 400/404 bodies).
func fzAnswersProblem(op *fzOp, status int) bool {
	r := op.op.Responses.Status(status)
	if r == nil {
		r = op.op.Responses.Default()
	}
	if r == nil || r.Value == nil {
		return true
	}
	return r.Value.Content.Get("application/problem+json") != nil || len(r.Value.Content) == 0
}

// documentRejects lists why the document refuses the request: kin-openapi's
// validation, plus what it cannot see (a malformed query string, a body
// that is not UTF-8). Undocumented query parameters are not counted: the
// document does not forbid them (lists refuse them, other operations
// ignore them).
func (h *fzHarness) documentRejects(op *fzOp, req *fzRequest) []string {
	var rejects []string
	if _, err := url.ParseQuery(req.rawQuery); err != nil {
		rejects = append(rejects, "malformed query string: "+err.Error())
	}
	if op.op.RequestBody != nil && req.body != nil && !utf8.Valid(req.body) {
		rejects = append(rejects, "the JSON body is not UTF-8 (RFC 8259)")
	}
	hr, err := http.NewRequest(req.method, "http://fuzz/", bytes.NewReader(req.body))
	if err != nil {
		return append(rejects, err.Error())
	}
	if req.body == nil || len(bytes.TrimSpace(req.body)) == 0 && op.op.RequestBody != nil && !op.op.RequestBody.Value.Required {
		// Whitespace is no body for an optional one (kin-openapi would
		// try to decode it).
		hr.Body = http.NoBody
	}
	hr.URL.RawQuery = req.rawQuery
	hr.Header = req.header.Clone()
	route := &routers.Route{Spec: h.contract.doc, Path: op.path, PathItem: op.item, Method: op.method, Operation: op.op}
	in := &openapi3filter.RequestValidationInput{Request: hr, PathParams: req.pathParams, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true, SkipSettingDefaults: true}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		rejects = append(rejects, fzClip(err.Error(), 500))
	}
	return rejects
}

// fzDescribe prints an exchange so that it can be reproduced by hand.
func fzDescribe(seed uint64, r *fzRequest, resp response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  seed %d (CONTRACT_FUZZ_SEED=%d), as %s, mutations %q\n", seed, seed, r.who, r.notes)
	target := r.rawPath
	if r.rawQuery != "" {
		target += "?" + r.rawQuery
	}
	fmt.Fprintf(&b, "  %s %s\n", r.method, fzClip(fmt.Sprintf("%q", target), 400))
	for _, k := range oaSortedKeys(r.header) {
		for _, v := range r.header[k] {
			fmt.Fprintf(&b, "  %s: %s\n", k, fzClip(fmt.Sprintf("%q", v), 200))
		}
	}
	if r.body != nil {
		chunked := ""
		if r.chunked {
			chunked = ", chunked"
		}
		fmt.Fprintf(&b, "  body (%d bytes%s): %s\n", len(r.body), chunked, fzClip(fmt.Sprintf("%q", r.body), 400))
	}
	if resp.Status != 0 {
		fmt.Fprintf(&b, "  -> %d %s: %s", resp.Status, resp.Header.Get("Content-Type"), fzClip(string(resp.Body), 400))
	}
	return b.String()
}

// --- known defects -------------------------------------------------------------

// knownDefect is a class of failures another branch is fixing right now.
type knownDefect struct {
	name  string
	match func(kind storeKind, r *fzRequest, resp response, f fzFailure) bool
}

// knownDefects are failure classes skipped (and counted in the log) while
// their fix is under way on another branch. Empty: every class the suite
// found is fixed. Nothing else belongs here; a new failure is a defect.
var knownDefects = []knownDefect{}

func matchKnownDefect(kind storeKind, r *fzRequest, resp response, f fzFailure) string {
	for _, d := range knownDefects {
		if d.match(kind, r, resp, f) {
			return d.name
		}
	}
	return ""
}
