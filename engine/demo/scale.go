package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"rapport/engine"
)

// ScaleConfig sizes a lean synthetic shop for load tests at catalog
// scale: the demo catalog, and many customers with a handful of purchases
// each (the full demo's behaviour would make hundreds of events a person).
type ScaleConfig struct {
	Seed      int64
	Now       time.Time
	Items     int
	Customers int
	Purchases int // mean purchases a customer, default 6
	Days      int // default 365
}

// GenerateScale writes the catalog and, per customer ("customer:S0000001"),
// a few purchases and views drawn from one or two favourite subcategories
// (and items bought together with them), deterministic for the config.
func GenerateScale(ctx context.Context, cfg ScaleConfig, w Writer) (Stats, error) {
	if cfg.Now.IsZero() || cfg.Items < 1 || cfg.Customers < 1 {
		return Stats{}, engine.Errorf(engine.CodeInvalid, "demo: Now, Items and Customers are required")
	}
	if cfg.Purchases <= 0 {
		cfg.Purchases = 6
	}
	if cfg.Days <= 0 {
		cfg.Days = 365
	}
	st := Stats{ByType: map[engine.EventType]int{}}
	c := newCatalog(rand.New(rand.NewPCG(uint64(cfg.Seed), streamCatalog)), cfg.Items, cfg.Days)
	for i := range c.products {
		if err := w.PutItem(c.products[i].item); err != nil {
			return st, fmt.Errorf("put item: %w", err)
		}
		st.Items++
	}
	var eventID uint64
	start := cfg.Now.AddDate(0, 0, -cfg.Days)
	span := cfg.Now.Sub(start) - time.Minute
	for u := 0; u < cfg.Customers; u++ {
		if u%4096 == 0 && ctx.Err() != nil {
			return st, ctx.Err()
		}
		rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(u)<<8|0x5c))
		alias := engine.Alias{Kind: engine.KindCustomer, Value: fmt.Sprintf("S%07d", u+1)}
		region := pickRegion(rng, consumerRegions).name
		fav := []int{c.products[rng.IntN(len(c.products))].sub, c.products[rng.IntN(len(c.products))].sub}
		n := 1 + rng.IntN(2*cfg.Purchases-1)
		for k := 0; k < n; k++ {
			sub := fav[0]
			if rng.IntN(4) == 0 {
				sub = fav[1]
			}
			i := c.bySub[sub].pick(rng)
			if i < 0 {
				continue
			}
			if b := c.products[i].bundle; len(b) > 0 && rng.IntN(3) == 0 {
				i = b[rng.IntN(len(b))]
			}
			it := c.products[i].item
			at := start.Add(time.Duration(rng.Int64N(int64(span))))
			for _, typ := range []engine.EventType{engine.EventView, engine.EventPurchase} {
				eventID++
				ev := engine.Event{Alias: alias, Type: typ, Item: it.ID, Quantity: 1, Price: it.Price, Currency: it.Currency,
					Time: at, Source: "web", Region: region}
				if _, err := w.AddEvent(&ev, eventID); err != nil {
					return st, fmt.Errorf("add event: %w", err)
				}
				st.Events++
				st.ByType[typ]++
				at = at.Add(time.Minute)
			}
		}
		st.Identities++
	}
	return st, nil
}
