package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Alias kinds. A social alias has the kind "social:<provider>".
const (
	KindAnon     = "anon"
	KindEmail    = "email"
	KindCustomer = "customer"
	KindLoyalty  = "loyalty"
	KindB2B      = "b2b"
	KindSocial   = "social"
)

// MaxAliasLen bounds the whole "kind:value" text of an alias in bytes.
const MaxAliasLen = 256

// Alias is one identifier of a person, written "kind:value": anon:7f3c…,
// email:<sha256 hex of the normalised address>, customer:17850, loyalty:AF123,
// b2b:ACME-42 or social:facebook:123. Values are case-sensitive except email.
type Alias struct {
	Kind  string // "anon", "email", "customer", "loyalty", "b2b" or "social:<provider>"
	Value string
}

func (a Alias) String() string { return a.Kind + ":" + a.Value }

// IsZero reports whether a is the empty alias.
func (a Alias) IsZero() bool { return a.Kind == "" && a.Value == "" }

// ParseAlias parses "kind:value". An email alias given as a plain address
// (email:Ann@Example.com) is normalised (trimmed, lower-cased) and replaced by
// its SHA-256 hex digest, so raw addresses are never stored; an email alias
// given as 64 hex digits is taken as that digest. The error is a reason fit
// for a FieldError.
func ParseAlias(s string) (Alias, error) {
	if s == "" {
		return Alias{}, reasonf("is required")
	}
	if len(s) > MaxAliasLen {
		return Alias{}, reasonf("is longer than %d bytes", MaxAliasLen)
	}
	kind, value, ok := strings.Cut(s, ":")
	if !ok {
		return Alias{}, reasonf("must be kind:value (kinds: anon, email, customer, loyalty, b2b, social:<provider>)")
	}
	switch kind {
	case KindAnon, KindCustomer, KindLoyalty, KindB2B:
	case KindEmail:
		return parseEmailAlias(value)
	case KindSocial:
		provider, id, ok := strings.Cut(value, ":")
		if !ok || !validToken(provider, 32) {
			return Alias{}, reasonf("a social alias must be social:<provider>:<id> with a provider of lower-case letters, digits, '-' or '_'")
		}
		kind, value = KindSocial+":"+provider, id
	default:
		return Alias{}, reasonf("has unknown kind %q (kinds: anon, email, customer, loyalty, b2b, social:<provider>)", kind)
	}
	if err := checkIDText(value); err != nil {
		return Alias{}, reasonf("value %s", err.Error())
	}
	return Alias{Kind: kind, Value: value}, nil
}

func parseEmailAlias(value string) (Alias, error) {
	if isSHA256Hex(value) {
		return Alias{Kind: KindEmail, Value: strings.ToLower(value)}, nil
	}
	addr := strings.ToLower(strings.TrimSpace(value))
	at := strings.LastIndexByte(addr, '@')
	if r, bad := firstForbidden(addr); bad {
		return Alias{}, reasonf("an email address must not contain %s", describeRune(r))
	}
	if at <= 0 || at == len(addr)-1 || strings.IndexFunc(addr, unicode.IsSpace) >= 0 {
		return Alias{}, reasonf("an email alias must be email:<address> or email:<sha256 hex of the normalised address>")
	}
	sum := sha256.Sum256([]byte(addr))
	return Alias{Kind: KindEmail, Value: hex.EncodeToString(sum[:])}, nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// validToken reports whether s is 1..max bytes of [a-z0-9_-].
func validToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkIDText checks an identifier used in keys and URL paths: non-empty,
// no whitespace, no '/', and none of the characters firstForbidden refuses.
func checkIDText(s string) error {
	if s == "" {
		return reasonf("must not be empty")
	}
	for _, r := range s {
		switch {
		case r == '/':
			return reasonf("must not contain '/'")
		case forbiddenRune(r):
			return reasonf("must not contain %s", describeRune(r))
		case unicode.IsSpace(r):
			return reasonf("must not contain spaces (found %U)", r)
		}
	}
	return nil
}

// forbiddenRune reports whether r may appear in no text Rapport takes: a
// control character (U+0000–U+001F, U+007F–U+009F, which includes U+0085),
// a format character (Unicode category Cf: zero-width spaces and joiners,
// bidirectional overrides and isolates such as U+202E and U+2066, the byte
// order mark U+FEFF, …), or U+FFFD, which stands for invalid UTF-8. Such
// characters make two identifiers that look the same differ, or make text
// read differently from what it holds.
func forbiddenRune(r rune) bool {
	return r < 0x20 || r >= 0x7f && r <= 0x9f || r == utf8.RuneError || unicode.Is(unicode.Cf, r)
}

// firstForbidden returns the first rune of s that forbiddenRune refuses.
func firstForbidden(s string) (rune, bool) {
	for _, r := range s {
		if forbiddenRune(r) {
			return r, true
		}
	}
	return 0, false
}

// describeRune names a forbidden rune for a reason, by code point only:
// printed as itself it would be invisible or reorder the message.
func describeRune(r rune) string {
	switch {
	case r == utf8.RuneError:
		return "invalid UTF-8"
	case unicode.Is(unicode.Cf, r):
		return fmt.Sprintf("the invisible format character %U", r)
	default:
		return fmt.Sprintf("the control character %U", r)
	}
}

// reason is an error whose text is a FieldError reason.
type reason string

func (r reason) Error() string { return string(r) }

func reasonf(format string, args ...any) error {
	if len(args) == 0 {
		return reason(format)
	}
	return reason(fmt.Sprintf(format, args...))
}
