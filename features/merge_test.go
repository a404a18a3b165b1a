package features_test

import (
	"context"
	"math"
	"testing"
	"time"

	"rapport/engine"
	"rapport/features"
	"rapport/store"
	"rapport/store/storetest"
)

// openStore opens a store in a temporary directory for one test.
func openStore(t *testing.T) *store.DB {
	t.Helper()
	db := storetest.Open(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	return db
}

// fixedModel is a model version that knows the factors of the identities
// it lists, by identity key.
type fixedModel struct {
	version string
	factors map[string][]float64
}

func (m fixedModel) Version() string               { return m.version }
func (m fixedModel) Factors(user string) []float64 { return m.factors[user] }

// v7 knows customer:1, the first identity the tests store.
var v7 = fixedModel{"v000007", map[string][]float64{"1": {0.5, 0.25}}}

func TestMergeComputesAndIsIncremental(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	now := time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC)
	items := []engine.Item{
		{ID: "mug", Category: "Home > Kitchen", Brand: "Acme", Price: 10, Currency: "EUR", Available: true},
		{ID: "tea", Category: "Food", Brand: "Leaf", Price: 4, Currency: "EUR", Available: true},
		{ID: "pot", Category: "Home > Kitchen", Brand: "Acme", Price: 40, Currency: "EUR", Available: true},
	}
	if err := db.PutItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	c1, _ := engine.ParseAlias("customer:1")
	ev := func(typ engine.EventType, item string, qty, price float64, daysAgo int) engine.Event {
		return engine.Event{Alias: c1, Type: typ, Item: item, Quantity: qty, Price: price, Currency: "EUR", Time: now.AddDate(0, 0, -daysAgo)}
	}
	if _, err := db.AppendEvents(ctx, []engine.Event{
		ev(engine.EventPurchase, "mug", 2, 10, 40), ev(engine.EventPurchase, "tea", 1, 4, 40),
		ev(engine.EventPurchase, "mug", 4, 10, 10), ev(engine.EventView, "pot", 1, 0, 1),
		ev(engine.EventPurchase, "tea", 1, 4, 10), ev(engine.EventReturn, "tea", 1, 4, 5),
	}); err != nil {
		t.Fatal(err)
	}
	m := &features.Merger{Store: db, Now: func() time.Time { return now }, Model: func() features.Factors { return v7 }}
	res, err := m.Merge(ctx, false)
	if err != nil || res.Identities != 1 || res.Changes != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	id, _ := db.ResolveAlias(ctx, c1)
	v, err := db.Vector(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if v.Purchases != 4 || v.Orders != 2 || v.FrequencyDays != 30 || v.RecencyDays != 10 {
		t.Errorf("RFM: %+v", v)
	}
	if want := 2*10 + 4 + 4*10 + 4 - 4; v.Monetary != float64(want) || v.Currency != "EUR" {
		t.Errorf("monetary %v %s, want %d EUR", v.Monetary, v.Currency, want)
	}
	if v.Items[0].Key != "mug" || v.Categories[0].Key != "Home > Kitchen" || v.Brands[0].Key != "Acme" {
		t.Errorf("affinities: %+v %+v %+v", v.Items, v.Categories, v.Brands)
	}
	// Two mug purchases, one 40 days old (decayed by 2^(-40/30)), one 10 days old, and the pot view.
	wantMug := math.Exp2(-40.0/30) + math.Exp2(-10.0/30)
	if math.Abs(v.Items[0].Score-wantMug) > 1e-9 {
		t.Errorf("mug affinity %v, want %v", v.Items[0].Score, wantMug)
	}
	if v.PriceP50 != 7 || v.TypicalQty != 1.5 || v.PriceBand != "budget" && v.PriceBand != "mid" {
		t.Errorf("prices %v/%v/%v band %q, qty %v", v.PriceP25, v.PriceP50, v.PriceP75, v.PriceBand, v.TypicalQty)
	}
	if v.ModelVersion != "v000007" || len(v.Factors) != 2 || v.Sources[0] != "events" {
		t.Errorf("model %q %v sources %v", v.ModelVersion, v.Factors, v.Sources)
	}
	// Nothing new: nothing recomputed. One new event: one identity.
	if res, _ := m.Merge(ctx, false); res.Identities != 0 {
		t.Fatalf("idle merge recomputed %d", res.Identities)
	}
	c2, _ := engine.ParseAlias("customer:2")
	db.AppendEvents(ctx, []engine.Event{{Alias: c2, Type: engine.EventView, Item: "pot", Quantity: 1, Time: now}})
	if res, _ := m.Merge(ctx, false); res.Identities != 1 {
		t.Fatalf("incremental merge recomputed %d, want 1", res.Identities)
	}
	if res, _ := m.Merge(ctx, true); res.Identities != 2 {
		t.Fatalf("full merge recomputed %d, want 2", res.Identities)
	}
}

// TestRefreshFactors: after a training the stored vectors take the new
// model's factors (or lose the old ones) and keep everything else, and
// identities with events not yet merged are left to the next merge.
func TestRefreshFactors(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	now := time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC)
	var events []engine.Event
	for _, a := range []string{"customer:1", "customer:2"} {
		alias, _ := engine.ParseAlias(a)
		events = append(events, engine.Event{Alias: alias, Type: engine.EventPurchase, Item: "mug", Quantity: 1, Price: 3, Currency: "EUR", Time: now})
	}
	if _, err := db.AppendEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	var current features.Factors = v7
	m := &features.Merger{Store: db, Now: func() time.Time { return now }, Model: func() features.Factors { return current }}
	if _, err := m.Merge(ctx, false); err != nil {
		t.Fatal(err)
	}
	c3, _ := engine.ParseAlias("customer:3")
	if _, err := db.AppendEvents(ctx, []engine.Event{{Alias: c3, Type: engine.EventView, Item: "mug", Quantity: 1, Time: now}}); err != nil {
		t.Fatal(err)
	}
	before, _ := db.Vector(ctx, 1)
	current = fixedModel{"v000008", map[string][]float64{"2": {1, 2}}}
	n, err := m.RefreshFactors(ctx)
	if err != nil || n != 2 {
		t.Fatalf("refreshed %d, %v; want 2", n, err)
	}
	v1, _ := db.Vector(ctx, 1)
	v2, _ := db.Vector(ctx, 2)
	if v1.ModelVersion != "" || v1.Factors != nil || v2.ModelVersion != "v000008" || len(v2.Factors) != 2 || v2.Factors[1] != 2 {
		t.Fatalf("after the refresh: %q %v, %q %v", v1.ModelVersion, v1.Factors, v2.ModelVersion, v2.Factors)
	}
	if v1.Monetary != before.Monetary || !v1.ComputedAt.Equal(before.ComputedAt) || len(v1.Items) != len(before.Items) {
		t.Fatalf("the refresh changed more than the factors: %+v, was %+v", v1, before)
	}
	if _, err := db.Vector(ctx, 3); engine.ErrorCode(err) != engine.CodeNotFound {
		t.Fatalf("an unmerged identity got a vector: %v", err)
	}
	if n, err := m.RefreshFactors(ctx); err != nil || n != 0 {
		t.Fatalf("a second refresh changed %d, %v", n, err)
	}
	if res, _ := m.Merge(ctx, false); res.Identities != 1 {
		t.Fatalf("the next merge recomputed %d, want customer:3", res.Identities)
	}
}
