package eval_test

import (
	"testing"
	"time"

	"rapport/engine"
	"rapport/engine/eval"
	"rapport/engine/model"
)

func TestOrders(t *testing.T) {
	b := model.NewBuilder()
	day := func(d int) time.Time { return time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC).AddDate(0, 0, d) }
	buy := func(who, item string, d int, qty float64) {
		a, _ := engine.ParseAlias(who)
		b.Add(&engine.Event{Alias: a, Type: engine.EventPurchase, Item: item, Quantity: qty, Time: day(d)})
	}
	// A: orders 12 on days 0, 10, 20 (two lines on day 20 make one order of 12), then 12 on day 31.
	buy("customer:a", "x", 0, 12)
	buy("customer:a", "x", 10, 12)
	buy("customer:a", "x", 20, 6)
	buy("customer:a", "x", 20, 6)
	buy("customer:a", "x", 31, 12)
	// B: 5 then 7 before, 9 after: no estimator right; due on day 10, came on day 35.
	buy("customer:b", "y", 0, 5)
	buy("customer:b", "y", 5, 7)
	buy("customer:b", "y", 35, 9)
	buy("customer:b", "z", 1, 1) // never reordered
	r := eval.Orders(b.Build(), day(30))
	if r.Pairs != 2 || r.QuantityHits[eval.QuantityUsual] != 1 || r.QuantityHits[eval.QuantityLast] != 1 || r.DatePairs != 2 {
		t.Fatalf("%+v", r)
	}
	// B's 9 was never ordered before: no choice among the past finds it.
	if r.QuantityHits[eval.QuantityCeilingModeLast] != 1 || r.QuantityHits[eval.QuantityCeilingAnyPast] != 1 {
		t.Fatalf("ceilings %v", r.QuantityHits)
	}
	if r.DateErrorDays[eval.DateCadence] != 13 || r.DateErrorDays[eval.DateLast] != 13 { // errors 1 and 25
		t.Fatalf("date errors %v", r.DateErrorDays)
	}
}
