// Package audithttp serves the audit trail (GET /admin/audit) and puts
// every write's request ID where audit.Log.Record finds it.
package audithttp

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/query"
	"example.com/productapi/platform/routemeta"
)

// Middleware copies the request ID (set by httpx) into the request context,
// so code below the handlers can audit without a *gin.Context.
func Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			c.Next() // reads are never audited: keep the hot path free of the extra context
			return
		}
		if id := httpx.RequestID(c); id != "" {
			c.Request = c.Request.WithContext(audit.WithRequestID(c.Request.Context(), id))
		}
		c.Next()
	}
}

// Routes mounts GET /admin/audit (admin only; the caller mounts the group
// under /v1 behind authentication, and Require is repeated here so the
// route is never public by accident).
// cursors signs the list's cursors, baseURL prefixes its Link: rel="next".
func Routes(g *routemeta.Group, log *audit.Log, cursors *query.Codec, baseURL string) {
	h := &api{log: log, cursors: cursors, baseURL: strings.TrimRight(baseURL, "/")}
	g.GET("/admin/audit", routemeta.Default.Sheddable(), auth.Require(auth.RoleAdmin), h.list) // admin reads go first under overload
}

type api struct {
	log     *audit.Log
	cursors *query.Codec
	baseURL string
}

func (a *api) list(c *gin.Context) {
	params, ks, err := query.ParsePage(audit.ListSpec, c.Request.URL.Query(), a.cursors)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	recs, more, err := a.log.List(c.Request.Context(), params, ks)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	items := make([]any, 0, len(recs))
	for _, r := range recs {
		if params.Fields == nil {
			items = append(items, r)
			continue
		}
		full := map[string]any{"id": r.ID, "occurred_at": r.OccurredAt.Format(time.RFC3339Nano), "actor_id": r.ActorID,
			"actor_role": r.ActorRole, "action": r.Action, "target_type": r.TargetType, "target_id": r.TargetID,
			"before": r.Before, "after": r.After, "request_id": r.RequestID}
		items = append(items, query.Project(full, params))
	}
	next := ""
	if more && len(recs) > 0 {
		last := recs[len(recs)-1]
		next = a.cursors.Encode(params.Binding(), last.ID, last.ID)
	}
	httpx.WritePrivateList(c, a.baseURL, items, next)
}
