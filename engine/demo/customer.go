package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"rapport/engine"
)

// taste is what a customer likes: one to three categories (the first most),
// a favourite subcategory in each and a few brands.
type taste struct {
	cats      []int
	weights   cumulative
	favSub    []int
	brands    []int
	brandBias float64 // chance of shopping a favourite brand when one fits
}

func newTaste(rng *rand.Rand, c *catalog) taste {
	var t taste
	want := 1
	if r := rng.Float64(); r >= 0.8 {
		want = 3
	} else if r >= 0.4 {
		want = 2
	}
	for try := 0; len(t.cats) < want && try < 20; try++ {
		cat := c.catWeights.pick(rng)
		if slices.Contains(t.cats, cat) {
			continue
		}
		t.weights = t.weights.add(math.Pow(0.45, float64(len(t.cats))) * (0.7 + 0.6*rng.Float64()))
		t.cats = append(t.cats, cat)
		t.favSub = append(t.favSub, c.firstSub(cat)+rng.IntN(len(categories[cat].subs)))
		if rng.Float64() < 0.75 && len(c.brandsOf[cat]) > 0 {
			var bw cumulative
			for _, b := range c.brandsOf[cat] {
				bw = bw.add(c.brands[b].weight)
			}
			if b := c.brandsOf[cat][bw.pick(rng)]; !slices.Contains(t.brands, b) {
				t.brands = append(t.brands, b)
			}
		}
	}
	t.brandBias = 0.2 + 0.4*rng.Float64()
	return t
}

// pickCat returns one of the customer's categories by preference.
func (t *taste) pickCat(rng *rand.Rand) int { return t.cats[t.weights.pick(rng)] }

// shopper is a registered customer with a taste, a shopping rhythm and a
// wish list.
type shopper struct {
	*person
	taste  taste
	join   int // first day of activity
	app    float64
	wished []int
}

// trip is one visit to the shop: with or without the intent to buy.
type trip struct {
	day, cat int
	buy      bool
}

// customer generates a registered customer. Some are loyal frequent buyers,
// most buy once or twice; each browses more than it buys, and some re-buy
// staples on a cadence or follow the shop on social media.
func (g *generator) customer(i int) {
	rng := g.rng(streamCustomer, i)
	s := &shopper{person: &person{g: g, rng: rng, reviews: true,
		alias:  engine.Alias{Kind: engine.KindCustomer, Value: fmt.Sprintf("C%05d", i+1)},
		region: pickRegion(rng, consumerRegions)}}
	days := g.cfg.Days
	if rng.Float64() >= 0.65 { // the rest signed up before the history starts
		s.join = rng.IntN(days)
	}
	s.taste = newTaste(rng, g.cat)
	var rate float64
	var staples int
	switch r := rng.Float64(); {
	case r < 0.12: // loyal
		rate, staples, s.app = 10+16*rng.Float64(), 1+rng.IntN(3), 0.6
	case r < 0.45: // regular
		rate, staples, s.app = 3+5*rng.Float64(), rng.IntN(3), 0.35
	default: // occasional, often a single order
		rate, s.app = 0.5+1.3*rng.Float64(), 0.2
		if rng.Float64() < 0.15 {
			staples = 1
		}
	}
	buys := poisson(rng, rate*float64(days-s.join)/365)
	if buys == 0 && rng.Float64() < 0.6 {
		buys = 1
	}
	trips := make([]trip, 0, 2*buys+2)
	for k := range buys + poisson(rng, 1.3*float64(buys)+1) {
		cat := s.taste.pickCat(rng)
		trips = append(trips, trip{day: g.catDays[cat].pickRange(rng, s.join, days), cat: cat, buy: k < buys})
	}
	slices.SortStableFunc(trips, func(a, b trip) int { return a.day - b.day })
	for _, tr := range trips {
		s.session(tr)
	}
	for range staples {
		s.staple()
	}
	if rng.Float64() < 0.15 {
		s.social()
	}
	s.analytics(s.join)
}

