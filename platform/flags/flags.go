// Package flags is the service's feature-flag mechanism: flagd flag
// definitions (validated here), served by our own OpenFeature provider from
// an in-memory snapshot of a Source (the flag table, platform/flags/flagstore),
// and the registry of the flags the code reads. The admin use cases and
// their store live in flagstore, the admin API and OFREP in flagshttp.
//
// Every instance sees a change within about a second: the writer refreshes
// itself and publishes on Redis (<namespace>:flags) when it has Redis, and
// every instance also polls a cheap fingerprint of the table every second,
// so a lost message or a missing Redis only delays a change by one poll.
package flags

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/periodic"
	"example.com/productapi/platform/pubsub"
)

// Options configure New.
type Options struct {
	// Source is the flag table (flagstore.New on the primary: polls must
	// see every write).
	Source Source
	// Redis, when set, carries change notices on <Namespace>:flags.
	Redis *redis.Client
	// Namespace prefixes the pub/sub channel (default "productapi").
	Namespace string
	// SeedFile is a flagd definition file (configs/flags.json). Missing
	// keys are inserted on start; existing rows are never overwritten. A
	// missing file is not an error: registry defaults are seeded instead.
	SeedFile string
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
	Log        *slog.Logger
	// PollInterval is how often the table fingerprint is checked (default 1s).
	PollInterval time.Duration
	// Domain is the OpenFeature domain the provider is bound to (default
	// "productapi"); give each Flags in one process its own.
	Domain string
}

