package eval

import (
	"context"
	"testing"
	"time"

	"rapport/engine"
	"rapport/engine/model"
)

func day(n int) time.Time { return time.Date(2024, 1, n, 0, 0, 0, 0, time.UTC) }

func data(t *testing.T) *model.Dataset {
	t.Helper()
	b := model.NewBuilder()
	add := func(alias, item string, typ engine.EventType, d int) {
		a, _ := engine.ParseAlias(alias)
		b.Add(&engine.Event{Alias: a, Item: item, Type: typ, Quantity: 1, Time: day(d)})
	}
	add("customer:1", "a", engine.EventPurchase, 1)
	add("customer:1", "b", engine.EventView, 2)
	add("customer:1", "a", engine.EventPurchase, 10) // reorder
	add("customer:1", "b", engine.EventPurchase, 11) // viewed before: not "discover"
	add("customer:1", "c", engine.EventPurchase, 12) // discover
	add("customer:2", "c", engine.EventPurchase, 10) // no training data: not a test person
	add("customer:3", "a", engine.EventPurchase, 1)
	add("customer:3", "c", engine.EventView, 10) // a view is not a test purchase
	return b.Build()
}

func TestTimeSplitAndCases(t *testing.T) {
	d := data(t)
	s := TimeSplit(d, day(5), time.Time{})
	u1, u2 := d.UserIndex["customer:1"], d.UserIndex["customer:2"]
	if len(s.Train.Hist[u1]) != 2 || len(s.Train.Hist[u2]) != 0 || len(s.Test[u2]) != 0 {
		t.Fatalf("train %v, test %v", s.Train.Hist, s.Test)
	}
	disc := CasesFor(s, TaskDiscover)
	if len(disc.Users) != 1 || disc.Pairs != 1 || !disc.Rel[0][d.ItemIndex["c"]] {
		t.Fatalf("discover cases %+v", disc)
	}
	re := CasesFor(s, TaskReorder)
	if len(re.Users) != 1 || re.Pairs != 1 || !re.Rel[0][d.ItemIndex["a"]] {
		t.Fatalf("reorder cases %+v", re)
	}
	if s := TimeSplit(d, day(5), day(11)); len(CasesFor(s, TaskDiscover).Users) != 0 {
		t.Fatal("until did not end the test period")
	}
}

func TestEvaluateDiscoverExcludesHistory(t *testing.T) {
	d := data(t)
	s := TimeSplit(d, day(5), time.Time{})
	r, err := Evaluate(context.Background(), &model.Popularity{}, s, TaskDiscover, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Popularity ranks a (2 people) first, but customer:1 had a and b, so
	// the only candidate left is c, which is the relevant item.
	if r.Users != 1 || r.HitRate != 1 || r.NDCG != 1 {
		t.Fatalf("%+v", r)
	}
}

func TestHoldOutSplits(t *testing.T) {
	d := data(t)
	l := LeaveLastOutSplit(d)
	if u := d.UserIndex["customer:1"]; len(l.Test[u]) != 1 || l.Test[u][0] != d.ItemIndex["c"] {
		t.Fatalf("leave-last-out test %v", l.Test)
	}
	a, _ := UserRandomSplit(d, 0.5, 9)
	b, _ := UserRandomSplit(d, 0.5, 9)
	for u := range a.Test {
		if len(a.Test[u]) != len(b.Test[u]) {
			t.Fatal("the same seed gave different splits")
		}
	}
	if _, err := UserRandomSplit(d, 1.5, 1); err == nil {
		t.Fatal("fraction 1.5 accepted")
	}
}

func TestSample(t *testing.T) {
	c := Cases{}
	for u := 0; u < 100; u++ {
		c.Users = append(c.Users, u)
		c.Rel = append(c.Rel, map[int32]bool{int32(u): true})
		c.Pairs++
	}
	s := c.Sample(10)
	if len(s.Users) != 10 || s.Users[0] != 0 || s.Users[9] != 90 || s.Pairs != 10 {
		t.Fatalf("%+v", s)
	}
	if all := c.Sample(1000); len(all.Users) != 100 {
		t.Fatalf("sampling more than there are kept %d", len(all.Users))
	}
}
