package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"
)

// ALS is implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008):
// every person and item gets Factors latent numbers such that their dot
// product is near 1 where the person showed interest and near 0 elsewhere,
// each observed pair weighted by its confidence 1 + Alpha·log(1 + r/Epsilon),
// r being the pair's net event weight. Each half-step solves every row's
// least-squares problem with a few steps of conjugate gradient warm-started
// from the previous solution (Takács, Pilászy & Tikk 2011), which costs
// O(nnz·f) rather than the O(f³) per row of a direct solve. Rows are split
// over all cores; each row's solution depends only on the other side's
// factors, so the result is the same for any number of cores and exactly
// reproducible for a Seed.
type ALS struct {
	Weights    Weights
	Factors    int     // default 64
	Iterations int     // default 15
	Lambda     float64 // L2 regularisation, default 0.1
	Alpha      float64 // confidence scale, default 10
	Epsilon    float64 // confidence log scale, default 1
	CGSteps    int     // conjugate-gradient steps per row and half-step, default 3
	Seed       uint64
	// Progress, if set, is called after each iteration (1-based).
	Progress func(iteration int)
	// TrackLoss records the training loss after each iteration in Losses
	// (one more pass over the observations per iteration).
	TrackLoss bool
	Losses    []float64

	users, items int
	X, Y         []float64 // row-major factors: users×f, items×f
	gramY        []float64 // YᵀY after training, for folding in new people
	y32          []float32 // Y in single precision: scoring reads half the memory
	x32          []float32 // X in single precision once Compact dropped X
	index        *ivf      // for catalogs of AnnMinItems or more
	obsU, obsI   []sparseRow
}

// sparseRow is one row of the confidence matrix: column indices and
// confidences.
type sparseRow struct {
	idx  []int32
	conf []float64
}

func (m *ALS) Name() string { return "als" }

func (m *ALS) defaults() {
	if m.Weights == nil {
		m.Weights = DefaultWeights
	}
	if m.Factors <= 0 {
		m.Factors = 64
	}
	if m.Iterations <= 0 {
		m.Iterations = 15
	}
	if m.Lambda <= 0 {
		m.Lambda = 0.1
	}
	if m.Alpha <= 0 {
		m.Alpha = 10
	}
	if m.Epsilon <= 0 {
		m.Epsilon = 1
	}
	if m.CGSteps <= 0 {
		m.CGSteps = 3
	}
}

// Fit builds the confidence matrix from d and runs Iterations sweeps.
func (m *ALS) Fit(ctx context.Context, d *Dataset, now int64) error {
	m.defaults()
	rows := make([]sparseRow, d.NumUsers())
	net := map[int32]float64{}
	for u, h := range d.Hist {
		clear(net)
		for _, in := range h {
			net[in.Item] += m.Weights.Of(in)
		}
		for _, i := range sortedKeys(net) {
			if r := net[i]; r > 0 {
				rows[u].idx = append(rows[u].idx, i)
				rows[u].conf = append(rows[u].conf, m.confidence(r))
			}
		}
	}
	m.setObservations(d.NumUsers(), d.NumItems(), rows)
	return m.Train(ctx)
}

// confidence turns a net weight r > 0 into an observation's confidence.
func (m *ALS) confidence(r float64) float64 { return 1 + m.Alpha*math.Log1p(r/m.Epsilon) }

// setObservations sets the confidence matrix (Fit, benchmarks and tests):
// rows[u] lists the (item, confidence) pairs of user u.
func (m *ALS) setObservations(users, items int, rows []sparseRow) {
	m.defaults()
	m.users, m.items = users, items
	m.obsU = rows
	byItem := make([][]int32, items)
	byConf := make([][]float64, items)
	for u, r := range rows {
		for k, i := range r.idx {
			byItem[i] = append(byItem[i], int32(u))
			byConf[i] = append(byConf[i], r.conf[k])
		}
	}
	m.obsI = make([]sparseRow, items)
	for i := range byItem {
		m.obsI[i] = sparseRow{idx: byItem[i], conf: byConf[i]}
	}
}

// Train initialises the factors from Seed and runs Iterations sweeps over
// the observations already set.
func (m *ALS) Train(ctx context.Context) error {
	f := m.Factors
	rng := rand.New(rand.NewPCG(m.Seed, 0xa15))
	m.X = make([]float64, m.users*f)
	m.Y = make([]float64, m.items*f)
	for i := range m.X {
		m.X[i] = rng.NormFloat64() * 0.01
	}
	for i := range m.Y {
		m.Y[i] = rng.NormFloat64() * 0.01
	}
	m.Losses = nil
	for it := 1; it <= m.Iterations; it++ {
		if err := m.Iterate(ctx); err != nil {
			return err
		}
		if m.TrackLoss {
			m.Losses = append(m.Losses, m.Loss())
		}
		if m.Progress != nil {
			m.Progress(it)
		}
	}
	m.ready()
	return nil
}

