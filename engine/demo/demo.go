// Package demo generates a synthetic shop: a catalog and a year of behaviour
// by registered customers, anonymous visitors and wholesale buyers. The data
// has the structure recommenders learn from (tastes, bestsellers, items
// bought together, repeat purchases, seasons), so it serves demos,
// documentation examples and model training and evaluation alike.
package demo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"rapport/engine"
)

// Writer receives the generated data; store.Loader implements it.
// AddConsent comes after the person's events, under an id that, like an
// event id, is the same on every run.
type Writer interface {
	AddEvent(ev *engine.Event, eventID uint64) (bool, error)
	PutItem(it engine.Item) error
	AddConsent(a engine.Alias, c engine.Consent, id uint64) error
}

// Config sets the size and shape of the generated shop. Zero fields take
// defaults from DefaultConfig.
type Config struct {
	Seed      int64
	Now       time.Time // end of the generated history (events lie in the year before it); required
	Items     int       // default 2000
	Customers int       // registered customers, default 1500
	Visitors  int       // anonymous visitors, default 3000
	Wholesale int       // wholesale (B2B) buyers, default 40
	Days      int       // history length, default 365
}

// DefaultConfig returns the default shop ending at now.
func DefaultConfig(seed int64, now time.Time) Config {
	return Config{Seed: seed, Now: now, Items: 2000, Customers: 1500, Visitors: 3000, Wholesale: 40, Days: 365}
}

// withDefaults fills zero fields and rejects a missing Now or negative sizes
// with a CodeInvalid error.
func (c Config) withDefaults() (Config, error) {
	if c.Now.IsZero() {
		return c, engine.Errorf(engine.CodeInvalid, "demo: Now is required")
	}
	d := DefaultConfig(c.Seed, c.Now)
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{{"Items", &c.Items, d.Items}, {"Customers", &c.Customers, d.Customers}, {"Visitors", &c.Visitors, d.Visitors},
		{"Wholesale", &c.Wholesale, d.Wholesale}, {"Days", &c.Days, d.Days}} {
		if *f.v < 0 {
			return c, engine.Errorf(engine.CodeInvalid, "demo: %s must not be negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	return c, nil
}

// Stats counts what Generate wrote. Identities counts the people with at
// least one event written; Events counts the events the Writer accepted.
type Stats struct {
	Items, Identities, Events, Consents int
	ByType                              map[engine.EventType]int
}

// Generate writes a deterministic synthetic shop to w: the same Config gives
// the same items and events (same IDs, same order). Items come first, then
// each person's events in time order; event IDs count up from 1 in that
// order. Item IDs are "SKU-00001" style (five digits, 1-based), so
// documentation can name "SKU-00001". Generate stops with ctx's error when
// ctx ends and returns what it wrote so far. The Writer may keep the events
// and items it is given; Generate does not touch them afterwards.
func Generate(ctx context.Context, cfg Config, w Writer) (Stats, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Stats{}, err
	}
	g := newGenerator(cfg, w)
	for i := range g.cat.products {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return g.stats, err
			}
		}
		it := g.cat.products[i].item
		if err := w.PutItem(it); err != nil {
			return g.stats, fmt.Errorf("put item %s: %w", it.ID, err)
		}
		g.stats.Items++
	}
	for _, phase := range []struct {
		n   int
		run func(int)
	}{{cfg.Customers, g.customer}, {cfg.Wholesale, g.wholesaler}, {cfg.Visitors, g.visitor}} {
		for i := range phase.n {
			if i%64 == 0 {
				if err := ctx.Err(); err != nil {
					return g.stats, err
				}
			}
			phase.run(i)
			if err := g.flush(); err != nil {
				return g.stats, err
			}
		}
	}
	return g.stats, nil
}

// Random streams: each person draws from their own, so adding customers
// does not change the ones already there.
const (
	streamCatalog uint64 = iota
	streamCustomer
	streamWholesale
	streamVisitor
)

// generator holds the catalog, the calendar and the events of the person
// being generated.
type generator struct {
	cfg      Config
	w        Writer
	cat      *catalog
	start    time.Time // earliest moment of the history: Now less Days
	day0     time.Time // midnight UTC starting day 0; the last day holds Now
	now      time.Time
	month    []time.Month   // month of each day
	weekday  []time.Weekday // weekday of each day
	days     cumulative     // overall shopping activity by day
	catDays  []cumulative   // activity by day for each top category
	buf      []engine.Event
	consents []engine.Consent // the current person's, written after their events
	eventID  uint64
	orders   int
	stats    Stats
}

