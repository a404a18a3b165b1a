package engine_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"rapport/engine"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func TestParseEventDefaults(t *testing.T) {
	ev, errs := engine.ParseEvent([]byte(`{"alias":"customer:1","type":"view","item":"SKU-1"}`), now)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ev.Quantity != 1 || !ev.Time.Equal(now) || ev.Alias.String() != "customer:1" {
		t.Fatalf("defaults not applied: %+v", ev)
	}
}

func TestParseEventRoundTrip(t *testing.T) {
	in := `{"id":"c-1","alias":"social:instagram:99","type":"social_like","target":"brand:Acme","quantity":1,"timestamp":"2026-11-01T10:00:00.5Z","source":"social:instagram","region":"EU-DE","attributes":{"campaign":"x"}}`
	ev, errs := engine.ParseEvent([]byte(in), now)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	back, errs := engine.ParseEvent(out, now)
	if len(errs) > 0 {
		t.Fatalf("re-parsing %s: %v", out, errs)
	}
	if back.ClientID != "c-1" || back.Target != "brand:Acme" || !back.Time.Equal(ev.Time) || back.Attributes["campaign"] != "x" {
		t.Fatalf("round trip lost fields: %s -> %+v", out, back)
	}
}

// TestParseEventRejects covers each kind of bad input the API must name.
func TestParseEventRejects(t *testing.T) {
	for _, tc := range []struct {
		name, body, field, reasonHas string
	}{
		{"MalformedJSON", `{"alias":"customer:1",`, "", "malformed JSON"},
		{"NotAnObject", `[1,2]`, "", "JSON object"},
		{"WrongTypeQuantity", `{"alias":"customer:1","type":"view","item":"a","quantity":"two"}`, "quantity", "must be a number"},
		{"WrongTypeAlias", `{"alias":17850,"type":"view","item":"a"}`, "alias", "must be a string"},
		{"UnknownField", `{"alias":"customer:1","type":"view","item":"a","colour":"red"}`, "colour", "not a known field"},
		{"UnknownType", `{"alias":"customer:1","type":"teleport","item":"a"}`, "type", "not an event type"},
		{"MissingType", `{"alias":"customer:1","item":"a"}`, "type", "required"},
		{"MissingItem", `{"alias":"customer:1","type":"purchase"}`, "item", "required"},
		{"MissingAlias", `{"type":"view","item":"a"}`, "alias", "required"},
		{"BadAlias", `{"alias":"customer 1","type":"view","item":"a"}`, "alias", "kind:value"},
		{"NegativeQuantity", `{"alias":"customer:1","type":"purchase","item":"a","quantity":-3}`, "quantity", "greater than 0"},
		{"ZeroQuantity", `{"alias":"customer:1","type":"purchase","item":"a","quantity":0}`, "quantity", "greater than 0"},
		{"AbsurdQuantity", `{"alias":"customer:1","type":"purchase","item":"a","quantity":1e12}`, "quantity", "at most"},
		{"NegativePrice", `{"alias":"customer:1","type":"purchase","item":"a","price":-1,"currency":"EUR"}`, "price", "between"},
		{"AbsurdPrice", `{"alias":"customer:1","type":"purchase","item":"a","price":1e15,"currency":"EUR"}`, "price", "between"},
		{"PriceWithoutCurrency", `{"alias":"customer:1","type":"purchase","item":"a","price":3}`, "currency", "required"},
		{"BadCurrency", `{"alias":"customer:1","type":"purchase","item":"a","price":3,"currency":"euro"}`, "currency", "ISO 4217"},
		{"FutureTimestamp", `{"alias":"customer:1","type":"view","item":"a","timestamp":"2027-01-01T00:00:00Z"}`, "timestamp", "future"},
		{"BadTimestamp", `{"alias":"customer:1","type":"view","item":"a","timestamp":"yesterday"}`, "timestamp", "RFC 3339"},
		{"AncientTimestamp", `{"alias":"customer:1","type":"view","item":"a","timestamp":"1900-01-01T00:00:00Z"}`, "timestamp", "1970"},
		{"RatingWithoutValue", `{"alias":"customer:1","type":"rating","item":"a"}`, "weight", "required"},
		{"RatingOutOfRange", `{"alias":"customer:1","type":"rating","item":"a","weight":11}`, "weight", "between"},
		{"SocialNeedsSocialSource", `{"alias":"customer:1","type":"social_like","item":"a","source":"web"}`, "source", "social"},
		{"SocialNeedsOneTarget", `{"alias":"customer:1","type":"social_like","source":"social:fb"}`, "item", "exactly one"},
		{"TargetOnItemEvent", `{"alias":"customer:1","type":"view","item":"a","target":"brand:x"}`, "target", "only for social"},
		{"BadTarget", `{"alias":"customer:1","type":"social_follow","target":"planet:mars","source":"social:fb"}`, "target", "brand:"},
		{"BadSource", `{"alias":"customer:1","type":"view","item":"a","source":"Web Site"}`, "source", "lower-case"},
		{"ItemWithSlash", `{"alias":"customer:1","type":"view","item":"a/b"}`, "item", "'/'"},
		{"ControlCharInRegion", `{"alias":"customer:1","type":"view","item":"a","region":"EU\u0001"}`, "region", "control"},
		{"TooManyAttributes", `{"alias":"customer:1","type":"view","item":"a","attributes":{` + manyAttrs(33) + `}}`, "attributes", "more than 32"},
		{"BadAttributeKey", `{"alias":"customer:1","type":"view","item":"a","attributes":{"bad key":"v"}}`, "attributes", "key"},
		{"AttributeTooLong", `{"alias":"customer:1","type":"view","item":"a","attributes":{"k":"` + strings.Repeat("v", 1025) + `"}}`, "attributes.k", "longer"},
		{"ClientIDTooLong", `{"id":"` + strings.Repeat("i", 129) + `","alias":"customer:1","type":"view","item":"a"}`, "id", "longer"},
		{"TrailingData", `{"alias":"customer:1","type":"view","item":"a"} {}`, "", "after the JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := engine.ParseEvent([]byte(tc.body), now)
			for _, fe := range errs {
				if fe.Field == tc.field && strings.Contains(fe.Reason, tc.reasonHas) {
					return
				}
			}
			t.Fatalf("errors %v; want field %q with a reason mentioning %q", errs, tc.field, tc.reasonHas)
		})
	}
}

