// Package httpapi is the users module's HTTP surface: decode and validate,
// call the use case, encode. Errors go through httpx.Error, nowhere else.
package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"example.com/productapi/modules/users"
	"example.com/productapi/modules/users/internal/app"
	"example.com/productapi/modules/users/internal/store"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/query"
)

// Handlers serve the users routes.
type Handlers struct {
	svc     *app.Service
	cursors *query.Codec
	baseURL string
	// AdminMFA guards the admin routes (auth.MFAPolicy.For("admin.users")).
	AdminMFA gin.HandlerFunc
	// AccountLimit counts a password check against the account it targets
	// (normalized email), whatever address it comes from; false: it wrote
	// the 429 and the handler stops. See usersimpl.Deps.AccountLimit.
	AccountLimit func(c *gin.Context, account string) bool
}

func NewHandlers(svc *app.Service, cursors *query.Codec, baseURL string) *Handlers {
	return &Handlers{svc: svc, cursors: cursors, baseURL: baseURL, AdminMFA: auth.NoSecondFactor,
		AccountLimit: func(*gin.Context, string) bool { return true }}
}

var fields = []string{"id", "email", "name", "role", "created_at", "updated_at"}

// ListSpec is the allow-list of GET /v1/users.
var ListSpec = query.Spec{
	Resource: "users", Fields: fields,
	Sorts: []string{"created_at", "email"}, DefaultSort: "-created_at",
	Filters:      map[string]query.FilterKind{"role": query.FilterString, "email": query.FilterString},
	DefaultLimit: 20, MaxLimit: 100,
}

type registerRequest struct {
	Email    string `json:"email" validate:"required,email,max=254"`
	Password string `json:"password" validate:"required,min=8,max=128"`
	Name     string `json:"name" validate:"required,notblank,max=100"`
}

type loginRequest struct {
	Email    string `json:"email" validate:"required,max=254"`
	Password string `json:"password" validate:"required,max=128"`
}

type patchMeRequest struct {
	Email    *string `json:"email" validate:"omitnil,email,max=254"`
	Name     *string `json:"name" validate:"omitnil,notblank,max=100"`
	Password *string `json:"password" validate:"omitnil,min=8,max=128"`
	// CurrentPassword re-authenticates a change of email or password, so a
	// stolen access token cannot take the account over.
	CurrentPassword *string `json:"current_password" validate:"omitnil,max=128"`
}

// decodePatchMe decodes and validates, listing a missing current_password
// among the other failing fields.
func decodePatchMe(c *gin.Context, req *patchMeRequest) error {
	err := httpx.Decode(c, req)
	if (req.Email == nil && req.Password == nil) || (req.CurrentPassword != nil && *req.CurrentPassword != "") {
		return err
	}
	if err == nil {
		return apperr.Validation(app.ReauthRequired)
	}
	if e := apperr.As(err); e.Kind == apperr.KindValidation {
		return apperr.Validation(append(e.Fields, app.ReauthRequired)...)
	}
	return err // malformed body, wrong media type, too large: that first
}

type patchUserRequest struct {
	Role string `json:"role" validate:"required,oneof=customer admin"`
}

var errEmptyPatch = apperr.Validation(apperr.FieldError{Field: "body", Message: "at least one field is required"})

func (h *Handlers) register(c *gin.Context) {
	var req registerRequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	if !h.AccountLimit(c, app.NormalizeEmail(req.Email)) {
		return
	}
	u, err := h.svc.Register(c.Request.Context(), req.Email, req.Password, req.Name)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	c.Header("Location", h.baseURL+"/v1/users/"+u.ID)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, u)
}

func (h *Handlers) login(c *gin.Context) {
	var req loginRequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	if !h.AccountLimit(c, app.NormalizeEmail(req.Email)) {
		return
	}
	tok, err := h.svc.Login(c.Request.Context(), req.Email, req.Password)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, tok)
}

func (h *Handlers) getMe(c *gin.Context) {
	p, _ := auth.Caller(c)
	h.writeUser(c, p.UserID)
}

