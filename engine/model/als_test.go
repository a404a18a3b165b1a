package model

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/floats"
)

// syntheticObservations makes a users×items confidence matrix with about
// nnz entries, items drawn Zipf-like, deterministic for seed.
func syntheticObservations(users, items, nnz int, seed uint64) []sparseRow {
	rng := rand.New(rand.NewPCG(seed, 1))
	zipf := rand.NewZipf(rng, 1.1, 4, uint64(items-1))
	rows := make([]sparseRow, users)
	per := nnz / users
	for u := range rows {
		seen := map[int32]bool{}
		for len(seen) < per {
			seen[int32(zipf.Uint64())] = true
		}
		for i := range seen {
			rows[u].idx = append(rows[u].idx, i)
		}
		sortInt32(rows[u].idx)
		for range rows[u].idx {
			rows[u].conf = append(rows[u].conf, 1+10*math.Log1p(float64(1+rng.IntN(3))))
		}
	}
	return rows
}

func sortInt32(s []int32) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func factorBytes(m *ALS) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, m.X)
	binary.Write(&b, binary.LittleEndian, m.Y)
	return b.Bytes()
}

// TestALSDeterministic: the same data, seed and config give byte-identical
// factors, whatever the number of cores.
func TestALSDeterministic(t *testing.T) {
	rows := syntheticObservations(300, 200, 6000, 7)
	train := func(procs int) []byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m := &ALS{Factors: 16, Iterations: 4, Seed: 3}
		m.setObservations(300, 200, rows)
		if err := m.Train(context.Background()); err != nil {
			t.Fatal(err)
		}
		return factorBytes(m)
	}
	a, b, c := train(2), train(2), train(1)
	if !bytes.Equal(a, b) || !bytes.Equal(a, c) {
		t.Fatal("two trainings with the same seed differ")
	}
	m := &ALS{Factors: 16, Iterations: 4, Seed: 4}
	m.setObservations(300, 200, rows)
	m.Train(context.Background())
	if bytes.Equal(a, factorBytes(m)) {
		t.Fatal("a different seed gave the same factors")
	}
}

// TestALSLearns: on a matrix of two disjoint taste groups, a user's
// observed items outscore the other group's items.
func TestALSLearns(t *testing.T) {
	rows := make([]sparseRow, 40)
	for u := range rows {
		base := int32(0)
		if u%2 == 1 {
			base = 10
		}
		for i := base; i < base+10; i++ {
			if (int(i)+u)%3 != 0 { // leave some of the group unobserved
				rows[u].idx = append(rows[u].idx, i)
				rows[u].conf = append(rows[u].conf, 5)
			}
		}
	}
	m := &ALS{Factors: 4, Iterations: 10, Seed: 1}
	m.setObservations(40, 20, rows)
	if err := m.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	scores := make([]float64, 20)
	for u := 0; u < 40; u++ {
		m.Score(&Profile{User: u}, scores)
		base := 0
		if u%2 == 1 {
			base = 10
		}
		var in, out float64
		for i := 0; i < 20; i++ {
			if i >= base && i < base+10 {
				in += scores[i]
			} else {
				out += scores[i]
			}
		}
		if in <= out+1 {
			t.Fatalf("user %d: own group scores %.2f, other %.2f", u, in, out)
		}
	}
	// Folding in a new person with the first group's items puts that group first.
	p := &Profile{User: -1, History: []Interaction{{Item: 1, Type: "purchase"}, {Item: 2, Type: "purchase"}}}
	m.Score(p, scores)
	top := TopN(scores, 5, func(i int32) bool { return i == 1 || i == 2 })
	for _, s := range top {
		if s.Item >= 10 {
			t.Fatalf("fold-in ranks item %d of the other group in its top 5: %v", s.Item, top)
		}
	}
}

// BenchmarkALSIteration times one sweep at 64 factors over 1,000,000
// observations of 6,000 users × 4,000 items.
func BenchmarkALSIteration(b *testing.B) {
	rows := syntheticObservations(6000, 4000, 1_000_000, 1)
	m := &ALS{Factors: 64, Iterations: 1, Seed: 1}
	m.setObservations(6000, 4000, rows)
	if err := m.Train(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.Iterate(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/iteration")
}

func TestALSLossMatchesBruteForceAndFalls(t *testing.T) {
	rows := []sparseRow{{idx: []int32{0, 2}, conf: []float64{3, 2}}, {idx: []int32{1}, conf: []float64{5}}, {idx: []int32{2, 3}, conf: []float64{2, 4}}}
	m := &ALS{Factors: 3, Iterations: 6, Lambda: 0.5, Seed: 2, TrackLoss: true}
	m.setObservations(3, 4, rows)
	if err := m.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	brute := 0.0
	for u := 0; u < 3; u++ {
		for i := 0; i < 4; i++ {
			s := floats.Dot(m.X[u*3:u*3+3], m.Y[i*3:i*3+3])
			c, p := 1.0, 0.0
			for k, j := range rows[u].idx {
				if int(j) == i {
					c, p = rows[u].conf[k], 1
				}
			}
			brute += c * (p - s) * (p - s)
		}
	}
	brute += 0.5 * (floats.Dot(m.X, m.X) + floats.Dot(m.Y, m.Y))
	if len(m.Losses) != 6 || math.Abs(m.Losses[5]-brute) > 1e-9 {
		t.Fatalf("losses %v, last should be %v", m.Losses, brute)
	}
	if m.Losses[5] > m.Losses[0] {
		t.Fatalf("loss rose: %v", m.Losses)
	}
}
