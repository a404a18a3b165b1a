package model

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"rapport/engine"
)

const day = int64(86400)

// dataset builds a dataset from "user item type day" rows.
func dataset(t *testing.T, rows ...string) *Dataset {
	t.Helper()
	b := NewBuilder()
	for _, r := range rows {
		var user, item, typ, region string
		var d int64
		if _, err := fmt.Sscan(r, &user, &item, &typ, &d, &region); err != nil {
			t.Fatalf("row %q: %v", r, err)
		}
		a, err := engine.ParseAlias(user)
		if err != nil {
			t.Fatal(err)
		}
		b.Add(&engine.Event{Alias: a, Item: item, Type: engine.EventType(typ), Quantity: 1, Time: time.Unix(d*day, 0), Region: region})
	}
	return b.Build()
}

func scoresOf(t *testing.T, m Model, d *Dataset, user string, now int64) map[string]float64 {
	t.Helper()
	if err := m.Fit(context.Background(), d, now); err != nil {
		t.Fatal(err)
	}
	u := int(d.UserIndex[user])
	s := make([]float64, d.NumItems())
	m.Score(&Profile{User: u, History: d.Hist[u], Region: d.Regions[u], Now: now}, s)
	out := map[string]float64{}
	for i, v := range s {
		out[d.Items[i]] = v
	}
	return out
}

func TestPopularityCountsPeopleNotVolume(t *testing.T) {
	d := dataset(t,
		"customer:1 a purchase 1 UK", "customer:1 a purchase 2 UK", "customer:1 a purchase 3 UK", // one bulk buyer
		"customer:2 b purchase 1 UK", "customer:3 b purchase 1 UK",
		"customer:4 c purchase 1 UK", "customer:4 c return 2 UK", // returned: no net interest
	)
	s := scoresOf(t, &Popularity{}, d, "customer:1", 10*day)
	if !(s["b"] == 2 && s["a"] == 1 && s["c"] == 0) {
		t.Fatalf("scores %v: want b=2 (two people), a=1 (one person), c=0 (returned)", s)
	}
	tr := scoresOf(t, &Popularity{HalfLife: 24 * time.Hour}, d, "customer:1", 4*day)
	if !(math.Abs(tr["a"]-0.5) < 1e-9) { // a's latest purchase is one day old
		t.Fatalf("trending a = %v, want 0.5 after one half-life", tr["a"])
	}
}

func TestReorderScoresOnlyPastPurchases(t *testing.T) {
	d := dataset(t,
		"customer:1 a purchase 1 UK", "customer:1 a purchase 5 UK", "customer:1 b purchase 2 UK",
		"customer:1 c view 3 UK", "customer:2 d purchase 1 UK",
	)
	s := scoresOf(t, &Reorder{}, d, "customer:1", 10*day)
	if !(s["a"] == 2 && s["b"] == 1 && math.IsInf(s["c"], -1) && math.IsInf(s["d"], -1)) {
		t.Fatalf("frequency scores %v", s)
	}
}

func TestItemKNNFindsBoughtTogether(t *testing.T) {
	var rows []string
	for u := 0; u < 20; u++ {
		rows = append(rows, fmt.Sprintf("customer:%d x purchase 1 UK", u), fmt.Sprintf("customer:%d y purchase 1 UK", u))
		if u%4 == 0 {
			rows = append(rows, fmt.Sprintf("customer:%d z purchase 1 UK", u))
		}
	}
	for u := 0; u < 20; u++ { // people who buy neither, so co-occurrence means something
		rows = append(rows, fmt.Sprintf("customer:other%d w purchase 1 UK", u))
	}
	rows = append(rows, "customer:new x purchase 2 UK")
	for _, sim := range []Similarity{Cosine, Jaccard, LLR} {
		s := scoresOf(t, &ItemKNN{Similarity: sim}, dataset(t, rows...), "customer:new", 3*day)
		if !(s["y"] > s["z"] && s["z"] > 0) {
			t.Errorf("%s: scores %v; y (always with x) should beat z (sometimes)", sim, s)
		}
	}
}

func TestBlendNormalisesParts(t *testing.T) {
	d := dataset(t, "customer:1 a purchase 1 UK", "customer:2 b purchase 1 UK", "customer:3 b purchase 1 UK", "customer:1 c purchase 1 UK")
	b := &Blend{Parts: []Part{{Model: &Reorder{}, Weight: 1}, {Model: &Popularity{}, Weight: 0.5}}}
	s := scoresOf(t, b, d, "customer:1", 5*day)
	// Reorder: a=1, c=1 (max 1); popularity: b=2, a=1, c=1 (max 2).
	want := map[string]float64{"a": 1 + 0.25, "b": 0.5, "c": 1 + 0.25}
	for k, v := range want {
		if math.Abs(s[k]-v) > 1e-9 {
			t.Fatalf("blend %v, want %v", s, want)
		}
	}
	b.Parts[0].Gate = true
	if s := scoresOf(t, b, d, "customer:1", 5*day); !math.IsInf(s["b"], -1) {
		t.Fatalf("gated blend scores b, which customer:1 never bought: %v", s)
	}
}

func TestTopN(t *testing.T) {
	got := TopN([]float64{1, 5, 3, 5, math.Inf(-1), 2}, 3, func(i int32) bool { return i == 2 })
	want := []Scored{{1, 5}, {3, 5}, {5, 2}}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("TopN = %v, want %v", got, want)
	}
}

// TestSimilarities checks each similarity against its textbook form; LLR
// against the G statistic 2 Σ O ln(O/E) of the 2×2 table, which is the
// same quantity computed another way.
func TestSimilarities(t *testing.T) {
	gstat := func(k11, k12, k21, k22 float64) float64 {
		n := k11 + k12 + k21 + k22
		cells := [2][2]float64{{k11, k12}, {k21, k22}}
		rows := [2]float64{k11 + k12, k21 + k22}
		cols := [2]float64{k11 + k21, k12 + k22}
		var g float64
		for r := range 2 {
			for c := range 2 {
				if o := cells[r][c]; o > 0 {
					g += o * math.Log(o*n/(rows[r]*cols[c]))
				}
			}
		}
		return 2 * g
	}
	for _, tc := range []struct{ cij, ni, nj, n float64 }{
		{10, 20, 30, 1000}, {1, 1, 1, 5000}, {3.5, 7.25, 4, 120.5}, {5, 5, 5, 5}, {700, 900, 800, 1000}, {0.5, 40, 30, 1000},
	} {
		count := []float64{tc.ni, tc.nj}
		llr := (&ItemKNN{Similarity: LLR}).similarityFunc(count, tc.n)(tc.cij, 0, 1)
		want := max(gstat(tc.cij, tc.ni-tc.cij, tc.nj-tc.cij, tc.n-tc.ni-tc.nj+tc.cij), 0)
		if math.Abs(llr-want) > 1e-9*max(1, want) {
			t.Errorf("llr%v = %v, want %v", tc, llr, want)
		}
		if got, want := (&ItemKNN{Similarity: Cosine}).similarityFunc(count, tc.n)(tc.cij, 0, 1), tc.cij/math.Sqrt(tc.ni*tc.nj); got != want {
			t.Errorf("cosine%v = %v, want %v", tc, got, want)
		}
		if got, want := (&ItemKNN{Similarity: Jaccard}).similarityFunc(count, tc.n)(tc.cij, 0, 1), tc.cij/(tc.ni+tc.nj-tc.cij); got != want {
			t.Errorf("jaccard%v = %v, want %v", tc, got, want)
		}
	}
}
