package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Purpose is what a person may permit their data to be used for.
type Purpose string

const (
	PurposePersonalization Purpose = "personalization" // recommendations from their own history
	PurposeSocial          Purpose = "social_signals"  // likes and follows from social networks, and friends' histories
	PurposeCrossDevice     Purpose = "cross_device"    // linking their devices and accounts into one identity
	PurposeAnalytics       Purpose = "analytics"       // use in aggregate reports
)

// Purposes lists every purpose, in a fixed order.
var Purposes = []Purpose{PurposePersonalization, PurposeSocial, PurposeCrossDevice, PurposeAnalytics}

// ParsePurpose checks a purpose name; the error is a FieldError reason.
func ParsePurpose(s string) (Purpose, error) { return oneOf(s, Purposes, "a purpose") }

// oneOf returns s as one of the values all lists, or a reason naming them.
func oneOf[T ~string](s string, all []T, what string) (T, error) {
	if v := T(s); slices.Contains(all, v) {
		return v, nil
	}
	names := make([]string, len(all))
	for i, v := range all {
		names[i] = string(v)
	}
	return "", reasonf("%q is not %s (one of %s)", s, what, strings.Join(names, ", "))
}

// Consent is one decision a person made about one purpose, or, with
// Default set, the regional policy that applies while they have made none.
type Consent struct {
	Purpose Purpose   `json:"purpose"`
	Granted bool      `json:"granted"`
	Source  string    `json:"source"`        // where it was collected: web, app, cmp, import, … ("policy" for a default)
	Time    time.Time `json:"time,omitzero"` // when the person decided, as the client says: a record, not an order
	// Recorded is when Rapport received the decision; decisions take effect
	// in that order, whatever time a client stamps on them.
	Recorded      time.Time `json:"recorded,omitzero"`
	Expires       time.Time `json:"expires,omitzero"`
	PolicyVersion string    `json:"policy_version,omitempty"` // the version of the text the person agreed to
	Default       bool      `json:"default,omitempty"`        // no decision on record: the regional policy
	Alias         Alias     `json:"-"`                        // the alias it was given under
}

// Received returns when Rapport received c (its Time, for decisions
// stored before Recorded was kept).
func (c *Consent) Received() time.Time {
	if c.Recorded.IsZero() {
		return c.Time
	}
	return c.Recorded
}

// After reports whether c was received after d: by Recorded, then by the
// client's Time among decisions received at once (an import).
func (c *Consent) After(d *Consent) bool {
	if cr, dr := c.Received(), d.Received(); !cr.Equal(dr) {
		return cr.After(dr)
	}
	return !c.Time.Before(d.Time)
}

// Expired reports whether c no longer applies at now.
func (c *Consent) Expired(now time.Time) bool { return !c.Expires.IsZero() && !now.Before(c.Expires) }

// consentJSON is the body of PUT /v1/identities/{alias}/consents/{purpose}
// and a row of a consent import.
type consentJSON struct {
	Granted       *bool  `json:"granted"`
	Source        string `json:"source"`
	Time          string `json:"time"`
	Expires       string `json:"expires"`
	PolicyVersion string `json:"policy_version"`
}

// ParseConsent decodes and validates a consent decision for purpose;
// time defaults to now and may not lie in the future.
func ParseConsent(data []byte, purpose Purpose, now time.Time) (Consent, []FieldError) {
	var w consentJSON
	if fe := DecodeObject(data, &w); fe != nil {
		return Consent{}, []FieldError{*fe}
	}
	c := Consent{Purpose: purpose, Source: w.Source, PolicyVersion: w.PolicyVersion, Time: now, Recorded: now}
	if c.Source == "" {
		c.Source = "api"
	}
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Index: -1, Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if w.Granted == nil {
		bad("granted", "is required (true or false)")
	} else {
		c.Granted = *w.Granted
	}
	if w.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, w.Time)
		if err != nil {
			bad("time", "must be an RFC 3339 time such as 2026-03-01T12:00:00Z")
		} else {
			c.Time = t.UTC()
		}
	}
	if w.Expires != "" {
		t, err := time.Parse(time.RFC3339Nano, w.Expires)
		if err != nil {
			bad("expires", "must be an RFC 3339 time such as 2027-03-01T00:00:00Z")
		} else {
			c.Expires = t.UTC()
		}
	}
	return c, append(errs, c.Validate(now)...)
}

