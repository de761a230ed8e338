package httpx

import (
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/query"
)

var errBadPath = apperr.New(apperr.KindNotFound, "route.not_found",
	"no resource has a path with a NUL character or invalid UTF-8")

// StrictURL refuses, for every route, a URL whose parts would otherwise
// be dropped or reach the database as text it cannot hold: a query string
// that does not parse or decodes to invalid UTF-8 or NUL is a 400 naming
// the part (query.CheckRawQuery); such a path is a 404, as no resource can
// have it (path parameters are ids, keys and SKUs).
func StrictURL(c *gin.Context) {
	if p := c.Request.URL.Path; strings.IndexByte(p, 0) >= 0 || !utf8.ValidString(p) {
		Error(c, errBadPath)
		return
	}
	if err := query.CheckRawQuery(c.Request.URL.RawQuery); err != nil {
		Error(c, err)
		return
	}
	c.Next()
}
