// Package routemeta carries what the limiters must know about a route —
// its rate-limit group, its shedding class, whether it is limited at all —
// declared where the route is registered, instead of being guessed from
// path strings elsewhere. Registration goes through Group, whose methods
// take a Meta next to the handlers, so a route cannot be mounted without
// one; the Table is filled at startup and read per request by the matched
// route (method and Gin's FullPath), a map lookup that allocates nothing.
// The rate limiter and the overload limiter run before the route's own
// handlers (the overload limiter as engine middleware), which is why the
// metadata lives in a table and not in the handler chain.
package routemeta

import (
	"net/http"
	gopath "path"
	"strings"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/resilience"
)

// Meta is one route's metadata. The zero Meta is the common case: the rate
// limiter's default group, critical under overload.
type Meta struct {
	// Group is the route's rate-limit group (ratelimit.Group*); "" is the
	// default group. It matters only on routes whose chain runs the rate
	// limiter (the /v1 API).
	Group string
	// Class is the route's shedding class under overload.
	Class resilience.Class
	// Unlimited routes pass both limiters untouched: probes and metrics
	// must answer an orchestrator most of all when the service is busiest.
	Unlimited bool
}

// Default is the zero Meta, spelled out at registrations: the default
// rate-limit group, critical under overload (single reads, writes).
var Default = Meta{}

// Sheddable is m shed first under overload (lists, searches, admin reads).
func (m Meta) Sheddable() Meta { m.Class = resilience.Sheddable; return m }

type key struct{ method, path string }

// Table holds the Meta of every route registered through its groups.
// It is written while the router is built and only read once it serves.
type Table struct{ routes map[key]Meta }

// NewTable returns an empty table.
func NewTable() *Table { return &Table{routes: map[key]Meta{}} }

// Lookup is the Meta of the route c matched; ok=false for a route
// registered around the table, or for no route (404, 405).
func (t *Table) Lookup(c *gin.Context) (m Meta, ok bool) {
	m, ok = t.routes[key{c.Request.Method, c.FullPath()}]
	return m, ok
}

// Route is the Meta of method and path (a route template, as Gin's
// FullPath), for tests that walk the router.
func (t *Table) Route(method, path string) (Meta, bool) {
	m, ok := t.routes[key{method, path}]
	return m, ok
}

// RateGroup is the rate-limit group of c's route ("" the default), for
// ratelimit.Limiter.Middleware; ok=false: not rate limited. Every route
// behind the rate limiter is declared (a test walks the router); a stray
// one would count in the default group.
func (t *Table) RateGroup(c *gin.Context) (string, bool) {
	m, _ := t.Lookup(c)
	return m.Group, !m.Unlimited
}

// Class is the shedding class of c's route, for
// resilience.Limiter.Middleware. An unmatched request (404, 405) is
// limited as critical, like any route without a Meta.
func (t *Table) Class(c *gin.Context) (resilience.Class, bool) {
	m, _ := t.Lookup(c)
	return m.Class, !m.Unlimited
}

// Group is a Gin router group whose routes are registered with their Meta.
type Group struct {
	g     *gin.RouterGroup
	table *Table
}

// On wraps g so that routes registered through it land in t.
func (t *Table) On(g *gin.RouterGroup) *Group { return &Group{g: g, table: t} }

// Group is a sub-group at relative path with extra middleware, as Gin's.
func (g *Group) Group(path string, handlers ...gin.HandlerFunc) *Group {
	return &Group{g: g.g.Group(path, handlers...), table: g.table}
}

// Handle registers handlers for method and path with the route's Meta.
func (g *Group) Handle(method, path string, m Meta, handlers ...gin.HandlerFunc) {
	g.g.Handle(method, path, handlers...)
	g.table.routes[key{method, joinPaths(g.g.BasePath(), path)}] = m
}

// joinPaths is the route template Gin registers for path under base (its
// own unexported joinPaths): cleaned, keeping a trailing slash.
func joinPaths(base, rel string) string {
	if rel == "" {
		return base
	}
	p := gopath.Join(base, rel)
	if strings.HasSuffix(rel, "/") && !strings.HasSuffix(p, "/") {
		return p + "/"
	}
	return p
}

// GET registers a GET route (HEAD is served by httpx.HeadAsGet as a GET).
func (g *Group) GET(path string, m Meta, handlers ...gin.HandlerFunc) {
	g.Handle(http.MethodGet, path, m, handlers...)
}

// POST registers a POST route.
func (g *Group) POST(path string, m Meta, handlers ...gin.HandlerFunc) {
	g.Handle(http.MethodPost, path, m, handlers...)
}

// PUT registers a PUT route.
func (g *Group) PUT(path string, m Meta, handlers ...gin.HandlerFunc) {
	g.Handle(http.MethodPut, path, m, handlers...)
}

// PATCH registers a PATCH route.
func (g *Group) PATCH(path string, m Meta, handlers ...gin.HandlerFunc) {
	g.Handle(http.MethodPatch, path, m, handlers...)
}

// DELETE registers a DELETE route.
func (g *Group) DELETE(path string, m Meta, handlers ...gin.HandlerFunc) {
	g.Handle(http.MethodDelete, path, m, handlers...)
}
