package httpx

import (
	"encoding/json"
	"net/url"

	"github.com/gin-gonic/gin"
)

// Envelope is the contract's list shape.
type Envelope struct {
	Data       any     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// ListBody renders a page; next == "" means the last page (null cursor).
func ListBody(data any, next string) ([]byte, error) {
	env := Envelope{Data: data}
	if next != "" {
		env.NextCursor = &next
	}
	return json.Marshal(env)
}

// SetNextLink adds `Link: <...>; rel="next"`: the request's own URL with the
// cursor replaced, so every filter, sort, limit and fieldset carries over.
func SetNextLink(c *gin.Context, base, next string) {
	if next == "" {
		return
	}
	q := c.Request.URL.Query()
	q.Set("cursor", next)
	u := url.URL{Path: c.Request.URL.Path, RawQuery: q.Encode()}
	c.Header("Link", "<"+base+u.String()+`>; rel="next"`)
}
