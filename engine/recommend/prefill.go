package recommend

import (
	"context"
	"slices"
	"sort"
	"time"

	"rapport/engine"
	"rapport/engine/model"
)

// PrefillItem is one line of a prefilled order form: the buy-again entry
// (usual quantity, cadence, next expected order, due now) with how sure
// Rapport is and where it comes from.
type PrefillItem struct {
	Reorder
	// Confidence grows with the orders behind the entry: orders/(orders+2),
	// halved for what only the organisation bought.
	Confidence float64 `json:"confidence"`
	Source     string  `json:"source"` // "history" (the person's own orders) or "organisation" (other members')
}

// Preferred is a preferred category or brand with where it comes from:
// "explicit" (the preference centre; confidence 1) or "inferred" (share
// of the items bought).
type Preferred struct {
	Key        string  `json:"key"`
	Confidence float64 `json:"confidence"`
	Source     string  `json:"source"`
}

// Prefill is a buyer's prefilled buying preferences.
type Prefill struct {
	Alias        string        `json:"alias,omitempty"`
	Org          string        `json:"org,omitempty"`
	ModelVersion string        `json:"model_version"`
	Items        []PrefillItem `json:"items"`
	Categories   []Preferred   `json:"categories"`
	Brands       []Preferred   `json:"brands"`
	PriceTier    string        `json:"price_tier,omitempty"` // budget, mid or premium: the median catalog price of what was bought against the catalog's thirds
}

// orgWeight is how much the organisation's orders weigh in a member's
// prefill against their own.
const orgWeight = 0.5

// Prefill fills a buyer's order form: what they usually buy, in the usual
// quantities, when it is due, ranked by the buy-again model; blended with
// what the rest of their organisation buys (members: the other members'
// aliases; none for a person outside any). Explicit preferences win:
// excluded categories and brands are left out, favourites lead the lists.
func (s *Service) Prefill(ctx context.Context, a engine.Alias, org engine.OrgID, members []engine.Alias, n int) (Prefill, error) {
	l := s.Serving.Load()
	if l == nil {
		return Prefill{}, ErrNoModel
	}
	cat, err := s.catalogFor(ctx, l)
	if err != nil {
		return Prefill{}, err
	}
	st, err := s.stateFor(ctx, l, a)
	if err != nil {
		return Prefill{}, err
	}
	own := s.reorders(l, st.purchases, st.region, 4*n)
	var group []purchase
	for _, m := range members {
		if m == a {
			continue
		}
		ms, err := s.stateFor(ctx, l, m)
		if err != nil {
			return Prefill{}, err
		}
		group = append(group, ms.purchases...)
	}
	slices.SortStableFunc(group, func(x, y purchase) int { return int(x.time - y.time) })
	theirs := s.reorders(l, group, st.region, 4*n)
	out := Prefill{Alias: a.String(), Org: string(org), ModelVersion: l.VersionID()}
	out.Items = blend(own, theirs, n, func(item string) bool { return excluded(cat, &st.prefs, item) })
	out.Categories, out.Brands, out.PriceTier = preferred(cat, &st.prefs, append(slices.Clone(st.purchases), group...))
	return out, nil
}

// OrgPrefill fills an organisation's order form from all its members'
// orders.
func (s *Service) OrgPrefill(ctx context.Context, org engine.OrgID, members []engine.Alias, n int) (Prefill, error) {
	l := s.Serving.Load()
	if l == nil {
		return Prefill{}, ErrNoModel
	}
	cat, err := s.catalogFor(ctx, l)
	if err != nil {
		return Prefill{}, err
	}
	var all []purchase
	for _, m := range members {
		ms, err := s.stateFor(ctx, l, m)
		if err != nil {
			return Prefill{}, err
		}
		all = append(all, ms.purchases...)
	}
	slices.SortStableFunc(all, func(x, y purchase) int { return int(x.time - y.time) })
	items := s.reorders(l, all, "", n)
	out := Prefill{Org: string(org), ModelVersion: l.VersionID(), Items: make([]PrefillItem, 0, len(items))}
	for _, r := range items {
		out.Items = append(out.Items, PrefillItem{Reorder: r, Confidence: confidence(r.Orders), Source: "organisation"})
	}
	out.Categories, out.Brands, out.PriceTier = preferred(cat, &engine.Preferences{}, all)
	return out, nil
}

