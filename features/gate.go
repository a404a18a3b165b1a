package features

import (
	"context"
	"slices"
	"time"

	"rapport/engine"
)

// Gate enforces consent. Every path by which a person's data reaches a
// feature, a model or an explanation asks it first: ingestion (a social
// signal without consent is not stored), the merge (a signal stored under a
// consent since withdrawn is not used), and serving (no personal history
// without personalization consent). A decision on record beats the policy,
// the latest unexpired decision wins, and the policy's regional default
// applies when there is none.
type Gate struct {
	Policy engine.ConsentPolicy
}

// NewGate returns a gate with policy.
func NewGate(policy engine.ConsentPolicy) *Gate { return &Gate{Policy: policy} }

// Decide returns the consent in force for purpose: a decision on record
// if there is one, else the policy of p's region and of every region in
// also (where else the person was seen), the strictest of them.
func (g *Gate) Decide(p *engine.Identity, history []engine.Consent, purpose engine.Purpose, now time.Time, also ...string) engine.Consent {
	return g.Policy.EffectiveIn(history, append([]string{p.Region}, also...), purpose, now)
}

// Usable returns the events a computation may use at now: none without
// personalization consent, and social signals (Event.IsSocialSignal) only
// with social_signals consent. It also returns the social decision, for
// provenance.
func (g *Gate) Usable(p *engine.Identity, history []engine.Consent, events []engine.Event, now time.Time) ([]engine.Event, engine.Consent) {
	social := g.Decide(p, history, engine.PurposeSocial, now)
	if !g.Decide(p, history, engine.PurposePersonalization, now).Granted {
		return nil, social
	}
	if social.Granted {
		return events, social
	}
	kept := make([]engine.Event, 0, len(events))
	for i := range events {
		if !events[i].IsSocialSignal() {
			kept = append(kept, events[i])
		}
	}
	return kept, social
}

// ConsentReader reads what the gate needs at ingestion.
type ConsentReader interface {
	// ConsentsOf returns the identity of alias a and its consent history;
	// not_found when a names no identity.
	ConsentsOf(ctx context.Context, a engine.Alias) (engine.Identity, []engine.Consent, error)
}

// Admit returns the events of a batch that may be stored: social signals
// (Event.IsSocialSignal) only from people whose social_signals consent is
// in force now, everything else as is. A person is judged in their
// identity's region and in every region the batch gives for any of their
// aliases, the strictest policy winning, so a signal without a region is
// not let through by a region-less alias. dropped counts the signals left
// out.
func (g *Gate) Admit(ctx context.Context, r ConsentReader, events []engine.Event, now time.Time) (kept []engine.Event, dropped int, err error) {
	if !slices.ContainsFunc(events, func(ev engine.Event) bool { return ev.IsSocialSignal() }) {
		return events, 0, nil
	}
	type person struct {
		p       engine.Identity
		history []engine.Consent
		regions []string
		allowed *bool
	}
	byAlias := map[engine.Alias]*person{}
	byID := map[engine.IdentityID]*person{}
	for i := range events {
		ev := &events[i]
		who := byAlias[ev.Alias]
		if who == nil {
			p, history, err := r.ConsentsOf(ctx, ev.Alias)
			switch {
			case engine.ErrorCode(err) == engine.CodeNotFound:
				who = &person{} // a new alias: a person of its own
			case err != nil:
				return nil, 0, err
			case byID[p.ID] != nil:
				who = byID[p.ID]
			default:
				who = &person{p: p, history: history}
				byID[p.ID] = who
			}
			byAlias[ev.Alias] = who
		}
		if ev.Region != "" && !slices.Contains(who.regions, ev.Region) {
			who.regions = append(who.regions, ev.Region)
		}
	}
	kept = events[:0:0]
	for i := range events {
		ev := &events[i]
		if !ev.IsSocialSignal() {
			kept = append(kept, *ev)
			continue
		}
		who := byAlias[ev.Alias]
		if who.allowed == nil {
			ok := g.Decide(&who.p, who.history, engine.PurposeSocial, now, who.regions...).Granted
			who.allowed = &ok
		}
		if *who.allowed {
			kept = append(kept, *ev)
		} else {
			dropped++
		}
	}
	return kept, dropped, nil
}

