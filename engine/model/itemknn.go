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
				sims := make([]Scored, 0, len(touched))
				for _, j := range touched {
					sims = append(sims, Scored{j, m.similarity(co[j], count[i], count[j], total)})
					co[j] = 0
				}
				slices.SortFunc(sims, func(a, b Scored) int {
					if better(a, b) {
						return -1
					}
					return 1
				})
				if len(sims) > m.Neighbours {
					sims = slices.Clip(sims[:m.Neighbours])
				}
				m.nbrs[i] = sims
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

func (m *ItemKNN) similarity(cij, ni, nj, n float64) float64 {
	switch m.sim() {
	case Jaccard:
		return cij / (ni + nj - cij)
	case LLR:
		return llr(cij, ni-cij, nj-cij, n-ni-nj+cij)
	}
	return cij / math.Sqrt(ni*nj)
}

// llr is Dunning's log-likelihood ratio for a 2×2 contingency table.
func llr(k11, k12, k21, k22 float64) float64 {
	xlogx := func(x float64) float64 {
		if x <= 0 {
			return 0
		}
		return x * math.Log(x)
	}
	entropy := func(xs ...float64) float64 {
		var sum, s float64
		for _, x := range xs {
			s += xlogx(x)
			sum += x
		}
		return xlogx(sum) - s
	}
	row := entropy(k11+k12, k21+k22)
	col := entropy(k11+k21, k12+k22)
	mat := entropy(k11, k12, k21, k22)
	if row+col < mat {
		return 0
	}
	return 2 * (row + col - mat)
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
