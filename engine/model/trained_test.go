package model

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"rapport/engine"
)

func shop(t *testing.T) *Dataset {
	t.Helper()
	b := NewBuilder()
	for u := 0; u < 60; u++ {
		a, _ := engine.ParseAlias(fmt.Sprintf("customer:%d", u))
		for k := 0; k < 8; k++ {
			item := fmt.Sprintf("SKU-%d", (u*7+k*k)%40)
			b.Add(&engine.Event{Alias: a, Item: item, Type: engine.EventPurchase, Quantity: 1, Region: []string{"UK", "EU-DE"}[u%2],
				Time: time.Unix(int64(1700000000+u*3600+k*86400), 0)})
		}
	}
	return b.Build()
}

// TestTrainedArtefactsDeterministic: the same data, seed and config give
// byte-identical artefacts, and they decode to a model that ranks alike.
func TestTrainedArtefactsDeterministic(t *testing.T) {
	d := shop(t)
	cfg := DefaultRankerConfig()
	cfg.Factors, cfg.Iterations = 8, 5
	now := d.End().Unix()
	a, err := Train(context.Background(), d, cfg, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Train(context.Background(), d, cfg, now, nil)
	ab, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	bb, _ := b.MarshalBinary()
	if !bytes.Equal(ab, bb) {
		t.Fatal("two trainings of the same data and seed differ")
	}
	cfg.Seed++
	c, _ := Train(context.Background(), d, cfg, now, nil)
	if cb, _ := c.MarshalBinary(); bytes.Equal(ab, cb) {
		t.Fatal("another seed gave identical artefacts")
	}
	back, err := UnmarshalTrained(ab)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.MarshalBinary()
	if !bytes.Equal(ab, again) {
		t.Fatal("decode and re-encode changed the artefacts")
	}
	u := a.UserIndex("customer:3")
	p := &Profile{User: u, History: d.Hist[u], Region: "EU-DE", Now: now}
	s1, s2 := make([]float64, len(a.Items)), make([]float64, len(a.Items))
	a.Ranker.Score(p, s1)
	back.Ranker.Score(p, s2)
	for i := range s1 {
		if s1[i] != s2[i] {
			t.Fatalf("item %d scores %v before and %v after a round trip", i, s1[i], s2[i])
		}
	}
	if _, err := UnmarshalTrained(ab[:len(ab)/2]); err == nil {
		t.Fatal("a truncated artefact decoded")
	}
}

// TestCompactKeepsRanking: a compacted model ranks as before and refuses
// to be encoded.
func TestCompactKeepsRanking(t *testing.T) {
	d := shop(t)
	cfg := DefaultRankerConfig()
	cfg.Factors, cfg.Iterations = 8, 5
	tr, err := Train(context.Background(), d, cfg, d.End().Unix(), nil)
	if err != nil {
		t.Fatal(err)
	}
	u := tr.UserIndex("customer:5")
	p := &Profile{User: u, History: d.Hist[u], Region: "EU-DE", Now: d.End().Unix()}
	s := make([]float64, len(tr.Items))
	tr.Ranker.Score(p, s)
	before := TopN(s, 10, nil)
	users := slices.Clone(tr.Users)
	tr.Compact()
	for want, a := range users {
		if got := tr.UserIndex(a); got != want {
			t.Fatalf("compacted: UserIndex(%q) = %d, want %d", a, got, want)
		}
	}
	if got := tr.UserIndex("customer:nobody"); got != -1 {
		t.Fatalf("compacted: UserIndex of an unknown alias = %d, want -1", got)
	}
	if _, err := tr.MarshalBinary(); err == nil {
		t.Fatal("a compacted model was encoded")
	}
	p2 := &Profile{User: u, History: d.Hist[u], Region: "EU-DE", Now: d.End().Unix()}
	tr.Ranker.Score(p2, s)
	after := TopN(s, 10, nil)
	for i := range before {
		if before[i].Item != after[i].Item {
			t.Fatalf("rank %d: %v before, %v after", i, before, after)
		}
	}
}
