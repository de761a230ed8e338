package flagshttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/open-feature/go-sdk/openfeature"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/flags"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/routemeta"
)

// OFREP (OpenFeature Remote Evaluation Protocol) bodies. Field names and
// status codes follow the protocol's OpenAPI document, not this API's
// snake_case/problem conventions, so any OFREP provider can talk to us.

// ofrepSuccess is an evaluation. Value is omitted for a disabled flag: the
// client uses its code default (OFREP's "codeDefaultFlag" shape).
type ofrepSuccess struct {
	Key      string         `json:"key"`
	Value    any            `json:"value,omitempty"`
	Reason   string         `json:"reason"`
	Variant  string         `json:"variant,omitempty"`
	Metadata map[string]any `json:"metadata"`
}

type ofrepFailure struct {
	Key          string `json:"key,omitempty"`
	ErrorCode    string `json:"errorCode"`
	ErrorDetails string `json:"errorDetails,omitempty"`
}

// OFREPRoutes mounts the two OFREP core endpoints over f's provider (at
// the root: the protocol fixes the /ofrep/v1 prefix):
//
//	POST /ofrep/v1/evaluate/flags/:key  one flag
//	POST /ofrep/v1/evaluate/flags       every flag, ETag / If-None-Match -> 304
func OFREPRoutes(r *routemeta.Group, f *flags.Flags) {
	o := ofrep{provider: f.Provider()}
	r.POST("/ofrep/v1/evaluate/flags/:key", routemeta.Default, o.one)
	r.POST("/ofrep/v1/evaluate/flags", routemeta.Default, o.bulk)
}

type ofrep struct{ provider *flags.Provider }

// readContext decodes the OFREP request body into a flattened evaluation
// context. An empty body (with or without Content-Type) is an empty context. Failures are OFREP error
// bodies with status 400 (or a problem for 413/415).
func readContext(c *gin.Context) (openfeature.FlattenedContext, *ofrepFailure, error) {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, nil, apperr.New(apperr.KindUnsupportedMedia, "request.unsupported_media_type", "Content-Type must be application/json")
		}
	}
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, apperr.New(apperr.KindTooLarge, "request.too_large", "request body is too large")
		}
		return nil, &ofrepFailure{ErrorCode: string(openfeature.ParseErrorCode), ErrorDetails: "could not read the request body"}, nil
	}
	flat := openfeature.FlattenedContext{}
	if len(bytes.TrimSpace(raw)) == 0 {
		return flat, nil, nil
	}
	if c.GetHeader("Content-Type") == "" {
		// Only an empty body may come without a type: a body is JSON by
		// declaration, as on every other route.
		return nil, nil, apperr.New(apperr.KindUnsupportedMedia, "request.unsupported_media_type", "Content-Type must be application/json")
	}
	// The strict-text rules of every other body (httpx.CheckJSONText),
	// answered the OFREP way.
	if err := httpx.CheckJSONText(raw); err != nil {
		return nil, &ofrepFailure{ErrorCode: string(openfeature.ParseErrorCode), ErrorDetails: apperr.As(err).Message}, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil { // null is no object either
		return nil, &ofrepFailure{ErrorCode: string(openfeature.ParseErrorCode), ErrorDetails: "the request body must be a JSON object"}, nil
	}
	for k := range top {
		if k != "context" {
			return nil, &ofrepFailure{ErrorCode: string(openfeature.ParseErrorCode), ErrorDetails: `unknown field "` + k + `"; the body is {"context": {...}}`}, nil
		}
	}
	ctxRaw, ok := top["context"]
	if !ok || bytes.Equal(bytes.TrimSpace(ctxRaw), []byte("null")) {
		return flat, nil, nil
	}
	var ctx map[string]any
	if err := json.Unmarshal(ctxRaw, &ctx); err != nil || ctx == nil {
		return nil, &ofrepFailure{ErrorCode: string(openfeature.InvalidContextCode), ErrorDetails: "context must be a JSON object"}, nil
	}
	if tk, ok := ctx[openfeature.TargetingKey]; ok {
		if _, isStr := tk.(string); !isStr {
			return nil, &ofrepFailure{ErrorCode: string(openfeature.InvalidContextCode), ErrorDetails: "targetingKey must be a string"}, nil
		}
	}
	for k, v := range ctx {
		flat[k] = v
	}
	return flat, nil, nil
}

func writeOFREP(c *gin.Context, status int, v any) {
	c.Header("Cache-Control", "no-store")
	c.JSON(status, v)
}

func success(r flags.Result) ofrepSuccess {
	md := r.Metadata
	if md == nil {
		md = map[string]any{}
	}
	return ofrepSuccess{Key: r.Key, Value: r.Value, Reason: string(r.Reason), Variant: r.Variant, Metadata: md}
}

func (o ofrep) one(c *gin.Context) {
	key := c.Param("key")
	flat, fail, err := readContext(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	if fail != nil {
		fail.Key = key
		writeOFREP(c, http.StatusBadRequest, fail)
		return
	}
	r := o.provider.Evaluate(key, flat)
	switch r.ErrorCode {
	case "":
		writeOFREP(c, http.StatusOK, success(r))
	case openfeature.FlagNotFoundCode:
		writeOFREP(c, http.StatusNotFound, ofrepFailure{Key: key, ErrorCode: string(r.ErrorCode), ErrorDetails: r.ErrorMessage})
	default:
		// An evaluation error of a known flag (its targeting failed): the
		// protocol's evaluationFailure, status 400.
		writeOFREP(c, http.StatusBadRequest, ofrepFailure{Key: key, ErrorCode: string(r.ErrorCode), ErrorDetails: r.ErrorMessage})
	}
}

type bulkResponse struct {
	Flags []any `json:"flags"`
}

func (o ofrep) bulk(c *gin.Context) {
	flat, fail, err := readContext(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	if fail != nil {
		writeOFREP(c, http.StatusBadRequest, fail) // bulkEvaluationFailure: no key
		return
	}
	keys := o.provider.Keys()
	out := bulkResponse{Flags: make([]any, 0, len(keys))}
	for _, k := range keys {
		r := o.provider.Evaluate(k, flat)
		if r.ErrorCode != "" {
			out.Flags = append(out.Flags, ofrepFailure{Key: k, ErrorCode: string(r.ErrorCode), ErrorDetails: r.ErrorMessage})
			continue
		}
		out.Flags = append(out.Flags, success(r))
	}
	body, err := json.Marshal(out)
	if err != nil {
		httpx.Error(c, apperr.Internal(err))
		return
	}
	// The ETag covers the evaluated result for this context: a client
	// polling with If-None-Match gets 304 until a flag it sees changes.
	// "private, no-cache": results are per context, revalidate each time.
	httpx.WriteCacheable(c, http.StatusOK, httpx.BodyETag(body), httpx.CachePrivate, body)
}
