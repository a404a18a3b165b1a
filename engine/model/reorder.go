package model

import (
	"context"
	"math"
	"time"
)

// Reorder scores the items a person bought before, for "buy again": each
// past purchase counts, decayed by its age (HalfLife), and an item whose
// usual reorder interval has come round again gets a boost (Cadence: 0
// turns it off). Items never bought score -Inf, so it recommends nothing
// new. With HalfLife 0 and Cadence 0 it is plain purchase frequency.
type Reorder struct {
	Weights  Weights
	HalfLife time.Duration
	Cadence  float64
}

func (r *Reorder) Name() string {
	if r.HalfLife == 0 && r.Cadence == 0 {
		return "frequency"
	}
	return "reorder"
}

func (r *Reorder) Fit(ctx context.Context, d *Dataset, now int64) error {
	if r.Weights == nil {
		r.Weights = DefaultWeights
	}
	return nil
}

func (r *Reorder) Score(p *Profile, scores []float64) {
	for i := range scores {
		scores[i] = math.Inf(-1)
	}
	hl := r.HalfLife.Seconds()
	type stat struct {
		score       float64
		n           int
		first, last int64
	}
	stats := map[int32]*stat{}
	for _, in := range p.History {
		w := r.Weights.Of(in)
		if in.Type != "purchase" && in.Type != "return" {
			continue
		}
		st := stats[in.Item]
		if st == nil {
			st = &stat{first: in.Time}
			stats[in.Item] = st
		}
		st.score += w * decay(float64(p.Now-in.Time), hl)
		if w > 0 {
			st.n++
			st.last = in.Time
		}
	}
	for item, st := range stats {
		if st.n == 0 {
			continue
		}
		s := st.score
		if r.Cadence > 0 && st.n >= 2 {
			// Mean interval between purchases; due when as long has passed
			// since the last one. The boost peaks at "due" and fades on
			// either side.
			interval := float64(st.last-st.first) / float64(st.n-1)
			if interval > 0 {
				x := float64(p.Now-st.last) / interval
				s *= 1 + r.Cadence*math.Exp(-(x-1)*(x-1))
			}
		}
		scores[item] = s
	}
}
