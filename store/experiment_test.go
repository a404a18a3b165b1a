package store_test

import (
	"context"
	"testing"
	"time"

	"rapport/engine"
)

func TestExperimentsAndCounts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	e := engine.Experiment{Name: "ab", Placement: "home", Start: start, Variants: []engine.Variant{{Name: "a", Share: 0.5}, {Name: "b", Share: 0.5}}}
	if created, err := db.PutExperiment(ctx, e); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	// Changing the stop is fine; changing the variants of a started one is not.
	e.Stop = start.Add(48 * time.Hour)
	if created, err := db.PutExperiment(ctx, e); err != nil || created {
		t.Fatalf("update: %v %v", created, err)
	}
	changed := e
	changed.Variants = []engine.Variant{{Name: "a", Share: 0.3}, {Name: "b", Share: 0.7}}
	if _, err := db.PutExperiment(ctx, changed); engine.ErrorCode(err) != engine.CodeConflict {
		t.Fatalf("changed variants: %v", err)
	}
	overlap := engine.Experiment{Name: "cd", Start: start.Add(time.Hour), Variants: e.Variants}
	if _, err := db.PutExperiment(ctx, overlap); engine.ErrorCode(err) != engine.CodeConflict {
		t.Fatalf("an overlapping experiment: %v", err)
	}
	overlap.Placement = "cart"
	if _, err := db.PutExperiment(ctx, overlap); err != nil {
		t.Fatalf("another placement: %v", err)
	}
	if _, err := db.PutExperiment(ctx, engine.Experiment{Name: "Bad Name"}); engine.ErrorCode(err) != engine.CodeInvalid {
		t.Fatalf("invalid: %v", err)
	}

	a, b := engine.VariantKey{Experiment: "ab", Variant: "a"}, engine.VariantKey{Experiment: "ab", Variant: "b"}
	if err := db.AddImpressions(ctx, map[engine.VariantKey]int64{a: 10, b: 7}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddImpressions(ctx, map[engine.VariantKey]int64{a: 5}); err != nil {
		t.Fatal(err)
	}
	fb := []engine.Feedback{
		{VariantKey: a, Kind: engine.FeedbackClick, RecommendationID: "rec_1"},
		{VariantKey: a, Kind: engine.FeedbackClick, RecommendationID: "rec_1"}, // same list: once
		{VariantKey: a, Kind: engine.FeedbackConversion, RecommendationID: "rec_1"},
		{VariantKey: b, Kind: engine.FeedbackClick, RecommendationID: "rec_2"},
	}
	if n, err := db.AddFeedback(ctx, fb); err != nil || n != 3 {
		t.Fatalf("feedback: %d %v", n, err)
	}
	if n, err := db.AddFeedback(ctx, fb); err != nil || n != 0 {
		t.Fatalf("feedback again: %d %v", n, err)
	}
	db.Close()
	db = openDB(t, dir)
	got, counts, err := db.Experiment(ctx, "ab")
	if err != nil || !got.Stop.Equal(e.Stop) || got.CreatedAt.IsZero() {
		t.Fatalf("read: %+v %v", got, err)
	}
	want := map[string]engine.VariantCounts{"a": {Impressions: 15, Clicks: 1, Conversions: 1}, "b": {Impressions: 7, Clicks: 1}}
	if counts["a"] != want["a"] || counts["b"] != want["b"] {
		t.Fatalf("counts %+v, want %+v", counts, want)
	}
	if _, _, err := db.Experiment(ctx, "nope"); engine.ErrorCode(err) != engine.CodeNotFound {
		t.Fatalf("missing: %v", err)
	}
	all, err := db.Experiments(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "ab" || all[1].Name != "cd" {
		t.Fatalf("list: %+v %v", all, err)
	}
}
