package model

import (
	"context"
	"math"
	"sync"
	"time"
)

// Popularity scores items by how many people bought (or otherwise wanted)
// them: net positive weight per person, counted once per person so a single
// bulk buyer cannot make an item popular. With a HalfLife it is trending:
// each person's signal decays with its age. With ByRegion, people in the
// profile's region count for that region's list (falling back to the global
// list for regions with few people).
type Popularity struct {
	Weights  Weights
	HalfLife time.Duration
	ByRegion bool
	// Season, when positive, makes it seasonal: a signal counts by how
	// close its day of the year lies to the scoring day's (a Gaussian of
	// this width), so last December's bestsellers lead this December.
	Season time.Duration

	global []float64
	region map[string][]float64

	topOnce sync.Once
	tops    map[string][]Scored
}

// minRegionUsers is how many people a region needs for its own list.
const minRegionUsers = 20

func (p *Popularity) Name() string {
	switch {
	case p.Season > 0:
		return "seasonal"
	case p.ByRegion && p.HalfLife > 0:
		return "trending-region"
	case p.ByRegion:
		return "popularity-region"
	case p.HalfLife > 0:
		return "trending"
	}
	return "popularity"
}

func (p *Popularity) Fit(ctx context.Context, d *Dataset, now int64) error {
	if p.Weights == nil {
		p.Weights = DefaultWeights
	}
	hl := p.HalfLife.Seconds()
	p.topOnce, p.tops = sync.Once{}, nil
	p.global = make([]float64, d.NumItems())
	p.region = map[string][]float64{}
	regionUsers := map[string]int{}
	net := map[int32]float64{}
	latest := map[int32]int64{}
	for u, h := range d.Hist {
		if u%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		clear(net)
		clear(latest)
		for _, in := range h {
			net[in.Item] += p.Weights.Of(in)
			latest[in.Item] = max(latest[in.Item], in.Time)
		}
		var reg []float64
		if p.ByRegion && d.Regions[u] != "" {
			r := d.Regions[u]
			regionUsers[r]++
			if reg = p.region[r]; reg == nil {
				reg = make([]float64, d.NumItems())
				p.region[r] = reg
			}
		}
		for item, w := range net {
			if w <= 0 {
				continue
			}
			s := decay(float64(now-latest[item]), hl) * seasonal(now, latest[item], p.Season.Seconds())
			p.global[item] += s
			if reg != nil {
				reg[item] += s
			}
		}
	}
	for r, n := range regionUsers {
		if n < minRegionUsers {
			delete(p.region, r)
		}
	}
	return nil
}

func (p *Popularity) Score(pr *Profile, scores []float64) {
	src := p.global
	if r, ok := p.region[pr.Region]; ok {
		src = r
	}
	copy(scores, src)
}

// seasonal weighs a time t by how near its day of the year is to now's: a
// Gaussian of the given width in seconds over the circular year; 1 when
// width is 0.
func seasonal(now, t int64, width float64) float64 {
	if width <= 0 {
		return 1
	}
	const year = 365.2425 * 86400
	d := math.Mod(float64(now-t), year)
	if d < 0 {
		d += year
	}
	d = math.Min(d, year-d)
	return math.Exp(-0.5 * (d / width) * (d / width))
}

// HasRegion reports whether region has a list of its own.
func (p *Popularity) HasRegion(region string) bool {
	_, ok := p.region[region]
	return ok
}

// Top returns the k best items of the list Score would use for region,
// best first (computed once and kept).
func (p *Popularity) Top(region string, k int) []Scored {
	p.topOnce.Do(func() {
		p.tops = map[string][]Scored{"": TopN(p.global, topKept, nil)}
		for r, l := range p.region {
			p.tops[r] = TopN(l, topKept, nil)
		}
	})
	l, ok := p.tops[region]
	if !ok {
		l = p.tops[""]
	}
	return l[:min(k, len(l))]
}

// topKept is how long the kept top lists are.
const topKept = 1000

// At returns the score of one item in region's list.
func (p *Popularity) At(region string, item int32) float64 {
	if r, ok := p.region[region]; ok {
		return r[item]
	}
	return p.global[item]
}
