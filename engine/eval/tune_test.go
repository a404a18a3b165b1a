package eval

import (
	"context"
	"slices"
	"testing"
	"time"

	"rapport/engine"
	"rapport/engine/demo"
	"rapport/engine/model"
)

type builderWriter struct{ b *model.Builder }

func (w builderWriter) AddEvent(ev *engine.Event, _ uint64) (bool, error) {
	w.b.Add(ev)
	return true, nil
}
func (builderWriter) PutItem(engine.Item) error                             { return nil }
func (builderWriter) AddConsent(engine.Alias, engine.Consent, uint64) error { return nil }

// shop is a small synthetic shop's time split with a validation split
// carved out of its training part, as rapport tune makes them.
func shop(t *testing.T) (Split, Split) {
	t.Helper()
	end := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	b := model.NewBuilder()
	cfg := demo.Config{Seed: 7, Now: end, Items: 300, Customers: 300, Visitors: 100, Wholesale: 5, Days: 180}
	if _, err := demo.Generate(context.Background(), cfg, builderWriter{b}); err != nil {
		t.Fatal(err)
	}
	s := TimeSplit(b.Build(), end.Add(-30*24*time.Hour), time.Time{})
	v, err := ValidationSplit(s, 30*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func TestTunerIsReproducibleAndKeepsTheStart(t *testing.T) {
	_, valid := shop(t)
	if valid.Now >= time.Date(2025, 5, 2, 0, 0, 0, 0, time.UTC).Unix() {
		t.Fatalf("validation must end before the test cutoff, ends %v", time.Unix(valid.Now, 0))
	}
	base := model.DefaultRankerConfig()
	base.Factors, base.Iterations = 8, 3
	run := func(search string) []Trial {
		tu := &Tuner{Space: Spaces["ranker"], Base: base, Valid: valid, Task: TaskDiscover, K: 10, Trials: 9, Search: search, Seed: 3}
		var last TuneProgress
		tu.Progress = func(p TuneProgress) { last = p }
		got, err := tu.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if last.Done != last.Total {
			t.Fatalf("progress ended at %d of %d", last.Done, last.Total)
		}
		return got
	}
	a, b := run("random"), run("random")
	if len(a) != 9 {
		t.Fatalf("%d trials, want 9", len(a))
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Score != b[i].Score || !slices.Equal(a[i].Values, b[i].Values) {
			t.Fatalf("same seed, different trials:\n%+v\n%+v", a[i], b[i])
		}
		if i > 0 && a[i].Score > a[i-1].Score {
			t.Fatalf("not sorted best first: %v then %v", a[i-1].Score, a[i].Score)
		}
	}
	var start Trial
	for _, tr := range a {
		if tr.ID == 0 {
			start = tr
		}
	}
	if start.Config != base || a[0].Score < start.Score {
		t.Fatalf("trial 0 must be the base configuration and never beat the winner: %+v vs %+v", start, a[0])
	}
	distinct := map[string]bool{}
	for _, tr := range a {
		distinct[tr.Values[0]+"/"+tr.Values[3]] = true
	}
	if len(distinct) < 5 {
		t.Fatalf("random search drew only %d distinct settings", len(distinct))
	}

	// Successive halving: trial 0 and 8 others on a ninth of the people,
	// trial 0 and the best 2 on a third, trial 0 and the best on all.
	h := run("halving")
	shares := map[float64]int{}
	for _, tr := range h {
		shares[tr.Share]++
		if tr.ID == 0 && tr.Share != 1 {
			t.Fatalf("trial 0 must reach every rung: %+v", tr)
		}
	}
	if shares[1] != 2 || shares[1.0/3] != 1 || shares[1.0/9] != 6 || h[0].Share != 1 {
		t.Fatalf("halving reached shares %v; best %+v", shares, h[0])
	}
}

func TestTunerBudgetAndErrors(t *testing.T) {
	_, valid := shop(t)
	tu := &Tuner{Space: Spaces["itemknn"], Base: model.DefaultRankerConfig(), Valid: valid, Task: TaskDiscover, K: 10, Trials: 50, Search: "random", Budget: time.Nanosecond}
	got, err := tu.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	scored := 0
	for _, tr := range got {
		if tr.Share > 0 {
			scored++
		}
	}
	if scored != 1 {
		t.Fatalf("a spent budget should stop after the first trial, scored %d", scored)
	}
	for _, bad := range []*Tuner{{Space: Spaces["als"], Trials: 0, Search: "random"}, {Space: Spaces["als"], Trials: 3, Search: "grid"}} {
		bad.Valid = valid
		if _, err := bad.Run(context.Background()); err == nil {
			t.Fatalf("%+v: want an error", bad)
		}
	}
}
