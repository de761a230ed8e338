// Package flagshttp is the HTTP face of the flags: the admin API over
// flagstore.Admin, OFREP over the runtime's provider, and the middleware
// that gives every request its evaluation attributes.
package flagshttp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/flags"
	"example.com/productapi/platform/flags/flagstore"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/query"
	"example.com/productapi/platform/routemeta"
)

// Middleware stores the request's evaluation attributes (caller, role,
// client IP, route, user agent) in the request context for flags.Bool and
// friends. Mount it on the engine; the caller is also read again at
// evaluation time (auth.FromContext), so it works before authentication.
func Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		// httpx.ClientIP: resolved once per request by httpx.Base.
		a := flags.Attributes{IP: httpx.ClientIP(c), Path: c.FullPath(), UserAgent: c.Request.UserAgent()}
		if a.Path == "" {
			a.Path = c.Request.URL.Path
		}
		if p, ok := auth.Caller(c); ok {
			a.UserID, a.Role = p.UserID, p.Role
		}
		c.Request = c.Request.WithContext(flags.WithRequestAttributes(c.Request.Context(), a))
		c.Next()
	}
}

type adminAPI struct {
	admin   *flagstore.Admin
	cursors *query.Codec
	baseURL string
}

// AdminRoutes mounts the admin API (mount under /v1 behind
// authentication; admin is required here too). cursors signs the list's
// cursors, baseURL prefixes its Link headers and a creation's Location.
//
//	GET /admin/flags        list (cursor envelope, by key)
//	GET /admin/flags/:key   one flag, ETag = its version
//	PUT /admin/flags/:key   replace (200) or create (201) a definition;
//	                        If-Match with the ETag -> 412 when stale
func AdminRoutes(g *routemeta.Group, admin *flagstore.Admin, cursors *query.Codec, baseURL string) {
	h := &adminAPI{admin: admin, cursors: cursors, baseURL: baseURL}
	require := auth.Require(auth.RoleAdmin)
	g.GET("/admin/flags", routemeta.Default.Sheddable(), require, h.list) // admin reads go first under overload
	g.GET("/admin/flags/:key", routemeta.Default.Sheddable(), require, h.get)
	g.PUT("/admin/flags/:key", routemeta.Default, require, h.put)
}

func (h *adminAPI) list(c *gin.Context) {
	params, err := query.Parse(flagstore.ListSpec, c.Request.URL.Query())
	if err != nil {
		httpx.Error(c, err)
		return
	}
	if h.cursors == nil {
		httpx.Error(c, apperr.Internal(errors.New("flagshttp: AdminRoutes without cursors")))
		return
	}
	ks, err := params.DecodeCursor(h.cursors)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	views, more, err := h.admin.List(c.Request.Context(), params, ks)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	items := make([]any, 0, len(views))
	for _, v := range views {
		if params.Fields == nil {
			items = append(items, v)
			continue
		}
		var full map[string]any
		b, _ := json.Marshal(v)
		_ = json.Unmarshal(b, &full)
		items = append(items, query.Project(full, params))
	}
	next := ""
	if more && len(views) > 0 {
		last := views[len(views)-1].Key
		next = h.cursors.Encode(params.Binding(), last, last)
	}
	httpx.WritePrivateList(c, h.baseURL, items, next)
}

func (h *adminAPI) get(c *gin.Context) {
	if len(c.Request.URL.RawQuery) > 0 {
		httpx.Error(c, apperr.Invalid("query.parameter", "this resource takes no query parameters"))
		return
	}
	v, err := h.admin.Get(c.Request.Context(), c.Param("key"))
	if err != nil {
		httpx.Error(c, err)
		return
	}
	writeView(c, http.StatusOK, v)
}

// putBody is a flagd definition; the read-only fields of View are
// accepted (a client may PUT back what it read) and ignored.
type putBody struct {
	flags.Definition
	Key       json.RawMessage `json:"key,omitempty"`
	Version   json.RawMessage `json:"version,omitempty"`
	UpdatedAt json.RawMessage `json:"updated_at,omitempty"`
	UpdatedBy json.RawMessage `json:"updated_by,omitempty"`
}

// put decodes and validates the definition, reads If-Match, and leaves the
// write to Admin.Put.
func (h *adminAPI) put(c *gin.Context) {
	key := c.Param("key")
	var body putBody
	if err := httpx.Decode(c, &body); err != nil {
		httpx.Error(c, err)
		return
	}
	d, err := flags.Prepare(key, body.Definition)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	version, conditional, err := httpx.IfMatchVersion(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	actor := ""
	if p, ok := auth.Caller(c); ok {
		actor = p.UserID
	}
	v, created, err := h.admin.Put(auditContext(c), key, d, flagstore.Precondition{Set: conditional, Version: version}, actor)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Header("Location", h.baseURL+c.Request.URL.Path)
	}
	writeView(c, status, v)
}

// auditContext is the request context carrying the request ID for the
// audit entry (audithttp.Middleware puts it there when it is mounted).
func auditContext(c *gin.Context) context.Context {
	ctx := c.Request.Context()
	if id := httpx.RequestID(c); id != "" && audit.RequestIDFrom(ctx) == "" {
		ctx = audit.WithRequestID(ctx, id)
	}
	return ctx
}

func writeView(c *gin.Context, status int, v flagstore.View) {
	body, err := json.Marshal(v)
	if err != nil {
		httpx.Error(c, apperr.Internal(err))
		return
	}
	httpx.VaryAuthorization(c)
	if status != http.StatusOK || c.Request.Method != http.MethodGet {
		// A write answers with its result; If-None-Match must not turn a
		// committed PUT into a bodiless 304.
		c.Header("ETag", httpx.VersionETag(v.Version, ""))
		c.Header("Cache-Control", "no-store")
		c.Data(status, "application/json; charset=utf-8", body)
		return
	}
	httpx.WriteCacheable(c, status, httpx.VersionETag(v.Version, ""), httpx.CachePrivate, body)
}