// source returns the channel of a session: the customer's usual one mostly.
func (s *shopper) source() string {
	if s.rng.Float64() < s.app {
		return "app"
	}
	return "web"
}

// pickItem chooses an item in category cat the way this customer would: a
// favourite brand, the favourite subcategory or what sells best.
func (s *shopper) pickItem(cat int) int {
	c, rng := s.g.cat, s.rng
	r := rng.Float64()
	if r < s.taste.brandBias {
		var fits []int
		for _, b := range s.taste.brands {
			if len(c.byBrand[cat][b].items) > 0 {
				fits = append(fits, b)
			}
		}
		if len(fits) > 0 {
			return c.byBrand[cat][fits[rng.IntN(len(fits))]].pick(rng)
		}
	}
	if k := slices.Index(s.taste.cats, cat); k >= 0 && r < 0.65 {
		if j := c.bySub[s.taste.favSub[k]].pick(rng); j >= 0 {
			return j
		}
	}
	if j := c.byTop[cat].pick(rng); j >= 0 {
		return j
	}
	return c.all.pick(rng)
}

// quantity is how many of item i a customer buys at once.
func (s *shopper) quantity(i int) float64 {
	c := s.g.cat
	pr := &c.products[i]
	if categories[pr.cat].subs[pr.sub-c.firstSub(pr.cat)].consumable && s.rng.Float64() < 0.4 {
		return float64(2 + s.rng.IntN(3))
	}
	return 1
}

// session plays one trip: views of similar items in a subcategory; for a
// buying trip, the target and some of its bundle go to the cart and most
// carts are bought; browsing trips end in a wish or an abandoned cart.
func (s *shopper) session(tr trip) {
	g, rng := s.g, s.rng
	t, src := s.at(tr.day, hourly), s.source()
	if tr.buy && rng.Float64() < 0.03 { // in a store, no browsing
		if j := s.pickItem(tr.cat); j >= 0 && g.cat.buyable(j, tr.day) {
			s.checkout([]line{{j, s.quantity(j)}}, t, "pos")
		}
		return
	}
	target := -1
	if tr.buy && len(s.wished) > 0 && rng.Float64() < 0.4 {
		k := rng.IntN(len(s.wished))
		target = s.wished[k]
		s.wished = slices.Delete(s.wished, k, k+1)
	}
	if target < 0 {
		if target = s.pickItem(tr.cat); target < 0 {
			return
		}
	}
	similar := &g.cat.bySub[g.cat.products[target].sub]
	others := rng.IntN(5)
	if !tr.buy {
		others = rng.IntN(4)
	}
	for range others {
		t = s.view(similar.pick(rng), t, src)
	}
	t = s.view(target, t, src)
	buyable := g.cat.buyable(target, tr.day)
	if !tr.buy || !buyable {
		if rng.Float64() < 0.12 && !slices.Contains(s.wished, target) {
			s.itemEvent(engine.EventWishlist, target, 1, t, src, nil)
			s.wished = append(s.wished, target)
			t = s.next(t)
		}
		if buyable && rng.Float64() < 0.12 {
			s.cart([]line{{target, 1}}, t, src)
		}
		return
	}
	lines := []line{{target, s.quantity(target)}}
	t = s.cart(lines, t, src)
	for _, j := range g.cat.products[target].bundle {
		if rng.Float64() >= 0.3 || !g.cat.buyable(j, tr.day) {
			continue
		}
		if rng.Float64() < 0.7 {
			t = s.view(j, t, src)
		}
		l := line{j, 1}
		t = s.cart([]line{l}, t, src)
		lines = append(lines, l)
	}
	if rng.Float64() < 0.22 { // abandoned
		if rng.Float64() < 0.3 && !slices.Contains(s.wished, target) {
			s.itemEvent(engine.EventWishlist, target, 1, t, src, nil)
			s.wished = append(s.wished, target)
		}
		return
	}
	s.checkout(lines, s.next(t), src)
}

