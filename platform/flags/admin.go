package flags

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/query"
)

var (
	errNotFound = apperr.New(apperr.KindNotFound, "flags.not_found", "no flag with this key")
	errConflict = apperr.New(apperr.KindConflict, "flags.conflict", "the flag was created concurrently; fetch it and retry")
)

// View is the admin representation of a flag: its flagd definition plus
// read-only bookkeeping (key, version, updated_at, updated_by).
type View struct {
	Key            string                     `json:"key"`
	State          string                     `json:"state"`
	Variants       map[string]json.RawMessage `json:"variants"`
	DefaultVariant string                     `json:"defaultVariant"`
	Targeting      json.RawMessage            `json:"targeting,omitempty"`
	Metadata       map[string]any             `json:"metadata"`
	Version        int64                      `json:"version"`
	UpdatedAt      time.Time                  `json:"updated_at"`
	UpdatedBy      string                     `json:"updated_by"`
}

func viewOf(r flagRow) (View, error) {
	d, err := ParseDefinition([]byte(r.Definition))
	if err != nil {
		return View{}, apperr.Internal(fmt.Errorf("stored flag %q: %w", r.Key, err))
	}
	md := d.Metadata
	if md == nil {
		md = map[string]any{}
	}
	return View{Key: r.Key, State: d.State, Variants: d.Variants, DefaultVariant: d.DefaultVariant, Targeting: d.Targeting,
		Metadata: md, Version: r.Version, UpdatedAt: r.UpdatedAt.UTC(), UpdatedBy: r.UpdatedBy}, nil
}

// putBody is a flagd definition; the read-only fields of View are
// accepted (a client may PUT back what it read) and ignored.
type putBody struct {
	Definition
	Key       json.RawMessage `json:"key,omitempty"`
	Version   json.RawMessage `json:"version,omitempty"`
	UpdatedAt json.RawMessage `json:"updated_at,omitempty"`
	UpdatedBy json.RawMessage `json:"updated_by,omitempty"`
}

// readOnlyMetadata are metadata entries the server owns.
var readOnlyMetadata = []string{"updated_at", "updated_by", "version"}

// ListSpec is the allow-list of GET /admin/flags (by key, ascending).
var ListSpec = query.Spec{Resource: "flags", Sorts: []string{"key"}, DefaultSort: "key", DefaultLimit: 100, MaxLimit: 100,
	Fields: []string{"key", "state", "variants", "defaultVariant", "targeting", "metadata", "version", "updated_at", "updated_by"}}

// AdminRoutes mounts the admin API (mount under /v1 behind
// authentication; admin is required here too):
//
//	GET /admin/flags        list (cursor envelope, by key)
//	GET /admin/flags/:key   one flag, ETag = its version
//	PUT /admin/flags/:key   replace (200) or create (201) a definition;
//	                        If-Match with the ETag -> 412 when stale
func (f *Flags) AdminRoutes(g *gin.RouterGroup) {
	admin := auth.Require(auth.RoleAdmin)
	g.GET("/admin/flags", admin, f.listFlags)
	g.GET("/admin/flags/:key", admin, f.getFlag)
	g.PUT("/admin/flags/:key", admin, f.putFlag)
}

func (f *Flags) listFlags(c *gin.Context) {
	params, err := query.Parse(ListSpec, c.Request.URL.Query())
	if err != nil {
		httpx.Error(c, err)
		return
	}
	if f.o.Cursors == nil {
		httpx.Error(c, apperr.Internal(errors.New("flags: Options.Cursors not set")))
		return
	}
	ks, err := params.DecodeCursor(f.o.Cursors)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	var rows []flagRow
	q := query.ApplyKeyset(f.db.WithContext(c.Request.Context()).Model(&flagRow{}), "key", "key", params.Sort.Desc, ks, params.Limit)
	if err := q.Find(&rows).Error; err != nil {
		httpx.Error(c, apperr.Internal(err))
		return
	}
	page, more := query.NextPage(rows, params.Limit)
	items := make([]any, 0, len(page))
	for _, r := range page {
		v, err := viewOf(r)
		if err != nil {
			httpx.Error(c, err)
			return
		}
		if params.Fields == nil {
			items = append(items, v)
			continue
		}
		var full map[string]any
		b, _ := json.Marshal(v)
		_ = json.Unmarshal(b, &full)
		items = append(items, query.Project(full, params))
	}
	next := ""
	if more && len(page) > 0 {
		last := page[len(page)-1].Key
		next = f.o.Cursors.Encode(params.Binding(), last, last)
	}
	httpx.WritePrivateList(c, f.o.BaseURL, items, next)
}

func (f *Flags) load(ctx context.Context, key string, lock bool) (flagRow, bool, error) {
	q := db.Conn(ctx, f.db)
	if lock {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var r flagRow
	err := q.Where("key = ?", key).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return flagRow{}, false, nil
	}
	if err != nil {
		return flagRow{}, false, apperr.Internal(fmt.Errorf("load flag %q: %w", key, err))
	}
	return r, true, nil
}

func (f *Flags) getFlag(c *gin.Context) {
	key := c.Param("key")
	if len(c.Request.URL.RawQuery) > 0 {
		httpx.Error(c, apperr.Invalid("query.parameter", "this resource takes no query parameters"))
		return
	}
	if !ValidKey(key) {
		httpx.Error(c, errNotFound)
		return
	}
	r, ok, err := f.load(c.Request.Context(), key, false)
	if err != nil || !ok {
		httpx.Error(c, orNotFound(err))
		return
	}
	writeView(c, http.StatusOK, r)
}