// TestAdversarialEmailTargetStoredHashed proves the finding of issue 13
// (erasure) that a follow of a person by e-mail kept the raw address in
// its target: a target that is a person's alias is normalised like an
// alias, on the API (ParseEvent) and on every other path (Validate).
func TestAdversarialEmailTargetStoredHashed(t *testing.T) {
	hashed := "email:" + sha("ann@example.com")
	for _, tc := range []struct{ name, target, want string }{
		{"Email", "email:Ann@Example.com", hashed},
		{"EmailHash", "email:" + strings.ToUpper(sha("ann@example.com")), hashed},
		{"Customer", "customer:17850", "customer:17850"},
		{"Social", "social:fb:12", "social:fb:12"},
		{"Brand", "brand:Acme", "brand:Acme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			body := `{"alias":"customer:1","type":"social_follow","target":` + strconvQuote(target) + `,"source":"social:fb"}`
			ev, errs := engine.ParseEvent([]byte(body), now)
			if len(errs) > 0 || ev.Target != tc.want {
				t.Fatalf("ParseEvent target %q: %q, %v; want %q", target, ev.Target, errs, tc.want)
			}
			ev.Target = target
			if errs := ev.Validate(now); len(errs) > 0 || ev.Target != tc.want {
				t.Fatalf("Validate target %q: %q, %v; want %q", target, ev.Target, errs, tc.want)
			}
			if a, ok := engine.PersonTarget(ev.Target); ok != (tc.name != "Brand") || ok && a.String() != tc.want {
				t.Fatalf("PersonTarget(%q) = %v, %v", ev.Target, a, ok)
			}
		})
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func manyAttrs(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"k` + strings.Repeat("x", i) + `":"v"`
	}
	return strings.Join(parts, ",")
}

func TestParseItem(t *testing.T) {
	it, errs := engine.ParseItem([]byte(`{"id":"SKU-1","title":"Mug","category":"Home > Kitchen","brand":"Acme","price":9.5,"currency":"EUR"}`))
	if len(errs) > 0 || !it.Available || it.Price != 9.5 {
		t.Fatalf("got %+v, %v", it, errs)
	}
	for name, body := range map[string]string{
		"ErrNoID":        `{"title":"x"}`,
		"ErrPrice":       `{"id":"a","price":-2,"currency":"EUR"}`,
		"ErrUnknown":     `{"id":"a","colour":"red"}`,
		"ErrUpdatedAt":   `{"id":"a","updated_at":"2020-01-01T00:00:00Z"}`,
		"ErrBlankTitle":  `{"id":"a","title":"   "}`,
		"ErrAvailableNo": `{"id":"a","available":"no"}`,
	} {
		if _, errs := engine.ParseItem([]byte(body)); len(errs) == 0 {
			t.Errorf("%s: %s was accepted", name, body)
		}
	}
}

// FuzzParseEvent checks that decoding never panics, and that whatever it
// accepts is valid and survives a round trip through the wire form.
func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{
		`{"alias":"customer:1","type":"view","item":"a"}`,
		`{"id":"x","alias":"email:a@b.c","type":"purchase","item":"a","quantity":2,"price":3.5,"currency":"EUR","timestamp":"2020-01-01T00:00:00Z","attributes":{"k":"v"}}`,
		`{"alias":"social:fb:1","type":"social_follow","target":"customer:2","source":"social:fb"}`,
		`{"alias":"anon:1","type":"rating","item":"a","weight":4}`,
		`{"alias":"anon:1","type":"rating","item":"a","weight":0}`,
		`[]`, `{`, `{"quantity":1e400}`, `{"attributes":{"a":1}}`, "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, errs := engine.ParseEvent(data, now)
		if len(errs) > 0 {
			for _, fe := range errs {
				if fe.Reason == "" {
					t.Fatalf("an error without a reason: %+v", fe)
				}
			}
			return
		}
		if v := ev.Validate(now); len(v) > 0 {
			t.Fatalf("accepted an invalid event %+v: %v", ev, v)
		}
		out, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		back, errs := engine.ParseEvent(out, now)
		if len(errs) > 0 || back.Alias != ev.Alias || back.Quantity != ev.Quantity || !back.Time.Equal(ev.Time) {
			t.Fatalf("round trip of %s: %+v, %v", out, back, errs)
		}
	})
}

func FuzzParseItem(f *testing.F) {
	f.Add([]byte(`{"id":"a","title":"t","price":1,"currency":"EUR","available":false}`))
	f.Add([]byte(`{"id":"a/b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		it, errs := engine.ParseItem(data)
		if len(errs) > 0 {
			return
		}
		out, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		if _, errs := engine.ParseItem(out); len(errs) > 0 {
			// updated_at is server-set and omitted for a zero time, so a
			// parsed item always re-parses.
			t.Fatalf("round trip of %s: %v", out, errs)
		}
	})
}
