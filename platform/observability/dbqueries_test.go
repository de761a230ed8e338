package observability

import (
	"testing"

	"example.com/productapi/platform/testkit/dbtest"
)

// Every statement GORM sends is counted once under its operation; a
// statement stopped before it reached the database is not.
func TestCountQueries(t *testing.T) {
	for _, st := range dbtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			d := st.Open(t)
			m := NewMetrics()
			if err := m.CountQueries(d.Gorm); err != nil {
				t.Fatal(err)
			}
			g := d.Gorm
			type probe struct {
				ID   int `gorm:"primaryKey"`
				Name string
			}
			if err := g.Exec("CREATE TABLE probes (id integer primary key, name text)").Error; err != nil { // raw
				t.Fatal(err)
			}
			if err := g.Create(&probe{ID: 1, Name: "a"}).Error; err != nil { // create
				t.Fatal(err)
			}
			var got []probe
			if err := g.Find(&got).Error; err != nil || len(got) != 1 { // query
				t.Fatalf("find: %v %d", err, len(got))
			}
			if err := g.Model(&probe{ID: 1}).Update("name", "b").Error; err != nil { // update
				t.Fatal(err)
			}
			var n int64
			if err := g.Raw("SELECT count(*) FROM probes").Row().Scan(&n); err != nil || n != 1 { // row
				t.Fatalf("row: %v %d", err, n)
			}
			if err := g.Delete(&probe{ID: 1}).Error; err != nil { // delete
				t.Fatal(err)
			}
			// Refused before any SQL is built: not a query.
			if err := g.Delete(&probe{}).Error; err == nil {
				t.Fatal("a delete without WHERE should be refused before reaching the database")
			}
			want := map[string]float64{"raw": 1, "create": 1, "query": 1, "update": 1, "row": 1, "delete": 1}
			for op, w := range want {
				got := queries(t, m, op)
				if got != w {
					t.Errorf("db_queries_total{operation=%q} = %v, want %v", op, got, w)
				}
			}
		})
	}
}

func queries(t *testing.T, m *Metrics, op string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "db_queries_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() == op {
					return mt.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
