package api

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"rapport/engine"
)

// UserTokens verifies the JWTs an identity provider issues to signed-in
// people, which storefront and portal calls made on a person's behalf
// carry in the X-User-Token header: HS256 with a shared secret, or RS256
// with public keys from a JWKS (a file or a URL, kept fresh by Open).
// github.com/golang-jwt/jwt/v5 checks the signature against an allow-list
// of exactly those two algorithms, expiry, not-before, issued-at, issuer
// and audience; Verify adds range checks on the times, the lifetime cap
// and the claims Rapport reads.
type UserTokens struct {
	Secret   []byte // HS256; nil: HS256 tokens are refused
	JWKS     string // RS256 keys: a file, an https:// URL or an http:// URL on this machine; "": RS256 tokens are refused
	Issuer   string
	Audience string
	Leeway   time.Duration // clock skew allowed on exp, nbf and iat; default 1 minute
	// MaxLifetime caps how long a token may live: exp - iat, or exp - now
	// when it has no iat; DefaultMaxTokenLifetime if zero.
	MaxLifetime time.Duration
	// JWKSRefresh is how often the JWKS is read again; 0: every 10 s from
	// a file, every 15 min from a URL.
	JWKSRefresh time.Duration
	// JWKSMinRefresh is the least time between reads of the JWKS caused by
	// tokens naming a key it does not hold; 0: 10 s.
	JWKSMinRefresh time.Duration
	Logger         *slog.Logger // where failed JWKS refreshes are reported

	keys keyfunc.Keyfunc // RS256 keys by kid, once Open read the JWKS
}

// UserClaims is what a verified token says about the person.
type UserClaims struct {
	Subject engine.Alias // sub, an alias
	Email   string       // the "email" claim, lower-cased, only when "email_verified" is true; "" otherwise
	Org     engine.OrgID // the "org" claim if present, else ""
	Expires time.Time
}

// UserTokenHeader carries a person's token.
const UserTokenHeader = "X-User-Token"

// DefaultMaxTokenLifetime is the longest a user token may live unless
// UserTokens.MaxLifetime says otherwise.
const DefaultMaxTokenLifetime = 24 * time.Hour

// maxTokenBytes bounds the token Verify parses.
const maxTokenBytes = 16 << 10

// maxNumericDate is the last second of the year 9999: a JWT time beyond it
// (or before 1970) is refused rather than converted, since a float such
// as 1e20 overflows int64 seconds and would wrap into the past.
const maxNumericDate = 253402300799

// Open reads the JWKS, if one is set, and keeps it fresh until ctx ends
// (see openJWKS). Call it once before Verify; without it RS256 tokens are
// refused.
func (u *UserTokens) Open(ctx context.Context) error {
	if u.JWKS == "" {
		return nil
	}
	logger := u.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	keys, err := openJWKS(ctx, u.JWKS, u.JWKSRefresh, u.JWKSMinRefresh, logger)
	if err != nil {
		return err
	}
	u.keys = keys
	return nil
}

// errUnknownKey is the keyfunc's answer for an RS256 token whose kid is
// not in the JWKS (after the refresh it may cause).
var errUnknownKey = errors.New("unknown signing key")

// Verify checks a token at time now and returns what it says. Every
// refusal is an engine.CodeUnauthorized error saying why.
func (u *UserTokens) Verify(token string, now time.Time) (UserClaims, error) {
	bad := func(format string, args ...any) (UserClaims, error) {
		return UserClaims{}, engine.Errorf(engine.CodeUnauthorized, "user token "+format, args...)
	}
	if len(token) > maxTokenBytes {
		return bad("is longer than %d bytes", maxTokenBytes)
	}
	methods := u.methods()
	if len(methods) == 0 {
		return bad("cannot be verified: this server has no keys")
	}
	leeway := u.Leeway
	if leeway == 0 {
		leeway = time.Minute
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods), jwt.WithStrictDecoding(), jwt.WithLeeway(leeway),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(func() time.Time { return now }),
	}
	if u.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(u.Issuer))
	}
	if u.Audience != "" {
		opts = append(opts, jwt.WithAudience(u.Audience))
	}
	var c tokenClaims
	t, err := jwt.NewParser(opts...).ParseWithClaims(token, &c, u.key)
	if err != nil {
		return bad("%s", refusal(t, &c, err, methods))
	}
	maxLife := u.MaxLifetime
	if maxLife <= 0 {
		maxLife = DefaultMaxTokenLifetime
	}
	exp := c.Expires.time()
	if c.IssuedAt != nil {
		if life := exp.Sub(c.IssuedAt.time()); life > maxLife {
			return bad("lives %s from iat to exp, longer than the %s this server accepts", life.Round(time.Second), maxLife)
		}
	} else if life := exp.Sub(now); life > maxLife+leeway {
		return bad("has no iat and expires in %s, later than the %s this server accepts", life.Round(time.Second), maxLife)
	}
	sub, err := engine.ParseAlias(c.Subject)
	if err != nil {
		return bad("subject must be an alias (kind:value)")
	}
	claims := UserClaims{Subject: sub, Expires: exp}
	if c.Org != nil {
		if claims.Org, err = engine.ParseOrgID(*c.Org); err != nil {
			return bad("claim org %s", err.Error())
		}
	}
	if v := bytes.TrimSpace(c.EmailVerified); bytes.Equal(v, []byte("true")) || bytes.Equal(v, []byte(`"true"`)) {
		email := strings.ToLower(strings.TrimSpace(c.Email))
		if _, err := engine.ParseAlias(engine.KindEmail + ":" + email); err == nil {
			claims.Email = email
		}
	}
	return claims, nil
}

