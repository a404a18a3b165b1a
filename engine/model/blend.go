package model

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
)

// Part is one model in a Blend with its weight. A Gate part's -Inf removes
// the item from the blend whatever the other parts say (Reorder gates
// "buy again" to items bought before).
type Part struct {
	Model  Model
	Weight float64
	Gate   bool
}

// Blend scores items by a weighted sum of its parts' scores, each part's
// scores first divided by that part's largest score for the profile, so
// parts on different scales mix by their weights alone. A part's -Inf
// (e.g. Reorder's "never bought") adds nothing; an item that every part
// scores -Inf, or that a Gate part scores -Inf, stays -Inf.
type Blend struct {
	Label string // the name; default lists the parts
	Parts []Part

	scratch sync.Pool // *blendScratch
}

type blendScratch struct {
	part  []float64
	seen  []bool // some part scored the item above -Inf
	gated []bool // a Gate part scored it -Inf
}

func (b *Blend) Name() string {
	if b.Label != "" {
		return b.Label
	}
	names := make([]string, len(b.Parts))
	for i, p := range b.Parts {
		names[i] = fmt.Sprintf("%s×%g", p.Model.Name(), p.Weight)
	}
	return "blend(" + strings.Join(names, "+") + ")"
}

func (b *Blend) Fit(ctx context.Context, d *Dataset, now int64) error {
	for _, p := range b.Parts {
		if err := p.Model.Fit(ctx, d, now); err != nil {
			return fmt.Errorf("fit %s: %w", p.Model.Name(), err)
		}
	}
	return nil
}

func (b *Blend) Score(pr *Profile, scores []float64) { b.Explain(pr, scores, nil) }

// Explain scores like Score and, when contrib is not nil, also fills
// contrib[k] (len(scores) each) with part k's weighted, normalised
// contribution to every item, so callers can say why an item ranks.
func (b *Blend) Explain(pr *Profile, scores []float64, contrib [][]float64) {
	sc, _ := b.scratch.Get().(*blendScratch)
	if sc == nil || len(sc.part) != len(scores) {
		sc = &blendScratch{part: make([]float64, len(scores)), seen: make([]bool, len(scores)), gated: make([]bool, len(scores))}
	}
	defer b.scratch.Put(sc)
	part := sc.part
	clear(scores)
	anyInf := false // whether some part scored some item -Inf
	for k, p := range b.Parts {
		p.Model.Score(pr, part)
		top, inf := 0.0, false
		for _, s := range part {
			if s > top {
				top = s
			} else if s < 0 && math.IsInf(s, -1) {
				inf = true
			}
		}
		scale := 0.0
		if top > 0 {
			scale = p.Weight / top
		}
		if inf {
			if !anyInf {
				anyInf = true
				clear(sc.seen)
				clear(sc.gated)
				if k > 0 { // the parts before scored every item
					for i := range sc.seen {
						sc.seen[i] = true
					}
				}
			}
			b.addWithInf(part, scale, p.Gate, scores, contribOf(contrib, k), sc)
			continue
		}
		if anyInf {
			for i := range sc.seen {
				sc.seen[i] = true
			}
		}
		c := contribOf(contrib, k)
		for i, s := range part {
			v := s * scale
			scores[i] += v
			if c != nil {
				c[i] = v
			}
		}
	}
	if anyInf {
		for i := range scores {
			if sc.gated[i] || !sc.seen[i] {
				scores[i] = math.Inf(-1)
			}
		}
	}
}

// addWithInf adds a part that scores some items -Inf: those add nothing,
// and a Gate part's -Inf removes the item.
func (b *Blend) addWithInf(part []float64, scale float64, gate bool, scores, c []float64, sc *blendScratch) {
	for i, s := range part {
		if math.IsInf(s, -1) {
			sc.gated[i] = sc.gated[i] || gate
			continue
		}
		sc.seen[i] = true
		v := s * scale
		scores[i] += v
		if c != nil {
			c[i] = v
		}
	}
}

func contribOf(contrib [][]float64, k int) []float64 {
	if contrib == nil {
		return nil
	}
	return contrib[k]
}