// Loss is the objective ALS minimises, over every (person, item) pair:
// Σ c·(p − x·y)² + λ(‖X‖² + ‖Y‖²), where p is 1 and c the confidence for
// observed pairs, p is 0 and c is 1 for all others. The unobserved part
// comes from the item Gramian (Σ_u xᵀ(YᵀY)x), so the cost is O(nnz·f +
// users·f²), not O(users·items·f).
func (m *ALS) Loss() float64 {
	f := m.Factors
	gram := gramian(m.Y, m.items, f)
	gx := make([]float64, f)
	var loss float64
	for u := 0; u < m.users; u++ {
		x := m.X[u*f : (u+1)*f]
		for a := 0; a < f; a++ {
			gx[a] = floats.Dot(gram[a*f:(a+1)*f], x)
		}
		loss += floats.Dot(x, gx)
		obs := m.obsU[u]
		for k, i := range obs.idx {
			s := floats.Dot(x, m.Y[int(i)*f:int(i+1)*f])
			loss += obs.conf[k]*(1-s)*(1-s) - s*s
		}
	}
	return loss + m.Lambda*(floats.Dot(m.X, m.X)+floats.Dot(m.Y, m.Y))
}

// ready derives what scoring needs from trained (or decoded) factors.
func (m *ALS) ready() {
	m.gramY = gramian(m.Y, m.items, m.Factors)
	m.y32 = make([]float32, len(m.Y))
	for i, v := range m.Y {
		m.y32[i] = float32(v)
	}
	m.index = nil
	if m.items >= AnnMinItems {
		m.index = buildIVF(m.y32, m.items, m.Factors, int(math.Sqrt(float64(m.items))), m.Seed)
	}
}

// Compact keeps the user factors in single precision only, halving their
// memory, for a model that will serve and never be trained or encoded
// again.
func (m *ALS) Compact() {
	if m.X == nil {
		return
	}
	m.x32 = make([]float32, len(m.X))
	for i, v := range m.X {
		m.x32[i] = float32(v)
	}
	m.X = nil
}

// AnnMinItems is the catalog size from which ALS keeps an approximate
// nearest-neighbour index and serving scores candidates instead of every
// item: below it, scoring everything is faster than any index.
const AnnMinItems = 20_000

// Indexed reports whether the model has an index (a large catalog).
func (m *ALS) Indexed() bool { return m.index != nil }

// annProbe is the share of clusters a query reads.
const annProbe = 0.06

// Nearest returns about k items with the largest scores for p, from the
// index (best first).
func (m *ALS) Nearest(p *Profile, k int) []Scored {
	x := m.UserFactors(p)
	x32 := make([]float32, len(x))
	for i, v := range x {
		x32[i] = float32(v)
	}
	clusters := len(m.index.starts) - 1
	return m.index.search(x32, k, max(8, int(annProbe*float64(clusters))))
}

// ScoreItems sets out[j] to p's score for items[j].
func (m *ALS) ScoreItems(p *Profile, items []int32, out []float64) {
	f := m.Factors
	x := m.UserFactors(p)
	x32 := make([]float32, f)
	for i, v := range x {
		x32[i] = float32(v)
	}
	xv := blas32.Vector{N: f, Inc: 1, Data: x32}
	for j, i := range items {
		out[j] = float64(blas32.Dot(xv, blas32.Vector{N: f, Inc: 1, Data: m.y32[int(i)*f : int(i+1)*f]}))
	}
}

// gramian returns AᵀA (f×f, both triangles filled) of the n×f matrix a.
func gramian(a []float64, n, f int) []float64 {
	g := make([]float64, f*f)
	blas64.Syrk(blas.Trans, 1, blas64.General{Rows: n, Cols: f, Stride: f, Data: a}, 0,
		blas64.Symmetric{Uplo: blas.Upper, N: f, Stride: f, Data: g})
	for r := 0; r < f; r++ {
		for c := 0; c < r; c++ {
			g[r*f+c] = g[c*f+r]
		}
	}
	return g
}

// Iterate runs one sweep: all users against the items, then all items
// against the users.
func (m *ALS) Iterate(ctx context.Context) error {
	if err := m.half(ctx, m.X, m.Y, m.obsU, m.users, m.items); err != nil {
		return err
	}
	return m.half(ctx, m.Y, m.X, m.obsI, m.items, m.users)
}

