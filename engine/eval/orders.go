package eval

import (
	"slices"
	"sort"
	"time"

	"rapport/engine/model"
)

// OrderResult measures prefilled order lines on a time split: for every
// (person, item) ordered before the cutoff and again after it, whether the
// usual quantity equals the quantity of the next order, and how far the
// expected next-order date falls from it.
type OrderResult struct {
	Pairs         int                `json:"pairs"`           // reordered (person, item) pairs
	QuantityHits  map[string]int     `json:"quantity_hits"`   // by estimator
	DatePairs     int                `json:"date_pairs"`      // pairs with two or more orders before the cutoff
	DateErrorDays map[string]float64 `json:"date_error_days"` // median absolute error, by estimator
}

// Estimators of OrderResult.
const (
	QuantityUsual  = "usual (most frequent per order)" // model.UsualQuantity: what prefill serves
	QuantityMedian = "median per order"
	QuantityLast   = "last order"
	// Ceilings, not estimators: they choose with hindsight of the next
	// order, bounding what any choice among those candidates can reach.
	QuantityCeilingModeLast = "ceiling: usual or last, in hindsight"
	QuantityCeilingAnyPast  = "ceiling: any past quantity, in hindsight"
	DateCadence             = "median interval"           // what prefill serves
	DateLast                = "same cadence as last time" // last order + the last gap
)

// Orders evaluates order quantities and dates; an order is one person's
// purchases of an item at one moment (an invoice), quantities summed.
func Orders(d *model.Dataset, cutoff time.Time) OrderResult {
	c := cutoff.Unix()
	res := OrderResult{QuantityHits: map[string]int{}, DateErrorDays: map[string]float64{}}
	errs := map[string][]float64{}
	for _, h := range d.Hist {
		type order struct {
			time int64
			qty  float64
		}
		byItem := map[int32][]order{}
		for _, in := range h {
			if !isPurchase(in) {
				continue
			}
			os := byItem[in.Item]
			if n := len(os); n > 0 && os[n-1].time == in.Time {
				os[n-1].qty += float64(in.Qty)
			} else {
				os = append(os, order{in.Time, float64(in.Qty)})
			}
			byItem[in.Item] = os
		}
		for _, os := range byItem {
			k := sort.Search(len(os), func(i int) bool { return os[i].time >= c })
			if k == 0 || k == len(os) {
				continue
			}
			res.Pairs++
			past, next := os[:k], os[k]
			qtys := make([]float64, len(past))
			var days []int64
			for i, o := range past {
				qtys[i] = o.qty
				if d := o.time / 86400; len(days) == 0 || days[len(days)-1] != d {
					days = append(days, d)
				}
			}
			sorted := slices.Clone(qtys)
			slices.Sort(sorted)
			median := sorted[len(sorted)/2]
			if len(sorted)%2 == 0 {
				median = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
			}
			usual, last := model.UsualQuantity(qtys), qtys[len(qtys)-1]
			for name, q := range map[string]float64{QuantityUsual: usual, QuantityMedian: median, QuantityLast: last} {
				if q == next.qty {
					res.QuantityHits[name]++
				}
			}
			if usual == next.qty || last == next.qty {
				res.QuantityHits[QuantityCeilingModeLast]++
			}
			if slices.Contains(qtys, next.qty) {
				res.QuantityHits[QuantityCeilingAnyPast]++
			}
			if len(days) < 2 {
				continue
			}
			res.DatePairs++
			last, actual := float64(days[len(days)-1]), float64(next.time/86400)
			abs := func(x float64) float64 { return max(x, -x) }
			errs[DateCadence] = append(errs[DateCadence], abs(last+model.MedianInterval(days)-actual))
			errs[DateLast] = append(errs[DateLast], abs(last+float64(days[len(days)-1]-days[len(days)-2])-actual))
		}
	}
	for name, e := range errs {
		slices.Sort(e)
		n := len(e)
		res.DateErrorDays[name] = (e[(n-1)/2] + e[n/2]) / 2
	}
	return res
}
