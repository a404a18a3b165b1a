package model

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"rapport/engine"
)

// clusteredShop makes users who buy within a few of many taste groups, so
// trained item factors have the structure real catalogs give them.
func clusteredShop(users, items, perUser, groups int, seed uint64) []sparseRow {
	rng := rand.New(rand.NewPCG(seed, 3))
	rows := make([]sparseRow, users)
	size := items / groups
	for u := range rows {
		g1, g2 := rng.IntN(groups), rng.IntN(groups)
		seen := map[int32]bool{}
		for len(seen) < perUser {
			g := g1
			if rng.IntN(3) == 0 {
				g = g2
			}
			i := int32(g*size + int(float64(size)*rng.Float64()*rng.Float64())) // popular items lead each group
			seen[i] = true
		}
		for i := range seen {
			rows[u].idx = append(rows[u].idx, i)
		}
		sortInt32(rows[u].idx)
		for range rows[u].idx {
			rows[u].conf = append(rows[u].conf, 11)
		}
	}
	return rows
}

// TestIVFRecall: on factors trained from clustered data, the index alone
// finds at least 95% of brute force's top 10 ALS items while reading at
// most a fifth of the catalog. (Serving probes fewer clusters: its other
// candidate sources cover the rest; TestCandidatesRecall checks the blend.)
func TestIVFRecall(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	const users, items = 4000, 8000
	m := &ALS{Factors: 32, Iterations: 4, Seed: 1}
	m.setObservations(users, items, clusteredShop(users, items, 30, 80, 1))
	if err := m.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	ix := buildIVF(m.y32, items, 32, 90, 1)
	recall, probed := ivfRecall(m, ix, 200, 16)
	t.Logf("recall@10 %.3f probing %.1f%% of items", recall, 100*probed)
	if recall < 0.95 || probed > 0.2 {
		t.Fatalf("recall@10 %.3f probing %.1f%% of items", recall, 100*probed)
	}
}

// ivfRecall measures recall@10 of the index against brute force for the
// first q users, and the share of items a query reads.
func ivfRecall(m *ALS, ix *ivf, q, nprobe int) (recall, probed float64) {
	f := m.Factors
	scores := make([]float64, m.items)
	hits, total, read := 0, 0, 0
	for u := 0; u < q; u++ {
		m.Score(&Profile{User: u}, scores)
		exact := TopN(scores, 10, nil)
		x := make([]float32, f)
		for d, v := range m.X[u*f : (u+1)*f] {
			x[d] = float32(v)
		}
		got := map[int32]bool{}
		for _, s := range ix.search(x, 10, nprobe) {
			got[s.Item] = true
		}
		for _, s := range exact {
			total++
			if got[s.Item] {
				hits++
			}
		}
		read += ix.probedItems(x, nprobe)
	}
	return float64(hits) / float64(total), float64(read) / float64(q*m.items)
}

// TestCandidatesRecall: on a catalog large enough for the index, the
// ranker's candidate path finds at least 95% of the full blend's top 10.
func TestCandidatesRecall(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on 24,000 items")
	}
	const users, items = 6000, 24000
	rows := clusteredShop(users, items, 25, 120, 2)
	b := NewBuilder()
	for i := 0; i < items; i++ {
		b.Item(fmt.Sprintf("I%05d", i))
	}
	for u, r := range rows {
		a, _ := engine.ParseAlias(fmt.Sprintf("customer:%d", u))
		for k, i := range r.idx {
			b.Add(&engine.Event{Alias: a, Item: fmt.Sprintf("I%05d", i), Type: engine.EventPurchase, Quantity: 1,
				Time: time.Unix(1_700_000_000+int64(u*60+k*86400), 0), Region: []string{"UK", "DE"}[u%2]})
		}
	}
	d := b.Build()
	cfg := DefaultRankerConfig()
	cfg.Factors, cfg.Iterations = 32, 5
	r := NewRanker(cfg)
	if err := r.Fit(context.Background(), d, d.End().Unix()); err != nil {
		t.Fatal(err)
	}
	if !r.ALS.Indexed() {
		t.Fatal("no index for 24,000 items")
	}
	scores := make([]float64, items)
	hits, total := 0, 0
	for u := 0; u < 300; u++ {
		p := &Profile{User: u, History: d.Hist[u], Region: d.Regions[u], Now: d.End().Unix()}
		had := map[int32]bool{}
		for _, in := range p.History {
			had[in.Item] = true
		}
		skip := func(i int32) bool { return had[i] }
		r.Score(p, scores)
		full := TopN(scores, 10, skip)
		cands, _ := r.Candidates(p, 150)
		var pool []Scored
		for _, c := range cands {
			if !had[c.Item] {
				pool = append(pool, Scored{Item: c.Item, Score: c.Score})
			}
		}
		got := map[int32]bool{}
		for _, s := range Best(pool, 10) {
			got[s.Item] = true
		}
		for _, s := range full {
			total++
			if got[s.Item] {
				hits++
			}
		}
	}
	recall := float64(hits) / float64(total)
	t.Logf("candidate recall@10 against the full blend: %.3f", recall)
	if recall < 0.95 {
		t.Fatalf("recall@10 %.3f", recall)
	}
}

// probedItems counts the items a search with nprobe reads.
func (ix *ivf) probedItems(x []float32, nprobe int) int {
	k := len(ix.starts) - 1
	cs := make([]float32, k)
	blas32.Gemv(blas.NoTrans, 1, blas32.General{Rows: k, Cols: ix.f, Stride: ix.f, Data: ix.centroids},
		blas32.Vector{N: ix.f, Inc: 1, Data: x}, 0, blas32.Vector{N: k, Inc: 1, Data: cs})
	c64 := make([]float64, k)
	for i, v := range cs {
		c64[i] = float64(v)
	}
	n := len(ix.heavy)
	for _, p := range TopN(c64, min(nprobe, k), nil) {
		n += ix.starts[p.Item+1] - ix.starts[p.Item]
	}
	return n
}
