package main

import (
	"os"
	"strings"

	"rapport/api"
)

// userTokens builds the end-user token verifier from serve's flags (nil
// when neither a secret nor a JWKS file is given).
func userTokens(secretFile, jwksFile, issuer, audience string) (*api.UserTokens, error) {
	if secretFile == "" && jwksFile == "" {
		if issuer != "" || audience != "" {
			return nil, usagef("--jwt-issuer and --jwt-audience need --jwt-secret-file or --jwt-jwks")
		}
		return nil, nil
	}
	if issuer == "" || audience == "" {
		return nil, usagef("end-user tokens need --jwt-issuer and --jwt-audience")
	}
	u := &api.UserTokens{Issuer: issuer, Audience: audience}
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, usagef("--jwt-secret-file: %v", err)
		}
		if u.Secret = []byte(strings.TrimSpace(string(b))); len(u.Secret) < 32 {
			return nil, usagef("--jwt-secret-file: the secret must be at least 32 bytes")
		}
	}
	if jwksFile != "" {
		b, err := os.ReadFile(jwksFile)
		if err != nil {
			return nil, usagef("--jwt-jwks: %v", err)
		}
		if u.Keys, err = api.ParseJWKS(b); err != nil {
			return nil, usagef("--jwt-jwks: %v", err)
		}
	}
	return u, nil
}
