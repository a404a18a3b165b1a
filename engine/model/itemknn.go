package model

import (
	"context"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Similarity names how ItemKNN turns co-occurrence counts into similarity.
type Similarity string

const (
	Cosine  Similarity = "cosine"  // c_ij / sqrt(n_i n_j)
	Jaccard Similarity = "jaccard" // c_ij / (n_i + n_j - c_ij)
	LLR     Similarity = "llr"     // Dunning's log-likelihood ratio of the 2×2 table
)

// ItemKNN is item-to-item collaborative filtering: two items are similar
// when the same people want both. It keeps the top Neighbours similar items
// per item; a person's score for an item sums the similarities from the
// items in their history, each weighted by how recently they had it
// (HalfLife). Heavy users (wholesale buyers with thousands of items) would
// otherwise dominate the counts, so each person's contribution to a pair is
// divided by log2(2 + their item count).
type ItemKNN struct {
	Weights    Weights
	Similarity Similarity
	Neighbours int           // default 100
	HalfLife   time.Duration // decay of history items when scoring; 0: none

	nbrs [][]Scored // per item, best first
}

func (m *ItemKNN) Name() string { return "itemknn-" + string(m.sim()) }

func (m *ItemKNN) sim() Similarity {
	if m.Similarity == "" {
		return Cosine
	}
	return m.Similarity
}

// Neighbours returns the stored neighbours of item (best first); the
// caller must not modify them.
func (m *ItemKNN) NeighboursOf(item int32) []Scored {
	if int(item) >= len(m.nbrs) {
		return nil
	}
	return m.nbrs[item]
}

func (m *ItemKNN) Fit(ctx context.Context, d *Dataset, now int64) error {
	if m.Weights == nil {
		m.Weights = DefaultWeights
	}
	if m.Neighbours <= 0 {
		m.Neighbours = 100
	}
	// Each person's distinct positively-weighted items, and who has each item.
	userItems := positiveItems(d, m.Weights)
	nItems := d.NumItems()
	holders := make([][]int32, nItems)
	userW := make([]float64, len(userItems))
	count := make([]float64, nItems)
	for u, items := range userItems {
		userW[u] = 1 / math.Log2(2+float64(len(items)))
		for _, i := range items {
			holders[i] = append(holders[i], int32(u))
			count[i] += userW[u]
		}
	}
	var total float64
	for _, w := range userW {
		total += w
	}
	sim := m.similarityFunc(count, total)
	m.nbrs = make([][]Scored, nItems)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			co := make([]float64, nItems)
			var touched []int32
			best := newBounded(m.Neighbours)
			for i := w; i < nItems; i += workers {
				if i%256 == w && ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				touched = touched[:0]
				for _, u := range holders[i] {
					for _, j := range userItems[u] {
						if j == int32(i) {
							continue
						}
						if co[j] == 0 {
							touched = append(touched, j)
						}
						co[j] += userW[u]
					}
				}
				best.h = best.h[:0]
				for _, j := range touched {
					best.offer(Scored{j, sim(co[j], i, int(j))})
					co[j] = 0
				}
				m.nbrs[i] = slices.Clone(best.sorted()) // exactly as long as it is: the model keeps it
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// similarityFunc returns the similarity of items i and j from their
// co-occurrence weight cij, given each item's weight (count) and the total.
func (m *ItemKNN) similarityFunc(count []float64, total float64) func(cij float64, i, j int) float64 {
	switch m.sim() {
	case Jaccard:
		return func(cij float64, i, j int) float64 { return cij / (count[i] + count[j] - cij) }
	case LLR:
		// Dunning's log-likelihood ratio of the 2×2 table k11 = c_ij,
		// k12 = n_i − c_ij, k21 = n_j − c_ij, k22 = N − n_i − n_j + c_ij:
		// 2 (H(rows) + H(columns) − H(cells)) with H(k…) = xlogx(Σk) −
		// Σ xlogx(k). The row and column terms depend on one item each, so
		// they are computed once per item and a pair costs four logarithms.
		margin := make([]float64, len(count))
		for i, n := range count {
			margin[i] = xlogx(n) + xlogx(total-n)
		}
		xlogxN := xlogx(total)
		return func(cij float64, i, j int) float64 {
			ni, nj := count[i], count[j]
			cells := xlogx(cij) + xlogx(ni-cij) + xlogx(nj-cij) + xlogx(total-ni-nj+cij)
			if v := 2 * (xlogxN - margin[i] - margin[j] + cells); v > 0 {
				return v
			}
			return 0
		}
	}
	return func(cij float64, i, j int) float64 { return cij / math.Sqrt(count[i]*count[j]) }
}

func xlogx(x float64) float64 {
	if x <= 0 {
		return 0
	}
	return x * math.Log(x)
}

func (m *ItemKNN) Score(p *Profile, scores []float64) {
	clear(scores)
	weights := m.HistoryWeights(p)
	for _, item := range sortedKeys(weights) { // a fixed order keeps sums bit-for-bit reproducible
		w := weights[item]
		for _, nb := range m.NeighboursOf(item) {
			scores[nb.Item] += w * nb.Score
		}
	}
}

// positiveItems returns each person's distinct items with a positive net
// weight, sorted.
func positiveItems(d *Dataset, w Weights) [][]int32 {
	out := make([][]int32, d.NumUsers())
	net := map[int32]float64{}
	for u, h := range d.Hist {
		clear(net)
		for _, in := range h {
			net[in.Item] += w.Of(in)
		}
		items := make([]int32, 0, len(net))
		for i, v := range net {
			if v > 0 {
				items = append(items, i)
			}
		}
		slices.Sort(items)
		out[u] = items
	}
	return out
}

// recentWeights returns each history item's net weight, every interaction
// decayed by its age at p.Now; items with a net weight ≤ 0 are left out.
func recentWeights(p *Profile, w Weights, halfLife float64) map[int32]float64 {
	net := make(map[int32]float64, len(p.History))
	for _, in := range p.History {
		net[in.Item] += w.Of(in) * decay(float64(p.Now-in.Time), halfLife)
	}
	for i, v := range net {
		if v <= 0 {
			delete(net, i)
		}
	}
	return net
}

// HistoryWeights returns the decayed weight of each item in p's history,
// as Score uses them (for Because). The profile keeps them: a Profile must
// not change once scored.
func (m *ItemKNN) HistoryWeights(p *Profile) map[int32]float64 {
	hl := m.HalfLife.Seconds()
	if p.knn == nil || p.knn.halfLife != hl {
		p.knn = &knnWeights{halfLife: hl, w: recentWeights(p, m.Weights, hl)}
	}
	return p.knn.w
}

// Because returns the history item (of weights, from HistoryWeights) that
// contributes most to item's item-to-item score, or -1 if none does.
func (m *ItemKNN) Because(weights map[int32]float64, item int32) int32 {
	best, bestScore := int32(-1), 0.0
	for _, j := range sortedKeys(weights) {
		for _, nb := range m.NeighboursOf(j) {
			if nb.Item == item {
				if s := weights[j] * nb.Score; s > bestScore {
					best, bestScore = j, s
				}
				break
			}
		}
	}
	return best
}
