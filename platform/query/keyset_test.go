package query

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	_ "modernc.org/sqlite" // cgo-free driver registered as "sqlite"
)

// ksRow has the (sort column, id) indexes a real list would have, so the
// walk exercises index range scans, as in production.
type ksRow struct {
	ID        string    `gorm:"primaryKey;index:ks_grp,priority:2;index:ks_name,priority:2;index:ks_created,priority:2"`
	Grp       int64     `gorm:"not null;index:ks_grp,priority:1"`
	Name      string    `gorm:"not null;index:ks_name,priority:1"`
	CreatedAt time.Time `gorm:"not null;index:ks_created,priority:1"`
}

func (ksRow) TableName() string { return "ks_rows" }

func openSQLite(t *testing.T) *gorm.DB { return openSQLiteDSN(t, "file::memory:") }

func openSQLiteDSN(t *testing.T, dsn string) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(sqlite.Dialector{DriverName: "sqlite", DSN: dsn},
		&gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	// Each connection to :memory: is its own database; keep exactly one.
	sqlDB.SetMaxOpenConns(1)
	t.Cleanup(func() { sqlDB.Close() })
	if err := db.AutoMigrate(&ksRow{}); err != nil {
		t.Fatal(err)
	}
	return db
}

// seed inserts n rows with heavy ties in every sort column and ids in an
// order unrelated to insertion.
func seed(t *testing.T, db *gorm.DB, n int, rng *rand.Rand) []ksRow {
	t.Helper()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]ksRow, n)
	for i, j := range rng.Perm(n) {
		rows[i] = ksRow{
			ID:        fmt.Sprintf("id-%05d", j),
			Grp:       int64(rng.IntN(7)) - 3,                                     // 7 values incl. negatives
			Name:      []string{"apple", "Apple", "banana", "é", ""}[rng.IntN(5)], // ties, case, unicode
			CreatedAt: base.Add(time.Duration(rng.IntN(13)) * 1500 * time.Microsecond),
		}
	}
	if err := db.CreateInBatches(rows, 200).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestApplyKeysetWalksEveryRowOnce(t *testing.T) {
	// The second DSN stores times the way platform/db configures SQLite.
	for _, dsn := range []string{"file::memory:", "file::memory:?_time_format=sqlite"} {
		t.Run(dsn, func(t *testing.T) { walkEveryRowOnce(t, openSQLiteDSN(t, dsn)) })
	}
}

func walkEveryRowOnce(t *testing.T, db *gorm.DB) {
	rng := rand.New(rand.NewPCG(1, 2))
	rows := seed(t, db, 1000, rng)
	codec := NewCodec(testKey)

	columns := []struct {
		col   string
		value func(r ksRow) any
		cmp   func(a, b ksRow) int
	}{
		{"grp", func(r ksRow) any { return r.Grp }, func(a, b ksRow) int { return cmp.Compare(a.Grp, b.Grp) }},
		{"name", func(r ksRow) any { return r.Name }, func(a, b ksRow) int { return strings.Compare(a.Name, b.Name) }},
		{"created_at", func(r ksRow) any { return r.CreatedAt.UTC() }, func(a, b ksRow) int { return a.CreatedAt.Compare(b.CreatedAt) }},
		{"id", func(r ksRow) any { return r.ID }, func(a, b ksRow) int { return 0 }},
	}
	for _, c := range columns {
		for _, desc := range []bool{false, true} {
			for _, limit := range []int{1, 37, 100, 1000} {
				if limit == 1 && c.col != "grp" {
					continue // one 1-row walk is plenty
				}
				t.Run(fmt.Sprintf("%s desc=%v limit=%d", c.col, desc, limit), func(t *testing.T) {
					want := slices.Clone(rows)
					slices.SortFunc(want, func(a, b ksRow) int {
						r := cmp.Or(c.cmp(a, b), strings.Compare(a.ID, b.ID))
						if desc {
							r = -r
						}
						return r
					})
					binding := fmt.Sprintf("ks?sort=%s&desc=%v", c.col, desc)
					var got []ksRow
					var ks *Keyset
					for pages := 0; ; pages++ {
						if pages > len(rows)+1 {
							t.Fatal("walk does not terminate")
						}
						var batch []ksRow
						if err := ApplyKeyset(db.Model(&ksRow{}), c.col, "id", desc, ks, limit).Find(&batch).Error; err != nil {
							t.Fatal(err)
						}
						page, more := NextPage(batch, limit)
						got = append(got, page...)
						if !more {
							break
						}
						// Through the real codec, as a client would.
						last := page[len(page)-1]
						dec, err := codec.Decode(binding, codec.Encode(binding, c.value(last), last.ID))
						if err != nil {
							t.Fatal(err)
						}
						ks = &dec
					}
					if len(got) != len(want) {
						t.Fatalf("walked %d rows, want %d", len(got), len(want))
					}
					for i := range want {
						if got[i].ID != want[i].ID {
							t.Fatalf("row %d: got %s, want %s", i, got[i].ID, want[i].ID)
						}
					}
				})
			}
		}
	}
}

