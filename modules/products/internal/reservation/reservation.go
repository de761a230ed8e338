// Package reservation normalizes the lines of a stock reservation the one way
// both the products service and its in-memory fake (productstest) must:
// validated, repeated products added up, sorted by product ID (the order
// rows are locked in, so concurrent reservations never deadlock).
package reservation

import (
	"slices"
	"strings"

	"example.com/productapi/modules/products"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/ids"
)

// MergeLines validates lines, adds up repeated products and sorts by ID.
func MergeLines(in []products.Line) ([]products.Line, error) {
	if len(in) == 0 {
		return nil, apperr.Validation(apperr.FieldError{Field: "items", Message: "must have at least 1 items"})
	}
	byID := map[string]int64{}
	for _, l := range in {
		if !ids.Valid(l.ProductID) {
			return nil, products.ErrUnknownProduct.WithMessage("product %s does not exist", l.ProductID)
		}
		if l.Quantity <= 0 {
			return nil, apperr.Validation(apperr.FieldError{Field: "quantity", Message: "must be >= 1"})
		}
		byID[l.ProductID] += l.Quantity
	}
	out := make([]products.Line, 0, len(byID))
	for id, q := range byID {
		out = append(out, products.Line{ProductID: id, Quantity: q})
	}
	slices.SortFunc(out, func(a, b products.Line) int { return strings.Compare(a.ProductID, b.ProductID) })
	return out, nil
}
