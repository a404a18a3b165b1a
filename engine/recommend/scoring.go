package recommend

import (
	"math"

	"rapport/engine/model"
)

// scoring is one request's ranked scores, however they were computed: the
// step used, the best items on demand, each item's score, and each part's
// contribution to it (for reasons).
type scoring struct {
	step    model.Step
	best    func(k int, skip func(int32) bool) []model.Scored
	scoreOf func(item int32) float64
	part    func(name string, item int32) float64
}

// contextWeight is how much the item being viewed weighs: as much as all
// of the blend's parts together, since on a product page what goes with
// that product matters as much as everything else known.
func contextWeight(t *model.Trained) float64 {
	cfg := t.Ranker.Config
	return 1 + cfg.WeightALS + cfg.WeightSeasonal + cfg.WeightTrending
}

// socialWeight is how much a person's social interests weigh, as a share
// of the model's best score: most for people the model knows least, since
// that is where a like or a follow says the most.
func socialWeight(step model.Step) float64 {
	switch step {
	case model.StepTrending:
		return 1
	case model.StepItemToItem:
		return 0.5
	}
	return 0.2
}

// socialPart returns what social interests add to each item, given the
// model's best score.
func socialPart(social map[int32]model.Interest, step model.Step, best float64) map[int32]float64 {
	if len(social) == 0 || best <= 0 || math.IsInf(best, 0) {
		return nil
	}
	w := socialWeight(step) * best
	out := make(map[int32]float64, len(social))
	for i, in := range social {
		out[i] = w * in.Weight
	}
	return out
}

// scoreAll scores every item: the path for catalogs small enough that
// reading all of them is the fastest way.
func scoreAll(t *model.Trained, p *model.Profile, ctxItem int32, social map[int32]model.Interest, ws *workspace) scoring {
	scores, contrib := ws.scores, ws.contrib
	step := t.Ranker.Explain(p, scores, contrib)
	if len(social) > 0 {
		best := math.Inf(-1)
		for _, v := range scores {
			best = max(best, v)
		}
		for i, v := range socialPart(social, step, best) {
			contrib[model.PartSocial][i] = v
			if math.IsInf(scores[i], -1) {
				scores[i] = v
			} else {
				scores[i] += v
			}
		}
	}
	if ctxItem >= 0 {
		nbrs := t.Ranker.KNN.NeighboursOf(ctxItem)
		if len(nbrs) > 0 && nbrs[0].Score > 0 {
			w, top := contextWeight(t), nbrs[0].Score
			for _, nb := range nbrs {
				v := w * nb.Score / top
				contrib[partContext][nb.Item] = v
				if math.IsInf(scores[nb.Item], -1) {
					scores[nb.Item] = v
				} else {
					scores[nb.Item] += v
				}
			}
		}
	}
	return scoring{
		step:    step,
		best:    func(k int, skip func(int32) bool) []model.Scored { return model.TopN(scores, k, skip) },
		scoreOf: func(i int32) float64 { return scores[i] },
		part:    func(name string, i int32) float64 { return contrib[name][i] },
	}
}

// candidatePool is how many items each source contributes to the
// candidate set of a large catalog.
const candidatePool = 150

// scoreCandidates scores only a candidate set (ALS index, item-to-item
// neighbours, trending and seasonal tops, the viewed item's neighbours):
// the path for catalogs too large to read whole per request. The scoring
// reads cs, which the caller must not reuse while it needs the scoring.
func scoreCandidates(t *model.Trained, p *model.Profile, ctxItem int32, social map[int32]model.Interest, cs *model.CandSet) scoring {
	step := t.Ranker.CandidatesInto(cs, p, candidatePool)
	var soc map[int32]float64
	if len(social) > 0 {
		best := 0.0
		for _, c := range cs.Cands {
			best = max(best, c.Score)
		}
		soc = socialPart(social, step, best)
	}
	var ctx map[int32]float64
	if ctxItem >= 0 {
		nbrs := t.Ranker.KNN.NeighboursOf(ctxItem)
		if len(nbrs) > 0 && nbrs[0].Score > 0 {
			ctx = make(map[int32]float64, len(nbrs))
			w, top := contextWeight(t), nbrs[0].Score
			for _, nb := range nbrs {
				ctx[nb.Item] = w * nb.Score / top
			}
		}
	}
	for _, extra := range []map[int32]float64{ctx, soc} {
		for i, v := range extra {
			cs.Cands[cs.Add(i)].Score += v
		}
	}
	return scoring{
		step: step,
		best: cs.Best,
		scoreOf: func(i int32) float64 {
			if k := cs.Index(i); k >= 0 {
				return cs.Cands[k].Score
			}
			return 0
		},
		part: func(name string, i int32) float64 {
			switch name {
			case partContext:
				return ctx[i]
			case model.PartSocial:
				return soc[i]
			}
			k := cs.Index(i)
			if k < 0 {
				return 0
			}
			return cs.Cands[k].Parts[partIndex(name)]
		},
	}
}

// partIndex is the position of a part in model.Cand.Parts.
func partIndex(name string) int {
	switch name {
	case model.PartItemToItem:
		return 0
	case model.PartALS:
		return 1
	case model.PartSeasonal:
		return 2
	}
	return 3
}
