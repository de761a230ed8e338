// Package domain holds the orders module's rules: the status state machine
// and the checks on a new order's lines. No gin, no gorm.
package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"example.com/productapi/modules/orders"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/ids"
)

// Action is what somebody asks to happen to an order.
type Action string

const (
	ActionPay         Action = "pay"          // the provider approved the charge
	ActionFailPayment Action = "fail_payment" // the provider declined
	ActionCancel      Action = "cancel"
	ActionShip        Action = "ship"
)

// transitions is the whole state machine: (from, action) -> to.
var transitions = map[orders.Status]map[Action]orders.Status{
	orders.StatusPending: {
		ActionPay:         orders.StatusPaid,
		ActionFailPayment: orders.StatusPaymentFailed,
		ActionCancel:      orders.StatusCancelled,
	},
	orders.StatusPaid: {
		ActionShip:   orders.StatusShipped,
		ActionCancel: orders.StatusCancelled,
	},
	// shipped, cancelled and payment_failed are final.
}

// Statuses lists every status (the allow-list of the status filter).
var Statuses = []orders.Status{orders.StatusPending, orders.StatusPaid, orders.StatusShipped,
	orders.StatusCancelled, orders.StatusPaymentFailed}

// ValidStatus reports whether s names a status.
func ValidStatus(s string) bool { return slices.Contains(Statuses, orders.Status(s)) }

// Next returns the status an action leads to from `from`, or
// orders.ErrInvalidTransition naming both.
func Next(from orders.Status, a Action) (orders.Status, error) {
	if to, ok := transitions[from][a]; ok {
		return to, nil
	}
	return "", orders.ErrInvalidTransition.WithMessage("cannot %s an order that is %s", verb(a), from)
}

func verb(a Action) string {
	switch a {
	case ActionPay:
		return "mark as paid"
	case ActionFailPayment:
		return "mark as payment failed"
	}
	return string(a)
}

// ReleasesStock reports whether entering status to gives the reserved stock
// back. Every status that does is final, so stock is released at most once
// per order (products.Release is also once-only).
func ReleasesStock(to orders.Status) bool {
	return to == orders.StatusCancelled || to == orders.StatusPaymentFailed
}

// Limits on a new order.
const (
	MaxItems    = 50
	MaxQuantity = 1000
)

// Line is a requested order line.
type Line struct {
	ProductID string
	Quantity  int64
}

// CheckLines validates the lines of a new order beyond what struct tags
// catch: product IDs must be canonical IDs and each product may appear
// only once (a repeated product_id is a 422 naming both positions, rather
// than a silent merge: the client's intent is ambiguous).
func CheckLines(lines []Line) error {
	var errs []apperr.FieldError
	if len(lines) == 0 {
		errs = append(errs, apperr.FieldError{Field: "items", Message: "must have at least 1 items"})
	}
	if len(lines) > MaxItems {
		errs = append(errs, apperr.FieldError{Field: "items", Message: fmt.Sprintf("must have at most %d items", MaxItems)})
	}
	seen := make(map[string]int, len(lines))
	for i, l := range lines {
		field := "items[" + strconv.Itoa(i) + "]"
		if !ids.Valid(l.ProductID) {
			errs = append(errs, apperr.FieldError{Field: field + ".product_id", Message: "must be a product ID"})
		} else if j, dup := seen[l.ProductID]; dup {
			errs = append(errs, apperr.FieldError{Field: field + ".product_id",
				Message: fmt.Sprintf("duplicates items[%d].product_id; give each product once with the total quantity", j)})
		} else {
			seen[l.ProductID] = i
		}
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			errs = append(errs, apperr.FieldError{Field: field + ".quantity", Message: fmt.Sprintf("must be from 1 to %d", MaxQuantity)})
		}
	}
	if len(errs) > 0 {
		return apperr.Validation(errs...)
	}
	return nil
}

// RequestHash is the fingerprint of a checkout request used to tell "same
// request again" from "other request with a reused Idempotency-Key". Lines
// are sorted by product (their order carries no meaning), so formatting,
// key order and line order of the JSON body do not matter.
func RequestHash(lines []Line) string {
	sorted := slices.Clone(lines)
	slices.SortFunc(sorted, func(a, b Line) int { return strings.Compare(a.ProductID, b.ProductID) })
	h := sha256.New()
	h.Write([]byte("orders.place.v1\n"))
	for _, l := range sorted {
		fmt.Fprintf(h, "%s:%d\n", l.ProductID, l.Quantity)
	}
	return hex.EncodeToString(h.Sum(nil))
}
