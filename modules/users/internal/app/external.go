package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"example.com/productapi/modules/users"
	"example.com/productapi/modules/users/internal/store"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/ids"
)

// externalPasswordHash matches no password: external accounts sign in at
// their issuer only.
const externalPasswordHash = "!external"

// ProvisionExternal maps an external (OIDC) subject to a local account,
// creating it on first sight (just-in-time provisioning), and returns its
// ID. The email claim is used when no local account has it; otherwise (or
// without one) the account gets a placeholder address, so an external
// token can never take over an existing local account by its email. The
// stored role is the one of the first token; each request's role comes
// from its token.
func (s *Service) ProvisionExternal(ctx context.Context, subject, email, name, role string) (string, error) {
	if subject == "" {
		return "", apperr.Internal(errors.New("users: external subject is empty"))
	}
	if role != users.RoleAdmin {
		role = users.RoleCustomer
	}
	sum := sha256.Sum256([]byte(subject))
	placeholder := "ext+" + hex.EncodeToString(sum[:12]) + "@external.invalid"
	candidates := []string{placeholder}
	if e := NormalizeEmail(email); e != "" && len(e) <= 254 && strings.Contains(e, "@") {
		candidates = []string{e, placeholder}
	}
	for _, addr := range candidates {
		row, err := s.store.ByExternalSubject(ctx, subject)
		if err == nil {
			return row.ID, nil
		}
		if apperr.KindOf(err) != apperr.KindNotFound {
			return "", err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		sub := subject
		row = store.Row{ID: ids.New(), Email: addr, Name: strings.TrimSpace(name), Role: role, PasswordHash: externalPasswordHash,
			ExternalSubject: &sub, Version: 1, CreatedAt: now, UpdatedAt: now}
		err = s.store.Create(ctx, &row)
		if err == nil {
			s.log.InfoContext(ctx, "external account provisioned", "user_id", row.ID)
			return row.ID, nil
		}
		if !errors.Is(err, users.ErrEmailTaken) { // a unique violation: email, or a concurrent first request
			return "", err
		}
	}
	row, err := s.store.ByExternalSubject(ctx, subject)
	return row.ID, err
}
