package recommend

import (
	"context"
	"slices"
	"strings"
	"sync"

	"rapport/engine"
	"rapport/engine/model"
)

// catalog is the item metadata serving filters and explains with, aligned
// with one model version's item indices. It is replaced whole, never
// changed in place.
type catalog struct {
	version string
	byID    map[string]engine.Item
	meta    []*engine.Item // by model item index; nil where the catalog lacks the item

	thirdsOnce sync.Once
	low, high  float64 // the prices a third and two thirds of the way up
}

// thirds returns the catalog's price terciles (0, 0 without prices).
func (c *catalog) thirds() (low, high float64) {
	c.thirdsOnce.Do(func() {
		var prices []float64
		for _, it := range c.byID {
			if it.Price > 0 {
				prices = append(prices, it.Price)
			}
		}
		if len(prices) > 0 {
			slices.Sort(prices)
			c.low, c.high = prices[len(prices)/3], prices[2*len(prices)/3]
		}
	})
	return c.low, c.high
}

// attrs returns an item's category and brand ("" where unknown).
func (c *catalog) attrs(i int32) (category, brand string) {
	if m := c.meta[i]; m != nil {
		return m.Category, m.Brand
	}
	return "", ""
}

func newCatalog(l *model.Loaded, byID map[string]engine.Item) *catalog {
	c := &catalog{version: l.VersionID(), byID: byID, meta: make([]*engine.Item, len(l.Trained.Items))}
	for i, id := range l.Trained.Items {
		if it, ok := byID[id]; ok {
			c.meta[i] = &it
		}
	}
	return c
}

// catalogFor returns the catalog aligned with l, loading the items from
// the store the first time.
func (s *Service) catalogFor(ctx context.Context, l *model.Loaded) (*catalog, error) {
	c := s.catalog.Load()
	if c != nil && c.version == l.VersionID() {
		return c, nil
	}
	var byID map[string]engine.Item
	if c != nil {
		byID = c.byID
	} else {
		byID = map[string]engine.Item{}
		err := s.Store.ScanItems(ctx, func(it engine.Item) error { byID[it.ID] = it; return nil })
		if err != nil {
			return nil, err
		}
	}
	c = newCatalog(l, byID)
	s.catalog.Store(c)
	return c, nil
}

// ObserveItems takes upserted catalog items into serving at once.
func (s *Service) ObserveItems(ctx context.Context, items []engine.Item) error {
	l := s.Serving.Load()
	if l == nil {
		return nil
	}
	s.itemsMu.Lock() // one writer at a time, so no upsert is lost
	defer s.itemsMu.Unlock()
	c, err := s.catalogFor(ctx, l)
	if err != nil {
		return err
	}
	byID := make(map[string]engine.Item, len(c.byID)+len(items))
	for k, v := range c.byID {
		byID[k] = v
	}
	for _, it := range items {
		byID[it.ID] = it
	}
	s.catalog.Store(newCatalog(l, byID))
	s.catalogGen.Add(1) // cached lists filtered by the old catalog are stale
	return nil
}

// inCategory reports whether an item's category is cat or lies under it
// ("Home > Kitchen" is in "Home").
func inCategory(itemCat, cat string) bool {
	return itemCat == cat || strings.HasPrefix(itemCat, cat+" > ")
}

// label names an item for a reason: its title, or its id.
func (c *catalog) label(i int32) string {
	if m := c.meta[i]; m != nil && m.Title != "" {
		return m.Title
	}
	return ""
}
