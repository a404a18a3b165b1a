package engine_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"rapport/engine"
)

func TestConsentPolicyAndEffective(t *testing.T) {
	p := engine.DefaultConsentPolicy()
	for _, c := range []struct {
		region  string
		purpose engine.Purpose
		want    bool
	}{
		{"EU-DE", engine.PurposeSocial, false}, {"EU", engine.PurposePersonalization, true},
		{"UK", engine.PurposeAnalytics, false}, {"US-CA", engine.PurposeSocial, true}, {"", engine.PurposeSocial, false},
	} {
		if got := p.For(c.region, c.purpose); got != c.want {
			t.Errorf("%s %s: %v", c.region, c.purpose, got)
		}
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	history := []engine.Consent{
		{Purpose: engine.PurposeSocial, Granted: true, Time: now.AddDate(0, -2, 0)},
		{Purpose: engine.PurposeSocial, Granted: false, Time: now.AddDate(0, -1, 0)},
		{Purpose: engine.PurposeSocial, Granted: true, Time: now.AddDate(0, 0, -1), Expires: now.AddDate(0, 0, -1).Add(time.Hour)},
		{Purpose: engine.PurposeAnalytics, Granted: true, Time: now.AddDate(0, 0, 1)}, // not yet
	}
	if c := p.Effective(history, "EU", engine.PurposeSocial, now); c.Granted || c.Default {
		t.Errorf("the expired grant must not beat the withdrawal before it: %+v", c)
	}
	if c := p.Effective(history, "EU", engine.PurposeAnalytics, now); c.Granted || !c.Default {
		t.Errorf("a decision dated in the future does not apply yet: %+v", c)
	}
	if _, err := engine.ParseConsentPolicy([]byte(`{"default":{"marketing":true}}`)); err == nil {
		t.Error("an unknown purpose in a policy was accepted")
	}
}

func TestParseRetention(t *testing.T) {
	got, err := engine.ParseRetention("view=90d, add_to_cart=36h")
	if err != nil || got[engine.EventView] != 90*24*time.Hour || got[engine.EventAddToCart] != 36*time.Hour || len(got) != 2 {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"view", "tap=1d", "view=0d", "view=-3h", "view=1d,view=2d", "view=soon"} {
		if _, err := engine.ParseRetention(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

// FuzzParseConsent checks that decoding never panics and that whatever it
// accepts is valid.
func FuzzParseConsent(f *testing.F) {
	for _, s := range []string{`{"granted":true}`, `{"granted":false,"source":"cmp","time":"2026-01-01T00:00:00Z","expires":"2027-01-01T00:00:00Z","policy_version":"v3"}`,
		`{"granted":"yes"}`, `{}`, `[]`, `{"granted":true,"expires":"2020-01-01T00:00:00Z"}`, "\x00"} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, errs := engine.ParseConsent(data, engine.PurposeSocial, now)
		if len(errs) > 0 {
			return
		}
		if v := c.Validate(now); len(v) > 0 {
			t.Fatalf("accepted an invalid consent %+v: %v", c, v)
		}
	})
}

// FuzzParsePreferences checks that decoding never panics, that whatever it
// accepts is valid, and that its wire form reads back the same.
func FuzzParsePreferences(f *testing.F) {
	for _, s := range []string{`{"favourite_brands":["Acme"],"sizes":{"shoes":"42"},"communication":{"email":true}}`,
		`{"excluded_categories":["Toys"," Toys "]}`, `{"favourite_brands":["A"],"excluded_brands":["A"]}`, `{}`, `null`, "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, errs := engine.ParsePreferences(data)
		if len(errs) > 0 {
			return
		}
		if v := p.Validate(); len(v) > 0 {
			t.Fatalf("accepted invalid preferences %+v: %v", p, v)
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		back, errs := engine.ParsePreferences(out)
		if len(errs) > 0 || !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip of %s: %+v %v", out, back, errs)
		}
	})
}
