package recommend_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rapport/engine"
	"rapport/engine/demo"
	"rapport/engine/model"
	"rapport/engine/recommend"
	"rapport/store"
	"rapport/store/storetest"
)

type env struct {
	t   *testing.T
	db  *store.DB
	svc *recommend.Service
	now time.Time
}

// newEnv fills a store with a small demo shop, trains a model on it and
// starts a service over both.
func newEnv(t *testing.T) *env { return newEnvSized(t, 200) }

// newEnvSized is newEnv with a catalog of the given size.
func newEnvSized(t *testing.T, items int) *env {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	now := time.Now().UTC().Truncate(time.Hour)
	cfg := demo.DefaultConfig(5, now)
	cfg.Customers, cfg.Visitors, cfg.Items, cfg.Wholesale = 300, 100, items, 5
	l := db.NewLoader()
	if _, err := demo.Generate(ctx, cfg, l); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	serving := &model.Serving{}
	e := &env{t: t, db: db, svc: &recommend.Service{Store: db, Serving: serving}, now: now}
	e.train()
	return e
}

func (e *env) train() {
	e.t.Helper()
	b := model.NewBuilder()
	// Every catalog item joins the vocabulary, so a large catalog is large
	// for the model too, even where few people touched most items.
	if err := e.db.ScanItems(context.Background(), func(it engine.Item) error { b.Item(it.ID); return nil }); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.ScanEvents(context.Background(), func(id engine.IdentityID, ev *engine.Event) error { b.AddAs(id.Key(), ev); return nil }); err != nil {
		e.t.Fatal(err)
	}
	d := b.Build()
	cfg := model.DefaultRankerConfig()
	cfg.Factors, cfg.Iterations = 8, 3
	tr, err := model.Train(context.Background(), d, cfg, d.End().Unix(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	prev := e.svc.Serving.Load().VersionID()
	e.svc.Serving.Swap(&model.Loaded{Version: engine.ModelVersion{ID: prev + "x"}, Trained: tr})
}

func alias(t *testing.T, s string) engine.Alias {
	t.Helper()
	a, err := engine.ParseAlias(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) recommend(who string, req recommend.Request) recommend.Result {
	e.t.Helper()
	if req.N == 0 {
		req.N = 10
	}
	res, err := e.svc.Recommend(context.Background(), alias(e.t, who), req)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *env) item(id string) engine.Item {
	e.t.Helper()
	it, err := e.db.Item(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return it
}

func (e *env) add(events ...engine.Event) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.db.AppendEvents(ctx, events); err != nil {
		e.t.Fatal(err)
	}
	if err := e.svc.Observe(ctx, events); err != nil {
		e.t.Fatal(err)
	}
}

func ids(res recommend.Result) []string {
	var out []string
	for _, it := range res.Items {
		out = append(out, it.Item)
	}
	return out
}

const someone = "customer:C00007"

func TestFilters(t *testing.T) {
	e := newEnv(t)
	base := e.recommend(someone, recommend.Request{N: 20, AvailableOnly: true})
	if base.Step != "blend" || len(base.Items) != 20 || base.RecommendationID == "" || base.ModelVersion == "" {
		t.Fatalf("%+v", base)
	}
	for i, it := range base.Items {
		if it.Rank != i+1 || len(it.Reasons) == 0 || !e.item(it.Item).Available {
			t.Fatalf("item %d: %+v (available %v)", i, it, e.item(it.Item).Available)
		}
	}
	top := e.item(base.Items[0].Item)
	category := strings.Split(top.Category, " > ")[0]
	for _, tc := range []struct {
		name string
		req  recommend.Request
		ok   func(engine.Item) bool
	}{
		{"Category", recommend.Request{Categories: []string{category}}, func(it engine.Item) bool {
			return it.Category == category || strings.HasPrefix(it.Category, category+" > ")
		}},
		{"ExcludeCategory", recommend.Request{ExcludeCategories: []string{category}}, func(it engine.Item) bool { return !strings.HasPrefix(it.Category, category) }},
		{"Brand", recommend.Request{Brands: []string{top.Brand}}, func(it engine.Item) bool { return it.Brand == top.Brand }},
		{"Price", recommend.Request{MinPrice: 10, MaxPrice: 40}, func(it engine.Item) bool { return it.Price >= 10 && it.Price <= 40 }},
		{"Exclude", recommend.Request{Exclude: []string{top.ID}}, func(it engine.Item) bool { return it.ID != top.ID }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.N, tc.req.AvailableOnly = 10, true
			res := e.recommend(someone, tc.req)
			if len(res.Items) == 0 {
				t.Fatal("empty list")
			}
			for _, it := range res.Items {
				if !tc.ok(e.item(it.Item)) {
					t.Fatalf("%s breaks the filter: %+v", it.Item, e.item(it.Item))
				}
			}
		})
	}
	// Paging: the second page continues the first.
	p1 := e.recommend(someone, recommend.Request{N: 5, AvailableOnly: true})
	p2 := e.recommend(someone, recommend.Request{N: 5, Offset: 5, AvailableOnly: true})
	if !slices.Equal(append(ids(p1), ids(p2)...), ids(base)[:10]) || p2.Items[0].Rank != 6 {
		t.Fatalf("pages %v + %v, want %v", ids(p1), ids(p2), ids(base)[:10])
	}
}

func TestPurchasedItemDisappearsAtOnce(t *testing.T) {
	e := newEnv(t)
	first := e.recommend(someone, recommend.Request{AvailableOnly: true}).Items[0].Item
	e.add(engine.Event{Alias: alias(t, someone), Type: engine.EventPurchase, Item: first, Quantity: 1, Time: time.Now()})
	if got := ids(e.recommend(someone, recommend.Request{AvailableOnly: true})); slices.Contains(got, first) {
		t.Fatalf("%s was just bought but is still recommended: %v", first, got)
	}
	if got := ids(e.recommend(someone, recommend.Request{AvailableOnly: true, IncludePurchased: true, N: 100})); !slices.Contains(got, first) {
		t.Fatalf("include_purchased lost %s: %v", first, got)
	}
	// A return of an older order does not hide that the item was just bought again.
	next := e.recommend(someone, recommend.Request{AvailableOnly: true}).Items[0].Item
	a := alias(t, someone)
	e.add(engine.Event{Alias: a, Type: engine.EventReturn, Item: next, Quantity: 1, Time: time.Now().Add(-time.Minute)})
	e.add(engine.Event{Alias: a, Type: engine.EventReturn, Item: next, Quantity: 1, Time: time.Now().Add(-time.Minute)})
	e.add(engine.Event{Alias: a, Type: engine.EventPurchase, Item: next, Quantity: 1, Time: time.Now()})
	if got := ids(e.recommend(someone, recommend.Request{AvailableOnly: true})); slices.Contains(got, next) {
		t.Fatalf("%s was bought after two returns but is still recommended: %v", next, got)
	}
}

func TestAnonymousVisitorFromFirstEvent(t *testing.T) {
	e := newEnv(t)
	visitor := "anon:brand-new-visitor"
	if res := e.recommend(visitor, recommend.Request{}); res.Step != "trending" || len(res.Items) == 0 {
		t.Fatalf("before any event: %+v", res)
	}
	viewed := e.recommend(someone, recommend.Request{}).Items[0].Item
	e.add(engine.Event{Alias: alias(t, visitor), Type: engine.EventView, Item: viewed, Quantity: 1, Time: time.Now()})
	res := e.recommend(visitor, recommend.Request{})
	if res.Step != "item-to-item" || len(res.Items) == 0 || !strings.Contains(strings.Join(res.Items[0].Reasons, ";"), viewed) {
		t.Fatalf("after one view of %s: %+v", viewed, res)
	}
}

func TestContextItemAndRules(t *testing.T) {
	e := newEnv(t)
	viewing := e.recommend(someone, recommend.Request{}).Items[3].Item
	res := e.recommend(someone, recommend.Request{ContextItem: viewing})
	if slices.Contains(ids(res), viewing) || !strings.Contains(res.Items[0].Reasons[0], "being viewed") {
		t.Fatalf("context %s: %+v", viewing, res.Items[0])
	}
	base := e.recommend(someone, recommend.Request{N: 10})
	buried := e.item(base.Items[0].Item).Category
	pinned := base.Items[9].Item
	e.svc.Rules = &recommend.Rules{
		Boost: []recommend.Boost{{Category: buried, Factor: 0}},
		Pins:  []recommend.Pin{{Placement: "home", Item: pinned, Position: 1}},
	}
	e.svc.Rules.Diversity.MaxPerCategory = 1
	res = e.recommend(someone, recommend.Request{N: 10, Placement: "home"})
	if res.Items[0].Item != pinned || !strings.Contains(res.Items[0].Reasons[0], "pinned") {
		t.Fatalf("pin: %+v", res.Items[0])
	}
	cats := map[string]bool{}
	for _, it := range res.Items[1:] {
		c := e.item(it.Item).Category
		if c == buried || cats[c] {
			t.Fatalf("%s of category %q: buried %q, seen %v", it.Item, c, buried, cats)
		}
		cats[c] = true
	}
	if e.svc.Placements()["home"] != 1 {
		t.Fatalf("placements %v", e.svc.Placements())
	}
}

func TestBuyAgainAndLists(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b, err := e.svc.BuyAgain(ctx, alias(t, someone), 5)
	if err != nil || len(b.Items) == 0 {
		t.Fatalf("%+v %v", b, err)
	}
	id, _ := e.db.ResolveAlias(ctx, alias(t, someone))
	_, events, _ := e.db.IdentityEvents(ctx, id)
	bought := map[string]bool{}
	for _, ev := range events {
		if ev.Type == engine.EventPurchase {
			bought[ev.Item] = true
		}
	}
	for _, it := range b.Items {
		if !bought[it.Item] || it.UsualQuantity <= 0 || it.Orders == 0 || it.LastPurchased.IsZero() {
			t.Fatalf("buy-again entry %+v", it)
		}
	}
	sim, err := e.svc.Similar(ctx, b.Items[0].Item, 5, false)
	if err != nil || len(sim.Items) == 0 || !strings.HasPrefix(sim.Items[0].Reasons[0], "bought together with") {
		t.Fatalf("similar %+v %v", sim, err)
	}
	if _, err := e.svc.Similar(ctx, "no-such-item", 5, false); engine.ErrorCode(err) != engine.CodeNotFound {
		t.Fatalf("similar of an unknown item: %v", err)
	}
	pop, err := e.svc.Popular(ctx, "UK", "", 5)
	if err != nil || len(pop.Items) != 5 || pop.Items[0].Reasons[0] != "trending in UK" {
		t.Fatalf("popular %+v %v", pop, err)
	}
}

// TestModelSwapUnderLoad: requests keep succeeding while versions swap.
func TestModelSwapUnderLoad(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				res, err := e.svc.Recommend(context.Background(), alias(t, someone), recommend.Request{N: 10, AvailableOnly: true})
				if err != nil || len(res.Items) == 0 {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < 3; i++ {
		e.train()
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a request failed during a swap: %v", err)
	}
}

// BenchmarkRecommend times one request's work (no HTTP) for cached
// identities of a demo shop: the ranker, filters, rules and reasons.
func BenchmarkRecommend(b *testing.B) {
	t := &testing.T{}
	e := newEnv(t)
	who := make([]engine.Alias, 100)
	for i := range who {
		who[i] = alias(t, fmt.Sprintf("customer:C%05d", i+1))
	}
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := e.svc.Recommend(ctx, who[i%len(who)], recommend.Request{N: 10, AvailableOnly: true}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// TestCatalogChangeReachesCachedLists: a list served from the cache must
// still drop an item that has just become unavailable.
func TestCatalogChangeReachesCachedLists(t *testing.T) {
	e := newEnv(t)
	req := recommend.Request{N: 10, AvailableOnly: true}
	first := e.recommend(someone, req)
	again := e.recommend(someone, req) // from the cache
	if !slices.Equal(ids(first), ids(again)) || first.RecommendationID == again.RecommendationID {
		t.Fatalf("cached list differs or reuses its id: %v / %v", ids(first), ids(again))
	}
	gone := e.item(first.Items[0].Item)
	gone.Available = false
	if err := e.svc.ObserveItems(context.Background(), []engine.Item{gone}); err != nil {
		t.Fatal(err)
	}
	if got := ids(e.recommend(someone, req)); slices.Contains(got, gone.ID) {
		t.Fatalf("%s became unavailable but is still served: %v", gone.ID, got)
	}
}

// TestLargeCatalogPath: past model.AnnMinItems items, serving scores a
// candidate set; the same guarantees hold.
func TestLargeCatalogPath(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a large catalog")
	}
	e := newEnvSized(t, model.AnnMinItems+1000)
	if !e.svc.Serving.Load().Trained.Ranker.ALS.Indexed() {
		t.Fatal("the model has no index")
	}
	res := e.recommend(someone, recommend.Request{N: 10, AvailableOnly: true})
	if res.Step != "blend" || len(res.Items) != 10 {
		t.Fatalf("%+v", res)
	}
	for _, it := range res.Items {
		if !e.item(it.Item).Available || len(it.Reasons) == 0 {
			t.Fatalf("%+v", it)
		}
	}
	first := res.Items[0].Item
	e.add(engine.Event{Alias: alias(t, someone), Type: engine.EventPurchase, Item: first, Quantity: 1, Time: time.Now()})
	if got := ids(e.recommend(someone, recommend.Request{AvailableOnly: true})); slices.Contains(got, first) {
		t.Fatalf("%s was just bought but is still recommended: %v", first, got)
	}
	viewing := res.Items[2].Item
	withCtx := e.recommend(someone, recommend.Request{ContextItem: viewing})
	if slices.Contains(ids(withCtx), viewing) || !strings.Contains(withCtx.Items[0].Reasons[0], "being viewed") {
		t.Fatalf("context %s: %+v", viewing, withCtx.Items[0])
	}
	visitor := "anon:large-catalog-visitor"
	e.add(engine.Event{Alias: alias(t, visitor), Type: engine.EventView, Item: viewing, Quantity: 1, Time: time.Now()})
	if r := e.recommend(visitor, recommend.Request{}); r.Step != "item-to-item" || len(r.Items) == 0 {
		t.Fatalf("anonymous visitor: %+v", r)
	}
}

// TestCacheBudget: a cache too small for even one identity changes only
// how often the store is read, never a list or how fresh it is.
func TestCacheBudget(t *testing.T) {
	e := newEnv(t)
	tiny := &recommend.Service{Store: e.db, Serving: e.svc.Serving, CacheBytes: 1}
	get := func(s *recommend.Service, who string) []string {
		t.Helper()
		res, err := s.Recommend(context.Background(), alias(t, who), recommend.Request{N: 10, AvailableOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		return ids(res)
	}
	for round := 0; round < 2; round++ { // the second round reads whatever the caches kept
		for c := 1; c <= 20; c++ {
			who := fmt.Sprintf("customer:C%05d", c)
			if want, got := get(e.svc, who), get(tiny, who); !slices.Equal(want, got) {
				t.Fatalf("round %d, %s: %v with the default cache, %v with a 1-byte one", round, who, want, got)
			}
		}
	}
	first := get(tiny, someone)[0]
	ev := engine.Event{Alias: alias(t, someone), Type: engine.EventPurchase, Item: first, Quantity: 1, Time: time.Now()}
	if _, err := e.db.AppendEvents(context.Background(), []engine.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if err := tiny.Observe(context.Background(), []engine.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if got := get(tiny, someone); slices.Contains(got, first) {
		t.Fatalf("%s was just bought but is still recommended: %v", first, got)
	}
}