func newGenerator(cfg Config, w Writer) *generator {
	g := &generator{cfg: cfg, w: w, now: cfg.Now.UTC(), catDays: make([]cumulative, len(categories)),
		stats: Stats{ByType: make(map[engine.EventType]int)}}
	g.start = g.now.Add(-time.Duration(cfg.Days) * 24 * time.Hour)
	g.day0 = g.now.Truncate(24 * time.Hour).Add(-time.Duration(cfg.Days-1) * 24 * time.Hour)
	for d := range cfg.Days {
		noon := g.day0.Add(time.Duration(d)*24*time.Hour + 12*time.Hour)
		g.month = append(g.month, noon.Month())
		g.weekday = append(g.weekday, noon.Weekday())
		f := dayFactor(noon)
		g.days = g.days.add(f)
		for c := range categories {
			g.catDays[c] = g.catDays[c].add(f * categories[c].season[noon.Month()-1])
		}
	}
	g.cat = newCatalog(g.rng(streamCatalog, 0), cfg.Items, cfg.Days)
	return g
}

// weekly is the share of shopping by weekday, Sunday first.
var weekly = [7]float64{1.2, 0.9, 0.9, 0.95, 1, 1.05, 1.15}

// monthly is the share of shopping by month, January first.
var monthly = [12]float64{0.85, 0.8, 0.9, 0.95, 1, 0.95, 0.95, 0.9, 0.95, 1.05, 1.5, 1.8}

// dayFactor is how busy the shop is on the day of t: a weekly rhythm, a
// yearly one, Black Friday week and the run-up to Christmas.
func dayFactor(t time.Time) float64 {
	f := weekly[t.Weekday()] * monthly[t.Month()-1]
	switch {
	case t.Month() == time.November && t.Day() >= 23:
		f *= 1.5
	case t.Month() == time.December && t.Day() <= 20:
		f *= 1.2
	case t.Month() == time.December && t.Day() >= 25:
		f *= 0.6
	}
	return f
}

// hourly is the share of consumer shopping by local hour.
var hourly = func() cumulative {
	var c cumulative
	for _, w := range []float64{0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 0.9, 1.1, 1.2, 1.3, 1.3,
		1.5, 1.4, 1.2, 1.2, 1.3, 1.4, 1.6, 1.9, 2.1, 1.9, 1.3, 0.7} {
		c = c.add(w)
	}
	return c
}()

// rng returns the random source for one person (or the catalog).
func (g *generator) rng(stream uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(mix64(uint64(g.cfg.Seed)^stream), mix64(stream<<40|uint64(i))))
}

// emit queues an event of the current person; events outside the history
// (a return due after Now, say) are dropped.
func (g *generator) emit(ev engine.Event) {
	if ev.Time.After(g.now) || ev.Time.Before(g.start) {
		return
	}
	g.buf = append(g.buf, ev)
}

// flush writes the current person's events in time order.
func (g *generator) flush() error {
	if len(g.buf) == 0 {
		g.consents = g.consents[:0]
		return nil
	}
	slices.SortStableFunc(g.buf, func(a, b engine.Event) int { return a.Time.Compare(b.Time) })
	wrote := false
	for i := range g.buf {
		ev := g.buf[i]
		g.eventID++
		ok, err := g.w.AddEvent(&ev, g.eventID)
		if err != nil {
			return fmt.Errorf("add event %d: %w", g.eventID, err)
		}
		if ok {
			wrote = true
			g.stats.Events++
			g.stats.ByType[ev.Type]++
		}
	}
	if wrote {
		g.stats.Identities++
		for _, c := range g.consents {
			g.eventID++
			if err := g.w.AddConsent(c.Alias, c, g.eventID); err != nil {
				return fmt.Errorf("add consent %d: %w", g.eventID, err)
			}
			g.stats.Consents++
		}
	}
	clear(g.buf)
	g.buf, g.consents = g.buf[:0], g.consents[:0]
	return nil
}

// nextOrder returns a new order number.
func (g *generator) nextOrder() string {
	g.orders++
	return fmt.Sprintf("O%07d", g.orders)
}

// seasonalCategory picks a top category for an anonymous session on day d.
func (g *generator) seasonalCategory(rng *rand.Rand, d int) int {
	var c cumulative
	for _, cat := range categories {
		c = c.add(cat.weight * cat.season[g.month[d]-1])
	}
	return c.pick(rng)
}

// poisson draws a Poisson-distributed count with mean lambda.
func poisson(rng *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, rng.Float64()
	for p > l {
		k++
		p *= rng.Float64()
	}
	return k
}

// mix64 is the SplitMix64 finaliser: a bijection that scatters bits.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
