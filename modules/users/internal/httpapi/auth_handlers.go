package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/httpx"
)

type refreshRequest struct {
	RefreshToken string `json:"refresh_token" validate:"required,max=200"`
}

type mfaLoginRequest struct {
	MFAToken string `json:"mfa_token" validate:"required,max=2000"`
	Code     string `json:"code" validate:"required,max=64"`
}

type mfaCodeRequest struct {
	Code string `json:"code" validate:"required,max=64"`
}

func noStore(c *gin.Context) { c.Header("Cache-Control", "no-store") }

// refresh rotates a refresh token (POST /v1/auth/refresh).
func (h *Handlers) refresh(c *gin.Context) {
	var req refreshRequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	tok, err := h.svc.Refresh(c.Request.Context(), req.RefreshToken)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, tok)
}

// logout revokes the refresh token's family (POST /v1/auth/logout): 204,
// also for unknown or already revoked tokens.
func (h *Handlers) logout(c *gin.Context) {
	var req refreshRequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	if err := h.svc.Logout(c.Request.Context(), req.RefreshToken); err != nil {
		httpx.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// loginMFA completes a login with a second factor (POST /v1/auth/mfa).
func (h *Handlers) loginMFA(c *gin.Context) {
	var req mfaLoginRequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	tok, err := h.svc.LoginMFA(c.Request.Context(), req.MFAToken, req.Code)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, tok)
}

// enrolMFA starts a TOTP enrolment (POST /v1/users/me/mfa).
func (h *Handlers) enrolMFA(c *gin.Context) {
	p, _ := auth.Caller(c)
	e, err := h.svc.EnrolMFA(c.Request.Context(), p.UserID)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusCreated, e)
}

// confirmMFA activates it with a first code (POST /v1/users/me/mfa/confirm).
func (h *Handlers) confirmMFA(c *gin.Context) {
	p, _ := auth.Caller(c)
	var req mfaCodeRequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	codes, err := h.svc.ConfirmMFA(c.Request.Context(), p.UserID, req.Code)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, gin.H{"enabled": true, "recovery_codes": codes})
}

// disableMFA removes it (DELETE /v1/users/me/mfa, body {code}).
func (h *Handlers) disableMFA(c *gin.Context) {
	p, _ := auth.Caller(c)
	var req mfaCodeRequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	if err := h.svc.DisableMFA(c.Request.Context(), p.UserID, req.Code); err != nil {
		httpx.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
