package engine

import (
	"fmt"
	"strings"
	"time"
)

// EventType says what a person did.
type EventType string

const (
	EventView         EventType = "view"
	EventClick        EventType = "click" // on a recommended item
	EventAddToCart    EventType = "add_to_cart"
	EventPurchase     EventType = "purchase"
	EventReturn       EventType = "return"
	EventWishlist     EventType = "wishlist"
	EventRating       EventType = "rating"
	EventSocialLike   EventType = "social_like"
	EventSocialFollow EventType = "social_follow"
)

// EventTypes lists every event type, in documentation order.
var EventTypes = []EventType{EventView, EventClick, EventAddToCart, EventPurchase, EventReturn, EventWishlist, EventRating, EventSocialLike, EventSocialFollow}

// Valid reports whether t is a known event type.
func (t EventType) Valid() bool {
	for _, k := range EventTypes {
		if t == k {
			return true
		}
	}
	return false
}

// IsSocialSignal reports whether e is data from a social network: a like
// or a follow, or any event whose source is a social:<provider> (a view or
// a rating there is as much the network's data). Every one needs
// social_signals consent to be stored or used.
func (e *Event) IsSocialSignal() bool {
	return e.Type.IsSocial() || strings.HasPrefix(e.Source, "social:")
}

// IsSocial reports whether t is a social signal type (like or follow); see
// Event.IsSocialSignal for what consent gates.
func (t EventType) IsSocial() bool { return t == EventSocialLike || t == EventSocialFollow }

// Limits on events. Anything outside them is rejected as invalid.
const (
	MaxIDLen          = 128
	MaxQuantity       = 1_000_000
	MaxPrice          = 10_000_000
	MaxWeight         = 1000
	MaxRating         = 10
	MaxRegionLen      = 64
	MaxAttributes     = 32
	MaxAttributeKey   = 64
	MaxAttributeValue = 1024
	MaxAttributeBytes = 4096
	// MaxClockSkew is how far in the future an event's timestamp may lie.
	MaxClockSkew = 5 * time.Minute
)

// Event is one thing a person did, as received. Quantity defaults to 1 and
// Time to the moment of receipt. Item events (view, add_to_cart, purchase,
// return, wishlist, rating) name an Item; social events name either an Item
// or a Target ("brand:X", "category:X", "topic:X", or another person's alias).
type Event struct {
	ClientID   string // optional; a second event with the same ClientID under the same Alias is a duplicate
	Alias      Alias
	Type       EventType
	Item       string
	Target     string
	Quantity   float64
	Price      float64 // unit price; 0 when unknown
	Currency   string  // ISO 4217, required when Price > 0
	Time       time.Time
	Source     string // "web", "app", "pos", "social:<provider>", …
	Region     string
	Weight     float64 // rating value for ratings; otherwise an optional signal weight
	Attributes map[string]string
}

