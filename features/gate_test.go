package features_test

import (
	"context"
	"testing"
	"time"

	"rapport/engine"
	"rapport/features"
)

func TestGateAdmitsSocialSignalsOnlyWithConsent(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	now := time.Now().UTC()
	alias := func(s string) engine.Alias { a, _ := engine.ParseAlias(s); return a }
	like := func(a, region string) engine.Event {
		return engine.Event{Alias: alias(a), Type: engine.EventSocialLike, Target: "brand:Acme", Source: "social:facebook", Quantity: 1, Time: now.Add(-time.Minute), Region: region}
	}
	view := func(a, region string) engine.Event {
		return engine.Event{Alias: alias(a), Type: engine.EventView, Item: "mug", Quantity: 1, Time: now.Add(-2 * time.Minute), Region: region}
	}
	if _, err := db.AppendEvents(ctx, []engine.Event{view("customer:eu", "EU-DE"), view("customer:us", "US-CA"), view("customer:optin", "EU-FR")}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutConsent(ctx, alias("customer:optin"), engine.Consent{Purpose: engine.PurposeSocial, Granted: true, Source: "web", Time: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutConsent(ctx, alias("customer:us"), engine.Consent{Purpose: engine.PurposeSocial, Granted: true, Source: "web", Time: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	g := features.NewGate(engine.DefaultConsentPolicy())
	batch := []engine.Event{
		like("customer:eu", ""),      // EU, no decision: opt-in needed
		like("customer:us", ""),      // US: allowed until withdrawn (its grant expired: back to the default)
		like("customer:optin", ""),   // EU with a grant
		like("anon:new", "EU"),       // unknown, in the EU
		like("anon:new-us", "US"),    // unknown, elsewhere
		view("customer:eu", "EU-DE"), // not a signal: always kept
	}
	kept, dropped, err := g.Admit(ctx, db, batch, now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range kept {
		got = append(got, ev.Alias.String()+"/"+string(ev.Type))
	}
	want := []string{"customer:us/social_like", "customer:optin/social_like", "anon:new-us/social_like", "customer:eu/view"}
	if dropped != 2 || len(got) != len(want) {
		t.Fatalf("kept %v, dropped %d", got, dropped)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("kept %v, want %v", got, want)
		}
	}
}

func TestMergeUsesSocialSignalsOnlyWhilePermitted(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	now := time.Now().UTC()
	a, _ := engine.ParseAlias("customer:1")
	if err := db.PutItems(ctx, []engine.Item{{ID: "mug", Category: "Kitchen", Brand: "Acme", Available: true}}); err != nil {
		t.Fatal(err)
	}
	// Stored while permitted (the US default), then the person moves to
	// an EU region by a later event: the signal must no longer be used.
	if _, err := db.AppendEvents(ctx, []engine.Event{
		{Alias: a, Type: engine.EventPurchase, Item: "mug", Quantity: 1, Time: now.Add(-3 * time.Hour), Region: "US"},
		{Alias: a, Type: engine.EventSocialFollow, Target: "brand:Leaf", Source: "social:instagram", Quantity: 1, Time: now.Add(-2 * time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	m := &features.Merger{Store: db, Now: func() time.Time { return now }}
	vector := func() engine.FeatureVector {
		t.Helper()
		if _, err := m.Merge(ctx, true); err != nil {
			t.Fatal(err)
		}
		id, _ := db.ResolveAlias(ctx, a)
		v, err := db.Vector(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := vector()
	if len(v.Social) != 1 || v.Social[0].Key != "brand:Leaf" || len(v.Provenance) != 2 || v.Provenance[1].Source != "social:instagram" || !v.Provenance[1].Consent.Default {
		t.Fatalf("permitted by default: social %+v provenance %+v", v.Social, v.Provenance)
	}
	if _, err := db.PutConsent(ctx, a, engine.Consent{Purpose: engine.PurposeSocial, Granted: false, Source: "app", Time: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	v = vector()
	if len(v.Social) != 0 || len(v.Provenance) != 1 || v.Provenance[0].Source != "events" || v.Purchases != 1 {
		t.Fatalf("after withdrawal: social %+v provenance %+v", v.Social, v.Provenance)
	}
	if _, err := db.PutConsent(ctx, a, engine.Consent{Purpose: engine.PurposePersonalization, Granted: false, Source: "app", Time: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if v = vector(); v.Purchases != 0 || len(v.Items) != 0 || len(v.Provenance) != 0 {
		t.Fatalf("without personalization consent the vector holds nothing personal: %+v", v)
	}
}

func TestSweepPurgesSignalsWhoseConsentExpired(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	now := time.Now().UTC()
	a, _ := engine.ParseAlias("customer:eu-1")
	b, _ := engine.ParseAlias("customer:eu-2")
	for _, who := range []engine.Alias{a, b} {
		if _, err := db.AppendEvents(ctx, []engine.Event{{Alias: who, Type: engine.EventView, Item: "x", Quantity: 1, Time: now.Add(-3 * time.Hour), Region: "EU-DE"}}); err != nil {
			t.Fatal(err)
		}
		grant := engine.Consent{Purpose: engine.PurposeSocial, Granted: true, Source: "web", Time: now.Add(-2 * time.Hour)}
		if who == a {
			grant.Expires = now.Add(time.Hour) // lapses before the sweep below
		}
		if _, err := db.PutConsent(ctx, who, grant); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AppendEvents(ctx, []engine.Event{{Alias: who, Type: engine.EventSocialLike, Target: "brand:Acme", Source: "social:facebook", Quantity: 1, Time: now.Add(-time.Hour)}}); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := db.IdentitiesWithConsents(ctx)
	if err != nil || len(ids) != 2 {
		t.Fatalf("%v %v", ids, err)
	}
	e := &features.Enforcer{Gate: features.NewGate(engine.DefaultConsentPolicy()), Store: db}
	if n, touched, err := e.Sweep(ctx, ids, now); err != nil || n != 0 || len(touched) != 0 {
		t.Fatalf("before expiry: %d %v %v", n, touched, err)
	}
	n, touched, err := e.Sweep(ctx, ids, now.Add(2*time.Hour))
	aid, _ := db.ResolveAlias(ctx, a)
	if err != nil || n != 1 || len(touched) != 1 || touched[0] != aid {
		t.Fatalf("after expiry: %d %v %v", n, touched, err)
	}
}
