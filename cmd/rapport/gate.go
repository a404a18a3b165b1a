package main

import (
	"context"
	"os"
	"time"

	"rapport/engine"
	"rapport/engine/importer"
	"rapport/features"
	"rapport/store"
)

// addPolicyFlag adds --consent-policy, shared by serve and import.
func addPolicyFlag(fs *flagSet) *string {
	return fs.String("consent-policy", "", "consent policy file (JSON: default and per-region purposes that apply without a decision; see README)")
}

// loadPolicy reads a consent policy file, or returns the default policy
// for "".
func loadPolicy(path string) (engine.ConsentPolicy, error) {
	if path == "" {
		return engine.DefaultConsentPolicy(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return engine.ConsentPolicy{}, usagef("--consent-policy: %v", err)
	}
	p, err := engine.ParseConsentPolicy(data)
	if err != nil {
		return engine.ConsentPolicy{}, usagef("--consent-policy: %v", err)
	}
	return p, nil
}

// writer is what an import writes to: the bulk loader, or nothing on a
// dry run.
type writer interface {
	importer.Writer
	importer.ConsentWriter
	importer.MemberWriter
}

// dryRun writes nothing.
type dryRun struct{}

func (dryRun) AddEvent(*engine.Event, uint64) (bool, error)          { return true, nil }
func (dryRun) PutItem(engine.Item) error                             { return nil }
func (dryRun) AddConsent(engine.Alias, engine.Consent, uint64) error { return nil }
func (dryRun) AddMember(engine.OrgID, engine.Alias) error            { return nil }

// gatedWriter applies the API's rules to imported records: a social signal
// is stored only with social_signals consent in force (a decision on
// record, else the policy for the signal's region), a consent only for an
// alias that has an identity, and `import social` takes social signals only.
type gatedWriter struct {
	ctx        context.Context
	db         *store.DB
	gate       *features.Gate
	socialOnly bool
	w          writer
	allowed    map[string]bool
	consented  map[engine.Alias]bool // aliases that got a consent decision
}

func (g *gatedWriter) AddEvent(ev *engine.Event, id uint64) (bool, error) {
	if g.socialOnly && !ev.Type.IsSocial() {
		return false, &importer.Skip{Key: "not a social signal", Reason: "import social takes social_like and social_follow only; import other events with import events"}
	}
	if ev.IsSocialSignal() {
		ok, err := g.permitted(ev)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, &importer.Skip{Key: "no social_signals consent", Reason: ev.Alias.String() + " has not consented to social signals (import consents first)"}
		}
	}
	return g.w.AddEvent(ev, id)
}

func (g *gatedWriter) permitted(ev *engine.Event) (bool, error) {
	cacheKey := ev.Alias.String() + "\x00" + ev.Region
	if ok, seen := g.allowed[cacheKey]; seen {
		return ok, nil
	}
	p, history, err := g.db.ConsentsOf(g.ctx, ev.Alias)
	switch {
	case engine.ErrorCode(err) == engine.CodeNotFound:
		p = engine.Identity{Region: ev.Region}
	case err != nil:
		return false, err
	}
	// Judged in the identity's region and the row's, the strictest
	// winning, as the API's batches are; cached per alias and region.
	ok := g.gate.Decide(&p, history, engine.PurposeSocial, time.Now(), ev.Region).Granted
	if g.allowed == nil {
		g.allowed = map[string]bool{}
	}
	g.allowed[cacheKey] = ok
	return ok, nil
}

func (g *gatedWriter) PutItem(it engine.Item) error { return g.w.PutItem(it) }

func (g *gatedWriter) AddMember(org engine.OrgID, a engine.Alias) error { return g.w.AddMember(org, a) }

func (g *gatedWriter) AddConsent(a engine.Alias, c engine.Consent, id uint64) error {
	if _, err := g.db.ResolveAlias(g.ctx, a); engine.ErrorCode(err) == engine.CodeNotFound {
		return &importer.Skip{Key: "unknown identity", Reason: "no identity has the alias " + a.String() + "; import its events first"}
	} else if err != nil {
		return err
	}
	if g.consented == nil {
		g.consented = map[engine.Alias]bool{}
	}
	g.consented[a] = true
	return g.w.AddConsent(a, c, id)
}

// enforce makes the imported decisions bite, as the API's do: the people
// whose consents were imported lose the social signals their consent now
// forbids (and their vectors are recomputed by the next merge, which the
// purge marks them for). It returns how many signals it purged.
func (g *gatedWriter) enforce(ctx context.Context) (int, error) {
	if len(g.consented) == 0 {
		return 0, nil
	}
	var ids []engine.IdentityID
	seen := map[engine.IdentityID]bool{}
	for a := range g.consented {
		id, err := g.db.ResolveAlias(ctx, a)
		if engine.ErrorCode(err) == engine.CodeNotFound {
			continue
		}
		if err != nil {
			return 0, err
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	e := &features.Enforcer{Gate: g.gate, Store: g.db}
	purged, _, err := e.Sweep(ctx, ids, time.Now())
	return purged, err
}
