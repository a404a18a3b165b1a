package engine

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"unicode"
)

// Redactor replaces the aliases and e-mail addresses in log text with a
// keyed hash, alias#<12 hex digits of HMAC-SHA256(key, alias)>, so logs
// never carry who a line is about, yet lines about one person still carry
// the same tag. An address and its email:<sha256> alias get the same tag.
type Redactor struct{ key []byte }

// NewRedactor returns a Redactor with key, or with a random key when key
// is empty (tags then match only within the process's lifetime).
func NewRedactor(key []byte) *Redactor {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return &Redactor{key: key}
}

// Tag returns the redacted form of a.
func (r *Redactor) Tag(a Alias) string {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(a.String()))
	return "alias#" + hex.EncodeToString(m.Sum(nil))[:12]
}

// aliasPrefixes start the text of every alias kind.
var aliasPrefixes = []string{KindAnon + ":", KindEmail + ":", KindCustomer + ":", KindLoyalty + ":", KindB2B + ":", KindSocial + ":"}

// Text returns s with every word that parses as an alias, looks like an
// e-mail address or is a bare SHA-256 hex digest (an e-mail alias's value)
// replaced by its tag. A word runs to the next space or control character;
// quotes, brackets and punctuation around it stay.
func (r *Redactor) Text(s string) string {
	if !strings.ContainsAny(s, ":@") && len(s) < 64 {
		return s
	}
	var b strings.Builder
	rest := s
	for rest != "" {
		i := strings.IndexFunc(rest, func(c rune) bool { return !isSeparator(c) })
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		rest = rest[i:]
		end := strings.IndexFunc(rest, isSeparator)
		if end < 0 {
			end = len(rest)
		}
		b.WriteString(r.word(rest[:end]))
		rest = rest[end:]
	}
	return b.String()
}

// isSeparator ends a word: a space, or a control character such as the NUL
// that ends an alias in a store key (Badger's debug log prints keys).
func isSeparator(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }

// word redacts one space-free word.
func (r *Redactor) word(w string) string {
	start := -1
	for _, p := range aliasPrefixes {
		if i := strings.Index(w, p); i >= 0 && (start < 0 || i < start) && (i == 0 || !isWordByte(w[i-1])) {
			start = i
		}
	}
	if start < 0 {
		if at := strings.IndexByte(w, '@'); at >= 0 {
			start = strings.LastIndexFunc(w[:at], func(c rune) bool { return strings.ContainsRune(`"'(<[{=,;`, c) }) + 1
			if a, err := ParseAlias(KindEmail + ":" + trimPunct(w[start:])); err == nil {
				return w[:start] + r.Tag(a) + w[start+len(trimPunct(w[start:])):]
			}
			return w[:start] + "address#redacted"
		}
		if h := strings.TrimLeft(trimPunct(w), `"'(<[{=`); isSHA256Hex(h) {
			a := Alias{Kind: KindEmail, Value: strings.ToLower(h)}
			return strings.Replace(w, h, r.Tag(a), 1)
		}
		return w
	}
	cand := trimPunct(w[start:])
	if a, err := ParseAlias(cand); err == nil {
		return w[:start] + r.Tag(a) + w[start+len(cand):]
	}
	if strings.HasPrefix(cand, KindEmail+":") || strings.ContainsRune(cand, '@') {
		return w[:start] + "alias#redacted" // an e-mail that does not parse is still no one's business
	}
	return w
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// trimPunct drops the punctuation that ends a sentence or closes a quote
// or bracket from the end of w.
func trimPunct(w string) string {
	return strings.TrimRight(w, `"'.,;:!?)]}>`)
}

// RedactHandler wraps h so that every message and attribute it handles
// passes through r.Text: strings, errors and anything printed with %v. A
// handler that already redacts is returned as it is, keeping its key; a nil
// r is NewRedactor(nil).
func RedactHandler(h slog.Handler, r *Redactor) slog.Handler {
	if _, ok := h.(*redactHandler); ok {
		return h
	}
	if r == nil {
		r = NewRedactor(nil)
	}
	return &redactHandler{next: h, r: r}
}

type redactHandler struct {
	next slog.Handler
	r    *Redactor
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Text(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.attr(a)
	}
	return &redactHandler{next: h.next.WithAttrs(red), r: h.r}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{next: h.next.WithGroup(name), r: h.r}
}

func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.Text(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = h.attr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		var s string
		if err, ok := v.Any().(error); ok {
			s = err.Error()
		} else {
			s = fmt.Sprint(v.Any())
		}
		if red := h.r.Text(s); red != s {
			return slog.String(a.Key, red)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
