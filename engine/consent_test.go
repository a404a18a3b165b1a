package engine_test

import (
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
		{"UK", engine.PurposeAnalytics, false}, {"US-CA", engine.PurposeSocial, true}, {"", engine.PurposeSocial, true},
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
	for _, bad := range []string{"view", "click=1d", "view=0d", "view=-3h", "view=1d,view=2d", "view=soon"} {
		if _, err := engine.ParseRetention(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
