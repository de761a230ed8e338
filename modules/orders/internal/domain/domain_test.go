package domain

import (
	"errors"
	"strings"
	"testing"

	"example.com/productapi/modules/orders"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/ids"
)

func TestOrdersNextStatus(t *testing.T) {
	all := []Action{ActionPay, ActionFailPayment, ActionCancel, ActionShip}
	want := map[orders.Status]map[Action]orders.Status{
		orders.StatusPending: {ActionPay: orders.StatusPaid, ActionFailPayment: orders.StatusPaymentFailed, ActionCancel: orders.StatusCancelled},
		orders.StatusPaid:    {ActionShip: orders.StatusShipped, ActionCancel: orders.StatusCancelled},
	}
	for _, from := range Statuses {
		for _, a := range all {
			t.Run(string(from)+"/"+string(a), func(t *testing.T) {
				to, err := Next(from, a)
				exp, allowed := want[from][a]
				if allowed {
					if err != nil || to != exp {
						t.Fatalf("Next = %q, %v; want %q", to, err, exp)
					}
					return
				}
				if !errors.Is(err, orders.ErrInvalidTransition) || apperr.KindOf(err) != apperr.KindConflict {
					t.Fatalf("Next = %q, %v; want invalid transition", to, err)
				}
				if !strings.Contains(err.Error(), string(from)) {
					t.Fatalf("message does not name the status: %v", err)
				}
			})
		}
	}
}

func TestOrdersReleaseStockOnlyOnFinalStatuses(t *testing.T) {
	for _, s := range Statuses {
		rel := ReleasesStock(s)
		if rel != (s == orders.StatusCancelled || s == orders.StatusPaymentFailed) {
			t.Errorf("ReleasesStock(%s) = %v", s, rel)
		}
		if rel && len(transitions[s]) > 0 {
			t.Errorf("%s releases stock but is not final: stock could be released twice", s)
		}
	}
}

func TestOrdersCheckLines(t *testing.T) {
	a, b := ids.New(), ids.New()
	many := make([]Line, MaxItems+1)
	for i := range many {
		many[i] = Line{ProductID: ids.New(), Quantity: 1}
	}
	tests := []struct {
		name   string
		lines  []Line
		fields []string // failing fields; nil = valid
	}{
		{"one line", []Line{{a, 1}}, nil},
		{"two products", []Line{{a, 1}, {b, MaxQuantity}}, nil},
		{"empty", nil, []string{"items"}},
		{"too many", many, []string{"items"}},
		{"quantity zero", []Line{{a, 0}}, []string{"items[0].quantity"}},
		{"quantity too big", []Line{{a, MaxQuantity + 1}}, []string{"items[0].quantity"}},
		{"bad id", []Line{{"nope", 1}}, []string{"items[0].product_id"}},
		{"upper-case id", []Line{{strings.ToUpper(a), 1}}, []string{"items[0].product_id"}},
		{"duplicate", []Line{{a, 1}, {b, 1}, {a, 2}}, []string{"items[2].product_id"}},
		{"every error listed", []Line{{a, 0}, {a, 1}}, []string{"items[0].quantity", "items[1].product_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckLines(tt.lines)
			if tt.fields == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := apperr.As(err)
			if e.Kind != apperr.KindValidation || len(e.Fields) != len(tt.fields) {
				t.Fatalf("got %+v", e)
			}
			for i, f := range tt.fields {
				if e.Fields[i].Field != f {
					t.Errorf("field %d = %q, want %q", i, e.Fields[i].Field, f)
				}
			}
		})
	}
}

func TestOrdersRequestHash(t *testing.T) {
	a, b := ids.New(), ids.New()
	h := RequestHash([]Line{{a, 1}, {b, 2}})
	if RequestHash([]Line{{b, 2}, {a, 1}}) != h {
		t.Error("line order changed the hash")
	}
	for _, other := range [][]Line{{{a, 1}}, {{a, 2}, {b, 2}}, {{a, 1}, {b, 3}}, {{a, 1}, {ids.New(), 2}}} {
		if RequestHash(other) == h {
			t.Errorf("%v hashes like the original", other)
		}
	}
}
