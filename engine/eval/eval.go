package eval

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"rapport/engine/model"
)

// Task says which held-out purchases count as relevant.
type Task string

const (
	// TaskDiscover counts only items the person never had before (any
	// event in training); those items are also removed from their
	// candidates, so a model gains nothing by repeating history.
	TaskDiscover Task = "discover"
	// TaskReorder counts only items the person had purchased before.
	TaskReorder Task = "reorder"
)

// ParseTask checks a --task value.
func ParseTask(s string) (Task, error) {
	switch Task(s) {
	case TaskDiscover, TaskReorder:
		return Task(s), nil
	}
	return "", fmt.Errorf("task %q is not discover or reorder", s)
}

// Result is one model's metrics on one split and task, each averaged over
// Users test people with at least one relevant item (Pairs in all).
type Result struct {
	Model        string  `json:"model"`
	Users        int     `json:"users"`
	Pairs        int     `json:"pairs"`
	NDCG         float64 `json:"ndcg"`
	Recall       float64 `json:"recall"`
	Precision    float64 `json:"precision"`
	MAP          float64 `json:"map"`
	MRR          float64 `json:"mrr"`
	HitRate      float64 `json:"hit_rate"`
	Coverage     float64 `json:"coverage"`
	Novelty      float64 `json:"novelty"`
	TrainSeconds float64 `json:"train_seconds"`
	// Curve has the metrics at every list length from 1 to k.
	Curve []CurvePoint `json:"curve,omitempty"`
	// PopularityDeciles is the share of recommended slots that went to
	// each tenth of the catalog by training popularity, most popular
	// first: a model without popularity bias follows RelevantDeciles.
	PopularityDeciles []float64 `json:"popularity_deciles,omitempty"`
	// Loss is the training loss after each iteration, for models that
	// report one (ALS and the ranker's ALS part).
	Loss []float64 `json:"loss,omitempty"`
}

// CurvePoint is the metrics at one list length.
type CurvePoint struct {
	K         int     `json:"k"`
	NDCG      float64 `json:"ndcg"`
	Recall    float64 `json:"recall"`
	Precision float64 `json:"precision"`
	HitRate   float64 `json:"hit_rate"`
}

// LossReporter is a model that records its training loss by iteration.
type LossReporter interface {
	LossHistory() []float64
}

// Cases are the test people of a split for a task: user index and the
// relevant items of each.
type Cases struct {
	Users []int
	Rel   []map[int32]bool
	Pairs int
}

// CasesFor picks the test people and their relevant items for task.
func CasesFor(s Split, task Task) Cases {
	var c Cases
	for u, test := range s.Test {
		if len(test) == 0 {
			continue
		}
		had := map[int32]bool{}
		for _, in := range s.Train.Hist[u] {
			if task == TaskDiscover || isPurchase(in) {
				had[in.Item] = true
			}
		}
		rel := map[int32]bool{}
		for _, item := range test {
			if had[item] == (task == TaskReorder) {
				rel[item] = true
			}
		}
		if len(rel) > 0 {
			c.Users = append(c.Users, u)
			c.Rel = append(c.Rel, rel)
			c.Pairs += len(rel)
		}
	}
	return c
}

// Evaluate trains m on the split's training data and scores its top-k
// lists for the task's cases. Ranking runs on all cores; the result does
// not depend on how many.
func Evaluate(ctx context.Context, m model.Model, s Split, task Task, k int) (Result, error) {
	return EvaluateCases(ctx, m, s, CasesFor(s, task), task, k)
}

// Sample keeps at most max of the cases, evenly spread over them (the same
// ones every time), for measurements on very many people.
func (c Cases) Sample(max int) Cases {
	if max <= 0 || len(c.Users) <= max {
		return c
	}
	out := Cases{}
	for i := 0; i < max; i++ {
		j := i * len(c.Users) / max
		out.Users = append(out.Users, c.Users[j])
		out.Rel = append(out.Rel, c.Rel[j])
		out.Pairs += len(c.Rel[j])
	}
	return out
}

