package demo_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rapport/engine"
	"rapport/engine/demo"
)

// memory is a Writer that keeps everything in order.
type memory struct {
	items    []engine.Item
	events   []engine.Event
	ids      []uint64
	consents []engine.Consent
}

func (m *memory) AddConsent(a engine.Alias, c engine.Consent, id uint64) error {
	if c.Alias != a || len(m.events) == 0 || m.events[len(m.events)-1].Alias != a {
		return fmt.Errorf("consent of %s does not follow its person's events", a)
	}
	if errs := c.Validate(now); len(errs) > 0 {
		return fmt.Errorf("invalid consent: %v", errs)
	}
	m.consents = append(m.consents, c)
	m.ids = append(m.ids, id)
	return nil
}

func (m *memory) AddEvent(ev *engine.Event, eventID uint64) (bool, error) {
	m.events = append(m.events, *ev)
	m.ids = append(m.ids, eventID)
	return true, nil
}

func (m *memory) PutItem(it engine.Item) error {
	m.items = append(m.items, it)
	return nil
}

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func generate(t testing.TB, cfg demo.Config) (*memory, demo.Stats) {
	t.Helper()
	m := &memory{}
	st, err := demo.Generate(context.Background(), cfg, m)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return m, st
}

func small(seed int64) demo.Config {
	return demo.Config{Seed: seed, Now: now, Items: 300, Customers: 200, Visitors: 300, Wholesale: 5, Days: 120}
}

var (
	fullOnce  sync.Once
	fullShop  *memory
	fullStats demo.Stats
)

// full returns the shop of the default config, generated once.
func full(t *testing.T) (*memory, demo.Stats) {
	t.Helper()
	fullOnce.Do(func() { fullShop, fullStats = generate(t, demo.DefaultConfig(7, now)) })
	if fullShop == nil {
		t.Fatal("default shop failed to generate")
	}
	return fullShop, fullStats
}

func TestGenerateDeterministic(t *testing.T) {
	a, sa := generate(t, small(1))
	b, sb := generate(t, small(1))
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(sa, sb) {
		t.Fatal("two runs with the same config differ")
	}
	for i, id := range a.ids {
		if id != uint64(i+1) {
			t.Fatalf("event %d has id %d, want %d", i, id, i+1)
		}
	}
	c, _ := generate(t, small(2))
	if reflect.DeepEqual(a.events, c.events) {
		t.Fatal("a different seed gives the same events")
	}
}

func TestGenerateValid(t *testing.T) {
	cfg := demo.DefaultConfig(7, now)
	m, st := full(t)
	catalog := make(map[string]engine.Item, len(m.items))
	for i, it := range m.items {
		if errs := it.Validate(); len(errs) > 0 {
			t.Fatalf("item %s invalid: %v", it.ID, errs)
		}
		if want := fmt.Sprintf("SKU-%05d", i+1); it.ID != want {
			t.Fatalf("item %d is %q, want %q", i, it.ID, want)
		}
		if it.Currency != "EUR" || it.Price <= 0 || it.Title == "" || !strings.Contains(it.Category, " > ") {
			t.Fatalf("item %s is incomplete: %+v", it.ID, it)
		}
		catalog[it.ID] = it
	}
	start := now.Add(-time.Duration(cfg.Days) * 24 * time.Hour)
	people := map[engine.Alias]bool{}
	byType := map[engine.EventType]int{}
	for i := range m.events {
		ev := &m.events[i]
		if errs := ev.Validate(now); len(errs) > 0 {
			t.Fatalf("event %d invalid: %v (%+v)", i, errs, ev)
		}
		if ev.Time.After(now) || ev.Time.Before(start) {
			t.Fatalf("event %d at %v lies outside [%v, %v]", i, ev.Time, start, now)
		}
		if ev.Region == "" || ev.Quantity <= 0 {
			t.Fatalf("event %d lacks a region or quantity: %+v", i, ev)
		}
		if ev.Item != "" {
			it, ok := catalog[ev.Item]
			if !ok {
				t.Fatalf("event %d names unknown item %q", i, ev.Item)
			}
			if !ev.Type.IsSocial() && (ev.Price != it.Price || ev.Currency != "EUR") {
				t.Fatalf("event %d priced %v %s, item %v EUR", i, ev.Price, ev.Currency, it.Price)
			}
		}
		switch {
		case ev.Type.IsSocial():
			if ev.Quantity != 1 || !strings.HasPrefix(ev.Source, "social:") {
				t.Fatalf("social event %d: %+v", i, ev)
			}
		case ev.Type == engine.EventRating:
			if ev.Weight < 1 || ev.Weight > 5 || ev.Weight != math.Trunc(ev.Weight) {
				t.Fatalf("rating %d has weight %v", i, ev.Weight)
			}
		case ev.Type == engine.EventPurchase:
			if ev.Attributes["order"] == "" {
				t.Fatalf("purchase %d has no order: %+v", i, ev)
			}
		}
		people[ev.Alias] = true
		byType[ev.Type]++
	}
	if st.Items != len(m.items) || st.Events != len(m.events) || st.Identities != len(people) || !reflect.DeepEqual(st.ByType, byType) {
		t.Fatalf("stats %+v disagree with what was written: %d items, %d events, %d people, %v",
			st, len(m.items), len(m.events), len(people), byType)
	}
	t.Logf("default shop: %d items, %d identities, %d events %v", st.Items, st.Identities, st.Events, st.ByType)
}

