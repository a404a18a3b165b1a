package model

import (
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

	knn *knnWeights // item-to-item history weights, computed once per profile
}

type knnWeights struct {
	halfLife float64
	w        map[int32]float64
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
	engine.EventClick:     0.15, // a click on a recommended item
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
// reports (skip may be nil) and those scoring -Inf or NaN. Ties break by
// the lower item index, so results are deterministic.
func TopN(scores []float64, n int, skip func(item int32) bool) []Scored {
	if n <= 0 {
		return nil
	}
	b := newBounded(n)
	for i, s := range scores {
		if math.IsInf(s, -1) || s != s {
			continue
		}
		c := Scored{int32(i), s}
		if !b.wants(c) || skip != nil && skip(int32(i)) {
			continue
		}
		b.offer(c)
	}
	return b.sorted()
}

// Best returns the k best of a list of scored items (each item at most
// once), best first, ties by the lower item index.
func Best(items []Scored, k int) []Scored {
	b := newBounded(k)
	for _, c := range items {
		b.offer(c)
	}
	return b.sorted()
}

// bounded keeps the k best Scored offered to it, in a min-heap whose root
// is the worst kept.
type bounded struct {
	h []Scored
	k int
}

func newBounded(k int) *bounded { return &bounded{h: make([]Scored, 0, max(k, 0)), k: k} }

// wants reports whether c would be kept.
func (b *bounded) wants(c Scored) bool { return len(b.h) < b.k || b.k > 0 && better(c, b.h[0]) }

func (b *bounded) offer(c Scored) {
	switch {
	case len(b.h) < b.k:
		b.h = append(b.h, c)
		siftUp(b.h, len(b.h)-1)
	case b.k > 0 && better(c, b.h[0]):
		b.h[0] = c
		siftDown(b.h, 0)
	}
}

// sorted empties the heap into a best-first list.
func (b *bounded) sorted() []Scored {
	h := b.h
	for end := len(h) - 1; end > 0; end-- {
		h[0], h[end] = h[end], h[0]
		siftDown(h[:end], 0)
	}
	return h
}

func better(a, b Scored) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.Item < b.Item
}

func siftUp(h []Scored, i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !better(h[parent], h[i]) {
			return
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func siftDown(h []Scored, i int) {
	for {
		worst, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && better(h[worst], h[l]) {
			worst = l
		}
		if r < len(h) && better(h[worst], h[r]) {
			worst = r
		}
		if worst == i {
			return
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
}
