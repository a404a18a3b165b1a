package engine

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Role is what an API key may do. Which routes each role may call is one
// table, in the api package (and in the README).
type Role string

const (
	// RoleBrowser is the publishable storefront key: safe to ship in a
	// page, it reads the catalog and lists, posts anonymous behaviour, and
	// acts for a known person only with that person's token.
	RoleBrowser    Role = "browser"
	RoleIngest     Role = "ingest"
	RoleStorefront Role = "storefront"
	RolePortal     Role = "portal"
	RoleData       Role = "data"
	RoleAdmin      Role = "admin"
)

// Roles lists every role.
var Roles = []Role{RoleBrowser, RoleIngest, RoleStorefront, RolePortal, RoleData, RoleAdmin}

// ParseRole checks that s names a role.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", Errorf(CodeInvalid, "role %q is not one of browser, ingest, storefront, portal, data, admin", s)
}

// SecretPrefix starts every API key secret, so leaked keys are recognisable.
const SecretPrefix = "rpk_"

// KeyHash is the SHA-256 of a key secret; only the hash is stored. A secret
// carries 160 random bits, so a fast hash is enough to make it unguessable.
type KeyHash [sha256.Size]byte

// APIKey is a stored key: everything but its secret.
type APIKey struct {
	ID        string
	Name      string
	Role      Role
	Hash      KeyHash
	CreatedAt time.Time
	RevokedAt time.Time // zero while the key is active
	Org       OrgID     // the one organisation the key may see; "" for none
	Rate      float64   // requests per second it may make; 0: the server's default
}

// MaxRate bounds a key's rate limit (requests per second).
const MaxRate = 1_000_000

// Restrict scopes k to organisation org ("" for none) and gives it its own
// rate limit (0: the server's default). Only portal and storefront keys,
// which act for people, may be scoped.
func (k *APIKey) Restrict(org string, rate float64) error {
	if org != "" {
		id, err := ParseOrgID(org)
		if err != nil {
			return Errorf(CodeInvalid, "org %v", err)
		}
		if k.Role != RolePortal && k.Role != RoleStorefront {
			return Errorf(CodeInvalid, "org: only portal and storefront keys can be scoped to an organisation, not %s keys", k.Role)
		}
		k.Org = id
	}
	if !(rate >= 0 && rate <= MaxRate) {
		return Errorf(CodeInvalid, "rate must be between 0 (the server's default) and %d requests per second", MaxRate)
	}
	k.Rate = rate
	return nil
}

// Active reports whether the key has not been revoked.
func (k *APIKey) Active() bool { return k.RevokedAt.IsZero() }

// NewAPIKey makes a key of the given role and returns it with its secret,
// which is shown once and never stored.
func NewAPIKey(role Role, name string, now time.Time) (APIKey, string, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return APIKey{}, "", err
	}
	if name != "" {
		if err := checkLabel(name, 64); err != nil {
			return APIKey{}, "", Errorf(CodeInvalid, "name %v", err)
		}
	}
	var buf [20 + 6]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return APIKey{}, "", fmt.Errorf("read random: %w", err)
	}
	secret := SecretPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(buf[:20]))
	k := APIKey{ID: "key_" + hex.EncodeToString(buf[20:]), Name: name, Role: role, Hash: HashSecret(secret), CreatedAt: now.UTC()}
	return k, secret, nil
}

// HashSecret returns the stored form of a key secret.
func HashSecret(secret string) KeyHash { return sha256.Sum256([]byte(secret)) }
