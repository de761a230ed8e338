// Package migrate applies the embedded SQL migrations of every module with
// golang-migrate. Each module has its own migrations table
// (schema_migrations_<module>) so its history moves with it when it splits.
// On Postgres the pgx driver holds an advisory lock while migrating, so
// several instances starting at once apply each migration exactly once.
package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"

	gomigrate "github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // pgx5:// with advisory locking
	_ "github.com/golang-migrate/migrate/v4/database/sqlite" // sqlite:// on modernc, no cgo
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// Migrator runs the migrations of a list of modules against one database.
type Migrator struct {
	fsys    fs.FS
	modules []string
	dialect string
	dbURL   string
	log     *slog.Logger
}

// New prepares a migrator; dbURL is a golang-migrate URL (pgx5://, sqlite://).
func New(fsys fs.FS, modules []string, dialect, dbURL string, log *slog.Logger) *Migrator {
	return &Migrator{fsys: fsys, modules: modules, dialect: dialect, dbURL: dbURL, log: log}
}

// ModuleStatus is one module's migration state.
type ModuleStatus struct {
	Module  string `json:"module"`
	Version uint   `json:"version"`
	Latest  uint   `json:"latest"`
	Dirty   bool   `json:"dirty"`
}

// Current reports whether the module is fully and cleanly migrated.
func (s ModuleStatus) Current() bool { return !s.Dirty && s.Version == s.Latest }

func (m *Migrator) open(module string) (*gomigrate.Migrate, error) {
	sub, err := fs.Sub(m.fsys, path.Join(module, m.dialect))
	if err != nil {
		return nil, err
	}
	src, err := iofs.New(sub, ".")
	if err != nil {
		return nil, fmt.Errorf("migrations of %s: %w", module, err)
	}
	sep := "?"
	if strings.Contains(m.dbURL, "?") {
		sep = "&"
	}
	mg, err := gomigrate.NewWithSourceInstance("iofs", src, m.dbURL+sep+"x-migrations-table=schema_migrations_"+module)
	if err != nil {
		return nil, fmt.Errorf("open migrations of %s: %w", module, err)
	}
	return mg, nil
}

// Up applies every pending migration of every module.
func (m *Migrator) Up() error {
	for _, mod := range m.modules {
		if err := m.run(mod, "up", func(mg *gomigrate.Migrate) error { return mg.Up() }); err != nil {
			return err
		}
	}
	return nil
}

// Down reverts steps migrations of every module (all of them when steps <= 0),
// modules in reverse order.
func (m *Migrator) Down(steps int) error {
	for i := len(m.modules) - 1; i >= 0; i-- {
		err := m.run(m.modules[i], "down", func(mg *gomigrate.Migrate) error {
			if steps > 0 {
				return mg.Steps(-steps)
			}
			return mg.Down()
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *Migrator) run(module, direction string, fn func(*gomigrate.Migrate) error) error {
	mg, err := m.open(module)
	if err != nil {
		return err
	}
	defer mg.Close()
	before, _, _ := mg.Version()
	err = fn(mg)
	if errors.Is(err, gomigrate.ErrNoChange) || errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("migrate %s %s: %w", module, direction, err)
	}
	after, _, _ := mg.Version()
	if before != after && m.log != nil {
		m.log.Info("migrated", "module", module, "direction", direction, "from", before, "to", after)
	}
	return nil
}

// Status reports every module's applied and latest version.
func (m *Migrator) Status() ([]ModuleStatus, error) {
	var out []ModuleStatus
	for _, mod := range m.modules {
		mg, err := m.open(mod)
		if err != nil {
			return nil, err
		}
		v, dirty, err := mg.Version()
		mg.Close()
		if err != nil && !errors.Is(err, gomigrate.ErrNilVersion) {
			return nil, fmt.Errorf("version of %s: %w", mod, err)
		}
		latest, err := m.latest(mod)
		if err != nil {
			return nil, err
		}
		out = append(out, ModuleStatus{Module: mod, Version: v, Latest: latest, Dirty: dirty})
	}
	return out, nil
}

// latest is the highest version among the module's embedded files.
func (m *Migrator) latest(module string) (uint, error) {
	entries, err := fs.ReadDir(m.fsys, path.Join(module, m.dialect))
	if err != nil {
		return 0, err
	}
	var versions []uint
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			continue
		}
		if v, err := strconv.ParseUint(num, 10, 64); err == nil {
			versions = append(versions, uint(v))
		}
	}
	if len(versions) == 0 {
		return 0, nil
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
	return versions[len(versions)-1], nil
}
