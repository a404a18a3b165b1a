// Package eval measures recommendation models offline, honestly: it splits
// a dataset into training and test parts by a named protocol, trains each
// model on the training part only, ranks items for every test person and
// scores the rankings against what they actually bought afterwards.
package eval

import "math"

// The metrics below take one person's ranked list (best first, already cut
// to k or shorter) and the set of items that were relevant to them; each is
// averaged over people with at least one relevant item.
//
// Definitions (k is the cut-off, rel the relevant set, hits the ranked items
// in rel, rank counted from 1):
//
//	precision@k = |hits in top k| / k
//	recall@k    = |hits in top k| / |rel|
//	hit@k       = 1 if any of the top k is relevant, else 0
//	NDCG@k      = DCG / IDCG with DCG = Σ_{rank r ≤ k, item relevant} 1/log2(r+1)
//	              and IDCG the DCG of a perfect list: Σ_{r=1}^{min(|rel|,k)} 1/log2(r+1)
//	MAP@k       = (1/min(|rel|,k)) Σ_{rank r ≤ k, item relevant} precision@r
//	MRR@k       = 1/r for the first relevant rank r ≤ k, else 0
//
// Two more describe the whole set of lists rather than one person:
//
//	coverage    = distinct items recommended to anyone / items in the training catalog
//	novelty     = mean over recommended items of -log2(p), p being the share of
//	              training people who had the item (unseen items count as seen by one)
const Definitions = `precision@k = hits in the top k / k
recall@k    = hits in the top k / relevant items
hit@k       = 1 if any of the top k is relevant
NDCG@k      = DCG / ideal DCG; DCG = sum over relevant ranks r <= k of 1/log2(r+1)
MAP@k       = (1 / min(relevant, k)) * sum over relevant ranks r <= k of precision@r
MRR@k       = 1 / rank of the first relevant item in the top k (0 if none)
coverage    = distinct items recommended to anyone / items in the training data
novelty     = mean of -log2(share of training people who had the item) over recommended items
All but coverage and novelty are averaged over test people with at least one relevant item.`

// listScores are one person's per-list metrics.
type listScores struct {
	precision, recall, hit, ndcg, ap, rr float64
}

// scoreList computes the per-person metrics for ranked (cut to k) against rel.
func scoreList(ranked []int32, rel map[int32]bool, k int) listScores {
	var s listScores
	if len(rel) == 0 || k <= 0 {
		return s
	}
	if len(ranked) > k {
		ranked = ranked[:k]
	}
	hits := 0
	var dcg, sumPrec float64
	for i, item := range ranked {
		if !rel[item] {
			continue
		}
		hits++
		r := float64(i + 1)
		dcg += 1 / math.Log2(r+1)
		sumPrec += float64(hits) / r
		if hits == 1 {
			s.rr = 1 / r
		}
	}
	ideal := min(len(rel), k)
	var idcg float64
	for r := 1; r <= ideal; r++ {
		idcg += 1 / math.Log2(float64(r)+1)
	}
	s.precision = float64(hits) / float64(k)
	s.recall = float64(hits) / float64(len(rel))
	if hits > 0 {
		s.hit = 1
	}
	s.ndcg = dcg / idcg
	s.ap = sumPrec / float64(ideal)
	return s
}