// eventJSON is the wire form of an Event (HTTP bodies and NDJSON files).
type eventJSON struct {
	ID         string            `json:"id,omitempty"`
	Alias      string            `json:"alias"`
	Type       string            `json:"type"`
	Item       string            `json:"item,omitempty"`
	Target     string            `json:"target,omitempty"`
	Quantity   *float64          `json:"quantity,omitempty"`
	Price      *float64          `json:"price,omitempty"`
	Currency   string            `json:"currency,omitempty"`
	Timestamp  string            `json:"timestamp,omitempty"`
	Source     string            `json:"source,omitempty"`
	Region     string            `json:"region,omitempty"`
	Weight     *float64          `json:"weight,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// MarshalJSON writes the wire form of e.
func (e Event) MarshalJSON() ([]byte, error) {
	w := eventJSON{
		ID: e.ClientID, Alias: e.Alias.String(), Type: string(e.Type), Item: e.Item, Target: e.Target,
		Quantity: &e.Quantity, Currency: e.Currency, Timestamp: e.Time.UTC().Format(time.RFC3339Nano),
		Source: e.Source, Region: e.Region, Attributes: e.Attributes,
	}
	if e.Price != 0 {
		w.Price = &e.Price
	}
	if e.Weight != 0 || e.Type == EventRating { // a rating of 0 is still a rating
		w.Weight = &e.Weight
	}
	return marshal(w)
}

// ParseEvent decodes one event from its JSON wire form and validates it,
// filling defaults (quantity 1, time now). It returns every problem found,
// each with Index -1 for the caller to set.
func ParseEvent(data []byte, now time.Time) (Event, []FieldError) {
	var w eventJSON
	if fe := DecodeObject(data, &w); fe != nil {
		return Event{}, []FieldError{*fe}
	}
	var errs []FieldError
	bad := func(field string, err error) {
		errs = append(errs, FieldError{Index: -1, Field: field, Reason: err.Error()})
	}
	e := Event{
		ClientID: w.ID, Type: EventType(w.Type), Item: w.Item, Target: w.Target, Quantity: 1,
		Currency: w.Currency, Time: now, Source: w.Source, Region: w.Region, Attributes: w.Attributes,
	}
	alias, err := ParseAlias(w.Alias)
	if err != nil {
		bad("alias", err)
	}
	e.Alias = alias
	if w.Quantity != nil {
		e.Quantity = *w.Quantity
	}
	if w.Price != nil {
		e.Price = *w.Price
	}
	if w.Weight != nil {
		e.Weight = *w.Weight
	} else if e.Type == EventRating {
		bad("weight", reasonf("is required for a rating (the rating, 0 to %d)", MaxRating))
	}
	if w.Timestamp != "" {
		t, err := time.Parse(time.RFC3339Nano, w.Timestamp)
		if err != nil {
			bad("timestamp", reasonf("must be an RFC 3339 time such as 2024-05-01T12:00:00Z"))
			t = now
		}
		e.Time = t
	}
	return e, append(errs, e.validate(now, alias.IsZero())...)
}

// Validate checks e against the rules and limits for events; now is the
// receiving clock, used to reject timestamps in the future. It puts a
// target that names a person in its normal form (an e-mail address
// becomes email:<sha256>), so no raw address is stored.
func (e *Event) Validate(now time.Time) []FieldError {
	return e.validate(now, false)
}

func (e *Event) validate(now time.Time, skipAlias bool) []FieldError {
	var errs []FieldError
	bad := func(field string, format string, args ...any) {
		errs = append(errs, FieldError{Index: -1, Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if !skipAlias && e.Alias.IsZero() {
		bad("alias", "is required")
	}
	if e.ClientID != "" {
		if len(e.ClientID) > MaxIDLen {
			bad("id", "is longer than %d bytes", MaxIDLen)
		} else if err := checkIDText(e.ClientID); err != nil {
			bad("id", "%v", err)
		}
	}
	switch {
	case e.Type == "":
		bad("type", "is required")
	case !e.Type.Valid():
		bad("type", "%q is not an event type (one of %s)", string(e.Type), joinTypes())
	case e.Type.IsSocial():
		if (e.Item == "") == (e.Target == "") {
			bad("item", "a %s event needs exactly one of item or target", e.Type)
		}
		if !strings.HasPrefix(e.Source, "social:") {
			bad("source", "a %s event must come from a social:<provider> source", e.Type)
		}
	default:
		if e.Item == "" {
			bad("item", "is required for a %s event", e.Type)
		}
		if e.Target != "" {
			bad("target", "is only for social events")
		}
	}
	if e.Item != "" {
		if err := checkItemID(e.Item); err != nil {
			bad("item", "%v", err)
		}
	}
	if e.Target != "" {
		if t, err := normaliseTarget(e.Target); err != nil {
			bad("target", "%v", err)
		} else {
			e.Target = t
		}
	}
	if !(e.Quantity > 0 && e.Quantity <= MaxQuantity) {
		bad("quantity", "must be greater than 0 and at most %d", MaxQuantity)
	}
	if !(e.Price >= 0 && e.Price <= MaxPrice) {
		bad("price", "must be between 0 and %d", MaxPrice)
	}
	if e.Currency != "" && !validCurrency(e.Currency) {
		bad("currency", "must be an ISO 4217 code of three upper-case letters, such as EUR")
	} else if e.Currency == "" && e.Price > 0 {
		bad("currency", "is required when price is given")
	}
	if e.Type == EventRating {
		if !(e.Weight >= 0 && e.Weight <= MaxRating) {
			bad("weight", "a rating must be between 0 and %d", MaxRating)
		}
	} else if !(e.Weight >= 0 && e.Weight <= MaxWeight) {
		bad("weight", "must be between 0 and %d", MaxWeight)
	}
	switch {
	case e.Time.IsZero():
		bad("timestamp", "is required")
	case e.Time.After(now.Add(MaxClockSkew)):
		bad("timestamp", "lies in the future (more than %v ahead of the server clock)", MaxClockSkew)
	case e.Time.Before(time.Unix(0, 0)):
		bad("timestamp", "is before 1970")
	}
	if e.Source != "" && !validSource(e.Source) {
		bad("source", "must be a lower-case word (web, app, pos, …) or social:<provider>")
	}
	if e.Region != "" {
		if err := checkLabel(e.Region, MaxRegionLen); err != nil {
			bad("region", "%v", err)
		}
	}
	if fe := checkAttributes(e.Attributes); fe != nil {
		errs = append(errs, *fe)
	}
	return errs
}

func joinTypes() string {
	s := make([]string, len(EventTypes))
	for i, t := range EventTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func checkItemID(id string) error {
	if len(id) > MaxIDLen {
		return reasonf("is longer than %d bytes", MaxIDLen)
	}
	return checkIDText(id)
}

// normaliseTarget checks a social target — brand:X, category:X, topic:X or
// a person's alias — and returns it as stored: a person's alias in its
// normal form (ParseAlias), so an e-mail address is kept only as its hash,
// as it is in an alias.
func normaliseTarget(t string) (string, error) {
	kind, value, ok := strings.Cut(t, ":")
	if ok {
		switch kind {
		case "brand", "category", "topic":
			return t, checkLabel(value, MaxLabelLen)
		}
	}
	a, err := ParseAlias(t)
	if err != nil {
		return t, reasonf("must be brand:<name>, category:<name>, topic:<name> or a person's alias (%v)", err)
	}
	return a.String(), nil
}

// PersonTarget returns the alias a social target names when it names a
// person rather than a brand, category or topic.
func PersonTarget(t string) (Alias, bool) {
	kind, _, _ := strings.Cut(t, ":")
	switch kind {
	case "brand", "category", "topic":
		return Alias{}, false
	}
	a, err := ParseAlias(t)
	return a, err == nil
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

func validSource(s string) bool {
	if p, ok := strings.CutPrefix(s, "social:"); ok {
		return validToken(p, 32)
	}
	return validToken(s, 32)
}

// MaxLabelLen bounds titles, categories, brands and similar free text.
const MaxLabelLen = 256

// checkLabel checks free text: non-empty, at most max bytes, and free of
// the characters forbiddenRune refuses (control and format characters,
// invalid UTF-8).
func checkLabel(s string, max int) error {
	if strings.TrimSpace(s) == "" {
		return reasonf("must not be blank")
	}
	if len(s) > max {
		return reasonf("is longer than %d bytes", max)
	}
	if r, bad := firstForbidden(s); bad {
		return reasonf("must not contain %s", describeRune(r))
	}
	return nil
}

// checkAttributes checks free-form string attributes against their caps.
func checkAttributes(attrs map[string]string) *FieldError {
	if len(attrs) > MaxAttributes {
		return &FieldError{Index: -1, Field: "attributes", Reason: fmt.Sprintf("has more than %d entries", MaxAttributes)}
	}
	total := 0
	for k, v := range attrs {
		total += len(k) + len(v)
		if !validAttrKey(k) {
			return &FieldError{Index: -1, Field: "attributes", Reason: fmt.Sprintf("key %q must be 1 to %d letters, digits, '_', '-' or '.'", truncate(k, 40), MaxAttributeKey)}
		}
		if len(v) > MaxAttributeValue {
			return &FieldError{Index: -1, Field: "attributes." + k, Reason: fmt.Sprintf("is longer than %d bytes", MaxAttributeValue)}
		}
		for _, r := range v {
			if r != '\t' && forbiddenRune(r) { // a tab in a value is kept, as before
				return &FieldError{Index: -1, Field: "attributes." + k, Reason: "must not contain " + describeRune(r)}
			}
		}
	}
	if total > MaxAttributeBytes {
		return &FieldError{Index: -1, Field: "attributes", Reason: fmt.Sprintf("keys and values together exceed %d bytes", MaxAttributeBytes)}
	}
	return nil
}

func validAttrKey(k string) bool {
	if k == "" || len(k) > MaxAttributeKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// IngestResult counts what storing a batch of events did.
type IngestResult struct {
	Accepted   int `json:"accepted"`   // stored now
	Duplicates int `json:"duplicates"` // skipped: an event with the same client id was already stored (or came earlier in the batch)
	// Dropped counts social signals not stored because the person has not
	// consented to social_signals.
	Dropped int `json:"dropped_social_signals"`
}