func TestGenerateMix(t *testing.T) {
	_, st := full(t)
	for _, typ := range engine.EventTypes {
		if st.ByType[typ] == 0 {
			t.Errorf("no %s events", typ)
		}
	}
	if st.Events < 100_000 || st.Events > 200_000 {
		t.Errorf("default shop has %d events, want 100k to 200k", st.Events)
	}
	if r := float64(st.ByType[engine.EventReturn]) / float64(st.ByType[engine.EventPurchase]); r < 0.01 || r > 0.06 {
		t.Errorf("returns are %.1f%% of purchases, want about 3%%", 100*r)
	}
	if st.ByType[engine.EventView] <= st.ByType[engine.EventAddToCart] || st.ByType[engine.EventAddToCart] <= st.ByType[engine.EventPurchase] {
		t.Errorf("funnel is not narrowing: %v", st.ByType)
	}
}

func TestWholesaleQuantities(t *testing.T) {
	m, _ := full(t)
	var qty []float64
	for _, ev := range m.events {
		if ev.Alias.Kind == engine.KindB2B && ev.Type == engine.EventPurchase {
			qty = append(qty, ev.Quantity)
		}
	}
	if len(qty) == 0 {
		t.Fatal("no wholesale purchases")
	}
	slices.Sort(qty)
	if med := qty[len(qty)/2]; med < 24 {
		t.Errorf("median wholesale quantity is %v, want at least 24", med)
	}
}

func TestRepeatBuying(t *testing.T) {
	m, _ := full(t)
	type key struct {
		who  engine.Alias
		item string
	}
	bought := map[key]int{}
	for _, ev := range m.events {
		if ev.Alias.Kind == engine.KindCustomer && ev.Type == engine.EventPurchase {
			bought[key{ev.Alias, ev.Item}]++
		}
	}
	repeats := 0
	for _, n := range bought {
		if n >= 3 {
			repeats++
		}
	}
	if repeats < 50 {
		t.Errorf("%d customer-item pairs bought 3+ times, want at least 50", repeats)
	}
}

func TestBoughtTogether(t *testing.T) {
	m, _ := full(t)
	orders := map[string][]string{}
	for _, ev := range m.events {
		if ev.Type == engine.EventPurchase && ev.Alias.Kind != engine.KindB2B {
			o := ev.Attributes["order"]
			orders[o] = append(orders[o], ev.Item)
		}
	}
	pairs := map[[2]string]int{}
	for _, items := range orders {
		for i := range items {
			for j := i + 1; j < len(items); j++ {
				a, b := items[i], items[j]
				if a > b {
					a, b = b, a
				}
				pairs[[2]string{a, b}]++
			}
		}
	}
	strong := 0
	for _, n := range pairs {
		if n >= 3 {
			strong++
		}
	}
	if strong < 30 {
		t.Errorf("%d item pairs bought together in 3+ orders, want at least 30", strong)
	}
}

func TestSeasonality(t *testing.T) {
	m, _ := full(t)
	perDay := map[string]int{} // "2024-11-03" → purchases
	garden := map[time.Month]int{}
	for _, ev := range m.events {
		if ev.Type != engine.EventPurchase {
			continue
		}
		perDay[ev.Time.Format(time.DateOnly)]++
		if ev.Alias.Kind == engine.KindCustomer && strings.HasPrefix(m.items[itemIndex(ev.Item)].Category, "Garden") {
			garden[ev.Time.Month()]++
		}
	}
	var peak, rest, peakDays, restDays float64
	for d := now.AddDate(0, 0, -364); !d.After(now); d = d.AddDate(0, 0, 1) {
		n := float64(perDay[d.Format(time.DateOnly)])
		if d.Month() == time.November || d.Month() == time.December {
			peak, peakDays = peak+n, peakDays+1
		} else {
			rest, restDays = rest+n, restDays+1
		}
	}
	if peak/peakDays <= rest/restDays {
		t.Errorf("Nov-Dec average %.1f purchases a day, other months %.1f", peak/peakDays, rest/restDays)
	}
	if garden[time.June] <= garden[time.January] {
		t.Errorf("Garden purchases: %d in June, %d in January", garden[time.June], garden[time.January])
	}
}

func itemIndex(id string) int {
	var n int
	fmt.Sscanf(id, "SKU-%d", &n)
	return n - 1
}

func TestGenerateErrors(t *testing.T) {
	_, err := demo.Generate(context.Background(), demo.Config{Seed: 1}, &memory{})
	if engine.ErrorCode(err) != engine.CodeInvalid {
		t.Errorf("no Now: got %v, want an invalid error", err)
	}
	cfg := small(1)
	cfg.Items = -1
	if _, err := demo.Generate(context.Background(), cfg, &memory{}); engine.ErrorCode(err) != engine.CodeInvalid {
		t.Errorf("negative Items: got %v, want an invalid error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := demo.Generate(ctx, small(1), &memory{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: got %v, want context.Canceled", err)
	}
}

// discard is a Writer that keeps nothing, to time generation alone.
type discard struct{}

func (discard) AddEvent(*engine.Event, uint64) (bool, error)          { return true, nil }
func (discard) PutItem(engine.Item) error                             { return nil }
func (discard) AddConsent(engine.Alias, engine.Consent, uint64) error { return nil }

func BenchmarkGenerate(b *testing.B) {
	var st demo.Stats
	for b.Loop() {
		var err error
		if st, err = demo.Generate(context.Background(), demo.DefaultConfig(7, now), discard{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(st.Events), "events")
}