// staple makes the customer re-buy one consumable on a cadence of two to
// eight weeks, with jitter, until the history ends or the item is dropped.
func (s *shopper) staple() {
	g, rng := s.g, s.rng
	from := &g.cat.consumable[len(categories)]
	if cat := s.taste.pickCat(rng); len(g.cat.consumable[cat].items) > 0 {
		from = &g.cat.consumable[cat]
	}
	item := from.pick(rng)
	if item < 0 {
		return
	}
	cadence := 12 + rng.IntN(45)
	qty := float64(1 + rng.IntN(2))
	for d := s.join + rng.IntN(cadence); d < g.cfg.Days && g.cat.buyable(item, d); {
		t, src := s.at(d, hourly), s.source()
		if rng.Float64() < 0.4 {
			t = s.view(item, t, src)
		}
		lines := []line{{item, qty}}
		s.checkout(lines, s.cart(lines, t, src), src)
		d += max(1, cadence+int(float64(cadence)*0.25*(2*rng.Float64()-1)))
	}
}

// analytics records, where the policy asks for opt-in, the consent banner
// most people accept on their first visit (day join): seven in ten grant
// analytics, so experiments count them.
func (p *person) analytics(join int) {
	if policy.For(p.region.name, engine.PurposeAnalytics) || p.rng.Float64() >= 0.7 {
		return
	}
	p.g.consents = append(p.g.consents, engine.Consent{Purpose: engine.PurposeAnalytics, Granted: true, Source: "web",
		Time: p.g.day0.Add(time.Duration(join) * 24 * time.Hour), PolicyVersion: "2026-01", Alias: p.alias})
}

// policy is the consent policy the demo shop runs under.
var policy = engine.DefaultConsentPolicy()

// social emits likes and follows from Instagram or Facebook: of items the
// customer likes, their brands and their categories. Six in ten consent
// to social signals; of the rest, those where the policy asks for opt-in
// (the EU, the UK) send none, as ingestion would not store them.
func (s *shopper) social() {
	g, rng := s.g, s.rng
	if rng.Float64() < 0.6 {
		g.consents = append(g.consents, engine.Consent{Purpose: engine.PurposeSocial, Granted: true, Source: "web",
			Time: s.at(s.join, hourly), PolicyVersion: "2026-01", Alias: s.alias})
	} else if !policy.For(s.region.name, engine.PurposeSocial) {
		return
	}
	providers := []string{"social:instagram", "social:facebook"}
	if r := rng.Float64(); r < 0.5 {
		providers = providers[:1]
	} else if r < 0.8 {
		providers = providers[1:]
	}
	var followed []string
	for range 2 + rng.IntN(12) {
		d := s.join + rng.IntN(g.cfg.Days-s.join)
		ev := engine.Event{Alias: s.alias, Type: engine.EventSocialLike, Quantity: 1, Time: s.at(d, hourly),
			Source: providers[rng.IntN(len(providers))], Region: s.region.name}
		cat := s.taste.pickCat(rng)
		item := s.pickItem(cat)
		if item < 0 {
			return
		}
		brand := g.cat.brands[g.cat.products[item].brand].name
		if len(s.taste.brands) > 0 {
			brand = g.cat.brands[s.taste.brands[rng.IntN(len(s.taste.brands))]].name
		}
		switch r := rng.Float64(); {
		case r < 0.5:
			ev.Item = g.cat.products[item].item.ID
		case r < 0.7:
			ev.Type, ev.Target = engine.EventSocialFollow, "brand:"+brand
		case r < 0.8:
			ev.Target = "brand:" + brand
		case r < 0.92:
			ev.Type, ev.Target = engine.EventSocialFollow, "category:"+categories[cat].name
		default:
			ev.Target = "category:" + categories[cat].name
		}
		if ev.Type == engine.EventSocialFollow {
			if slices.Contains(followed, ev.Target) {
				continue
			}
			followed = append(followed, ev.Target)
		}
		g.emit(ev)
	}
}
