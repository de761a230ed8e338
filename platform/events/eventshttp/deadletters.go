// Package eventshttp is the dead-letter admin API over an events.Bus:
// list, get and replay.
package eventshttp

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/events"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/query"
	"example.com/productapi/platform/routemeta"
)

// Routes mounts the dead-letter admin API over bus; the caller applies
// admin auth. cursors signs the list's cursors, baseURL prefixes its
// Link: rel="next" (empty: from the request).
func Routes(g *routemeta.Group, bus *events.Bus, cursors *query.Codec, baseURL string) {
	h := &api{bus: bus, cursors: cursors, baseURL: baseURL}
	g.GET("/admin/dead-letters", routemeta.Default.Sheddable(), h.list) // admin reads go first under overload
	g.GET("/admin/dead-letters/:id", routemeta.Default.Sheddable(), h.get)
	g.POST("/admin/dead-letters/:id/replay", routemeta.Default, h.replay)
}

type api struct {
	bus     *events.Bus
	cursors *query.Codec
	baseURL string
}

func (h *api) list(c *gin.Context) {
	params, ks, err := query.ParsePage(events.DeadLetterListSpec, c.Request.URL.Query(), h.cursors)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	rows, more, err := h.bus.DeadLetters(c.Request.Context(), params, ks)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	items := make([]any, 0, len(rows))
	for _, r := range rows {
		items = append(items, render(r, params))
	}
	next := ""
	if more && len(rows) > 0 {
		last := rows[len(rows)-1]
		next = h.cursors.Encode(params.Binding(), last.ID, last.ID)
	}
	body, err := httpx.ListBody(items, next)
	if err != nil {
		httpx.Error(c, apperr.Internal(err))
		return
	}
	httpx.SetNextLink(c, h.baseURL, next)
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// render applies ?fields= to a dead letter.
func render(d events.DeadLetter, p query.Params) any {
	if p.Fields == nil {
		return d
	}
	full := map[string]any{"id": d.ID, "consumer": d.Consumer, "event_id": d.EventID, "event_type": d.EventType,
		"event_key": d.EventKey, "payload": d.Payload, "error": d.Error, "attempts": d.Attempts,
		"failed_at": d.FailedAt, "replayed_at": d.ReplayedAt}
	return query.Project(full, p)
}

func (h *api) get(c *gin.Context) {
	params, err := query.ParseFields(events.DeadLetterListSpec, c.Request.URL.Query())
	if err != nil {
		httpx.Error(c, err)
		return
	}
	d, err := h.bus.DeadLetter(c.Request.Context(), c.Param("id"))
	if err != nil {
		httpx.Error(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, render(d, params))
}

// replay answers 200 when the handler succeeded during the
// request, 202 when the delivery is pending again (it failed once more and
// retries with backoff).
func (h *api) replay(c *gin.Context) {
	d, handled, err := h.bus.Replay(c.Request.Context(), c.Param("id"))
	if err != nil {
		httpx.Error(c, err)
		return
	}
	status := http.StatusAccepted
	if handled {
		status = http.StatusOK
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(status, d)
}