// reorders ranks what purchases hold by the buy-again model, best first.
func (s *Service) reorders(l *model.Loaded, purchases []purchase, region string, n int) []Reorder {
	if len(purchases) == 0 {
		return nil
	}
	t := l.Trained
	p := &model.Profile{User: -1, Region: region, Now: t.Now}
	for _, pu := range purchases {
		typ := engine.EventPurchase
		if pu.ret {
			typ = engine.EventReturn
		}
		p.History = append(p.History, model.Interaction{Item: pu.item, Type: typ, Time: pu.time, Qty: pu.qty})
		p.Now = max(p.Now, pu.time)
	}
	scores := make([]float64, len(t.Items))
	t.Ranker.BuyAgain().Score(p, scores)
	now := time.Unix(p.Now, 0).UTC()
	var out []Reorder
	for _, c := range model.TopN(scores, n, nil) {
		r := reorderStats(purchases, c.Item, now)
		if r.Orders == 0 {
			continue
		}
		r.Item, r.Score = t.Items[c.Item], c.Score
		out = append(out, r)
	}
	return out
}

func confidence(orders int) float64 { return float64(orders) / float64(orders+2) }

// blend merges a member's own reorders with the organisation's, each list
// normalised to its best score, the organisation's weighted by orgWeight.
func blend(own, theirs []Reorder, n int, skip func(item string) bool) []PrefillItem {
	byItem := map[string]*PrefillItem{}
	var out []*PrefillItem
	add := func(list []Reorder, w float64, source string) {
		if len(list) == 0 || list[0].Score <= 0 {
			return
		}
		top := list[0].Score
		for _, r := range list {
			if skip(r.Item) {
				continue
			}
			if e := byItem[r.Item]; e != nil {
				e.Score += w * r.Score / top
				continue
			}
			conf := confidence(r.Orders)
			if source == "organisation" {
				conf /= 2
				r.Reasons = []string{"your organisation buys it"}
			}
			e := &PrefillItem{Reorder: r, Confidence: conf, Source: source}
			e.Score = w * r.Score / top
			byItem[r.Item] = e
			out = append(out, e)
		}
	}
	add(own, 1, "history")
	add(theirs, orgWeight, "organisation")
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	items := make([]PrefillItem, 0, min(n, len(out)))
	for _, e := range out[:min(n, len(out))] {
		e.Rank = len(items) + 1
		items = append(items, *e)
	}
	return items
}

// excluded reports whether the person's explicit exclusions rule out item.
func excluded(cat *catalog, prefs *engine.Preferences, item string) bool {
	it, ok := cat.byID[item]
	if !ok {
		return false
	}
	return slices.Contains(prefs.ExcludedBrands, it.Brand) ||
		slices.ContainsFunc(prefs.ExcludedCategories, func(c string) bool { return inCategory(it.Category, c) })
}

// preferred returns the preferred categories and brands — explicit
// favourites first, then the shares of the items bought — and the price
// tier of what was bought.
func preferred(cat *catalog, prefs *engine.Preferences, purchases []purchase) (cats, brands []Preferred, tier string) {
	catN, brandN := map[string]int{}, map[string]int{}
	var prices []float64
	total := 0
	for _, p := range purchases {
		if p.ret {
			continue
		}
		m := cat.meta[p.item]
		if m == nil {
			continue
		}
		total++
		if m.Category != "" {
			catN[m.Category]++
		}
		if m.Brand != "" {
			brandN[m.Brand]++
		}
		if m.Price > 0 {
			prices = append(prices, m.Price)
		}
	}
	list := func(explicit, excluded []string, counts map[string]int) []Preferred {
		out := []Preferred{}
		for _, k := range explicit {
			out = append(out, Preferred{Key: k, Confidence: 1, Source: "explicit"})
		}
		keys := make([]string, 0, len(counts))
		for k := range counts {
			if !slices.Contains(explicit, k) && !slices.Contains(excluded, k) {
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(i, j int) bool {
			if counts[keys[i]] != counts[keys[j]] {
				return counts[keys[i]] > counts[keys[j]]
			}
			return keys[i] < keys[j]
		})
		for _, k := range keys[:min(10, len(keys))] {
			out = append(out, Preferred{Key: k, Confidence: float64(counts[k]) / float64(total), Source: "inferred"})
		}
		return out
	}
	cats = list(prefs.FavouriteCategories, prefs.ExcludedCategories, catN)
	brands = list(prefs.FavouriteBrands, prefs.ExcludedBrands, brandN)
	if len(prices) > 0 {
		slices.Sort(prices)
		low, high := cat.thirds()
		switch p := median(prices); {
		case p < low:
			tier = "budget"
		case p > high:
			tier = "premium"
		default:
			tier = "mid"
		}
	}
	return cats, brands, tier
}
