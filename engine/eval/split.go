package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"rapport/engine"
	"rapport/engine/model"
)

// Split is a training dataset and, per user, the items they purchased in the
// held-out part. Train keeps the full user and item vocabulary; Now is the
// moment training data ends, the "now" models score for.
type Split struct {
	Protocol string
	Train    *model.Dataset
	Test     [][]int32 // per user: distinct items purchased in the test part
	Now      int64
}

func isPurchase(in model.Interaction) bool { return in.Type == engine.EventPurchase }

// TimeSplit trains on everything before cutoff and tests on purchases from
// cutoff on (and before until, unless until is zero), by people who have
// any training data.
func TimeSplit(d *model.Dataset, cutoff, until time.Time) Split {
	c, end := cutoff.Unix(), int64(math.MaxInt64)
	protocol := "time, cutoff " + cutoff.UTC().Format(time.RFC3339)
	if !until.IsZero() {
		end = until.Unix()
		protocol += ", test until " + until.UTC().Format(time.RFC3339)
	}
	s := Split{Protocol: protocol, Now: c, Test: make([][]int32, d.NumUsers())}
	s.Train = d.Restrict(func(u int, in model.Interaction) bool { return in.Time < c })
	for u, h := range d.Hist {
		if len(s.Train.Hist[u]) == 0 {
			continue
		}
		for _, in := range h {
			if in.Time >= c && in.Time < end && isPurchase(in) {
				s.Test[u] = append(s.Test[u], in.Item)
			}
		}
		s.Test[u] = distinct(s.Test[u])
	}
	return s
}

// TimeFractionSplit is TimeSplit with the cutoff placed so that about the
// given fraction of all purchases fall on or after it.
func TimeFractionSplit(d *model.Dataset, fraction float64) (Split, error) {
	if !(fraction > 0 && fraction < 1) {
		return Split{}, fmt.Errorf("the test fraction must be between 0 and 1, not %v", fraction)
	}
	var times []int64
	for _, h := range d.Hist {
		for _, in := range h {
			if isPurchase(in) {
				times = append(times, in.Time)
			}
		}
	}
	if len(times) < 2 {
		return Split{}, fmt.Errorf("too few purchases to split (%d)", len(times))
	}
	slices.Sort(times)
	cut := times[int(float64(len(times))*(1-fraction))]
	s := TimeSplit(d, time.Unix(cut, 0), time.Time{})
	s.Protocol = fmt.Sprintf("time, last %.0f%% of purchases (cutoff %s)", fraction*100, time.Unix(cut, 0).UTC().Format(time.RFC3339))
	return s, nil
}

// UserRandomSplit holds out, for each person with at least two purchases, a
// random fraction of their purchases (at least one; everything else they did
// trains). The same seed gives the same split.
func UserRandomSplit(d *model.Dataset, fraction float64, seed uint64) (Split, error) {
	if !(fraction > 0 && fraction < 1) {
		return Split{}, fmt.Errorf("the test fraction must be between 0 and 1, not %v", fraction)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	held := make([]map[int]bool, d.NumUsers())
	for u, h := range d.Hist {
		var idx []int
		for i, in := range h {
			if isPurchase(in) {
				idx = append(idx, i)
			}
		}
		if len(idx) < 2 {
			continue
		}
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		n := max(1, int(float64(len(idx))*fraction))
		held[u] = map[int]bool{}
		for _, i := range idx[:n] {
			held[u][i] = true
		}
	}
	return holdOut(d, held, fmt.Sprintf("user-random, %.0f%% of each person's purchases, seed %d", fraction*100, seed)), nil
}

// LeaveLastOutSplit holds out each person's last purchase (with two or more).
func LeaveLastOutSplit(d *model.Dataset) Split {
	held := make([]map[int]bool, d.NumUsers())
	for u, h := range d.Hist {
		n, last := 0, -1
		for i, in := range h {
			if isPurchase(in) {
				n++
				last = i
			}
		}
		if n >= 2 {
			held[u] = map[int]bool{last: true}
		}
	}
	return holdOut(d, held, "leave-last-out")
}

// holdOut moves the marked interactions to the test part. Now is the end
// of the whole dataset, since held-out events are spread over time.
func holdOut(d *model.Dataset, held []map[int]bool, protocol string) Split {
	s := Split{Protocol: protocol, Test: make([][]int32, d.NumUsers()), Now: d.End().Unix()}
	s.Train = &model.Dataset{Users: d.Users, Regions: d.Regions, Items: d.Items, UserIndex: d.UserIndex, ItemIndex: d.ItemIndex,
		Hist: make([][]model.Interaction, d.NumUsers())}
	for u, h := range d.Hist {
		for i, in := range h {
			if held[u][i] {
				s.Test[u] = append(s.Test[u], in.Item)
			} else {
				s.Train.Hist[u] = append(s.Train.Hist[u], in)
			}
		}
		s.Test[u] = distinct(s.Test[u])
	}
	return s
}

func distinct(items []int32) []int32 {
	slices.Sort(items)
	return slices.Compact(items)
}
