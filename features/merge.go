// Package features turns each identity's events into its feature vector:
// decayed affinities to items, categories and brands, recency, frequency
// and monetary figures, the prices and quantities it usually buys, and its
// latent factors from the current model. Inputs arrive through Sources; a
// consent-gated source (social signals) is one more Source, and the gate
// belongs here, the only way such a signal reaches a feature.
package features

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"rapport/engine"
)

// Store is what the merge reads and writes.
type Store interface {
	Changes(ctx context.Context, limit int) ([]engine.Change, error)
	AckChanges(ctx context.Context, changes []engine.Change) error
	AllIdentities(ctx context.Context) ([]engine.IdentityID, error)
	IdentityEvents(ctx context.Context, id engine.IdentityID) (engine.Identity, []engine.Event, error)
	Consents(ctx context.Context, id engine.IdentityID) (engine.Identity, []engine.Consent, error)
	ScanItems(ctx context.Context, fn func(it engine.Item) error) error
	PutVectors(ctx context.Context, vs []engine.FeatureVector) error
	UpdateVectors(ctx context.Context, fn func(v *engine.FeatureVector) bool) (int, error)
}

// Factors gives the current model's latent factors for an alias.
type Factors interface {
	Version() string
	Factors(user string) []float64 // by engine.IdentityID.Key; nil when the model does not know it
}

// Source adds what one kind of input says about a person to their vector.
type Source interface {
	Name() string
	// Apply folds p's events into v; cat describes the catalog.
	Apply(p *engine.Identity, events []engine.Event, v *engine.FeatureVector, cat *Catalog, now time.Time)
}

// Merger recomputes feature vectors. Set Store; the rest has defaults.
type Merger struct {
	Store   Store
	Sources []Source         // default: Purchases and Social, each with a 30-day half-life
	Gate    *Gate            // default: the default consent policy
	Model   func() Factors   // the serving model, or nil before the first training
	Now     func() time.Time // default time.Now
	Batch   int              // vectors written per batch, default 512

	catalog atomic.Pointer[Catalog] // as of the last merge, for MergeOne
}

// Result counts what a merge did.
type Result struct {
	Identities int // vectors recomputed
	Changes    int // change-log entries acknowledged
	Events     int // events read
}

