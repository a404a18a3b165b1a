package model

import (
	"container/heap"
	"context"
	"math"

	"rapport/engine"
)

// Profile is what a model knows of one person when scoring: their index in
// the training data (-1 if they were not in it), their history (oldest
// first), their region, and the time of the request (Unix seconds).
type Profile struct {
	User    int
	History []Interaction
	Region  string
	Now     int64
	// Factors, when set, are the person's latent factors folded in from
	// their current history; they replace the trained ones (serving sets
	// them after new events, so ALS reflects the click a second ago).
	Factors []float64
}

// Model learns from a Dataset and scores every item for a Profile.
type Model interface {
	Name() string
	// Fit learns from d as of now (Unix seconds).
	Fit(ctx context.Context, d *Dataset, now int64) error
	// Score writes a score for every item into scores (len NumItems of
	// the fitted data); higher is better, and items it knows nothing about
	// score 0 or less.
	Score(p *Profile, scores []float64)
}

// Weights turn event types into implicit-feedback strength: a purchase
// counts most, a cart less, a view least; a return takes a purchase back.
type Weights map[engine.EventType]float64

// DefaultWeights is the weighting models use unless configured otherwise.
var DefaultWeights = Weights{
	engine.EventPurchase:  1,
	engine.EventAddToCart: 0.4,
	engine.EventWishlist:  0.3,
	engine.EventRating:    0.3, // scaled by the rating, see Of
	engine.EventView:      0.1,
	engine.EventReturn:    -1,
}

// Of returns the weight of one interaction. A rating counts by its value:
// 5 of 5 gives the full rating weight, 0 gives minus that.
func (w Weights) Of(in Interaction) float64 {
	v := w[in.Type]
	if in.Type == engine.EventRating {
		v *= float64(in.Qty)/2.5 - 1 // Qty carries the rating for ratings
	}
	return v
}

// decay returns 0.5^(age/halfLife) for an age in seconds; 1 when halfLife
// is 0 (no decay).
func decay(age, halfLife float64) float64 {
	if halfLife <= 0 {
		return 1
	}
	if age < 0 {
		age = 0
	}
	return math.Exp2(-age / halfLife)
}

// Scored is an item index with its score.
type Scored struct {
	Item  int32
	Score float64
}

// TopN returns the n best-scored items, best first, skipping those skip
// reports (skip may be nil) and those scoring -Inf. Ties break by the
// lower item index, so results are deterministic.
func TopN(scores []float64, n int, skip func(item int32) bool) []Scored {
	h := make(scoredHeap, 0, n+1)
	for i, s := range scores {
		if math.IsInf(s, -1) || math.IsNaN(s) || skip != nil && skip(int32(i)) {
			continue
		}
		if len(h) < n {
			heap.Push(&h, Scored{int32(i), s})
		} else if better(Scored{int32(i), s}, h[0]) {
			h[0] = Scored{int32(i), s}
			heap.Fix(&h, 0)
		}
	}
	out := make([]Scored, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		out[i] = heap.Pop(&h).(Scored)
	}
	return out
}

func better(a, b Scored) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.Item < b.Item
}

// scoredHeap is a min-heap by (score, -item): its root is the worst kept.
type scoredHeap []Scored

func (h scoredHeap) Len() int           { return len(h) }
func (h scoredHeap) Less(i, j int) bool { return better(h[j], h[i]) }
func (h scoredHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *scoredHeap) Push(x any)        { *h = append(*h, x.(Scored)) }
func (h *scoredHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