// Flags is the running flag system of one instance.
type Flags struct {
	o        Options
	source   Source
	provider *Provider
	client   *openfeature.Client
	metrics  *metrics
	log      *slog.Logger
	channel  string
	origin   string

	refreshMu sync.Mutex // one reload at a time
	startOnce sync.Once
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

// New seeds missing flags, loads the snapshot and binds the provider to
// its OpenFeature domain. Call Start to follow changes, Close to stop.
func New(ctx context.Context, o Options) (*Flags, error) {
	if o.Source == nil {
		return nil, errors.New("flags: Options.Source is required")
	}
	if o.Namespace == "" {
		o.Namespace = "productapi"
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Domain == "" {
		o.Domain = "productapi"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	f := &Flags{o: o, source: o.Source, log: o.Log, channel: o.Namespace + ":flags",
		origin: fmt.Sprintf("%x", rand.Uint64())}
	f.metrics = newMetrics(o.Registerer)
	f.provider = newProvider(o.Log, func() time.Time { return time.Now().UTC() })
	f.provider.observe = f.metrics.observe
	if err := f.seed(ctx); err != nil {
		return nil, err
	}
	if _, err := f.reload(ctx, ""); err != nil {
		return nil, err
	}
	if err := openfeature.SetNamedProviderWithContextAndWait(ctx, o.Domain, f.provider); err != nil {
		return nil, fmt.Errorf("flags: register provider: %w", err)
	}
	f.client = openfeature.NewClient(o.Domain)
	return f, nil
}

// Client is the OpenFeature client bound to this provider's domain.
func (f *Flags) Client() *openfeature.Client { return f.client }

// Provider is the OpenFeature provider (for OFREP and tests).
func (f *Flags) Provider() *Provider { return f.provider }

// Bool evaluates a boolean flag through OpenFeature with the evaluation
// context built from ctx (EvalContextFrom). def is returned when the flag
// is missing, disabled, of another type or its targeting fails. A nil
// *Flags returns def, so code can run without flags wired.
func (f *Flags) Bool(ctx context.Context, key string, def bool) bool {
	if f == nil {
		return def
	}
	return f.boolValue(ctx, key, def)
}

// Enabled evaluates the registered boolean flag key like Bool, with the
// registry's default (Info.Default): code states no default of its own.
func (f *Flags) Enabled(ctx context.Context, key string) bool {
	info, _ := Described(key)
	return f.Bool(ctx, key, info.Default)
}

// Start follows changes made by other instances until ctx ends or Close:
// a 1 s fingerprint poll always, and a Redis subscription when Redis is set.
func (f *Flags) Start(ctx context.Context) {
	f.startOnce.Do(func() {
		ctx, f.stop = context.WithCancel(ctx)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.pollLoop(ctx)
		}()
		if f.o.Redis != nil {
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.subscribeLoop(ctx)
			}()
		}
	})
}

// Close stops the loops and unbinds the provider from its domain.
func (f *Flags) Close() {
	if f.stop != nil {
		f.stop()
	}
	f.wg.Wait()
	_ = openfeature.SetNamedProvider(f.o.Domain, openfeature.NoopProvider{})
}

// Refresh reloads the snapshot from the database now.
func (f *Flags) Refresh(ctx context.Context) error {
	_, err := f.reload(ctx, "manual")
	return err
}

// --- storage ---------------------------------------------------------------

// Stored is one row of the flag table: a flagd definition (JSON) and its
// bookkeeping. Version starts at 1 and moves with every write.
type Stored struct {
	Key        string
	Definition string
	Version    int64
	UpdatedAt  time.Time
	UpdatedBy  string
}

// Source is the flag table as the runtime reads it.
type Source interface {
	// All returns every stored flag, by key.
	All(ctx context.Context) ([]Stored, error)
	// Fingerprint is (number of rows, sum of their versions): it changes
	// with every write, so a poll reads two numbers, not the table.
	Fingerprint(ctx context.Context) (count, versionSum int64, err error)
	// SeedMissing inserts the rows whose key is not stored; stored rows are
	// left alone.
	SeedMissing(ctx context.Context, rows []Stored) error
}

// seed inserts every flag of the seed file and of the registry that the
// table does not have yet; rows that exist are left alone.
func (f *Flags) seed(ctx context.Context) error {
	defs := map[string]Definition{}
	if f.o.SeedFile != "" {
		raw, err := os.ReadFile(f.o.SeedFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			f.log.Warn("flags: seed file not found; seeding registry defaults", "file", f.o.SeedFile)
		case err != nil:
			return fmt.Errorf("flags: read %s: %w", f.o.SeedFile, err)
		default:
			file, err := ParseFile(raw)
			if err != nil {
				return fmt.Errorf("flags: %s: %w", f.o.SeedFile, err)
			}
			defs = file.Flags
		}
	}
	for _, info := range registry {
		if _, ok := defs[info.Key]; ok {
			continue
		}
		defs[info.Key] = info.defaultDefinition()
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	rows := make([]Stored, 0, len(defs))
	for _, key := range slices.Sorted(maps.Keys(defs)) {
		d := defs[key]
		if info, ok := Described(key); ok {
			if _, has := d.Metadata["description"]; !has {
				d.Metadata = maps.Clone(d.Metadata)
				if d.Metadata == nil {
					d.Metadata = map[string]any{}
				}
				d.Metadata["description"] = info.Description
			}
		}
		c, err := Compile(key, d)
		if err == nil {
			err = keepKind(c, declaredKind(key), "declared boolean")
		}
		if err != nil {
			return fmt.Errorf("flags: seed flag %q: %w", key, describe(err))
		}
		raw, _ := json.Marshal(c.def)
		rows = append(rows, Stored{Key: key, Definition: string(raw), Version: 1, UpdatedAt: now, UpdatedBy: "seed"})
	}
	if len(rows) == 0 {
		return nil
	}
	if err := f.source.SeedMissing(ctx, rows); err != nil {
		return fmt.Errorf("flags: seed: %w", err)
	}
	return nil
}

// describe spells out a validation error's fields for a log line.
func describe(err error) error {
	var ae *apperr.Error
	if !errors.As(err, &ae) || len(ae.Fields) == 0 {
		return err
	}
	parts := make([]string, len(ae.Fields))
	for i, fe := range ae.Fields {
		parts[i] = fe.Field + " " + fe.Message
	}
	return errors.New(strings.Join(parts, "; "))
}

func (i Info) defaultDefinition() Definition {
	dv := "off"
	if i.Default {
		dv = "on"
	}
	d := Definition{State: StateEnabled, DefaultVariant: dv,
		Variants: map[string]json.RawMessage{"on": json.RawMessage("true"), "off": json.RawMessage("false")}}
	if i.Targeting != "" {
		d.Targeting = json.RawMessage(i.Targeting)
	}
	return d
}

// reload reads every flag and swaps the snapshot when something changed.
// It returns the changed keys and emits a configuration-changed event for
// them. source labels the refresh metric ("" for the initial load).
func (f *Flags) reload(ctx context.Context, source string) ([]string, error) {
	f.refreshMu.Lock()
	defer f.refreshMu.Unlock()
	rows, err := f.source.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("flags: load: %w", err)
	}
	old := f.provider.snap.Load()
	next := &snapshot{flags: make(map[string]*compiled, len(rows)), rows: make(map[string]row, len(rows))}
	for _, r := range rows {
		next.count++
		next.versionSum += r.Version
		if prev, ok := old.rows[r.Key]; ok && prev.version == r.Version {
			next.rows[r.Key], next.flags[r.Key] = prev, prev.flag
			continue
		}
		d, err := ParseDefinition([]byte(r.Definition))
		var c *compiled
		if err == nil {
			c, err = Compile(r.Key, d)
		}
		if err != nil {
			// Only reachable if someone wrote the table by hand: keep
			// serving what we had, and say so.
			f.log.Error("flags: stored definition is invalid; keeping the previous one", "flag", r.Key, "version", r.Version, "err", describe(err))
			if prev, ok := old.rows[r.Key]; ok {
				next.rows[r.Key], next.flags[r.Key] = prev, prev.flag
			}
			continue
		}
		next.rows[r.Key] = row{flag: c, version: r.Version, updatedAt: r.UpdatedAt.UTC(), updatedBy: r.UpdatedBy}
		next.flags[r.Key] = c
	}
	var changed []string
	for k, r := range next.rows {
		if prev, ok := old.rows[k]; !ok || prev.version != r.version {
			changed = append(changed, k)
		}
	}
	for k := range old.rows {
		if _, ok := next.rows[k]; !ok {
			changed = append(changed, k)
		}
	}
	slices.Sort(changed)
	f.provider.snap.Store(next)
	f.metrics.refreshed(source)
	if len(changed) > 0 && source != "" {
		f.log.Info("flags: changed", "flags", changed, "source", source)
		f.provider.emitChanged(changed)
	}
	return changed, nil
}

// pollLoop checks the fingerprint every PollInterval and reloads when it
// moved: the path that always works, Redis or not.
func (f *Flags) pollLoop(ctx context.Context) {
	periodic.Every(ctx, f.o.PollInterval, f.poll)
}

// poll is one round of pollLoop.
func (f *Flags) poll(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	n, s, err := f.source.Fingerprint(qctx)
	if err == nil {
		cur := f.provider.snap.Load()
		if n != cur.count || s != cur.versionSum {
			_, err = f.reload(qctx, "poll")
		} else {
			f.metrics.confirmed()
		}
	}
	if err != nil && ctx.Err() == nil {
		f.metrics.errors.Inc()
		f.log.Warn("flags: poll failed; serving the last snapshot", "err", err)
	}
}

// notice is what instances publish on <namespace>:flags.
type notice struct {
	Origin string   `json:"o"`
	Keys   []string `json:"k"`
}

// Changed is called after a write of keys committed (flagstore does):
// it refreshes this instance at once and tells the others.
func (f *Flags) Changed(ctx context.Context, keys ...string) {
	ctx = context.WithoutCancel(ctx)
	if _, err := f.reload(ctx, "local"); err != nil {
		f.log.Warn("flags: reload after write failed; the poll will catch up", "err", err)
	}
	if f.o.Redis == nil {
		return
	}
	b, _ := json.Marshal(notice{Origin: f.origin, Keys: keys})
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := f.o.Redis.Publish(pctx, f.channel, b).Err(); err != nil {
		f.metrics.errors.Inc()
		f.log.Warn("flags: publish failed; other instances will see the change on their next poll", "err", err)
	}
}

// subscribeLoop keeps a subscription to <namespace>:flags (pubsub). A
// notice from another instance triggers a reload; after every
// (re)subscription we reload too, in case we missed one.
func (f *Flags) subscribeLoop(ctx context.Context) {
	pubsub.Subscribe(ctx, f.o.Redis, f.channel, pubsub.Handlers{
		Subscribed: func(ctx context.Context, _ bool) {
			if _, err := f.reload(ctx, "pubsub"); err != nil {
				f.log.Warn("flags: reload after subscribing failed", "err", err)
			}
		},
		Message: f.noticed,
		Down: func(err error) {
			f.metrics.errors.Inc()
			f.log.Warn("flags: subscription down; polling still runs", "err", err)
		},
	})
}

// noticed handles one notice: a change elsewhere is reloaded here.
func (f *Flags) noticed(ctx context.Context, payload string) {
	var n notice
	if json.Unmarshal([]byte(payload), &n) != nil || n.Origin == f.origin {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := f.reload(rctx, "pubsub"); err != nil {
		f.log.Warn("flags: reload on notice failed; the poll will retry", "err", err)
	}
}
