package app

import (
	"context"
	"fmt"

	"example.com/productapi/platform/auth/oidc"
	"example.com/productapi/platform/config"
)

// buildOIDC turns on the OIDC resource-server mode when auth.oidc.issuer
// is set: access tokens of that issuer are accepted next to our own, and
// their subjects are provisioned as local users on first sight.
func (a *App) buildOIDC() error {
	o := a.cfg.Auth.OIDC
	if o.Issuer == "" {
		return nil
	}
	v, err := oidc.New(a.life, oidc.Config{Issuer: o.Issuer, JWKSURL: o.JWKSURL, Audience: o.Audience,
		RoleClaim: o.RoleClaim, AdminValue: o.AdminValue, RefreshInterval: o.JWKSRefresh,
		UnknownKIDRefresh: o.UnknownKIDRefresh},
		func(ctx context.Context, id oidc.Identity) (string, error) {
			return a.users.Accounts().ProvisionExternal(ctx, id.Subject, id.Email, id.Name, id.Role)
		}, a.log.With("component", "oidc"))
	if err != nil {
		return &config.Error{Setting: "OIDC_ISSUER (auth.oidc)", Problem: fmt.Sprint(err)}
	}
	a.log.Info("oidc: accepting access tokens", "issuer", o.Issuer, "jwks_url", v.JWKSURL())
	a.external = append(a.external, v)
	return nil
}
