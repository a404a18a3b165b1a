package model

import "slices"

// UsualQuantity is the quantity a person usually orders of an item: the
// most frequent of their past order quantities (one per order), the
// smallest among equally frequent ones. Unlike a mean, one bulk order does
// not move it. 0 without orders.
func UsualQuantity(orders []float64) float64 {
	if len(orders) == 0 {
		return 0
	}
	q := slices.Clone(orders)
	slices.Sort(q)
	best, bestN := q[0], 0
	for i := 0; i < len(q); {
		j := i
		for j < len(q) && q[j] == q[i] {
			j++
		}
		if j-i > bestN {
			best, bestN = q[i], j-i
		}
		i = j
	}
	return best
}

// MedianInterval is the median of the gaps between consecutive order days
// (sorted, distinct), in days; 0 with fewer than two orders.
func MedianInterval(days []int64) float64 {
	if len(days) < 2 {
		return 0
	}
	gaps := make([]float64, 0, len(days)-1)
	for k := 1; k < len(days); k++ {
		gaps = append(gaps, float64(days[k]-days[k-1]))
	}
	slices.Sort(gaps)
	n := len(gaps)
	if n%2 == 1 {
		return gaps[n/2]
	}
	return (gaps[n/2-1] + gaps[n/2]) / 2
}