// methods is the allow-list of signing algorithms: those this server has
// keys for. "none", HS256 without a secret and RS256 without a JWKS are
// never in it.
func (u *UserTokens) methods() []string {
	var m []string
	if u.Secret != nil {
		m = append(m, jwt.SigningMethodHS256.Alg())
	}
	if u.keys != nil {
		m = append(m, jwt.SigningMethodRS256.Alg())
	}
	return m
}

// key gives the parser the key for a token's algorithm: the shared secret
// for HS256 and only an RSA public key from the JWKS for RS256, so a token
// cannot make one algorithm verify with the other's key.
func (u *UserTokens) key(t *jwt.Token) (any, error) {
	switch t.Method {
	case jwt.SigningMethodHS256:
		return u.Secret, nil
	case jwt.SigningMethodRS256:
		if kid, _ := t.Header["kid"].(string); kid == "" {
			return nil, errUnknownKey
		}
		k, err := u.keys.Keyfunc(t)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errUnknownKey, err)
		}
		if pub, ok := k.(*rsa.PublicKey); ok && pub.N.BitLen() >= 2048 {
			return pub, nil
		}
		return nil, errUnknownKey
	}
	return nil, errors.New("signing method not allowed")
}

// refusal says why the parser refused a token.
func refusal(t *jwt.Token, c *tokenClaims, err error, methods []string) string {
	var rangeErr *claimRangeError
	switch {
	case errors.As(err, &rangeErr):
		return rangeErr.Error()
	case errors.Is(err, errUnknownKey):
		return "is signed with an unknown key"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "is not a JWT (header.claims.signature, base64url-encoded JSON)"
	case t != nil && (t.Method == nil || !slices.Contains(methods, t.Method.Alg())):
		return "must be signed with " + strings.Join(methods, " or ")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "has a bad signature"
	case c.Expires == nil:
		return "has no expiry (exp)"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "is not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "is issued in the future (iat)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer) || errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.Issuer == "":
		return "is from another issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience) || errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "is for another audience"
	}
	return "is not valid"
}

// tokenClaims are the claims Verify reads. Times are kept as the numbers
// the token carries and range-checked while decoding.
type tokenClaims struct {
	Subject       string           `json:"sub"`
	Issuer        string           `json:"iss"`
	Audience      jwt.ClaimStrings `json:"aud"`
	Expires       *numericDate     `json:"exp"`
	NotBefore     *numericDate     `json:"nbf"`
	IssuedAt      *numericDate     `json:"iat"`
	Email         string           `json:"email"`
	EmailVerified json.RawMessage  `json:"email_verified"`
	Org           *string          `json:"org"`
}

// numericDate is a JWT time in seconds since 1970, within [0, maxNumericDate].
type numericDate float64

func (d numericDate) time() time.Time {
	sec, frac := math.Modf(float64(d))
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// claimRangeError refuses a time claim that is not a time Rapport can hold.
type claimRangeError struct{ claim string }

func (e *claimRangeError) Error() string {
	return "claim " + e.claim + " must be a time in seconds from 1970 to the year 9999"
}

func (c *tokenClaims) UnmarshalJSON(b []byte) error {
	type plain tokenClaims
	if err := json.Unmarshal(b, (*plain)(c)); err != nil {
		return err
	}
	for _, t := range []struct {
		name string
		d    *numericDate
	}{{"exp", c.Expires}, {"nbf", c.NotBefore}, {"iat", c.IssuedAt}} {
		if t.d != nil && !(*t.d >= 0 && *t.d <= maxNumericDate) {
			return &claimRangeError{t.name}
		}
	}
	return nil
}

func (c *tokenClaims) date(d *numericDate) (*jwt.NumericDate, error) {
	if d == nil {
		return nil, nil
	}
	return &jwt.NumericDate{Time: d.time()}, nil
}

func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.date(c.Expires) }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.date(c.NotBefore) }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.date(c.IssuedAt) }
func (c *tokenClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *tokenClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience, nil }
