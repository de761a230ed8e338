package app

import (
	"context"
	"strings"
	"time"

	"example.com/productapi/modules/products/internal/reservation"

	"example.com/productapi/modules/products"
	"example.com/productapi/modules/products/internal/store"
)

// Reserve implements products.Service. It joins the caller's unit of work,
// so the stock taken here commits or rolls back with the caller's order.
func (s *Service) Reserve(ctx context.Context, reservationID string, lines []products.Line) ([]products.ReservedLine, error) {
	merged, err := reservation.MergeLines(lines)
	if err != nil {
		return nil, err
	}
	var out []products.ReservedLine
	err = s.store.Transact(ctx, func(ctx context.Context) error {
		if existing, err := s.store.Reservation(ctx, reservationID); err != nil || len(existing) > 0 {
			out = toReserved(existing)
			return err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		rows := make([]store.ReservationLine, 0, len(merged))
		// merged is sorted by product ID: every checkout locks rows in the
		// same order, so two multi-product orders cannot deadlock.
		for _, l := range merged {
			ok, err := s.store.TakeStock(ctx, l.ProductID, l.Quantity)
			if err != nil {
				return err
			}
			p, err := s.store.ByID(ctx, l.ProductID, "id", "sku", "name", "price_cents", "currency", "stock")
			if err == products.ErrNotFound {
				return products.ErrUnknownProduct.WithMessage("product %s does not exist", l.ProductID)
			} else if err != nil {
				return err
			}
			if !ok {
				return products.ErrInsufficientStock.WithMessage("not enough stock for product %s (%s): %d requested", p.ID, p.SKU, l.Quantity)
			}
			if len(rows) > 0 && rows[0].Currency != p.Currency {
				return products.ErrMixedCurrency
			}
			rows = append(rows, store.ReservationLine{ReservationID: reservationID, ProductID: p.ID, SKU: p.SKU, Name: p.Name,
				UnitPriceCents: p.PriceCents, Currency: p.Currency, Quantity: l.Quantity, CreatedAt: now})
		}
		if err := s.store.InsertReservation(ctx, rows); err != nil {
			return err
		}
		out = toReserved(rows)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Release implements products.Service: stock comes back once.
func (s *Service) Release(ctx context.Context, reservationID string) (bool, error) {
	released, err := s.store.ReleaseReservation(ctx, reservationID)
	if err != nil || len(released) == 0 {
		return false, err
	}
	return true, nil
}

func toReserved(rows []store.ReservationLine) []products.ReservedLine {
	out := make([]products.ReservedLine, len(rows))
	for i, r := range rows {
		out[i] = products.ReservedLine{ProductID: r.ProductID, SKU: r.SKU, Name: r.Name, UnitPriceCents: r.UnitPriceCents,
			Currency: strings.TrimSpace(r.Currency), Quantity: r.Quantity}
	}
	return out
}
