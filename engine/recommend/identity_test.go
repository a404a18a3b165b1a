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
	// The lift (half as much again) moves the category up the list; how far
	// depends on the shop, so the test asks that it moved, not that it won.
	best := func(r recommend.Result) int {
		for i, it := range r.Items {
			if e.item(it.Item).Category == cat {
				return i
			}
		}
		return len(r.Items)
	}
	if !strings.Contains(reasonsOf(fav), "in "+cat+", a favourite category of yours") || best(fav) >= best(before) {
		t.Fatalf("favourite %s: first at %d, before at %d: %v\n%s", cat, best(fav), best(before), ids(fav), reasonsOf(fav))
	}
}

func TestExplainBreaksDownAServedList(t *testing.T) {
	e := newEnv(t)
	e.svc.Gate = features.NewGate(engine.DefaultConsentPolicy())
	ctx := context.Background()
	brand := e.commonBrand()
	who := alias(t, "customer:explain-1")
	seed := e.recommend("anon:nobody", recommend.Request{N: 1, AvailableOnly: true}).Items[0].Item
	e.add(engine.Event{Alias: who, Type: engine.EventView, Item: seed, Quantity: 1, Time: e.now.Add(-2 * time.Hour), Region: "US-CA"},
		engine.Event{Alias: who, Type: engine.EventSocialFollow, Target: "brand:" + brand, Source: "social:instagram", Quantity: 1, Time: e.now.Add(-time.Hour), Region: "US-CA"})
	res := e.recommend(who.String(), recommend.Request{N: 10, AvailableOnly: true, Placement: "home"})
	ex, err := e.svc.Explain(ctx, who, res.RecommendationID)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Step != res.Step || len(ex.Items) != len(res.Items) || ex.Placement != "home" {
		t.Fatalf("explanation %+v of %+v", ex, res)
	}
	social := -1
	for k, s := range ex.Signals {
		if s.Source == "social:instagram" && s.Target == "brand:"+brand && s.Consent != nil && s.Consent.Granted && s.Consent.Default {
			social = k
		}
	}
	if social < 0 || ex.Signals[0].Kind != "history" || ex.Signals[0].Count != 1 {
		t.Fatalf("signals %+v", ex.Signals)
	}
	usesSocial := false
	for k, it := range ex.Items {
		if it.Item != res.Items[k].Item || it.Score != res.Items[k].Score {
			t.Fatalf("item %d: %+v vs %+v", k, it, res.Items[k])
		}
		sum := 0.0
		for _, v := range it.Parts {
			sum += v
		}
		if d := sum*it.Boost - it.Score; d > 1e-9*max(1, it.Score) || d < -1e-9*max(1, it.Score) {
			t.Errorf("%s: parts %v × boost %v = %v, score %v", it.Item, it.Parts, it.Boost, sum*it.Boost, it.Score)
		}
		if slices.Contains(it.Signals, social) {
			usesSocial = it.Parts["social"] > 0
		}
	}
	if !usesSocial {
		t.Fatalf("no item credits the follow: %+v", ex.Items)
	}
	// The same list again, from the cache, is a new list to explain.
	again := e.recommend(who.String(), recommend.Request{N: 10, AvailableOnly: true, Placement: "home"})
	if _, err := e.svc.Explain(ctx, who, again.RecommendationID); err != nil {
		t.Fatalf("a cached list: %v", err)
	}
	if recent := e.svc.Recent(mustID(t, e, who)); len(recent) != 2 || recent[1].RecommendationID != again.RecommendationID {
		t.Fatalf("recent %+v", recent)
	}
	if _, err := e.svc.Explain(ctx, who, "rec_000000000000000000000000"); engine.ErrorCode(err) != engine.CodeNotFound {
		t.Fatalf("unknown list: %v", err)
	}
	e.add(engine.Event{Alias: who, Type: engine.EventView, Item: res.Items[0].Item, Quantity: 1, Time: e.now.Add(-time.Minute)})
	if _, err := e.svc.Explain(ctx, who, res.RecommendationID); engine.ErrorCode(err) != engine.CodeConflict {
		t.Fatalf("after a new event: %v", err)
	}
}

