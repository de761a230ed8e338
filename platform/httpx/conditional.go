package httpx

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/apperr"
)

// ErrPreconditionFailed answers a stale If-Match.
var ErrPreconditionFailed = apperr.New(apperr.KindPreconditionFailed, "precondition_failed",
	"the resource changed since you read it (If-Match does not match the current ETag); fetch it again")

// VersionETag is the strong ETag of one representation of a versioned
// entity: the row version plus, for sparse fieldsets, a tag of the fieldset,
// so each representation has its own validator. The version part lets a
// write with If-Match run as UPDATE ... WHERE version = ? (no read first).
func VersionETag(version int64, variant string) string {
	if variant == "" {
		return `"` + strconv.FormatInt(version, 10) + `"`
	}
	sum := sha256.Sum256([]byte(variant))
	return `"` + strconv.FormatInt(version, 10) + "-" + base64.RawURLEncoding.EncodeToString(sum[:6]) + `"`
}

// BodyETag is the strong ETag of an arbitrary body (lists).
func BodyETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// IfMatchVersion reads If-Match. It returns (0, false, nil) when absent,
// (0, true, nil) for "*", (v, true, nil) for a version tag of ours and a 412
// error for anything else (weak tags never match for writes, RFC 9110 13.1.1).
func IfMatchVersion(c *gin.Context) (version int64, present bool, err error) {
	h := strings.TrimSpace(c.GetHeader("If-Match"))
	if h == "" {
		return 0, false, nil
	}
	if h == "*" {
		return 0, true, nil
	}
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimSpace(tag)
		if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
			continue
		}
		num, _, _ := strings.Cut(tag[1:len(tag)-1], "-")
		if v, err := strconv.ParseInt(num, 10, 64); err == nil && v > 0 {
			// Only the full-representation tag is accepted as a write
			// precondition; a sparse tag names a different representation.
			if tag == VersionETag(v, "") {
				return v, true, nil
			}
		}
	}
	return 0, true, ErrPreconditionFailed
}

// NoneMatch reports whether If-None-Match matches etag (weak comparison, as
// RFC 9110 requires for If-None-Match).
func NoneMatch(c *gin.Context, etag string) bool {
	h := c.GetHeader("If-None-Match")
	if h == "" {
		return false
	}
	if strings.TrimSpace(h) == "*" {
		return true
	}
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == etag {
			return true
		}
	}
	return false
}

// etagKey is "ETag" as Header.Set stores it ("Etag"): canonicalized once,
// because canonicalizing a non-canonical key allocates on every Set.
var etagKey = textproto.CanonicalMIMEHeaderKey("ETag")

// setValidators sets ETag and, when not empty, Cache-Control.
func setValidators(h http.Header, etag, cacheControl string) {
	if cacheControl == "" {
		SetCanonical(h, etagKey, etag)
		return
	}
	SetCanonical(h, etagKey, etag, "Cache-Control", cacheControl)
}

// NotModified writes a 304 with the validators and caching headers only.
func NotModified(c *gin.Context, etag, cacheControl string) {
	setValidators(c.Writer.Header(), etag, cacheControl)
	c.Status(http.StatusNotModified)
	c.Writer.WriteHeaderNow()
	c.Abort()
}

// WriteCacheable writes a JSON body with its ETag and caching headers, or a
// 304 when the client already has it.
func WriteCacheable(c *gin.Context, status int, etag, cacheControl string, body []byte) {
	if NoneMatch(c, etag) {
		NotModified(c, etag, cacheControl)
		return
	}
	setValidators(c.Writer.Header(), etag, cacheControl)
	c.Data(status, "application/json; charset=utf-8", body)
}

// Private caching for per-caller data: clients may keep it and revalidate
// with the ETag, shared caches must not.
const CachePrivate = "private, no-cache"

// VaryAuthorization marks a response as depending on the caller.
func VaryAuthorization(c *gin.Context) { c.Writer.Header().Add("Vary", "Authorization") }
