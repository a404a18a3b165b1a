package api

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"rapport/engine"
)

// UserTokens verifies the JWTs an identity provider issues to signed-in
// people, which storefront and portal calls made on a person's behalf
// carry in the X-User-Token header: HS256 with a shared secret, or RS256
// with public keys from a JWKS document. Signature, expiry (and not-before),
// issuer and audience are checked; the subject must be an alias.
type UserTokens struct {
	Secret   []byte                    // HS256; nil: HS256 tokens are refused
	Keys     map[string]*rsa.PublicKey // RS256, by key id
	Issuer   string
	Audience string
	Leeway   time.Duration // clock skew allowed on exp and nbf; default 1 minute
}

// UserTokenHeader carries a person's token.
const UserTokenHeader = "X-User-Token"

// ParseJWKS reads the RSA public keys of a JWKS document.
func ParseJWKS(data []byte) (map[string]*rsa.PublicKey, error) {
	var doc struct {
		Keys []struct {
			Kty, Kid, Alg, N, E, Use string
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out := map[string]*rsa.PublicKey{}
	for _, k := range doc.Keys {
		if k.Kty != "RSA" || (k.Alg != "" && k.Alg != "RS256") || (k.Use != "" && k.Use != "sig") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(e) > 4 || k.Kid == "" {
			return nil, fmt.Errorf("jwks: key %q is malformed (kid, n and e are required, base64url)", k.Kid)
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		out[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	}
	if len(out) == 0 {
		return nil, errors.New("jwks: no RS256 signing keys")
	}
	return out, nil
}

// Verify checks a token and returns the alias it names.
func (u *UserTokens) Verify(token string, now time.Time) (engine.Alias, error) {
	bad := func(why string) (engine.Alias, error) {
		return engine.Alias{}, engine.Errorf(engine.CodeUnauthorized, "user token %s", why)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return bad("is not a JWT (header.claims.signature)")
	}
	var header struct{ Alg, Kid, Typ string }
	if err := decodeSegment(parts[0], &header); err != nil {
		return bad("has a malformed header")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return bad("has a malformed signature")
	}
	signed := []byte(parts[0] + "." + parts[1])
	switch header.Alg {
	case "HS256":
		if u.Secret == nil {
			return bad("is HS256, which this server does not accept")
		}
		mac := hmac.New(sha256.New, u.Secret)
		mac.Write(signed)
		if !hmac.Equal(mac.Sum(nil), sig) {
			return bad("has a bad signature")
		}
	case "RS256":
		key := u.Keys[header.Kid]
		if key == nil {
			return bad("is signed with an unknown key")
		}
		sum := sha256.Sum256(signed)
		if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
			return bad("has a bad signature")
		}
	default:
		return bad("must be HS256 or RS256")
	}
	var claims struct {
		Sub string          `json:"sub"`
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
		Exp *float64        `json:"exp"`
		Nbf *float64        `json:"nbf"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return bad("has malformed claims")
	}
	leeway := u.Leeway
	if leeway == 0 {
		leeway = time.Minute
	}
	switch {
	case claims.Exp == nil:
		return bad("has no expiry")
	case now.After(time.Unix(int64(*claims.Exp), 0).Add(leeway)):
		return bad("has expired")
	case claims.Nbf != nil && now.Add(leeway).Before(time.Unix(int64(*claims.Nbf), 0)):
		return bad("is not valid yet")
	case u.Issuer != "" && claims.Iss != u.Issuer:
		return bad("is from another issuer")
	case u.Audience != "" && !audienceHas(claims.Aud, u.Audience):
		return bad("is for another audience")
	}
	a, err := engine.ParseAlias(claims.Sub)
	if err != nil {
		return bad("subject must be an alias (kind:value)")
	}
	return a, nil
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// audienceHas reports whether a JWT aud claim (a string or a list) names want.
func audienceHas(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	return json.Unmarshal(raw, &many) == nil && slices.Contains(many, want)
}
