package recommend_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"rapport/engine"
	"rapport/engine/recommend"
	"rapport/features"
)

// commonBrand returns the brand with the most catalog items.
func (e *env) commonBrand() string {
	e.t.Helper()
	n := map[string]int{}
	if err := e.db.ScanItems(context.Background(), func(it engine.Item) error { n[it.Brand]++; return nil }); err != nil {
		e.t.Fatal(err)
	}
	best := ""
	for b, c := range n {
		if b != "" && (c > n[best] || c == n[best] && b < best) {
			best = b
		}
	}
	return best
}

func reasonsOf(res recommend.Result) string {
	var all []string
	for _, it := range res.Items {
		all = append(all, it.Reasons...)
	}
	return strings.Join(all, "\n")
}

func TestSocialSignalsShapeRecommendationsOnlyWithConsent(t *testing.T) {
	e := newEnv(t)
	e.svc.Gate = features.NewGate(engine.DefaultConsentPolicy())
	brand := e.commonBrand()
	at := e.now.Add(-time.Hour)
	follow := func(who, region string) engine.Event {
		return engine.Event{Alias: alias(t, who), Type: engine.EventSocialFollow, Target: "brand:" + brand, Source: "social:instagram", Quantity: 1, Time: at, Region: region}
	}
	// Stored directly, as if accepted before a withdrawal: serving must
	// still ask the gate.
	e.add(follow("customer:soc-us", "US-CA"), follow("customer:soc-eu", "EU-DE"),
		engine.Event{Alias: alias(t, "customer:plain-eu"), Type: engine.EventSocialFollow, Target: "topic:cycling", Source: "social:instagram", Quantity: 1, Time: at, Region: "EU-DE"})

	us := e.recommend("customer:soc-us", recommend.Request{N: 10, AvailableOnly: true})
	ofBrand := 0
	for _, it := range us.Items {
		if e.item(it.Item).Brand == brand {
			ofBrand++
		}
	}
	want := "you follow brand " + brand + " on social:instagram — permitted by the default policy for US-CA"
	if ofBrand < 5 || !strings.Contains(reasonsOf(us), want) {
		t.Fatalf("%d of 10 of brand %s; reasons:\n%s", ofBrand, brand, reasonsOf(us))
	}

	// No consent in the EU: exactly the list of an EU person without the signal.
	eu := e.recommend("customer:soc-eu", recommend.Request{N: 10, AvailableOnly: true})
	plain := e.recommend("customer:plain-eu", recommend.Request{N: 10, AvailableOnly: true})
	if !slices.Equal(ids(eu), ids(plain)) || strings.Contains(reasonsOf(eu), "social") {
		t.Fatalf("an unpermitted signal changed the list:\n%v\n%v\n%s", ids(eu), ids(plain), reasonsOf(eu))
	}

	// An explicit grant is named with its date; a withdrawal takes it away.
	ctx := context.Background()
	granted := e.now.Add(-30 * time.Minute)
	if _, err := e.db.PutConsent(ctx, alias(t, "customer:soc-eu"), engine.Consent{Purpose: engine.PurposeSocial, Granted: true, Source: "web", Time: granted}); err != nil {
		t.Fatal(err)
	}
	id, _ := e.db.ResolveAlias(ctx, alias(t, "customer:soc-eu"))
	e.svc.Forget(id)
	if r := reasonsOf(e.recommend("customer:soc-eu", recommend.Request{N: 10, AvailableOnly: true})); !strings.Contains(r, "— permitted "+granted.Format("2006-01-02")) {
		t.Fatalf("after the grant:\n%s", r)
	}
	if _, err := e.db.PutConsent(ctx, alias(t, "customer:soc-eu"), engine.Consent{Purpose: engine.PurposeSocial, Granted: false, Source: "web", Time: e.now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	e.svc.Forget(id)
	if after := e.recommend("customer:soc-eu", recommend.Request{N: 10, AvailableOnly: true}); !slices.Equal(ids(after), ids(plain)) {
		t.Fatalf("after the withdrawal: %v, want %v", ids(after), ids(plain))
	}
}

func TestLinkBringsTheAnonymousSessionAlongAndUnlinkTakesItBack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	viewed := e.recommend("anon:nobody", recommend.Request{N: 3, AvailableOnly: true}).Items[2].Item
	e.add(engine.Event{Alias: alias(t, "anon:session-1"), Type: engine.EventView, Item: viewed, Quantity: 1, Time: e.now.Add(-time.Minute), Region: "UK"},
		engine.Event{Alias: alias(t, "customer:new-1"), Type: engine.EventSocialFollow, Target: "topic:news", Source: "social:facebook", Quantity: 1, Time: e.now.Add(-time.Hour), Region: "UK"})
	before := e.recommend("customer:new-1", recommend.Request{N: 10, AvailableOnly: true})
	if before.Step != "trending" {
		t.Fatalf("a customer without item history: step %s", before.Step)
	}
	res, err := e.db.Link(ctx, alias(t, "customer:new-1"), alias(t, "anon:session-1"), false)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Forget(res.Identity.ID, res.Merged)
	after := e.recommend("customer:new-1", recommend.Request{N: 10, AvailableOnly: true})
	if after.Step == "trending" || !strings.Contains(reasonsOf(after), viewed) {
		t.Fatalf("after the link the session's view of %s is not used: step %s\n%s", viewed, after.Step, reasonsOf(after))
	}
	kept, split, err := e.db.Unlink(ctx, alias(t, "customer:new-1"), alias(t, "anon:session-1"))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Forget(kept.ID, split.ID)
	if again := e.recommend("customer:new-1", recommend.Request{N: 10, AvailableOnly: true}); again.Step != "trending" || !slices.Equal(ids(again), ids(before)) {
		t.Fatalf("after the unlink: step %s %v, want %v", again.Step, ids(again), ids(before))
	}
	if anon := e.recommend("anon:session-1", recommend.Request{N: 10, AvailableOnly: true}); anon.Step == "trending" {
		t.Fatalf("the session lost its history: step %s", anon.Step)
	}
}

func TestPreferencesBeatInferredInterest(t *testing.T) {
	e := newEnv(t)
	e.svc.Gate = features.NewGate(engine.DefaultConsentPolicy())
	ctx := context.Background()
	brand := e.commonBrand()
	who := "customer:prefs-1"
	e.add(engine.Event{Alias: alias(t, who), Type: engine.EventSocialFollow, Target: "brand:" + brand, Source: "social:instagram", Quantity: 1, Time: e.now.Add(-time.Hour), Region: "US-NY"})
	before := e.recommend(who, recommend.Request{N: 10, AvailableOnly: true})
	if !strings.Contains(reasonsOf(before), "you follow brand "+brand) {
		t.Fatalf("the follow is not used:\n%s", reasonsOf(before))
	}
	// Excluding the brand they follow: explicit beats inferred.
	id, _ := e.db.ResolveAlias(ctx, alias(t, who))
	if _, err := e.db.PutPreferences(ctx, alias(t, who), engine.Preferences{ExcludedBrands: []string{brand}}, e.now); err != nil {
		t.Fatal(err)
	}
	e.svc.Forget(id)
	for _, it := range e.recommend(who, recommend.Request{N: 20, AvailableOnly: true}).Items {
		if e.item(it.Item).Brand == brand {
			t.Fatalf("%s of the excluded brand %s was recommended", it.Item, brand)
		}
	}
	// A favourite category lifts its items and says so.
	cat := e.item(before.Items[len(before.Items)-1].Item).Category
	if _, err := e.db.PutPreferences(ctx, alias(t, who), engine.Preferences{FavouriteCategories: []string{cat}}, e.now); err != nil {
		t.Fatal(err)
	}
	e.svc.Forget(id)
	fav := e.recommend(who, recommend.Request{N: 10, AvailableOnly: true})
	if !strings.Contains(reasonsOf(fav), "in "+cat+", a favourite category of yours") || e.item(fav.Items[0].Item).Category != cat {
		t.Fatalf("favourite %s: %v\n%s", cat, ids(fav), reasonsOf(fav))
	}
}
