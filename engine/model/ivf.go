package model

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// ivf is an inverted-file index over item factors for maximum inner
// product search: items are clustered by k-means, and a query scores the
// cluster centroids, then only the items of the best-scoring clusters.
// Items are stored cluster by cluster, so a probe reads contiguous memory.
type ivf struct {
	f         int
	heavy     []int32   // the items with the largest factor norms: always scored
	heavyData []float32 // their factors
	isHeavy   []bool    // by item: in heavy (skipped when its cluster is probed)
	centroids []float32 // k×f
	starts    []int     // cluster c holds items[starts[c]:starts[c+1]]
	items     []int32   // item indices, grouped by cluster
	data      []float32 // their factors in the same order, len(items)×f
}

// buildIVF clusters n item factors (row-major, f wide) into k clusters with
// a few Lloyd iterations on a sample, deterministically for seed.
func buildIVF(y []float32, n, f, k int, seed uint64) *ivf {
	rng := rand.New(rand.NewPCG(seed, 0x1df))
	sample := rng.Perm(n)
	if len(sample) > 40*k {
		sample = sample[:40*k]
	}
	slices.Sort(sample)
	cent := make([]float32, k*f)
	for c := 0; c < k; c++ {
		copy(cent[c*f:(c+1)*f], y[sample[c%len(sample)]*f:])
	}
	sub := make([]float32, len(sample)*f)
	for i, s := range sample {
		copy(sub[i*f:(i+1)*f], y[s*f:(s+1)*f])
	}
	for it := 0; it < 8; it++ {
		assign := nearest(sub, len(sample), cent, k, f)
		sums := make([]float64, k*f)
		counts := make([]int, k)
		for i, a := range assign {
			c := int(a)
			counts[c]++
			for d := 0; d < f; d++ {
				sums[c*f+d] += float64(sub[i*f+d])
			}
		}
		for c := 0; c < k; c++ {
			if counts[c] == 0 { // an empty cluster takes a sample point
				copy(cent[c*f:(c+1)*f], sub[rng.IntN(len(sample))*f:])
				continue
			}
			for d := 0; d < f; d++ {
				cent[c*f+d] = float32(sums[c*f+d] / float64(counts[c]))
			}
		}
	}
	assign := nearest(y, n, cent, k, f)
	// Inner products favour long vectors, which k-means places poorly; the
	// longest 2% are scored on every query instead.
	norms := make([]Scored, n)
	for i := 0; i < n; i++ {
		var s float64
		for _, v := range y[i*f : (i+1)*f] {
			s += float64(v) * float64(v)
		}
		norms[i] = Scored{Item: int32(i), Score: s}
	}
	heavy := TopN(func() []float64 {
		out := make([]float64, n)
		for i, s := range norms {
			out[i] = s.Score
		}
		return out
	}(), max(1, n/50), nil)
	ix0 := &ivf{}
	for _, h := range heavy {
		ix0.heavy = append(ix0.heavy, h.Item)
		ix0.heavyData = append(ix0.heavyData, y[int(h.Item)*f:(int(h.Item)+1)*f]...)
	}
	ix := &ivf{heavy: ix0.heavy, heavyData: ix0.heavyData, isHeavy: make([]bool, n), f: f, centroids: cent, starts: make([]int, k+1), items: make([]int32, n), data: make([]float32, n*f)}
	for _, h := range ix.heavy {
		ix.isHeavy[h] = true
	}
	for _, c := range assign {
		ix.starts[c+1]++
	}
	for c := 0; c < k; c++ {
		ix.starts[c+1] += ix.starts[c]
	}
	next := slices.Clone(ix.starts[:k])
	for i, c := range assign {
		p := next[c]
		next[c]++
		ix.items[p] = int32(i)
		copy(ix.data[p*f:(p+1)*f], y[i*f:(i+1)*f])
	}
	return ix
}

