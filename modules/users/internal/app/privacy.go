package app

import (
	"context"
	"time"

	"example.com/productapi/modules/orders"
	"example.com/productapi/modules/users"
	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/events"
)

// Publisher appends events to the outbox inside the caller's unit of work
// (platform/events.Bus).
type Publisher interface {
	Append(ctx context.Context, typ, key string, payload any) (events.Event, error)
}

// Privacy is what the privacy rights need beyond the users tables.
type Privacy struct {
	// Events receives users.user_erased.v1 in the erasure's transaction
	// (required: usersimpl.New checks it).
	Events Publisher
	// OrdersOf returns a user's orders with their items, through the orders
	// module's public interface (orders.Service.ListForUser).
	OrdersOf func(ctx context.Context, userID string) ([]orders.Order, error)
}

// Export is everything the service keeps about a person, for the right of
// access and portability (GET /v1/users/me/export).
type Export struct {
	ExportedAt time.Time      `json:"exported_at"`
	User       users.User     `json:"user"`
	Orders     []orders.Order `json:"orders"`
	// ExternalSubject is the identity of an external OIDC issuer the account
	// was provisioned for, if any.
	ExternalSubject *string `json:"external_subject,omitempty"`
}

// Export gathers the personal data of a user.
func (s *Service) Export(ctx context.Context, id string) (Export, error) {
	row, err := s.Row(ctx, id)
	if err != nil {
		return Export{}, err
	}
	out := Export{ExportedAt: time.Now().UTC().Truncate(time.Second), User: row.ToUser(), Orders: []orders.Order{},
		ExternalSubject: row.ExternalSubject}
	if s.privacy.OrdersOf != nil {
		list, err := s.privacy.OrdersOf(ctx, id)
		if err != nil {
			return Export{}, err
		}
		if list != nil {
			out.Orders = list
		}
	}
	return out, nil
}

// Erase exercises the right to erasure for a user, in one unit of work:
// anonymise the row (email becomes a unique tombstone, name empty, password
// unusable, external link dropped; the id stays so references remain
// valid), end the user's sessions, record it in the audit trail and publish
// users.user_erased.v1, on which the orders module detaches the user's
// orders. Erasing a user that is gone is ErrNotFound.
func (s *Service) Erase(ctx context.Context, id string) error {
	err := s.store.Transact(ctx, func(ctx context.Context) error {
		now := time.Now().UTC().Truncate(time.Microsecond)
		row, err := s.store.ByID(ctx, id)
		if err != nil {
			return err
		}
		if row.Role == users.RoleAdmin {
			if err := s.keepAnAdmin(ctx, id); err != nil {
				return err
			}
		}
		ok, err := s.store.Erase(ctx, id, now)
		if err != nil {
			return err
		}
		if !ok {
			return users.ErrNotFound
		}
		// Every refresh-token family ends in the erasure's unit of work.
		// Access tokens are stateless JWTs: an erased user's token stops
		// working on the users routes at once (the account reads as gone),
		// at checkout once orders has handled the event, and everywhere
		// when it expires (auth.access_token_ttl).
		if err := s.RevokeAllSessions(ctx, id); err != nil {
			return err
		}
		if err := s.audit.Record(ctx, audit.Entry{Action: "users.erase", TargetType: "user", TargetID: id}); err != nil {
			return err
		}
		_, err = s.privacy.Events.Append(ctx, users.EventUserErased, id, users.UserErasedV1{UserID: id, ErasedAt: now})
		return err
	})
	if err == nil {
		s.log.InfoContext(ctx, "user erased", "user_id", id)
	}
	return err
}