// Merge recomputes the vectors of identities with new events since the
// last merge (every identity when full is set) and acknowledges the change
// log entries it covered. Cancelling ctx stops it between identities;
// vectors written by then stay written.
func (m *Merger) Merge(ctx context.Context, full bool) (Result, error) {
	var res Result
	now, sources, gate, model := m.settings()
	cat, err := LoadCatalog(ctx, m.Store)
	if err != nil {
		return res, err
	}
	m.catalog.Store(cat)
	batch := m.Batch
	if batch <= 0 {
		batch = 512
	}
	// compute recomputes the vectors of ids on every core: each worker
	// takes the next batch of ids, reads and computes them, and writes the
	// batch's vectors in one call.
	compute := func(ids []engine.IdentityID) error {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		var next atomic.Int64
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range min(runtime.GOMAXPROCS(0), (len(ids)+batch-1)/batch) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out := make([]engine.FeatureVector, 0, batch)
				for {
					start := int(next.Add(int64(batch))) - batch
					if start >= len(ids) || ctx.Err() != nil {
						return
					}
					out = out[:0]
					events := 0
					for _, id := range ids[start:min(start+batch, len(ids))] {
						v, n, err := m.vector(ctx, gate, id, sources, model, cat, now())
						if engine.ErrorCode(err) == engine.CodeNotFound {
							continue // merged into another identity, or erased, since the change
						}
						if err != nil {
							cancel(fmt.Errorf("read identity %d: %w", id, err))
							return
						}
						events += n
						out = append(out, v)
					}
					if err := m.Store.PutVectors(ctx, out); err != nil {
						cancel(err)
						return
					}
					mu.Lock()
					res.Identities += len(out)
					res.Events += events
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return context.Cause(ctx)
	}
	if full {
		ids, err := m.Store.AllIdentities(ctx)
		if err != nil {
			return res, err
		}
		// Take the change log as it is now: everything in it is covered.
		changes, err := m.Store.Changes(ctx, 1<<30)
		if err != nil {
			return res, err
		}
		if err := compute(ids); err != nil {
			return res, err
		}
		res.Changes = len(changes)
		return res, m.Store.AckChanges(ctx, changes)
	}
	for {
		changes, err := m.Store.Changes(ctx, 50_000)
		if err != nil || len(changes) == 0 {
			return res, err
		}
		seen := map[engine.IdentityID]bool{}
		var ids []engine.IdentityID
		for _, c := range changes {
			if !seen[c.Identity] {
				seen[c.Identity] = true
				ids = append(ids, c.Identity)
			}
		}
		if err := compute(ids); err != nil {
			return res, err
		}
		if err := m.Store.AckChanges(ctx, changes); err != nil {
			return res, err
		}
		res.Changes += len(changes)
	}
}

// RefreshFactors sets the latent factors and model version of every
// stored vector from the current model (none, for identities it does not
// know) without reading any events: after a training, that is all of a
// vector that changes. Identities changed since the last merge are left to
// the next one, which reads their events. It returns the vectors changed.
func (m *Merger) RefreshFactors(ctx context.Context) (int, error) {
	_, _, _, model := m.settings()
	return m.Store.UpdateVectors(ctx, func(v *engine.FeatureVector) bool {
		version, factors := "", []float64(nil)
		if model != nil {
			if f := model.Factors(v.Identity.Key()); f != nil {
				version, factors = model.Version(), f
			}
		}
		if version == v.ModelVersion && slices.Equal(factors, v.Factors) {
			return false
		}
		v.ModelVersion, v.Factors = version, factors
		return true
	})
}

// MergeOne recomputes one identity's vector at once: after a consent
// change, so that the change shows before the next scheduled merge.
func (m *Merger) MergeOne(ctx context.Context, id engine.IdentityID) error {
	now, sources, gate, model := m.settings()
	cat := m.catalog.Load()
	if cat == nil {
		var err error
		if cat, err = LoadCatalog(ctx, m.Store); err != nil {
			return err
		}
		m.catalog.Store(cat)
	}
	v, _, err := m.vector(ctx, gate, id, sources, model, cat, now())
	if err != nil {
		return err
	}
	return m.Store.PutVectors(ctx, []engine.FeatureVector{v})
}

// settings returns the merge's clock, sources, gate and model, with the
// defaults for those not set.
func (m *Merger) settings() (now func() time.Time, sources []Source, gate *Gate, model Factors) {
	now, sources, gate = m.Now, m.Sources, m.Gate
	if now == nil {
		now = time.Now
	}
	if len(sources) == 0 {
		sources = DefaultSources()
	}
	if gate == nil {
		gate = NewGate(engine.DefaultConsentPolicy())
	}
	if m.Model != nil {
		model = m.Model()
	}
	return now, sources, gate, model
}

// DefaultSources are the merge's sources when none are set.
func DefaultSources() []Source {
	return []Source{&Purchases{HalfLife: 30 * 24 * time.Hour}, &Social{HalfLife: 30 * 24 * time.Hour}}
}

// vector reads one identity and computes its vector from what the gate
// lets through; it also returns how many events it read.
func (m *Merger) vector(ctx context.Context, gate *Gate, id engine.IdentityID, sources []Source, model Factors, cat *Catalog, now time.Time) (engine.FeatureVector, int, error) {
	p, events, err := m.Store.IdentityEvents(ctx, id)
	if err != nil {
		return engine.FeatureVector{}, 0, err
	}
	_, history, err := m.Store.Consents(ctx, id)
	if err != nil {
		return engine.FeatureVector{}, 0, err
	}
	usable, social := gate.Usable(&p, history, events, now)
	return vectorOf(&p, usable, social, sources, model, cat, now), len(events), nil
}

// vectorOf computes one identity's vector from the events it may use;
// social is the decision that let social signals through (or not).
func vectorOf(p *engine.Identity, events []engine.Event, social engine.Consent, sources []Source, model Factors, cat *Catalog, now time.Time) engine.FeatureVector {
	v := engine.FeatureVector{Identity: p.ID, ComputedAt: now.UTC(), Events: len(events), RecencyDays: -1, Provenance: []engine.Provenance{}}
	signals := map[string]int{}
	for _, ev := range events {
		if ev.IsSocialSignal() {
			signals[ev.Source]++
		} else {
			signals["events"]++
		}
	}
	for _, src := range slices.Sorted(maps.Keys(signals)) {
		pv := engine.Provenance{Source: src, Signals: signals[src]}
		if src != "events" {
			pv.Consent = &social
		}
		v.Provenance = append(v.Provenance, pv)
	}
	if n := len(events); n > 0 {
		v.LastEventAt = events[n-1].Time
	}
	for _, s := range sources {
		s.Apply(p, events, &v, cat, now)
		v.Sources = append(v.Sources, s.Name())
	}
	if model != nil {
		if f := model.Factors(p.ID.Key()); f != nil {
			v.ModelVersion, v.Factors = model.Version(), f
		}
	}
	return v
}

// Catalog is what the merge knows of items: category, brand and price, and
// the catalog's price tertiles for price bands.
type Catalog struct {
	items     map[string]engine.Item
	low, high float64 // a third of priced items cost less than low; a third more than high
}

// LoadCatalog reads every item once.
func LoadCatalog(ctx context.Context, s Store) (*Catalog, error) {
	c := &Catalog{items: map[string]engine.Item{}}
	var prices []float64
	err := s.ScanItems(ctx, func(it engine.Item) error {
		c.items[it.ID] = it
		if it.Price > 0 {
			prices = append(prices, it.Price)
		}
		return nil
	})
	if len(prices) > 0 {
		slices.Sort(prices)
		c.low, c.high = prices[len(prices)/3], prices[2*len(prices)/3]
	}
	return c, err
}

// Item returns a catalog item (zero Item if unknown).
func (c *Catalog) Item(id string) engine.Item { return c.items[id] }

// Band names where a price sits in the catalog: budget, mid or premium.
func (c *Catalog) Band(price float64) string {
	switch {
	case c.high == 0 || price <= 0:
		return ""
	case price < c.low:
		return "budget"
	case price > c.high:
		return "premium"
	}
	return "mid"
}

// top returns the positive entries of m as affinities, strongest first
// (ties by key), at most engine.MaxAffinities.
func top(m map[string]float64) []engine.Affinity {
	out := make([]engine.Affinity, 0, len(m))
	for k, s := range m {
		if s > 0 {
			out = append(out, engine.Affinity{Key: k, Score: s})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > engine.MaxAffinities {
		out = out[:engine.MaxAffinities]
	}
	return out
}
