package eval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"rapport/engine/model"
)

// Param is one tunable setting of the ranker's configuration: a numeric
// range (sampled uniformly, or log-uniformly when Log) or a set of choices.
type Param struct {
	Name     string
	Min, Max float64
	Log, Int bool
	Choices  []string
	Unit     string // shown after numbers: "d" for days
	set      func(c *model.RankerConfig, v float64, choice string)
}

// sample draws a value for p.
func (p Param) sample(r *rand.Rand) (float64, string) {
	if len(p.Choices) > 0 {
		return 0, p.Choices[r.IntN(len(p.Choices))]
	}
	u := r.Float64()
	v := p.Min + u*(p.Max-p.Min)
	if p.Log {
		v = math.Exp(math.Log(p.Min) + u*(math.Log(p.Max)-math.Log(p.Min)))
	}
	if p.Int {
		v = math.Round(v)
	} else {
		v = roundSignificant(v, 3)
	}
	return v, ""
}

func (p Param) String() string {
	if len(p.Choices) > 0 {
		return fmt.Sprintf("%s ∈ %v", p.Name, p.Choices)
	}
	scale := "uniform"
	if p.Log {
		scale = "log-uniform"
	}
	return fmt.Sprintf("%s ∈ [%g, %g]%s %s", p.Name, p.Min, p.Max, p.Unit, scale)
}

func roundSignificant(v float64, digits int) float64 {
	if v == 0 {
		return 0
	}
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', digits, 64), 64)
	return f
}

// Space is what tuning may change for one model, and how to build the
// model from a configuration.
type Space struct {
	Model  string
	Task   Task // the task the model is meant for
	Params []Param
	Build  func(model.RankerConfig) model.Model
}

func days(v float64) time.Duration { return time.Duration(v * 24 * float64(time.Hour)) }

var (
	alsParams = []Param{
		{Name: "factors", Min: 8, Max: 128, Log: true, Int: true, set: func(c *model.RankerConfig, v float64, _ string) { c.Factors = int(v) }},
		{Name: "iterations", Min: 4, Max: 20, Int: true, set: func(c *model.RankerConfig, v float64, _ string) { c.Iterations = int(v) }},
		{Name: "lambda", Min: 1, Max: 300, Log: true, set: func(c *model.RankerConfig, v float64, _ string) { c.Lambda = v }},
		{Name: "alpha", Min: 0.5, Max: 50, Log: true, set: func(c *model.RankerConfig, v float64, _ string) { c.Alpha = v }},
	}
	knnParams = []Param{
		{Name: "similarity", Choices: []string{string(model.Cosine), string(model.Jaccard), string(model.LLR)}, set: func(c *model.RankerConfig, _ float64, s string) { c.Similarity = model.Similarity(s) }},
		{Name: "neighbours", Min: 20, Max: 400, Log: true, Int: true, set: func(c *model.RankerConfig, v float64, _ string) { c.Neighbours = int(v) }},
		{Name: "history_half_life", Min: 1, Max: 90, Log: true, Unit: "d", set: func(c *model.RankerConfig, v float64, _ string) { c.HistoryHalfLife = days(v) }},
	}
	blendParams = []Param{
		{Name: "trending_half_life", Min: 1, Max: 30, Log: true, Unit: "d", set: func(c *model.RankerConfig, v float64, _ string) { c.TrendingHalfLife = days(v) }},
		{Name: "season_width", Min: 3, Max: 30, Log: true, Unit: "d", set: func(c *model.RankerConfig, v float64, _ string) { c.SeasonWidth = days(v) }},
		{Name: "weight_als", Min: 0.25, Max: 16, Log: true, set: func(c *model.RankerConfig, v float64, _ string) { c.WeightALS = v }},
		{Name: "weight_seasonal", Min: 0.1, Max: 8, Log: true, set: func(c *model.RankerConfig, v float64, _ string) { c.WeightSeasonal = v }},
		{Name: "weight_trending", Min: 0.05, Max: 4, Log: true, set: func(c *model.RankerConfig, v float64, _ string) { c.WeightTrending = v }},
		{Name: "min_items", Min: 1, Max: 8, Int: true, set: func(c *model.RankerConfig, v float64, _ string) { c.MinItems = int(v) }},
	}
)

