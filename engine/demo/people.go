package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"rapport/engine"
)

// region is where a person shops from; offset is its UTC offset, used to put
// activity at local hours.
type region struct {
	name   string
	weight float64
	offset time.Duration
}

var consumerRegions = []region{
	{"UK", 0.30, 0}, {"EU-DE", 0.22, time.Hour}, {"EU-FR", 0.15, time.Hour},
	{"EU-NL", 0.08, time.Hour}, {"US-CA", 0.13, -8 * time.Hour}, {"US-NY", 0.12, -5 * time.Hour},
}

var businessRegions = []region{{"UK", 0.55, 0}, {"EU-DE", 0.35, time.Hour}, {"EU-NL", 0.10, time.Hour}}

func pickRegion(rng *rand.Rand, rs []region) region {
	var c cumulative
	for _, r := range rs {
		c = c.add(r.weight)
	}
	return rs[c.pick(rng)]
}

// person is one alias with its own random stream; it turns decisions into
// events.
type person struct {
	g       *generator
	rng     *rand.Rand
	alias   engine.Alias
	region  region
	reviews bool // whether purchases may be returned and rated later
}

// line is one product and quantity in a cart or order.
type line struct {
	item int
	qty  float64
}

// at returns a moment on day d at a local hour drawn from hours.
func (p *person) at(d int, hours cumulative) time.Time {
	h := hours.pick(p.rng)
	within := time.Duration(h)*time.Hour + time.Duration(p.rng.IntN(3600))*time.Second
	return p.g.day0.Add(time.Duration(d)*24*time.Hour + within - p.region.offset)
}

// next returns a moment a little (20 seconds to 3 minutes) after t.
func (p *person) next(t time.Time) time.Time {
	return t.Add(time.Duration(20+p.rng.IntN(160)) * time.Second)
}

// itemEvent queues an event about item i at its catalog price.
func (p *person) itemEvent(typ engine.EventType, i int, qty float64, t time.Time, src string, attrs map[string]string) {
	it := &p.g.cat.products[i].item
	p.g.emit(engine.Event{Alias: p.alias, Type: typ, Item: it.ID, Quantity: qty, Price: it.Price, Currency: it.Currency,
		Time: t, Source: src, Region: p.region.name, Attributes: attrs})
}

// view queues a view of item i and returns when the shopper moves on. About
// one view in ten came from a click on a recommendation (chosen by the
// clock, not the random stream, so the rest of the shop stays the same).
func (p *person) view(i int, t time.Time, src string) time.Time {
	typ := engine.EventView
	if t.Unix()%10 == 0 {
		typ = engine.EventClick
	}
	p.itemEvent(typ, i, 1, t, src, nil)
	return p.next(t)
}

// cart queues add_to_cart events for lines and returns the time after them.
func (p *person) cart(lines []line, t time.Time, src string) time.Time {
	for _, l := range lines {
		p.itemEvent(engine.EventAddToCart, l.item, l.qty, t, src, nil)
		t = p.next(t)
	}
	return t
}

// checkout queues the purchase of lines as one order and, for people who
// review, the returns and ratings that follow some of them. It returns the
// order number.
func (p *person) checkout(lines []line, t time.Time, src string) string {
	order := p.g.nextOrder()
	for _, l := range lines {
		p.itemEvent(engine.EventPurchase, l.item, l.qty, t, src, map[string]string{"order": order})
		if p.reviews {
			p.afterPurchase(l, t, order)
		}
	}
	return order
}

// afterPurchase returns a line days later with its category's return rate,
// and sometimes rates it: well for good items, badly when returned.
func (p *person) afterPurchase(l line, t time.Time, order string) {
	rng, pr := p.rng, &p.g.cat.products[l.item]
	returned := rng.Float64() < categories[pr.cat].returnRate
	if returned {
		rt := t.Add(time.Duration(4+rng.IntN(26))*24*time.Hour + time.Duration(rng.IntN(36000))*time.Second)
		p.itemEvent(engine.EventReturn, l.item, l.qty, rt, "web", map[string]string{"order": order})
	}
	if rng.Float64() < 0.07 {
		stars := 1 + rng.IntN(2)
		if !returned {
			stars = int(clamp(math.Floor(4.4+1.5*pr.quality+0.9*rng.NormFloat64()), 1, 5))
		}
		rt := t.Add(time.Duration(3+rng.IntN(22))*24*time.Hour + time.Duration(rng.IntN(36000))*time.Second)
		ev := engine.Event{Alias: p.alias, Type: engine.EventRating, Item: pr.item.ID, Quantity: 1, Price: pr.item.Price,
			Currency: pr.item.Currency, Time: rt, Source: "web", Region: p.region.name, Weight: float64(stars)}
		p.g.emit(ev)
	}
}

