package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"example.com/productapi/modules/orders/internal/store"
	"example.com/productapi/modules/users"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/events"
	"example.com/productapi/platform/ids"
)

// ErasedUserID is what an erased user's orders carry as user_id:
// "erased:" + hex(sha256(user id)). Deterministic (an operator holding the
// old ID can still find the orders for a legal claim) but it links to no
// person, because the users module anonymised the account.
func ErasedUserID(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return "erased:" + hex.EncodeToString(sum[:])
}

// errAccountErased: the access token of an erased account is still within
// its lifetime, but the person is gone; no new orders.
var errAccountErased = apperr.New(apperr.KindUnauthorized, "orders.account_erased", "this account was erased")

// refuseErased fails a checkout by an erased user (known to orders once
// users.user_erased.v1 was handled).
func (s *Service) refuseErased(ctx context.Context, userID string) error {
	erased, err := s.store.IsErased(ctx, ErasedUserID(userID))
	if err != nil {
		return err
	}
	if erased {
		return errAccountErased
	}
	return nil
}

// HandleUserErased consumes users.user_erased.v1: the user's orders are
// kept for the books (totals and items intact) but detached from the
// person. It runs transactionally (exactly once in effect) and is
// idempotent anyway: a second run finds no order under the old ID.
func (s *Service) HandleUserErased(ctx context.Context, e events.Event) error {
	var p users.UserErasedV1
	if err := json.Unmarshal(e.Payload, &p); err != nil || !ids.Valid(p.UserID) {
		return events.Permanent(fmt.Errorf("users.user_erased.v1 %s: malformed payload", e.ID))
	}
	n, err := s.store.DetachUser(ctx, p.UserID, ErasedUserID(p.UserID), store.Now())
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "orders detached from an erased user", "orders", n, "event_id", e.ID)
	return nil
}