// getUser: admins see anyone; others only themselves, and another user's
// ID is a 404 (not 403) so IDs can't be probed.
func (h *Handlers) getUser(c *gin.Context) {
	p, _ := auth.Caller(c)
	id := c.Param("id")
	if !p.IsAdmin() && id != p.UserID {
		httpx.Error(c, users.ErrNotFound)
		return
	}
	h.writeUser(c, id)
}

func (h *Handlers) writeUser(c *gin.Context, id string) {
	params, err := query.ParseFields(ListSpec, c.Request.URL.Query())
	if err != nil {
		httpx.Error(c, err)
		return
	}
	row, err := h.svc.Row(c.Request.Context(), id)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	httpx.VaryAuthorization(c)
	etag := httpx.VersionETag(row.Version, fieldsVariant(params))
	if httpx.NoneMatch(c, etag) {
		httpx.NotModified(c, etag, httpx.CachePrivate)
		return
	}
	body, err := render(row, params)
	if err != nil {
		httpx.Error(c, apperr.Internal(err))
		return
	}
	httpx.WriteCacheable(c, http.StatusOK, etag, httpx.CachePrivate, body)
}

func (h *Handlers) patchMe(c *gin.Context) {
	p, _ := auth.Caller(c)
	var req patchMeRequest
	if err := decodePatchMe(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	if req.Email == nil && req.Name == nil && req.Password == nil {
		httpx.Error(c, errEmptyPatch)
		return
	}
	version, _, err := httpx.IfMatchVersion(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	if req.CurrentPassword != nil {
		// A password check is a guess with a stolen token: it shares the
		// account's login quota.
		row, err := h.svc.Row(c.Request.Context(), p.UserID)
		if err != nil {
			httpx.Error(c, err)
			return
		}
		if !h.AccountLimit(c, row.Email) {
			return
		}
	}
	row, err := h.svc.UpdateProfile(c.Request.Context(), p.UserID, version,
		app.ProfileChanges{Email: req.Email, Name: req.Name, Password: req.Password, CurrentPassword: req.CurrentPassword})
	h.writeUpdated(c, row, err)
}

func (h *Handlers) patchUser(c *gin.Context) {
	p, _ := auth.Caller(c)
	var req patchUserRequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	version, _, err := httpx.IfMatchVersion(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	row, err := h.svc.SetRole(c.Request.Context(), p, c.Param("id"), version, req.Role)
	h.writeUpdated(c, row, err)
}

func (h *Handlers) writeUpdated(c *gin.Context, row store.Row, err error) {
	if err != nil {
		httpx.Error(c, err)
		return
	}
	httpx.WriteWritten(c, row.Version, row.ToUser())
}

func (h *Handlers) list(c *gin.Context) {
	params, ks, err := query.ParsePage(ListSpec, c.Request.URL.Query(), h.cursors)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	rows, more, err := h.svc.List(c.Request.Context(), params, ks)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	items := make([]json.RawMessage, 0, len(rows))
	for _, r := range rows {
		b, err := render(r, params)
		if err != nil {
			httpx.Error(c, apperr.Internal(err))
			return
		}
		items = append(items, b)
	}
	next := ""
	if more && len(rows) > 0 {
		last := rows[len(rows)-1]
		next = h.cursors.Encode(params.Binding(), sortValue(last, params.Sort.Field), last.ID)
	}
	httpx.WritePrivateList(c, h.baseURL, items, next)
}

func sortValue(r store.Row, field string) any {
	switch field {
	case "email":
		return r.Email
	default:
		return r.CreatedAt.UTC()
	}
}

// render encodes a user, projected to the requested fields.
func render(r store.Row, p query.Params) ([]byte, error) {
	u := r.ToUser()
	if p.Fields == nil {
		return json.Marshal(u)
	}
	full := map[string]any{"id": u.ID, "email": u.Email, "name": u.Name, "role": u.Role,
		"created_at": u.CreatedAt.Format(time.RFC3339Nano), "updated_at": u.UpdatedAt.Format(time.RFC3339Nano)}
	return json.Marshal(query.Project(full, p))
}

func fieldsVariant(p query.Params) string {
	if p.Fields == nil {
		return ""
	}
	b, _ := json.Marshal(p.Fields)
	return string(b)
}
