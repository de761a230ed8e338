package flagstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/flags"
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

func viewOf(r flags.Stored) (View, error) {
	d, err := flags.ParseDefinition([]byte(r.Definition))
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

// ListSpec is the allow-list of the flag list (by key, ascending).
var ListSpec = query.Spec{Resource: "flags", Sorts: []string{"key"}, DefaultSort: "key", DefaultLimit: 100, MaxLimit: 100,
	Fields: []string{"key", "state", "variants", "defaultVariant", "targeting", "metadata", "version", "updated_at", "updated_by"}}

// Notifier is told which flags a committed write changed (*flags.Flags:
// it refreshes the instance and tells the others).
type Notifier interface {
	Changed(ctx context.Context, keys ...string)
}

// Admin is the admin use cases over the flag table.
type Admin struct {
	store   *Store
	db      *gorm.DB
	audit   *audit.Log
	changed Notifier
}

// NewAdmin returns the admin use cases on base (the primary). log records
// every change in the write's transaction (nil disables auditing: tests);
// changed hears of every committed write.
func NewAdmin(base *gorm.DB, log *audit.Log, changed Notifier) *Admin {
	return &Admin{store: New(base), db: base, audit: log, changed: changed}
}

// List returns one page of flags (params of ListSpec) and whether another
// follows.
func (a *Admin) List(ctx context.Context, p query.Params, ks *query.Keyset) ([]View, bool, error) {
	rows, err := a.store.page(ctx, p.Sort.Desc, ks, p.Limit)
	if err != nil {
		return nil, false, err
	}
	page, more := query.NextPage(rows, p.Limit)
	out := make([]View, len(page))
	for i, r := range page {
		if out[i], err = viewOf(r); err != nil {
			return nil, false, err
		}
	}
	return out, more, nil
}

// Get returns the flag key (not found for a key no flag can have).
func (a *Admin) Get(ctx context.Context, key string) (View, error) {
	if !flags.ValidKey(key) {
		return View{}, errNotFound
	}
	r, ok, err := a.store.load(ctx, key, false)
	if err != nil {
		return View{}, err
	}
	if !ok {
		return View{}, errNotFound
	}
	return viewOf(r)
}

// Precondition is a write's If-Match: when Set, the flag must exist, and
// when Version is not 0 it must still have that version ("*" is Set with
// Version 0).
type Precondition struct {
	Set     bool
	Version int64
}

// Put replaces the definition of key (prepared by flags.Prepare) or
// creates the flag, as actor, and reports whether it created it. In one
// transaction: the row is locked, the definition fitted to the stored one
// (flags.Fit), the precondition checked, the row written with the next
// version and the change audited; after the commit the runtime hears of it.
func (a *Admin) Put(ctx context.Context, key string, d flags.Definition, pre Precondition, actor string) (View, bool, error) {
	var saved View
	created := false
	err := db.Transact(ctx, a.db, func(ctx context.Context) error {
		old, exists, err := a.store.load(ctx, key, true)
		if err != nil {
			return err
		}
		var stored *flags.Stored
		if exists {
			stored = &old
		}
		if d, err = flags.Fit(key, d, stored); err != nil {
			return err
		}
		canonical, err := json.Marshal(d)
		if err != nil {
			return apperr.Internal(err)
		}
		next := flags.Stored{Key: key, Definition: string(canonical), Version: 1,
			UpdatedAt: time.Now().UTC().Truncate(time.Microsecond), UpdatedBy: actor}
		var before any
		if !exists {
			// Any If-Match (even "*") requires a current representation
			// (RFC 9110 §13.1.1): it must not create the flag.
			if pre.Set {
				return httpx.ErrPreconditionFailed
			}
			if err := a.store.insert(ctx, next); err != nil {
				return err
			}
			created = true
		} else {
			if pre.Set && pre.Version != 0 && pre.Version != old.Version {
				return httpx.ErrPreconditionFailed
			}
			if before, err = viewOf(old); err != nil {
				return err
			}
			next.Version = old.Version + 1
			ok, err := a.store.update(ctx, next, old.Version)
			if err != nil {
				return err
			}
			if !ok {
				return httpx.ErrPreconditionFailed // changed under us (SQLite has no row lock)
			}
		}
		if saved, err = viewOf(next); err != nil {
			return err
		}
		if a.audit != nil {
			action := "flags.update"
			if created {
				action = "flags.create"
			}
			if err := a.audit.Record(ctx, audit.Entry{Action: action, TargetType: "flag", TargetID: key, Before: before, After: saved}); err != nil {
				return err
			}
		}
		db.AfterCommit(ctx, func(ctx context.Context) { a.changed.Changed(ctx, key) })
		return nil
	})
	if err != nil {
		return View{}, false, err
	}
	return saved, created, nil
}