// nearest assigns each of n rows of x to the centroid at the least squared
// distance (‖c‖² − 2x·c), in parallel chunks.
func nearest(x []float32, n int, cent []float32, k, f int) []int32 {
	norms := make([]float32, k)
	for c := 0; c < k; c++ {
		for _, v := range cent[c*f : (c+1)*f] {
			norms[c] += v * v
		}
	}
	out := make([]int32, n)
	const chunk = 2048
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for lo := 0; lo < n; lo += chunk {
		hi := min(n, lo+chunk)
		wg.Add(1)
		sem <- struct{}{}
		go func(lo, hi int) {
			defer wg.Done()
			defer func() { <-sem }()
			dots := make([]float32, (hi-lo)*k)
			blas32.Gemm(blas.NoTrans, blas.Trans, 1,
				blas32.General{Rows: hi - lo, Cols: f, Stride: f, Data: x[lo*f : hi*f]},
				blas32.General{Rows: k, Cols: f, Stride: f, Data: cent}, 0,
				blas32.General{Rows: hi - lo, Cols: k, Stride: k, Data: dots})
			for i := 0; i < hi-lo; i++ {
				best, bestD := int32(0), float32(0)
				for c := 0; c < k; c++ {
					d := norms[c] - 2*dots[i*k+c]
					if c == 0 || d < bestD {
						best, bestD = int32(c), d
					}
				}
				out[lo+i] = best
			}
		}(lo, hi)
	}
	wg.Wait()
	return out
}

// search returns the m items with the largest x·y among the items of the
// nprobe clusters whose centroids score highest, best first.
func (ix *ivf) search(x []float32, m, nprobe int) []Scored {
	k := len(ix.starts) - 1
	f := ix.f
	sc, _ := searchScratch.Get().(*ivfScratch)
	if sc == nil {
		sc = new(ivfScratch)
	}
	defer searchScratch.Put(sc)
	cs := grow(&sc.cs, k)
	blas32.Gemv(blas.NoTrans, 1, blas32.General{Rows: k, Cols: f, Stride: f, Data: ix.centroids},
		blas32.Vector{N: f, Inc: 1, Data: x}, 0, blas32.Vector{N: k, Inc: 1, Data: cs})
	c64 := slices.Grow(sc.c64[:0], k)[:k]
	sc.c64 = c64
	for i, v := range cs {
		c64[i] = float64(v)
	}
	probe := TopN(c64, min(nprobe, k), nil)
	best := newBounded(m)
	if len(ix.heavy) > 0 {
		out := grow(&sc.out, len(ix.heavy))
		blas32.Gemv(blas.NoTrans, 1, blas32.General{Rows: len(ix.heavy), Cols: f, Stride: f, Data: ix.heavyData},
			blas32.Vector{N: f, Inc: 1, Data: x}, 0, blas32.Vector{N: len(out), Inc: 1, Data: out})
		for j, v := range out {
			best.offer(Scored{Item: ix.heavy[j], Score: float64(v)})
		}
	}
	out := sc.out
	defer func() { sc.out = out }()
	for _, p := range probe {
		lo, hi := ix.starts[p.Item], ix.starts[p.Item+1]
		if hi == lo {
			continue
		}
		out = slices.Grow(out[:0], hi-lo)[:hi-lo]
		blas32.Gemv(blas.NoTrans, 1, blas32.General{Rows: hi - lo, Cols: f, Stride: f, Data: ix.data[lo*f : hi*f]},
			blas32.Vector{N: f, Inc: 1, Data: x}, 0, blas32.Vector{N: hi - lo, Inc: 1, Data: out})
		for j, v := range out {
			if item := ix.items[lo+j]; !ix.isHeavy[item] {
				best.offer(Scored{Item: item, Score: float64(v)})
			}
		}
	}
	return best.sorted()
}

// ivfScratch is one search's scratch memory, reused across searches: at
// catalog scale a search otherwise allocates some 10 KB per request.
type ivfScratch struct {
	cs, out []float32
	c64     []float64
}

var searchScratch sync.Pool // *ivfScratch

// grow sets *buf to length n, reallocating only when it is too short.
func grow(buf *[]float32, n int) []float32 {
	*buf = slices.Grow((*buf)[:0], n)[:n]
	return *buf
}