// Spaces are the documented search spaces, by model name. Every parameter
// is a field of the ranker's configuration, so the best configuration of
// any space is one that train can use.
var Spaces = map[string]Space{
	"ranker": {Model: "ranker", Task: TaskDiscover, Params: slices.Concat(alsParams, knnParams, blendParams),
		Build: func(c model.RankerConfig) model.Model { return model.NewRanker(c) }},
	"als": {Model: "als", Task: TaskDiscover, Params: alsParams,
		Build: func(c model.RankerConfig) model.Model {
			return &model.ALS{Factors: c.Factors, Iterations: c.Iterations, Lambda: c.Lambda, Alpha: c.Alpha, Seed: c.Seed}
		}},
	"itemknn": {Model: "itemknn", Task: TaskDiscover, Params: knnParams,
		Build: func(c model.RankerConfig) model.Model {
			return &model.ItemKNN{Similarity: c.Similarity, Neighbours: c.Neighbours, HalfLife: c.HistoryHalfLife}
		}},
}

// Values describes a configuration by the space's parameters, as text.
func (s Space) Values(c model.RankerConfig) []string {
	out := make([]string, len(s.Params))
	for i, p := range s.Params {
		var v string
		switch p.Name {
		case "factors":
			v = strconv.Itoa(c.Factors)
		case "iterations":
			v = strconv.Itoa(c.Iterations)
		case "lambda":
			v = strconv.FormatFloat(c.Lambda, 'g', 3, 64)
		case "alpha":
			v = strconv.FormatFloat(c.Alpha, 'g', 3, 64)
		case "similarity":
			v = string(c.Similarity)
		case "neighbours":
			v = strconv.Itoa(c.Neighbours)
		case "history_half_life":
			v = fmtDays(c.HistoryHalfLife)
		case "trending_half_life":
			v = fmtDays(c.TrendingHalfLife)
		case "season_width":
			v = fmtDays(c.SeasonWidth)
		case "weight_als":
			v = strconv.FormatFloat(c.WeightALS, 'g', 3, 64)
		case "weight_seasonal":
			v = strconv.FormatFloat(c.WeightSeasonal, 'g', 3, 64)
		case "weight_trending":
			v = strconv.FormatFloat(c.WeightTrending, 'g', 3, 64)
		case "min_items":
			v = strconv.Itoa(c.MinItems)
		}
		out[i] = v
	}
	return out
}

func fmtDays(d time.Duration) string {
	return strconv.FormatFloat(d.Hours()/24, 'g', 3, 64) + "d"
}

// Trial is one configuration tried: its score on the validation split at
// the largest share of people it reached.
type Trial struct {
	ID      int                `json:"id"` // 0 is the starting configuration
	Config  model.RankerConfig `json:"config"`
	Values  []string           `json:"values"`
	Score   float64            `json:"score"` // target metric on validation
	Share   float64            `json:"share"` // of validation people it was scored on
	Seconds float64            `json:"seconds"`
}

// TuneProgress is reported after every evaluation.
type TuneProgress struct {
	Done, Total int
	Rung, Rungs int
	Best        float64
	Elapsed     time.Duration
}

// Tuner searches a space for the configuration that maximises NDCG@K on a
// validation split. Search "random" scores Trials random configurations
// on every validation person; "halving" (successive halving, η = 3) scores
// them on a ninth of the people, the best third of those on a third, and the
// best third again on all; trial 0 goes through every rung. The starting configuration (Base) is always trial
// 0, so the winner is never worse than it on validation. Budget stops
// starting new evaluations once spent (trial 0 is always scored). The same Seed, data and settings give
// the same trials.
type Tuner struct {
	Space    Space
	Base     model.RankerConfig
	Valid    Split
	Task     Task
	K        int
	Trials   int
	Search   string // random or halving
	Budget   time.Duration
	Seed     uint64
	Progress func(TuneProgress)
}