// Validate checks a consent decision against the rules.
func (c *Consent) Validate(now time.Time) []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Index: -1, Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if _, err := ParsePurpose(string(c.Purpose)); err != nil {
		bad("purpose", "%v", err)
	}
	if err := checkLabel(c.Source, 64); err != nil {
		bad("source", "%v", err)
	}
	if c.PolicyVersion != "" {
		if err := checkLabel(c.PolicyVersion, 64); err != nil {
			bad("policy_version", "%v", err)
		}
	}
	switch {
	case c.Time.IsZero():
		bad("time", "is required")
	case c.Time.After(now.Add(MaxClockSkew)):
		bad("time", "lies in the future")
	case c.Time.Before(time.Unix(0, 0)):
		bad("time", "is before 1970")
	}
	if !c.Expires.IsZero() && !c.Expires.After(c.Time) {
		bad("expires", "must be after the time of the decision")
	}
	return errs
}

// ConsentPolicy is the default for people who have not decided. Each map
// lists the purposes that apply without a decision; the rest need one, and
// an entry is complete (a purpose it does not list needs opt-in). A region
// value is resolved (ResolveRegion) and the most specific entry applies:
// its subdivision ("US-CA"), its country ("DE"), its blocs ("EU", "EEA",
// "UK"), then Default. Unknown applies to an absent or unrecognised region;
// nil means the strictest built-in entry (OptInPurposes).
type ConsentPolicy struct {
	Default map[Purpose]bool `json:"default"`
	Unknown map[Purpose]bool `json:"unknown,omitempty"`
	// Regions is keyed by canonical codes: Region.Code or a Bloc.
	// ParseConsentPolicy turns any form ResolveRegion reads into them.
	Regions map[string]map[Purpose]bool `json:"regions"`
}

// OptInPurposes is the built-in entry for the EU, the EEA and the UK, and
// for people whose region is absent or unrecognised: personalization from
// first-party data and linking a person's own accounts apply until
// withdrawn; social signals and analytics need opt-in.
func OptInPurposes() map[Purpose]bool {
	return map[Purpose]bool{PurposePersonalization: true, PurposeCrossDevice: true}
}

// builtinUnknown is OptInPurposes, for reading only.
var builtinUnknown = OptInPurposes()

// DefaultConsentPolicy asks for explicit opt-in to social signals and
// analytics (OptInPurposes) in the EU, the EEA and the UK, in Switzerland,
// Gibraltar and the Crown Dependencies (Jersey, Guernsey, the Isle of Man),
// whose laws follow the GDPR, and wherever the region is absent or
// unrecognised; elsewhere everything applies until withdrawn.
func DefaultConsentPolicy() ConsentPolicy {
	all := map[Purpose]bool{PurposePersonalization: true, PurposeSocial: true, PurposeCrossDevice: true, PurposeAnalytics: true}
	regions := map[string]map[Purpose]bool{}
	for _, key := range []string{"EU", "EEA", "UK", "CH", "GI", "JE", "GG", "IM"} {
		regions[key] = OptInPurposes()
	}
	return ConsentPolicy{Default: all, Unknown: OptInPurposes(), Regions: regions}
}

