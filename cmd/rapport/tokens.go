package main

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"time"

	"rapport/api"
)

// userTokens builds the end-user token verifier from serve's flags (nil
// when neither a secret nor a JWKS is given) and reads the JWKS, which it
// keeps fresh until ctx ends.
func userTokens(ctx context.Context, secretFile, jwks, issuer, audience string, maxLifetime time.Duration, logger *slog.Logger) (*api.UserTokens, error) {
	if maxLifetime <= 0 {
		return nil, usagef("--jwt-max-lifetime must be positive")
	}
	if secretFile == "" && jwks == "" {
		if issuer != "" || audience != "" {
			return nil, usagef("--jwt-issuer and --jwt-audience need --jwt-secret-file or --jwt-jwks")
		}
		return nil, nil
	}
	if issuer == "" || audience == "" {
		return nil, usagef("end-user tokens need --jwt-issuer and --jwt-audience")
	}
	u := &api.UserTokens{Issuer: issuer, Audience: audience, JWKS: jwks, MaxLifetime: maxLifetime, Logger: logger}
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, usagef("--jwt-secret-file: %v", err)
		}
		if u.Secret = []byte(strings.TrimSpace(string(b))); len(u.Secret) < 32 {
			return nil, usagef("--jwt-secret-file: the secret must be at least 32 bytes")
		}
	}
	if err := u.Open(ctx); err != nil {
		return nil, usagef("--jwt-jwks: %v", err)
	}
	return u, nil
}
