package auth

import "context"

// External verifies access tokens of another issuer (platform/auth/oidc).
// Authenticate asks it when a token is not one of ours.
type External interface {
	Verify(ctx context.Context, token string) (Principal, error)
}

// verifyAny tries our own tokens first, then each external issuer's.
func (t *Tokens) verifyAny(ctx context.Context, token string, external []External) (Principal, error) {
	p, err := t.Verify(token)
	for _, e := range external {
		if err == nil {
			break
		}
		p, err = e.Verify(ctx, token)
	}
	return p, err
}
