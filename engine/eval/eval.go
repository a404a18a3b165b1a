package eval

import (
	"context"
	"fmt"
	"math"
	"runtime"
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
	return res, nil
}

// catalogStats computes coverage and novelty over all lists.
func catalogStats(train *model.Dataset, lists [][]int32) (coverage, novelty float64) {
	people := make([]int, train.NumItems())
	seen := map[int32]bool{}
	catalog := 0
	for _, h := range train.Hist {
		clear(seen)
		for _, in := range h {
			if !seen[in.Item] {
				seen[in.Item] = true
				people[in.Item]++
			}
		}
	}
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