// visitor generates an anonymous visitor: a few browsing sessions over a
// few weeks, mostly among bestsellers, an occasional cart and a rare
// purchase.
func (g *generator) visitor(i int) {
	rng := g.rng(streamVisitor, i)
	id := fmt.Sprintf("v-%016x", mix64(uint64(i)^mix64(uint64(g.cfg.Seed))))
	p := &person{g: g, rng: rng, alias: engine.Alias{Kind: engine.KindAnon, Value: id}, region: pickRegion(rng, consumerRegions)}
	src := "web"
	if rng.Float64() < 0.25 {
		src = "app"
	}
	first := g.days.pick(rng)
	for k := range 1 + rng.IntN(4) {
		d := first
		if k > 0 {
			d = min(g.cfg.Days-1, first+rng.IntN(28))
		}
		cat := g.seasonalCategory(rng, d)
		t, last := p.at(d, hourly), -1
		for range 1 + rng.IntN(5) {
			from := &g.cat.byTop[cat]
			if rng.Float64() < 0.2 {
				from = &g.cat.all
			}
			if last = from.pick(rng); last < 0 {
				return
			}
			t = p.view(last, t, src)
		}
		if rng.Float64() < 0.1 && g.cat.buyable(last, d) {
			lines := []line{{last, 1}}
			t = p.cart(lines, t, src)
			if rng.Float64() < 0.25 {
				p.checkout(lines, t, src)
			}
		}
	}
}

// packs are the case sizes wholesale buyers order in.
var packs = []float64{24, 36, 48, 72, 96, 120, 144, 240, 480}

// businessHours are local hours of wholesale orders: 8:00 to 17:00.
var businessHours = func() cumulative {
	var c cumulative
	for h := range 24 {
		w := 0.0
		if h >= 8 && h < 17 {
			w = 1
		}
		c = c.add(w)
	}
	return c
}()

// wholesaler generates a B2B buyer that restocks the same 10 to 30 SKUs
// in cases every two to five weeks, on working days, more before Christmas,
// and now and then sends a damaged case back.
func (g *generator) wholesaler(i int) {
	rng := g.rng(streamWholesale, i)
	p := &person{g: g, rng: rng, alias: engine.Alias{Kind: engine.KindB2B, Value: fmt.Sprintf("ORG-%03d", i+1)},
		region: pickRegion(rng, businessRegions)}
	cats := []int{g.cat.catWeights.pick(rng)}
	if c := g.cat.catWeights.pick(rng); rng.Float64() < 0.5 && c != cats[0] {
		cats = append(cats, c)
	}
	want := 10 + rng.IntN(21)
	var skus []line
	for try := 0; len(skus) < want && try < 10*want; try++ {
		j := g.cat.byTop[cats[rng.IntN(len(cats))]].pick(rng)
		if j >= 0 && !hasItem(skus, j) {
			// Smaller cases are more common: the lesser of two draws.
			skus = append(skus, line{j, packs[min(rng.IntN(len(packs)), rng.IntN(len(packs)))]})
		}
	}
	if len(skus) == 0 {
		return
	}
	cadence := 14 + rng.IntN(22)
	for d := rng.IntN(cadence); d < g.cfg.Days; d += cadence {
		od := max(0, d+rng.IntN(7)-3)
		switch g.weekdayOf(od) {
		case time.Saturday:
			od += 2
		case time.Sunday:
			od++
		}
		if od >= g.cfg.Days {
			break
		}
		peak := g.month[od] == time.October || g.month[od] == time.November
		var order []line
		for _, s := range skus {
			if rng.Float64() >= 0.75 || !g.cat.buyable(s.item, od) {
				continue
			}
			if peak && rng.Float64() < 0.5 || rng.Float64() < 0.1 {
				s.qty *= 2
			}
			order = append(order, s)
		}
		if len(order) == 0 {
			continue
		}
		t := p.at(od, businessHours)
		if rng.Float64() < 0.3 {
			for range 1 + rng.IntN(3) {
				t = p.view(order[rng.IntN(len(order))].item, t, "web")
			}
		}
		t = p.cart(order, t, "web")
		id := p.checkout(order, t, "web")
		for _, l := range order {
			if rng.Float64() < 0.015 { // a damaged case or two sent back
				rt := t.Add(time.Duration(2+rng.IntN(12)) * 24 * time.Hour)
				p.itemEvent(engine.EventReturn, l.item, min(l.qty, float64(24*(1+rng.IntN(2)))), rt, "web", map[string]string{"order": id})
			}
		}
	}
}

func (g *generator) weekdayOf(d int) time.Weekday {
	if d < len(g.weekday) {
		return g.weekday[d]
	}
	return time.Monday
}

func hasItem(lines []line, i int) bool {
	for _, l := range lines {
		if l.item == i {
			return true
		}
	}
	return false
}
