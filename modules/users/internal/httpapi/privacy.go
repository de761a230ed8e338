package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/httpx"
)

// export answers the right of access: everything kept about the caller.
// Personal data: never stored by caches.
func (h *Handlers) export(c *gin.Context) {
	p, _ := auth.Caller(c)
	out, err := h.svc.Export(c.Request.Context(), p.UserID)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	httpx.VaryAuthorization(c)
	c.Header("Cache-Control", "private, no-store")
	c.JSON(http.StatusOK, out)
}

// erase answers the right to erasure for the caller's own account.
func (h *Handlers) erase(c *gin.Context) {
	p, _ := auth.Caller(c)
	if err := h.svc.Erase(c.Request.Context(), p.UserID); err != nil {
		httpx.Error(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusNoContent)
}
