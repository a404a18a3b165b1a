package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"
)

func TestWilsonAndNewcombe(t *testing.T) {
	near := func(a, b float64) bool { return math.Abs(a-b) < 5e-5 }
	// Newcombe (1998), example (a): 56/70 against 48/80.
	a, b := WilsonRate(48, 80), WilsonRate(56, 70)
	if !near(b.Low, 0.6918) || !near(b.High, 0.8770) {
		t.Fatalf("Wilson 56/70 = %+v, want [0.6918, 0.8770]", b)
	}
	d := RateDifference(a, b)
	if !near(d.Value, 0.2) || !near(d.Low, 0.0524) || !near(d.High, 0.3339) {
		t.Fatalf("Newcombe difference = %+v, want 0.2 [0.0524, 0.3339]", d)
	}
	if r := WilsonRate(0, 0); r != (Rate{}) {
		t.Fatalf("no impressions: %+v", r)
	}
	if r := WilsonRate(0, 10); r.Low != 0 || !(r.High > 0.25 && r.High < 0.31) {
		t.Fatalf("0/10: %+v", r)
	}
}

func TestAssignIsStableAndFollowsShares(t *testing.T) {
	e := Experiment{Name: "x", Variants: []Variant{{Name: "a", Share: 0.2}, {Name: "b", Share: 0.8}}}
	counts := [2]int{}
	for i := range 20000 {
		unit := fmt.Sprintf("anon:%d", i)
		v := e.Assign(unit)
		if e.Assign(unit) != v {
			t.Fatal("assignment changed between calls")
		}
		counts[v]++
	}
	if share := float64(counts[0]) / 20000; math.Abs(share-0.2) > 0.015 {
		t.Fatalf("variant a got %.3f, want 0.2", share)
	}
	// Another experiment assigns independently.
	f := Experiment{Name: "y", Variants: e.Variants}
	same := 0
	for i := range 2000 {
		if e.Assign(fmt.Sprint(i)) == f.Assign(fmt.Sprint(i)) {
			same++
		}
	}
	if same > 1500 {
		t.Fatalf("experiments x and y agree on %d of 2000 units", same)
	}
}

func TestExperimentOverlaps(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	a := Experiment{Placement: "home", Start: day(1), Stop: day(10)}
	for _, c := range []struct {
		b    Experiment
		want bool
	}{
		{Experiment{Placement: "home", Start: day(5)}, true},
		{Experiment{Placement: "", Start: day(9)}, true},
		{Experiment{Placement: "cart", Start: day(5)}, false},
		{Experiment{Placement: "home", Start: day(10)}, false},
		{Experiment{Placement: "home", Start: day(1), Stop: day(1).Add(time.Hour)}, true},
	} {
		if got := a.Overlaps(&c.b); got != c.want {
			t.Errorf("%+v: overlaps %v, want %v", c.b, got, c.want)
		}
	}
}

// FuzzExperiment checks that decoding and validating an experiment never
// panics, and that whatever validates assigns every unit to one of its
// variants, reports, and reads back the same from its wire form.
func FuzzExperiment(f *testing.F) {
	for _, s := range []string{
		`{"name":"ab","variants":[{"name":"a","share":0.5},{"name":"b","share":0.5,"blend":{"weight_als":8}}],"start":"2026-01-01T00:00:00Z"}`,
		`{"name":"ab","placement":"home","variants":[{"name":"a","share":0.3},{"name":"b","share":0.7,"model":"v000002"}],"start":"2026-01-01T00:00:00Z","stop":"2026-02-01T00:00:00Z"}`,
		`{"name":"x","variants":[{"name":"a","share":1e-300},{"name":"b","share":1}]}`, `{"variants":null}`, `[]`, "\x00",
	} {
		f.Add([]byte(s), "anon:visitor-1")
	}
	f.Fuzz(func(t *testing.T, data []byte, unit string) {
		var e Experiment
		if json.Unmarshal(data, &e) != nil || len(e.Validate()) > 0 {
			return
		}
		if v := e.Assign(unit); v < 0 || v >= len(e.Variants) {
			t.Fatalf("unit %q assigned to variant %d of %d", unit, v, len(e.Variants))
		}
		if r := e.Report(map[string]VariantCounts{e.Variants[0].Name: {Impressions: 3, Clicks: 1}}); len(r) != len(e.Variants) {
			t.Fatalf("report of %d variants", len(r))
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back Experiment
		if err := json.Unmarshal(out, &back); err != nil || len(back.Validate()) > 0 || back.Assign(unit) != e.Assign(unit) {
			t.Fatalf("round trip of %s: %v %v", out, err, back.Validate())
		}
	})
}