// EvaluateCases is Evaluate over given cases (for example a Sample).
func EvaluateCases(ctx context.Context, m model.Model, s Split, cases Cases, task Task, k int) (Result, error) {
	start := time.Now()
	if err := m.Fit(ctx, s.Train, s.Now); err != nil {
		return Result{}, fmt.Errorf("fit %s: %w", m.Name(), err)
	}
	res := Result{Model: m.Name(), TrainSeconds: time.Since(start).Seconds()}
	lists := make([][]int32, len(cases.Users))
	per := make([]listScores, len(cases.Users))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			scores := make([]float64, s.Train.NumItems())
			for c := w; c < len(cases.Users); c += workers {
				if ctx.Err() != nil {
					return
				}
				u := cases.Users[c]
				hist := s.Train.Hist[u]
				m.Score(&model.Profile{User: u, History: hist, Region: s.Train.Regions[u], Now: s.Now}, scores)
				var skip func(int32) bool
				if task == TaskDiscover {
					had := map[int32]bool{}
					for _, in := range hist {
						had[in.Item] = true
					}
					skip = func(i int32) bool { return had[i] }
				}
				top := model.TopN(scores, k, skip)
				ranked := make([]int32, len(top))
				for i, t := range top {
					ranked[i] = t.Item
				}
				lists[c] = ranked
				per[c] = scoreList(ranked, cases.Rel[c], k)
			}
		}(w)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	res.Users, res.Pairs = len(cases.Users), cases.Pairs
	if res.Users == 0 {
		return res, nil
	}
	for _, p := range per {
		res.NDCG += p.ndcg
		res.Recall += p.recall
		res.Precision += p.precision
		res.MAP += p.ap
		res.MRR += p.rr
		res.HitRate += p.hit
	}
	n := float64(res.Users)
	res.NDCG, res.Recall, res.Precision, res.MAP, res.MRR, res.HitRate = res.NDCG/n, res.Recall/n, res.Precision/n, res.MAP/n, res.MRR/n, res.HitRate/n
	res.Coverage, res.Novelty = catalogStats(s.Train, lists)
	res.Curve = curve(lists, cases, k)
	res.PopularityDeciles = deciles(s.Train, func(yield func(int32) bool) {
		for _, l := range lists {
			for _, item := range l {
				if !yield(item) {
					return
				}
			}
		}
	})
	if lr, ok := m.(LossReporter); ok {
		res.Loss = lr.LossHistory()
	}
	return res, nil
}

// curve averages the metrics of every list cut at each length 1..k.
func curve(lists [][]int32, cases Cases, k int) []CurvePoint {
	out := make([]CurvePoint, k)
	n := float64(max(1, len(lists)))
	for j := 1; j <= k; j++ {
		p := CurvePoint{K: j}
		for c, l := range lists {
			sc := scoreList(l[:min(j, len(l))], cases.Rel[c], j)
			p.NDCG += sc.ndcg / n
			p.Recall += sc.recall / n
			p.Precision += sc.precision / n
			p.HitRate += sc.hit / n
		}
		out[j-1] = p
	}
	return out
}

// itemPeople counts, per item, the people who had it in training.
func itemPeople(train *model.Dataset) []int {
	people := make([]int, train.NumItems())
	seen := map[int32]bool{}
	for _, h := range train.Hist {
		clear(seen)
		for _, in := range h {
			if !seen[in.Item] {
				seen[in.Item] = true
				people[in.Item]++
			}
		}
	}
	return people
}

// popularityRank returns each item's place (0 = most people) among the
// items anyone had in training, and how many such items there are.
func popularityRank(train *model.Dataset) ([]int, int) {
	people := itemPeople(train)
	order := make([]int, 0, len(people))
	for i, n := range people {
		if n > 0 {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return people[b] - people[a] })
	rank := make([]int, len(people))
	for i := range rank {
		rank[i] = -1
	}
	for r, i := range order {
		rank[i] = r
	}
	return rank, len(order)
}

// deciles spreads items over ten popularity bins of the training catalog
// (items nobody had in training count in the last) and returns each bin's
// share.
func deciles(train *model.Dataset, items func(func(int32) bool)) []float64 {
	rank, n := popularityRank(train)
	out := make([]float64, 10)
	total := 0.0
	for item := range items {
		bin := 9
		if r := rank[item]; r >= 0 {
			bin = min(9, r*10/max(1, n))
		}
		out[bin]++
		total++
	}
	for i := range out {
		out[i] /= max(1, total)
	}
	return out
}

// RelevantDeciles is deciles for the held-out relevant items themselves:
// what an unbiased model's recommendations would look like.
func RelevantDeciles(s Split, cases Cases) []float64 {
	return deciles(s.Train, func(yield func(int32) bool) {
		for _, rel := range cases.Rel {
			for item := range rel {
				if !yield(item) {
					return
				}
			}
		}
	})
}

// catalogStats computes coverage and novelty over all lists.
func catalogStats(train *model.Dataset, lists [][]int32) (coverage, novelty float64) {
	people := itemPeople(train)
	catalog := 0
	for _, n := range people {
		if n > 0 {
			catalog++
		}
	}
	users := float64(max(1, train.NumUsers()))
	recommended := map[int32]bool{}
	var info float64
	var count int
	for _, l := range lists {
		for _, item := range l {
			recommended[item] = true
			info += -math.Log2(float64(max(1, people[item])) / users)
			count++
		}
	}
	if catalog > 0 {
		coverage = float64(len(recommended)) / float64(catalog)
	}
	if count > 0 {
		novelty = info / float64(count)
	}
	return coverage, novelty
}
