package recommend

import (
	"context"
	"fmt"
	"time"

	"rapport/engine"
	"rapport/engine/model"
)

// List is a ranked list that is not for one person (similar, popular).
type List struct {
	ModelVersion string `json:"model_version"`
	Items        []Item `json:"items"`
}

// Similar lists the items most often wanted together with item, available
// ones only unless includeUnavailable. An item the model does not know yet
// gets the trend in its category. Errors: not_found for an item neither
// the model nor the catalog knows.
func (s *Service) Similar(ctx context.Context, item string, n int, includeUnavailable bool) (List, error) {
	l := s.Serving.Load()
	if l == nil {
		return List{}, ErrNoModel
	}
	cat, err := s.catalogFor(ctx, l)
	if err != nil {
		return List{}, err
	}
	t := l.Trained
	res := List{ModelVersion: l.VersionID(), Items: []Item{}}
	keep := func(i int32) bool { return includeUnavailable || cat.meta[i] == nil || cat.meta[i].Available }
	i, ok := t.ItemIndex(item)
	if ok {
		label := s.itemLabel(t, cat, i)
		for _, nb := range t.Ranker.KNN.NeighboursOf(i) {
			if len(res.Items) == n {
				break
			}
			if keep(nb.Item) {
				res.Items = append(res.Items, Item{Item: t.Items[nb.Item], Rank: len(res.Items) + 1, Score: nb.Score, Reasons: []string{"bought together with " + label}})
			}
		}
		return res, nil
	}
	it, known := cat.byID[item]
	if !known {
		return List{}, engine.Errorf(engine.CodeNotFound, "item %q does not exist", item)
	}
	if it.Category == "" {
		return res, nil
	}
	return s.popular(ctx, l, cat, "", it.Category, n, func(i int32) bool { return t.Items[i] == item || !keep(i) })
}

// Popular lists what is trending in a region (globally if region is empty
// or has too few people), optionally within a category.
func (s *Service) Popular(ctx context.Context, region, category string, n int) (List, error) {
	l := s.Serving.Load()
	if l == nil {
		return List{}, ErrNoModel
	}
	cat, err := s.catalogFor(ctx, l)
	if err != nil {
		return List{}, err
	}
	return s.popular(ctx, l, cat, region, category, n, func(i int32) bool { return cat.meta[i] != nil && !cat.meta[i].Available })
}

func (s *Service) popular(ctx context.Context, l *model.Loaded, cat *catalog, region, category string, n int, drop func(int32) bool) (List, error) {
	t := l.Trained
	scores := make([]float64, len(t.Items))
	t.Ranker.Trending.Score(&model.Profile{Region: region}, scores)
	reason := "trending"
	if region != "" && t.Ranker.Trending.HasRegion(region) {
		reason = "trending in " + region
	}
	if category != "" {
		reason += " in " + category
	}
	top := model.TopN(scores, n, func(i int32) bool {
		if drop(i) || scores[i] <= 0 {
			return true
		}
		return category != "" && (cat.meta[i] == nil || !inCategory(cat.meta[i].Category, category))
	})
	res := List{ModelVersion: l.VersionID(), Items: []Item{}}
	for _, c := range top {
		res.Items = append(res.Items, Item{Item: t.Items[c.Item], Rank: len(res.Items) + 1, Score: c.Score, Reasons: []string{reason}})
	}
	return res, nil
}

// Reorder is one "buy again" entry.
type Reorder struct {
	Item          string    `json:"item"`
	Rank          int       `json:"rank"`
	Score         float64   `json:"score"`
	Orders        int       `json:"orders"`                  // times bought
	UsualQuantity float64   `json:"usual_quantity"`          // most frequent quantity per order (the smallest of ties)
	LastPurchased time.Time `json:"last_purchased"`          //
	IntervalDays  float64   `json:"interval_days,omitempty"` // median days between purchases (with two or more)
	DueAt         time.Time `json:"due_at,omitzero"`         // last purchase + interval
	Due           bool      `json:"due"`                     // due now (within 10% of the interval)
	Reasons       []string  `json:"reasons"`
}

// BuyAgainResult lists items an identity is likely to reorder now.
type BuyAgainResult struct {
	Alias        string    `json:"alias"`
	ModelVersion string    `json:"model_version"`
	Items        []Reorder `json:"items"`
}

// BuyAgain ranks the items an identity bought before by how likely they
// are to be reordered now, each with its usual quantity and when it is due.
func (s *Service) BuyAgain(ctx context.Context, a engine.Alias, n int) (BuyAgainResult, error) {
	l := s.Serving.Load()
	if l == nil {
		return BuyAgainResult{}, ErrNoModel
	}
	st, err := s.stateFor(ctx, l, a)
	if err != nil {
		return BuyAgainResult{}, err
	}
	res := BuyAgainResult{Alias: a.String(), ModelVersion: l.VersionID(), Items: []Reorder{}}
	for _, r := range s.reorders(l, st.purchases, st.region, n) {
		r.Rank = len(res.Items) + 1
		res.Items = append(res.Items, r)
	}
	return res, nil
}

// reorderStats summarises the purchases of one item: its orders (the
// purchases at one moment, quantities summed), their usual quantity and
// cadence, and when the next is due.
func reorderStats(purchases []purchase, item int32, now time.Time) Reorder {
	var qtys []float64
	var days []int64
	var last int64
	for _, p := range purchases {
		if p.item != item || p.ret {
			continue
		}
		if len(qtys) > 0 && p.time == last {
			qtys[len(qtys)-1] += float64(p.qty)
		} else {
			qtys = append(qtys, float64(p.qty))
		}
		last = p.time
		if d := p.time / 86400; len(days) == 0 || days[len(days)-1] != d {
			days = append(days, d)
		}
	}
	r := Reorder{Orders: len(qtys), Reasons: []string{"you bought it before"}}
	if len(qtys) == 0 {
		return r
	}
	r.UsualQuantity = model.UsualQuantity(qtys)
	r.LastPurchased = time.Unix(last, 0).UTC()
	if len(days) >= 2 {
		r.IntervalDays = model.MedianInterval(days)
		r.DueAt = r.LastPurchased.Add(time.Duration(r.IntervalDays * 24 * float64(time.Hour)))
		r.Due = !now.Before(r.DueAt.Add(-time.Duration(0.1 * r.IntervalDays * 24 * float64(time.Hour))))
		if r.Due {
			r.Reasons = append(r.Reasons, "due: you usually reorder it about every "+formatDays(r.IntervalDays))
		}
	}
	return r
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func formatDays(d float64) string { return fmt.Sprintf("%.0f days", d) }
