package model

import (
	"context"
	"fmt"
	"math"
	"strings"
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
	part := make([]float64, len(scores))
	gated := make([]bool, len(scores))
	for i := range scores {
		scores[i] = math.Inf(-1)
	}
	for k, p := range b.Parts {
		p.Model.Score(pr, part)
		top := 0.0
		for _, s := range part {
			if s > top {
				top = s
			}
		}
		for i, s := range part {
			v := 0.0
			if top > 0 && !math.IsInf(s, -1) {
				v = s / top * p.Weight
			} else if math.IsInf(s, -1) {
				gated[i] = gated[i] || p.Gate
				continue
			}
			if contrib != nil {
				contrib[k][i] = v
			}
			if math.IsInf(scores[i], -1) {
				scores[i] = v
			} else {
				scores[i] += v
			}
		}
	}
	for i, g := range gated {
		if g {
			scores[i] = math.Inf(-1)
		}
	}
}