// EnforceStore is what Enforcer reads and changes.
type EnforceStore interface {
	ConsentReader
	Consents(ctx context.Context, id engine.IdentityID) (engine.Identity, []engine.Consent, error)
	PurgeSocial(ctx context.Context, id engine.IdentityID) (int, error)
}

// Enforcer makes a consent change take effect at once: it purges what
// may no longer be kept and recomputes the person's vector.
type Enforcer struct {
	Gate   *Gate
	Store  EnforceStore
	Merger *Merger
}

// Effective returns the consent in force for every purpose.
func (e *Enforcer) Effective(p *engine.Identity, history []engine.Consent, now time.Time) []engine.Consent {
	out := make([]engine.Consent, len(engine.Purposes))
	for i, purpose := range engine.Purposes {
		out[i] = e.Gate.Decide(p, history, purpose, now)
	}
	return out
}

// Admit is Gate.Admit against the store.
func (e *Enforcer) Admit(ctx context.Context, events []engine.Event, now time.Time) ([]engine.Event, int, error) {
	return e.Gate.Admit(ctx, e.Store, events, now)
}

// Enforce applies identity id's consents as they stand now: without
// social_signals consent its stored social signals are deleted; then its
// vector is recomputed. It returns how many signals it purged.
func (e *Enforcer) Enforce(ctx context.Context, id engine.IdentityID, now time.Time) (int, error) {
	p, history, err := e.Store.Consents(ctx, id)
	if err != nil {
		return 0, err
	}
	purged := 0
	if !e.Gate.Decide(&p, history, engine.PurposeSocial, now).Granted {
		if purged, err = e.Store.PurgeSocial(ctx, id); err != nil {
			return purged, err
		}
	}
	if e.Merger != nil {
		err = e.Merger.MergeOne(ctx, id)
	}
	return purged, err
}

// Sweep enforces the consents of ids as they stand at now — a grant that
// has expired since is no grant — and returns how many social signals it
// purged and whose they were (their vectors recomputed).
func (e *Enforcer) Sweep(ctx context.Context, ids []engine.IdentityID, now time.Time) (int, []engine.IdentityID, error) {
	total := 0
	var touched []engine.IdentityID
	for _, id := range ids {
		p, history, err := e.Store.Consents(ctx, id)
		if engine.ErrorCode(err) == engine.CodeNotFound {
			continue
		}
		if err != nil {
			return total, touched, err
		}
		if e.Gate.Decide(&p, history, engine.PurposeSocial, now).Granted {
			continue
		}
		n, err := e.Store.PurgeSocial(ctx, id)
		if err != nil {
			return total, touched, err
		}
		if n == 0 {
			continue
		}
		total += n
		touched = append(touched, id)
		if e.Merger != nil {
			if err := e.Merger.MergeOne(ctx, id); err != nil {
				return total, touched, err
			}
		}
	}
	return total, touched, nil
}

// MayLink refuses a link when either side has withdrawn cross_device
// consent: their devices and accounts must stay apart.
func (e *Enforcer) MayLink(ctx context.Context, at, other engine.Alias, now time.Time) error {
	for _, a := range []engine.Alias{at, other} {
		p, history, err := e.Store.ConsentsOf(ctx, a)
		if engine.ErrorCode(err) == engine.CodeNotFound {
			continue
		}
		if err != nil {
			return err
		}
		if !e.Gate.Decide(&p, history, engine.PurposeCrossDevice, now).Granted {
			return engine.Errorf(engine.CodeNoConsent, "%s has not consented to cross_device linking, so it cannot be linked to another alias", a)
		}
	}
	return nil
}