func mustID(t *testing.T, e *env, a engine.Alias) engine.IdentityID {
	t.Helper()
	id, err := e.db.ResolveAlias(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestFriendsPurchasesOnlyWhereBothPermit(t *testing.T) {
	e := newEnv(t)
	e.svc.Gate = features.NewGate(engine.DefaultConsentPolicy())
	ctx := context.Background()
	// An item far down the list of someone in the same region, so only the
	// friend can lift it.
	e.add(engine.Event{Alias: alias(t, "customer:probe-1"), Type: engine.EventSocialFollow, Target: "topic:none", Source: "social:facebook", Quantity: 1, Time: e.now.Add(-time.Hour), Region: "US-CA"})
	popular := e.recommend("customer:probe-1", recommend.Request{N: 60, AvailableOnly: true}).Items
	x := popular[len(popular)-1].Item
	me, friend := alias(t, "customer:me-1"), alias(t, "customer:friend-1")
	e.add(engine.Event{Alias: friend, Type: engine.EventPurchase, Item: x, Quantity: 1, Time: e.now.Add(-2 * time.Hour), Region: "US-CA"},
		engine.Event{Alias: me, Type: engine.EventSocialFollow, Target: friend.String(), Source: "social:facebook", Quantity: 1, Time: e.now.Add(-time.Hour), Region: "US-CA"})
	res := e.recommend(me.String(), recommend.Request{N: 20, AvailableOnly: true})
	if !slices.Contains(ids(res), x) || !strings.Contains(reasonsOf(res), "people you follow bought it on social:facebook") || strings.Contains(reasonsOf(res), friend.String()) {
		t.Fatalf("the friend's purchase of %s: %v\n%s", x, ids(res), reasonsOf(res))
	}
	// The friend withdraws: my next list no longer uses their purchases.
	if _, err := e.db.PutConsent(ctx, friend, engine.Consent{Purpose: engine.PurposeSocial, Granted: false, Source: "app", Time: e.now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	e.svc.Forget(mustID(t, e, friend))
	if after := e.recommend(me.String(), recommend.Request{N: 20, AvailableOnly: true}); slices.Contains(ids(after), x) || strings.Contains(reasonsOf(after), "people you follow") {
		t.Fatalf("after the friend's withdrawal: %v\n%s", ids(after), reasonsOf(after))
	}
}

func TestPrefillBlendsOwnAndOrganisationOrders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	buyer, colleague := alias(t, "b2b:ORG-001"), alias(t, "b2b:ORG-002")
	own, err := e.svc.Prefill(ctx, buyer, "", nil, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(own.Items) == 0 || own.Items[0].Source != "history" || own.Items[0].UsualQuantity <= 0 || own.PriceTier == "" || len(own.Categories) == 0 {
		t.Fatalf("own prefill %+v", own)
	}
	for _, it := range own.Items {
		if want := float64(it.Orders) / float64(it.Orders+2); it.Confidence != want || it.Source != "history" {
			t.Fatalf("%+v: confidence %v, want %v", it, it.Confidence, want)
		}
	}
	blended, err := e.svc.Prefill(ctx, buyer, "ACME", []engine.Alias{buyer, colleague}, 100)
	if err != nil {
		t.Fatal(err)
	}
	mine := map[string]bool{}
	for _, it := range own.Items {
		mine[it.Item] = true
	}
	fromOrg := 0
	for _, it := range blended.Items {
		if it.Source == "organisation" {
			fromOrg++
			if mine[it.Item] {
				t.Errorf("%s is the buyer's own but marked as the organisation's", it.Item)
			}
		}
	}
	if fromOrg == 0 || blended.Org != "ACME" {
		t.Fatalf("nothing from the colleague: %+v", blended.Items)
	}
	// Explicit exclusions win over history.
	brand := e.item(own.Items[0].Item).Brand
	if _, err := e.db.PutPreferences(ctx, buyer, engine.Preferences{ExcludedBrands: []string{brand}, FavouriteCategories: []string{"Garden"}}, e.now); err != nil {
		t.Fatal(err)
	}
	e.svc.Forget(mustID(t, e, buyer))
	after, err := e.svc.Prefill(ctx, buyer, "", nil, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range after.Items {
		if e.item(it.Item).Brand == brand {
			t.Fatalf("%s of the excluded brand %s is prefilled", it.Item, brand)
		}
	}
	if after.Categories[0].Key != "Garden" || after.Categories[0].Source != "explicit" || after.Categories[0].Confidence != 1 {
		t.Fatalf("explicit favourite not first: %+v", after.Categories)
	}
	org, err := e.svc.OrgPrefill(ctx, "ACME", []engine.Alias{buyer, colleague}, 20)
	if err != nil || len(org.Items) == 0 || org.Items[0].Source != "organisation" {
		t.Fatalf("org prefill %+v %v", org, err)
	}
}