// Run tunes and returns every trial, best first (trials scored on more
// people rank before those cut early).
func (t *Tuner) Run(ctx context.Context) ([]Trial, error) {
	if t.Trials < 1 {
		return nil, fmt.Errorf("trials must be at least 1")
	}
	r := rand.New(rand.NewPCG(t.Seed, 0x7475_6e65))
	trials := []Trial{{ID: 0, Config: t.Base}}
	for i := 1; i < t.Trials; i++ {
		c := t.Base
		for _, p := range t.Space.Params {
			v, s := p.sample(r)
			p.set(&c, v, s)
		}
		trials = append(trials, Trial{ID: i, Config: c})
	}
	for i := range trials {
		trials[i].Values = t.Space.Values(trials[i].Config)
	}
	shares := []float64{1}
	if t.Search == "halving" {
		shares = []float64{1.0 / 9, 1.0 / 3, 1}
	} else if t.Search != "random" {
		return nil, fmt.Errorf("search %q is not random or halving", t.Search)
	}
	start := time.Now()
	total := 0
	for k := range shares {
		total += 1 + keep(len(trials)-1, k) // trial 0 and the others
	}
	done := 0
	alive := trials
	for rung, share := range shares {
		sub := subsample(t.Valid, share)
		cases := CasesFor(sub, t.Task)
		for i := range alive {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if t.Budget > 0 && done > 0 && time.Since(start) > t.Budget {
				return rank(trials), nil
			}
			began := time.Now()
			res, err := EvaluateCases(ctx, t.Space.Build(alive[i].Config), sub, cases, t.Task, t.K)
			if err != nil {
				return nil, err
			}
			tr := &trials[alive[i].ID]
			tr.Score, tr.Share = res.NDCG, share
			tr.Seconds += time.Since(began).Seconds()
			alive[i] = *tr
			done++
			if t.Progress != nil {
				t.Progress(TuneProgress{Done: done, Total: total, Rung: rung + 1, Rungs: len(shares), Best: rank(trials)[0].Score, Elapsed: time.Since(start)})
			}
		}
		if rung+1 < len(shares) {
			alive = promote(alive, keep(len(trials)-1, rung+1))
		}
	}
	return rank(trials), nil
}

// promote keeps trial 0 and the best n others for the next rung: the
// starting point is the reference every rung is judged against, and a
// small share of people can favour settings (weaker regularisation, say)
// that lose on all of them.
func promote(alive []Trial, n int) []Trial {
	var out []Trial
	others := 0
	for _, tr := range rank(alive) {
		switch {
		case tr.ID == 0:
			out = append(out, tr)
		case others < n:
			out = append(out, tr)
			others++
		}
	}
	return out
}

// keep is how many of n trials besides trial 0 reach rung k under η = 3:
// at least one, if there are any.
func keep(n, k int) int {
	m := n
	for range k {
		m /= 3
	}
	return min(n, max(1, m))
}

// rank sorts trials best first: by the share of people scored, then score,
// then id; it returns a sorted copy.
func rank(trials []Trial) []Trial {
	out := slices.Clone(trials)
	slices.SortStableFunc(out, func(a, b Trial) int {
		switch {
		case a.Share != b.Share:
			return cmpDesc(a.Share, b.Share)
		case a.Score != b.Score:
			return cmpDesc(a.Score, b.Score)
		}
		return a.ID - b.ID
	})
	return out
}

func cmpDesc(a, b float64) int {
	if a > b {
		return -1
	}
	return 1
}

// subsample keeps a fixed share of the people of a split, training data
// and test alike, chosen by a hash of their index so that a larger share
// contains every smaller one. Fitting on fewer people is what makes the
// early rungs of successive halving cheap.
func subsample(s Split, share float64) Split {
	if share >= 1 {
		return s
	}
	in := func(u int) bool {
		h := uint64(u) + 0x9e3779b97f4a7c15
		h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
		h = (h ^ h>>27) * 0x94d049bb133111eb
		h ^= h >> 31
		return float64(h%1_000_000) < share*1_000_000
	}
	out := Split{Protocol: s.Protocol, Now: s.Now, Test: make([][]int32, len(s.Test))}
	out.Train = s.Train.Restrict(func(u int, _ model.Interaction) bool { return in(u) })
	for u, t := range s.Test {
		if in(u) {
			out.Test[u] = t
		}
	}
	return out
}

// ValidationSplit carves a validation split out of a split's training part,
// the same way the split was made: for a time split, the last window
// before its cutoff; otherwise the same protocol again on the training
// data. Tuning chooses on it, so the test part stays unseen.
func ValidationSplit(s Split, window time.Duration, again func(*model.Dataset) (Split, error)) (Split, error) {
	if window > 0 {
		c := time.Unix(s.Now, 0).UTC().Add(-window)
		return TimeSplit(s.Train, c, time.Time{}), nil
	}
	return again(s.Train)
}