func orNotFound(err error) error {
	if err != nil {
		return err
	}
	return errNotFound
}

func writeView(c *gin.Context, status int, r flagRow) {
	v, err := viewOf(r)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		httpx.Error(c, apperr.Internal(err))
		return
	}
	httpx.VaryAuthorization(c)
	if status != http.StatusOK || c.Request.Method != http.MethodGet {
		// A write answers with its result; If-None-Match must not turn a
		// committed PUT into a bodiless 304.
		c.Header("ETag", httpx.VersionETag(r.Version, ""))
		c.Header("Cache-Control", "no-store")
		c.Data(status, "application/json; charset=utf-8", body)
		return
	}
	httpx.WriteCacheable(c, status, httpx.VersionETag(r.Version, ""), httpx.CachePrivate, body)
}

// against fits the new definition comp of key to the stored one: it keeps
// the stored metadata when the PUT omitted metadata, and refuses variants of
// another type than the flag's: the registry's declared type first (so a
// registered flag stored with a wrong type can be repaired), else the
// stored definition's.
func (f *Flags) against(key string, comp *compiled, old flagRow, exists bool) (*compiled, error) {
	want, whose := declaredKind(key), "declared boolean"
	var stored *compiled
	if exists {
		if d, err := ParseDefinition([]byte(old.Definition)); err == nil {
			stored, _ = Compile(key, d) // nil when hand-edited into something invalid
		}
	}
	if stored != nil {
		if want == 0 {
			want, whose = stored.kind, "currently "+stored.kind.String()
		}
		if comp.def.Metadata == nil && len(stored.def.Metadata) > 0 {
			d := comp.def
			d.Metadata = stored.def.Metadata
			var err error
			if comp, err = Compile(key, d); err != nil {
				return nil, err
			}
		}
	}
	return comp, keepKind(comp, want, whose)
}

func (f *Flags) putFlag(c *gin.Context) {
	key := c.Param("key")
	var body putBody
	if err := httpx.Decode(c, &body); err != nil {
		httpx.Error(c, err)
		return
	}
	d := body.Definition
	if d.Metadata != nil {
		md := make(map[string]any, len(d.Metadata))
		for k, v := range d.Metadata {
			md[k] = v
		}
		for _, k := range readOnlyMetadata {
			delete(md, k)
		}
		d.Metadata = md
	}
	comp, err := Compile(key, d)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	want, conditional, err := httpx.IfMatchVersion(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	actor := ""
	if p, ok := auth.Caller(c); ok {
		actor = p.UserID
	}
	ctx := c.Request.Context()
	if id := httpx.RequestID(c); id != "" && audit.RequestIDFrom(ctx) == "" {
		ctx = audit.WithRequestID(ctx, id)
	}
	var saved flagRow
	created := false
	err = db.Transact(ctx, f.db, func(ctx context.Context) error {
		old, exists, err := f.load(ctx, key, true)
		if err != nil {
			return err
		}
		if comp, err = f.against(key, comp, old, exists); err != nil {
			return err
		}
		canonical, err := json.Marshal(comp.def)
		if err != nil {
			return apperr.Internal(err)
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		var before any
		if !exists {
			// Any If-Match (even "*") requires a current representation
			// (RFC 9110 §13.1.1): it must not create the flag.
			if conditional {
				return httpx.ErrPreconditionFailed
			}
			saved = flagRow{Key: key, Definition: string(canonical), Version: 1, UpdatedAt: now, UpdatedBy: actor}
			if err := db.Conn(ctx, f.db).Create(&saved).Error; err != nil {
				if errors.Is(err, gorm.ErrDuplicatedKey) {
					return errConflict
				}
				return apperr.Internal(err)
			}
			created = true
		} else {
			if conditional && want != 0 && want != old.Version {
				return httpx.ErrPreconditionFailed
			}
			if before, err = viewOf(old); err != nil {
				return err
			}
			saved = flagRow{Key: key, Definition: string(canonical), Version: old.Version + 1, UpdatedAt: now, UpdatedBy: actor}
			res := db.Conn(ctx, f.db).Model(&flagRow{}).Where("key = ? AND version = ?", key, old.Version).
				Updates(map[string]any{"definition": saved.Definition, "version": saved.Version, "updated_at": now, "updated_by": actor})
			if res.Error != nil {
				return apperr.Internal(res.Error)
			}
			if res.RowsAffected != 1 {
				return httpx.ErrPreconditionFailed // changed under us (SQLite has no row lock)
			}
		}
		if f.o.Audit != nil {
			after, err := viewOf(saved)
			if err != nil {
				return err
			}
			action := "flags.update"
			if created {
				action = "flags.create"
			}
			if err := f.o.Audit.Record(ctx, audit.Entry{Action: action, TargetType: "flag", TargetID: key, Before: before, After: after}); err != nil {
				return err
			}
		}
		db.AfterCommit(ctx, func(ctx context.Context) { f.changedLocally(ctx, key) })
		return nil
	})
	if err != nil {
		httpx.Error(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Header("Location", f.o.BaseURL+c.Request.URL.Path)
	}
	writeView(c, status, saved)
}