// ParseConsentPolicy reads a policy document (JSON, as ConsentPolicy). Its
// region keys may take any form ResolveRegion reads ("Germany", "eu-de",
// "GBR") and are stored canonical; "EU", "EEA" and "UK" name the blocs.
// The error (CodeInvalid) names an unknown field, purpose or region key,
// or two keys naming the same region.
func ParseConsentPolicy(data []byte) (ConsentPolicy, error) {
	var doc ConsentPolicy
	if fe := DecodeObject(data, &doc); fe != nil {
		return ConsentPolicy{}, Errorf(CodeInvalid, "consent policy: %s", fe.String())
	}
	check := func(where string, m map[Purpose]bool) error {
		for purpose := range m {
			if _, err := ParsePurpose(string(purpose)); err != nil {
				return Errorf(CodeInvalid, "consent policy %s: purpose %v", where, err)
			}
		}
		return nil
	}
	if err := check("default", doc.Default); err != nil {
		return ConsentPolicy{}, err
	}
	if err := check("unknown", doc.Unknown); err != nil {
		return ConsentPolicy{}, err
	}
	p := ConsentPolicy{Default: doc.Default, Unknown: doc.Unknown, Regions: make(map[string]map[Purpose]bool, len(doc.Regions))}
	keys := slices.Sorted(maps.Keys(doc.Regions))
	from := map[string]string{} // canonical key -> the key as written
	for _, raw := range keys {
		key, ok := policyKey(raw)
		if !ok {
			return ConsentPolicy{}, Errorf(CodeInvalid, "consent policy: region %q is not a country, subdivision or bloc "+
				"(write ISO codes such as DE or US-CA, English names, or EU, EEA, UK; "+
				"for people whose region is absent or unrecognised use the top-level \"unknown\" entry)", raw)
		}
		if other, dup := from[key]; dup {
			return ConsentPolicy{}, Errorf(CodeInvalid, "consent policy: regions %q and %q both name %s", other, raw, key)
		}
		from[key] = raw
		if err := check("region "+raw, doc.Regions[raw]); err != nil {
			return ConsentPolicy{}, err
		}
		p.Regions[key] = doc.Regions[raw]
	}
	return p, nil
}

// policyKey returns the canonical key of a policy's region entry: a bloc
// by its name, any other region by its code.
func policyKey(raw string) (string, bool) {
	if b := Bloc(strings.ToUpper(strings.TrimSpace(raw))); blocMembers[b] != nil {
		return string(b), true
	}
	r, ok := ResolveRegion(raw)
	return r.Code, ok
}

// entry returns the policy's entry for a region value.
func (p *ConsentPolicy) entry(region string) map[Purpose]bool {
	r, ok := ResolveRegion(region)
	if !ok {
		if p.Unknown == nil {
			return builtinUnknown
		}
		return p.Unknown
	}
	for _, key := range r.keys() {
		if m, ok := p.Regions[key]; ok {
			return m
		}
	}
	return p.Default
}

// For reports whether purpose applies without a decision to a person in
// region (any form ResolveRegion reads; absent or unrecognised: Unknown).
func (p *ConsentPolicy) For(region string, purpose Purpose) bool {
	return p.entry(region)[purpose]
}

// ForRegions is For for a person known under several region values (their
// identity's and their aliases'): the strictest wins, so purpose applies
// only if it applies in every one. Blank values say nothing and are
// skipped, but an unrecognised one counts as unknown; with no value left
// the region is unknown.
func (p *ConsentPolicy) ForRegions(regions []string, purpose Purpose) bool {
	known := false
	for _, region := range regions {
		if strings.TrimSpace(region) == "" {
			continue
		}
		known = true
		if !p.For(region, purpose) {
			return false
		}
	}
	return known || p.For("", purpose)
}

// Effective returns the consent in force for purpose: the decision received
// last that has not expired, or the regional default. history may be
// in any order and hold other purposes.
func (p *ConsentPolicy) Effective(history []Consent, region string, purpose Purpose, now time.Time) Consent {
	return p.EffectiveIn(history, []string{region}, purpose, now)
}

// EffectiveIn is Effective for a person known under several region values:
// without a decision on record, the default is ForRegions.
func (p *ConsentPolicy) EffectiveIn(history []Consent, regions []string, purpose Purpose, now time.Time) Consent {
	var best *Consent
	for i := range history {
		c := &history[i]
		if c.Purpose != purpose || c.Expired(now) || c.Received().After(now) {
			continue
		}
		if best == nil || c.After(best) {
			best = c
		}
	}
	if best != nil {
		return *best
	}
	return Consent{Purpose: purpose, Granted: p.ForRegions(regions, purpose), Source: "policy", Default: true}
}
