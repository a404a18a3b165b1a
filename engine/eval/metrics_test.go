package eval

import (
	"math"
	"testing"
)

func set(items ...int32) map[int32]bool {
	m := map[int32]bool{}
	for _, i := range items {
		m[i] = true
	}
	return m
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestScoreList checks each metric against values worked out by hand.
func TestScoreList(t *testing.T) {
	l2, l3, l4 := math.Log2(2), math.Log2(3), math.Log2(4) // rank 1, 2, 3 discounts are 1/l2, 1/l3, 1/l4
	for _, tc := range []struct {
		name   string
		ranked []int32
		rel    map[int32]bool
		k      int
		want   listScores
	}{
		{"Perfect", []int32{1, 2}, set(1, 2), 2, listScores{precision: 1, recall: 1, hit: 1, ndcg: 1, ap: 1, rr: 1}},
		{"Miss", []int32{5, 6, 7}, set(1), 3, listScores{}},
		// Relevant at ranks 2 and 3 of 3, two relevant items in all:
		// DCG = 1/log2(3) + 1/log2(4); IDCG = 1/log2(2) + 1/log2(3).
		// AP = (1/2)(1/2 + 2/3); RR = 1/2.
		{"SecondAndThird", []int32{9, 1, 2}, set(1, 2), 3, listScores{
			precision: 2.0 / 3, recall: 1, hit: 1,
			ndcg: (1/l3 + 1/l4) / (1/l2 + 1/l3), ap: (0.5 + 2.0/3) / 2, rr: 0.5}},
		// Three relevant, k = 2, one hit at rank 1: IDCG over min(3,2) = 2 ranks.
		{"MoreRelevantThanK", []int32{1, 9, 2}, set(1, 2, 3), 2, listScores{
			precision: 0.5, recall: 1.0 / 3, hit: 1, ndcg: (1 / l2) / (1/l2 + 1/l3), ap: 1.0 / 2, rr: 1}},
		// A short list still divides precision by k.
		{"ShortList", []int32{4}, set(4), 5, listScores{precision: 0.2, recall: 1, hit: 1, ndcg: 1, ap: 1, rr: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := scoreList(tc.ranked, tc.rel, tc.k)
			if !near(got.precision, tc.want.precision) || !near(got.recall, tc.want.recall) || !near(got.hit, tc.want.hit) ||
				!near(got.ndcg, tc.want.ndcg) || !near(got.ap, tc.want.ap) || !near(got.rr, tc.want.rr) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
