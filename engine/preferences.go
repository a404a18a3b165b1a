package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Preferences are what a person told the shop about themselves in the
// preference centre. Explicit beats inferred: excluded categories and
// brands are never recommended, whatever history or social signals say,
// and favourites are boosted.
type Preferences struct {
	FavouriteCategories []string          `json:"favourite_categories"`
	FavouriteBrands     []string          `json:"favourite_brands"`
	ExcludedCategories  []string          `json:"excluded_categories"`
	ExcludedBrands      []string          `json:"excluded_brands"`
	Sizes               map[string]string `json:"sizes"`         // e.g. "shoes": "42", "shirts": "M"
	Communication       map[string]bool   `json:"communication"` // channel → opted in
	UpdatedAt           time.Time         `json:"updated_at,omitzero"`
}

// Limits of a preferences document.
const (
	MaxPreferenceEntries = 50  // per list or map
	MaxPreferenceLabel   = 128 // bytes per category, brand, size name or size
)

// Channels lists the communication channels a person may choose.
var Channels = []string{"email", "sms", "push", "post", "phone"}

// IsZero reports whether p says nothing.
func (p *Preferences) IsZero() bool {
	return len(p.FavouriteCategories)+len(p.FavouriteBrands)+len(p.ExcludedCategories)+len(p.ExcludedBrands)+len(p.Sizes)+len(p.Communication) == 0
}

// ParsePreferences decodes and validates a preferences document (the
// whole of it: fields left out are empty).
func ParsePreferences(data []byte) (Preferences, []FieldError) {
	var p Preferences
	if fe := DecodeObject(data, &p); fe != nil {
		return Preferences{}, []FieldError{*fe}
	}
	p.UpdatedAt = time.Time{}
	return p, p.Validate()
}

// Validate checks p and normalises it: blank-trimmed, duplicates removed,
// nil lists and maps made empty.
func (p *Preferences) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Index: -1, Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	lists := []struct {
		field string
		v     *[]string
	}{{"favourite_categories", &p.FavouriteCategories}, {"favourite_brands", &p.FavouriteBrands},
		{"excluded_categories", &p.ExcludedCategories}, {"excluded_brands", &p.ExcludedBrands}}
	for _, l := range lists {
		if len(*l.v) > MaxPreferenceEntries {
			bad(l.field, "has more than %d entries", MaxPreferenceEntries)
			continue
		}
		out := []string{}
		for _, s := range *l.v {
			s = strings.TrimSpace(s)
			if err := checkLabel(s, MaxPreferenceLabel); err != nil {
				bad(l.field, "entry %q %v", s, err)
			} else if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		*l.v = out
	}
	for _, c := range p.FavouriteCategories {
		if slices.Contains(p.ExcludedCategories, c) {
			bad("excluded_categories", "%q is also a favourite; choose one", c)
		}
	}
	for _, b := range p.FavouriteBrands {
		if slices.Contains(p.ExcludedBrands, b) {
			bad("excluded_brands", "%q is also a favourite; choose one", b)
		}
	}
	if p.Sizes == nil {
		p.Sizes = map[string]string{}
	}
	if len(p.Sizes) > MaxPreferenceEntries {
		bad("sizes", "has more than %d entries", MaxPreferenceEntries)
	}
	for k, v := range p.Sizes {
		if err := checkLabel(k, MaxPreferenceLabel); err != nil {
			bad("sizes", "name %q %v", k, err)
		} else if err := checkLabel(v, MaxPreferenceLabel); err != nil {
			bad("sizes", "size of %q %v", k, err)
		}
	}
	if p.Communication == nil {
		p.Communication = map[string]bool{}
	}
	for k := range p.Communication {
		if !slices.Contains(Channels, k) {
			bad("communication", "%q is not a channel (one of %s)", k, strings.Join(Channels, ", "))
		}
	}
	return errs
}

// MergePreferences combines the preferences of two identities that merged: lists are
// joined, and where the two disagree on a size or a channel, or one
// excludes what the other favours, the more recent document wins.
func MergePreferences(a, b Preferences) Preferences {
	if b.UpdatedAt.After(a.UpdatedAt) {
		a, b = b, a // a is the newer
	}
	out := Preferences{
		FavouriteCategories: union(a.FavouriteCategories, without(b.FavouriteCategories, a.ExcludedCategories)),
		FavouriteBrands:     union(a.FavouriteBrands, without(b.FavouriteBrands, a.ExcludedBrands)),
		ExcludedCategories:  union(a.ExcludedCategories, without(b.ExcludedCategories, a.FavouriteCategories)),
		ExcludedBrands:      union(a.ExcludedBrands, without(b.ExcludedBrands, a.FavouriteBrands)),
		Sizes:               map[string]string{}, Communication: map[string]bool{}, UpdatedAt: a.UpdatedAt,
	}
	for _, p := range []Preferences{b, a} { // the newer last, so it wins
		for k, v := range p.Sizes {
			out.Sizes[k] = v
		}
		for k, v := range p.Communication {
			out.Communication[k] = v
		}
	}
	return out
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

func without(a, drop []string) []string {
	return slices.DeleteFunc(slices.Clone(a), func(s string) bool { return slices.Contains(drop, s) })
}
