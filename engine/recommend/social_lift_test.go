package recommend_test

import (
	"context"
	"math"
	"testing"
	"time"

	"rapport/engine"
	"rapport/engine/demo"
	"rapport/engine/model"
	"rapport/engine/recommend"
	"rapport/features"
	"rapport/store/storetest"
)

// shop keeps a generated demo shop in memory.
type shop struct {
	items    []engine.Item
	events   []engine.Event
	consents []engine.Consent
}

func (s *shop) AddEvent(ev *engine.Event, _ uint64) (bool, error) {
	s.events = append(s.events, *ev)
	return true, nil
}
func (s *shop) PutItem(it engine.Item) error { s.items = append(s.items, it); return nil }
func (s *shop) AddConsent(_ engine.Alias, c engine.Consent, _ uint64) error {
	s.consents = append(s.consents, c)
	return nil
}

// TestSocialSignalsLiftNDCGForFewPurchases measures what permitted social
// signals add for people the model knows little about. Split: the demo
// shop's last 28 days are held out; the store and the model see only what
// came before. Cases: people with at most two purchases before the cutoff
// who bought something new after it; relevant items are those new
// purchases. Each case is ranked twice, by a service without social
// signals and by one that uses them through the consent gate. Run with -v
// for the table.
func TestSocialSignalsLiftNDCGForFewPurchases(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Hour)
	cfg := demo.DefaultConfig(3, now)
	cfg.Customers, cfg.Visitors, cfg.Items, cfg.Wholesale = 5000, 500, 1000, 5
	var sh shop
	if _, err := demo.Generate(ctx, cfg, &sh); err != nil {
		t.Fatal(err)
	}
	cutoff := now.AddDate(0, 0, -28)

	db := storetest.Open(t, t.TempDir())
	defer db.Close()
	l := db.NewLoader()
	for _, it := range sh.items {
		if err := l.PutItem(it); err != nil {
			t.Fatal(err)
		}
	}
	before := map[engine.Alias]map[string]bool{} // purchases before the cutoff
	after := map[engine.Alias]map[string]bool{}  // new purchases after it
	signals := map[engine.Alias]int{}
	for k := range sh.events {
		ev := &sh.events[k]
		if !ev.Time.Before(cutoff) {
			if ev.Type == engine.EventPurchase && !before[ev.Alias][ev.Item] {
				if after[ev.Alias] == nil {
					after[ev.Alias] = map[string]bool{}
				}
				after[ev.Alias][ev.Item] = true
			}
			continue
		}
		switch {
		case ev.Type == engine.EventPurchase:
			if before[ev.Alias] == nil {
				before[ev.Alias] = map[string]bool{}
			}
			before[ev.Alias][ev.Item] = true
		case ev.Type.IsSocial():
			signals[ev.Alias]++
		}
		if _, err := l.AddEvent(ev, uint64(k+1)); err != nil {
			t.Fatal(err)
		}
	}
	for k, c := range sh.consents {
		if c.Time.Before(cutoff) {
			if err := l.AddConsent(c.Alias, c, uint64(len(sh.events)+k+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b := model.NewBuilder()
	for _, it := range sh.items {
		b.Item(it.ID)
	}
	if err := db.ScanEvents(ctx, func(id engine.IdentityID, ev *engine.Event) error { b.AddAs(id.Key(), ev); return nil }); err != nil {
		t.Fatal(err)
	}
	d := b.Build()
	tr, err := model.Train(ctx, d, model.DefaultRankerConfig(), cutoff.Unix(), nil)
	if err != nil {
		t.Fatal(err)
	}
	serving := &model.Serving{}
	serving.Swap(&model.Loaded{Version: engine.ModelVersion{ID: "v1"}, Trained: tr})
	gate := features.NewGate(engine.DefaultConsentPolicy())
	without := &recommend.Service{Store: db, Serving: serving}
	with := &recommend.Service{Store: db, Serving: serving, Gate: gate}

	type group struct {
		name         string
		n            int
		base, social float64
	}
	groups := []*group{{name: "all with ≤ 2 purchases"}, {name: "  with permitted social signals"}, {name: "  with signals, not permitted"}, {name: "  without social signals"}}
	ndcg := func(res recommend.Result, rel map[string]bool) float64 {
		dcg, ideal := 0.0, 0.0
		for k, it := range res.Items {
			if rel[it.Item] {
				dcg += 1 / math.Log2(float64(k+2))
			}
		}
		for k := range min(len(rel), 10) {
			ideal += 1 / math.Log2(float64(k+2))
		}
		return dcg / ideal
	}
	for a, rel := range after {
		if len(before[a]) > 2 || a.Kind != engine.KindCustomer {
			continue
		}
		req := recommend.Request{N: 10}
		x, err := without.Recommend(ctx, a, req)
		if err != nil {
			t.Fatal(err)
		}
		y, err := with.Recommend(ctx, a, req)
		if err != nil {
			t.Fatal(err)
		}
		g := groups[3]
		if signals[a] > 0 {
			p, history, err := db.ConsentsOf(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if gate.Decide(&p, history, engine.PurposeSocial, cutoff).Granted {
				g = groups[1]
			} else {
				g = groups[2]
			}
		}
		for _, g := range []*group{groups[0], g} {
			g.n++
			g.base += ndcg(x, rel)
			g.social += ndcg(y, rel)
		}
	}
	t.Logf("NDCG@10, demo shop (seed 3, %d customers), last 28 days held out", cfg.Customers)
	t.Logf("%-34s %6s %10s %12s %8s", "people", "cases", "without", "with social", "lift")
	for _, g := range groups {
		if g.n == 0 {
			continue
		}
		b, s := g.base/float64(g.n), g.social/float64(g.n)
		t.Logf("%-34s %6d %10.4f %12.4f %+7.1f%%", g.name, g.n, b, s, 100*(s-b)/b)
	}
	permitted, refused, none := groups[1], groups[2], groups[3]
	if permitted.n < 30 {
		t.Fatalf("only %d cases with permitted signals", permitted.n)
	}
	if permitted.social <= permitted.base {
		t.Errorf("permitted social signals do not raise NDCG@10: %.4f → %.4f", permitted.base/float64(permitted.n), permitted.social/float64(permitted.n))
	}
	if refused.social != refused.base || none.social != none.base {
		t.Errorf("people whose signals may not be used got different lists")
	}
}
