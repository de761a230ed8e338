package httpx

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/apperr"
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

// WritePrivateList answers a per-caller list page: the envelope, the next
// link, a body ETag (304 when it matches) and private caching that varies
// on Authorization. Every caller-dependent list ends this way.
func WritePrivateList(c *gin.Context, baseURL string, data any, next string) {
	body, err := ListBody(data, next)
	if err != nil {
		Error(c, apperr.Internal(err))
		return
	}
	VaryAuthorization(c)
	SetNextLink(c, baseURL, next)
	WriteCacheable(c, http.StatusOK, BodyETag(body), CachePrivate, body)
}

// WriteWritten answers a successful write of a per-caller resource with
// its new representation and version tag; never cached.
func WriteWritten(c *gin.Context, version int64, v any) {
	VaryAuthorization(c)
	c.Header("ETag", VersionETag(version, ""))
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, v)
}
