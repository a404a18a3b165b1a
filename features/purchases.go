package features

import (
	"math"
	"slices"
	"time"

	"rapport/engine"
)

// eventWeight is how much one event says about interest; returns take
// interest back.
var eventWeight = map[engine.EventType]float64{
	engine.EventPurchase:  1,
	engine.EventAddToCart: 0.4,
	engine.EventWishlist:  0.3,
	engine.EventView:      0.1,
	engine.EventClick:     0.15, // a click on a recommended item
	engine.EventReturn:    -1,
}

// Purchases is the source built from a person's own shopping events:
// views, carts, wishlists, ratings, purchases and returns. Social signals
// are not read here.
type Purchases struct {
	HalfLife time.Duration // decay of affinities; 0 means none
}

func (s *Purchases) Name() string { return "events" }

func (s *Purchases) Apply(p *engine.Identity, events []engine.Event, v *engine.FeatureVector, cat *Catalog, now time.Time) {
	items, cats, brands := map[string]float64{}, map[string]float64{}, map[string]float64{}
	spend := map[string]float64{}
	days := map[int64]bool{}
	var prices, qtys []float64
	var last time.Time
	hl := s.HalfLife.Seconds()
	for _, ev := range events {
		if ev.Type.IsSocial() || ev.Item == "" {
			continue
		}
		w := eventWeight[ev.Type]
		if ev.Type == engine.EventRating {
			w = 0.3 * (ev.Weight/2.5 - 1)
		}
		age := now.Sub(ev.Time).Seconds()
		d := 1.0
		if hl > 0 && age > 0 {
			d = math.Exp2(-age / hl)
		}
		items[ev.Item] += w * d
		it := cat.Item(ev.Item)
		if it.Category != "" {
			cats[it.Category] += w * d
		}
		if it.Brand != "" {
			brands[it.Brand] += w * d
		}
		switch ev.Type {
		case engine.EventPurchase:
			v.Purchases++
			days[ev.Time.Unix()/86400] = true
			qtys = append(qtys, ev.Quantity)
			if ev.Price > 0 {
				prices = append(prices, ev.Price)
				spend[ev.Currency] += ev.Price * ev.Quantity
			}
			if ev.Time.After(last) {
				last = ev.Time
			}
		case engine.EventReturn:
			spend[ev.Currency] -= ev.Price * ev.Quantity
		}
	}
	v.Items, v.Categories, v.Brands = top(items), top(cats), top(brands)
	v.Orders = len(days)
	if !last.IsZero() {
		v.RecencyDays = now.Sub(last).Hours() / 24
	}
	if len(days) >= 2 {
		ds := make([]int64, 0, len(days))
		for d := range days {
			ds = append(ds, d)
		}
		slices.Sort(ds)
		v.FrequencyDays = float64(ds[len(ds)-1]-ds[0]) / float64(len(ds)-1)
	}
	for cur, amount := range spend {
		if v.Currency == "" || amount > spend[v.Currency] || amount == spend[v.Currency] && cur < v.Currency {
			v.Currency, v.Monetary = cur, amount
		}
	}
	if len(prices) > 0 {
		slices.Sort(prices)
		v.PriceP25, v.PriceP50, v.PriceP75 = quantile(prices, 0.25), quantile(prices, 0.5), quantile(prices, 0.75)
		v.PriceBand = cat.Band(v.PriceP50)
	}
	if len(qtys) > 0 {
		slices.Sort(qtys)
		v.TypicalQty = quantile(qtys, 0.5)
	}
}

// quantile of sorted values, interpolating linearly.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	return sorted[lo] + (pos-float64(lo))*(sorted[lo+1]-sorted[lo])
}