// half updates every row of dst (n rows) against the fixed factors src
// (nSrc rows) with the observations obs.
func (m *ALS) half(ctx context.Context, dst, src []float64, obs []sparseRow, n, nSrc int) error {
	f := m.Factors
	gram := gramian(src, nSrc, f)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	chunk := (n + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min(n, (w+1)*chunk)
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			s := newCGScratch(f)
			for row := lo; row < hi; row++ {
				if (row-lo)%512 == 0 && ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				m.solveRow(dst[row*f:(row+1)*f], src, gram, obs[row], m.CGSteps, s)
			}
		}(w, lo, hi)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

type cgScratch struct{ r, p, ap []float64 }

func newCGScratch(f int) *cgScratch {
	return &cgScratch{r: make([]float64, f), p: make([]float64, f), ap: make([]float64, f)}
}

// solveRow improves x towards the solution of
// (G + Σ (c−1) y yᵀ + λI) x = Σ c y over the row's observations, by CG.
func (m *ALS) solveRow(x, src, gram []float64, obs sparseRow, steps int, s *cgScratch) {
	f := m.Factors
	// r = b − A x
	m.apply(s.r, x, src, gram, obs)
	floats.Scale(-1, s.r)
	for k, i := range obs.idx {
		floats.AddScaled(s.r, obs.conf[k], src[int(i)*f:int(i+1)*f])
	}
	copy(s.p, s.r)
	rs := floats.Dot(s.r, s.r)
	for step := 0; step < steps && rs > 1e-20; step++ {
		m.apply(s.ap, s.p, src, gram, obs)
		pAp := floats.Dot(s.p, s.ap)
		if pAp <= 0 {
			break
		}
		a := rs / pAp
		floats.AddScaled(x, a, s.p)
		floats.AddScaled(s.r, -a, s.ap)
		next := floats.Dot(s.r, s.r)
		floats.AddScaledTo(s.p, s.r, next/rs, s.p)
		rs = next
	}
}

// apply sets out = (G + Σ (c−1) y yᵀ + λI) v.
func (m *ALS) apply(out, v, src, gram []float64, obs sparseRow) {
	f := m.Factors
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: f, Cols: f, Stride: f, Data: gram},
		blas64.Vector{N: f, Inc: 1, Data: v}, 0, blas64.Vector{N: f, Inc: 1, Data: out})
	floats.AddScaled(out, m.Lambda, v)
	for k, i := range obs.idx {
		y := src[int(i)*f : int(i+1)*f]
		floats.AddScaled(out, (obs.conf[k]-1)*floats.Dot(y, v), y)
	}
}

// UserFactors returns the profile's own Factors if set, else the factors
// of a training user, else folds the profile in: solves its row against
// the item factors from its history.
func (m *ALS) UserFactors(p *Profile) []float64 {
	f := m.Factors
	if len(p.Factors) == f {
		return p.Factors
	}
	if p.User >= 0 && p.User < m.users {
		if m.X == nil { // compacted for serving
			x := make([]float64, f)
			for i, v := range m.x32[p.User*f : (p.User+1)*f] {
				x[i] = float64(v)
			}
			return x
		}
		return m.X[p.User*f : (p.User+1)*f]
	}
	net := map[int32]float64{}
	for _, in := range p.History {
		if int(in.Item) < m.items {
			net[in.Item] += m.Weights.Of(in)
		}
	}
	var row sparseRow
	for _, i := range sortedKeys(net) {
		if r := net[i]; r > 0 {
			row.idx = append(row.idx, i)
			row.conf = append(row.conf, m.confidence(r))
		}
	}
	x := make([]float64, f)
	if len(row.idx) == 0 {
		return x
	}
	m.solveRow(x, m.Y, m.gramY, row, f, newCGScratch(f))
	return x
}

// Score computes x·y for every item in single precision (scores need no
// more, and the item factors are read at half the bytes).
func (m *ALS) Score(p *Profile, scores []float64) {
	f := m.Factors
	x := m.UserFactors(p)
	x32 := make([]float32, f)
	for i, v := range x {
		x32[i] = float32(v)
	}
	out := make([]float32, m.items)
	blas32.Gemv(blas.NoTrans, 1, blas32.General{Rows: m.items, Cols: f, Stride: f, Data: m.y32},
		blas32.Vector{N: f, Inc: 1, Data: x32}, 0, blas32.Vector{N: m.items, Inc: 1, Data: out})
	for i, v := range out {
		scores[i] = float64(v)
	}
	for i := m.items; i < len(scores); i++ {
		scores[i] = 0
	}
}

// String describes the configuration.
func (m *ALS) String() string {
	return fmt.Sprintf("als(f=%d, it=%d, λ=%g, α=%g, ε=%g, cg=%d, seed=%d)", m.Factors, m.Iterations, m.Lambda, m.Alpha, m.Epsilon, m.CGSteps, m.Seed)
}

func sortedKeys(m map[int32]float64) []int32 {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// FoldIn solves a person's factors from their history alone, against the
// trained item factors (what UserFactors does for people it never saw).
func (m *ALS) FoldIn(history []Interaction) []float64 {
	return m.UserFactors(&Profile{User: -1, History: history})
}

// LossHistory is the loss after each iteration of the last training, when
// TrackLoss was set.
func (m *ALS) LossHistory() []float64 { return m.Losses }