// Rows inserted while a client walks the list never make it see a row
// twice nor skip a row that existed when the walk began.
func TestApplyKeysetStableUnderInserts(t *testing.T) {
	for _, desc := range []bool{false, true} {
		t.Run(fmt.Sprintf("desc=%v", desc), func(t *testing.T) {
			db := openSQLite(t)
			rng := rand.New(rand.NewPCG(3, 4))
			rows := seed(t, db, 500, rng)
			seen := map[string]int{}
			var ks *Keyset
			for n := 0; ; n++ {
				var batch []ksRow
				if err := ApplyKeyset(db.Model(&ksRow{}), "grp", "id", desc, ks, 25).Find(&batch).Error; err != nil {
					t.Fatal(err)
				}
				page, more := NextPage(batch, 25)
				for _, r := range page {
					seen[r.ID]++
				}
				if !more {
					break
				}
				last := page[len(page)-1]
				ks = &Keyset{Value: last.Grp, ID: last.ID}
				for i := 0; i < 5; i++ { // new rows land before and after the position
					r := ksRow{ID: fmt.Sprintf("new-%03d-%d", n, i), Grp: int64(rng.IntN(7)) - 3, CreatedAt: time.Now()}
					if err := db.Create(&r).Error; err != nil {
						t.Fatal(err)
					}
				}
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("row %s returned %d times", id, n)
				}
			}
			for _, r := range rows {
				if seen[r.ID] != 1 {
					t.Errorf("pre-existing row %s skipped", r.ID)
				}
			}
		})
	}
}

func TestApplyKeysetSQL(t *testing.T) {
	db := openSQLite(t)
	tests := []struct {
		name       string
		sort, id   string
		desc       bool
		ks         *Keyset
		limit      int
		wantSubstr []string
	}{
		{"first page desc", "created_at", "id", true, nil, 20,
			[]string{"ORDER BY `created_at` DESC,`id` DESC", "LIMIT 21"}},
		{"next page desc", "created_at", "id", true, &Keyset{Value: int64(5), ID: "x"}, 20,
			[]string{"WHERE (`created_at`, `id`) < (5, \"x\")", "ORDER BY `created_at` DESC,`id` DESC"}},
		{"next page asc", "grp", "id", false, &Keyset{Value: int64(5), ID: "x"}, 10,
			[]string{"(`grp`, `id`) > (5, \"x\")", "ORDER BY `grp`,`id`", "LIMIT 11"}},
		{"sort by id only", "id", "id", false, &Keyset{Value: "x", ID: "x"}, 10,
			[]string{"WHERE `id` > \"x\"", "ORDER BY `id` LIMIT 11"}},
		{"qualified columns", "ks_rows.grp", "ks_rows.id", true, nil, 5,
			[]string{"ORDER BY `ks_rows`.`grp` DESC,`ks_rows`.`id` DESC"}},
		{"limit below one treated as one", "grp", "id", false, nil, 0, []string{"LIMIT 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sql := db.ToSQL(func(tx *gorm.DB) *gorm.DB {
				var out []ksRow
				return ApplyKeyset(tx.Model(&ksRow{}), tt.sort, tt.id, tt.desc, tt.ks, tt.limit).Find(&out)
			})
			for _, s := range tt.wantSubstr {
				if !strings.Contains(sql, s) {
					t.Errorf("SQL %q lacks %q", sql, s)
				}
			}
		})
	}
	for _, bad := range []string{"", "name; DROP TABLE ks_rows", "a b", "1col", "t.c.d", "`x`", "x.", ".x"} {
		t.Run("refuses column "+bad, func(t *testing.T) {
			var out []ksRow
			err := ApplyKeyset(db.Model(&ksRow{}), bad, "id", false, nil, 5).Find(&out).Error
			if err == nil || !strings.Contains(err.Error(), "not plain identifiers") {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("refusal does not poison the caller's db", func(t *testing.T) {
		base := db.Model(&ksRow{})
		_ = ApplyKeyset(base, "bad col", "id", false, nil, 5)
		var out []ksRow
		if err := ApplyKeyset(base, "grp", "id", false, nil, 5).Find(&out).Error; err != nil {
			t.Fatal(err)
		}
	})
}

func TestNextPage(t *testing.T) {
	tests := []struct {
		name     string
		rows     []int
		limit    int
		wantPage []int
		wantMore bool
	}{
		{"empty", nil, 3, nil, false},
		{"short", []int{1, 2}, 3, []int{1, 2}, false},
		{"exact", []int{1, 2, 3}, 3, []int{1, 2, 3}, false},
		{"extra row", []int{1, 2, 3, 4}, 3, []int{1, 2, 3}, true},
		{"zero limit acts as one", []int{1, 2}, 0, []int{1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, more := NextPage(tt.rows, tt.limit)
			if !slices.Equal(page, tt.wantPage) || more != tt.wantMore {
				t.Errorf("got %v, %v; want %v, %v", page, more, tt.wantPage, tt.wantMore)
			}
		})
	}
}

// The keyset predicate must be an index range search, not a scan + sort:
// that is what makes deep pages as cheap as the first.
func TestApplyKeysetUsesIndexRangeScan(t *testing.T) {
	db := openSQLite(t)
	for _, desc := range []bool{false, true} {
		t.Run(fmt.Sprintf("desc=%v", desc), func(t *testing.T) {
			sql := db.ToSQL(func(tx *gorm.DB) *gorm.DB {
				var out []ksRow
				return ApplyKeyset(tx.Model(&ksRow{}), "grp", "id", desc, &Keyset{Value: int64(1), ID: "id-00500"}, 20).Find(&out)
			})
			var plan []struct{ Detail string }
			if err := db.Raw("EXPLAIN QUERY PLAN " + sql).Scan(&plan).Error; err != nil {
				t.Fatal(err)
			}
			if len(plan) != 1 || !strings.Contains(plan[0].Detail, "SEARCH ks_rows USING INDEX ks_grp") {
				t.Errorf("plan %+v is not a single index range search (SQL %s)", plan, sql)
			}
		})
	}
}
