package engine

import (
	"slices"
	"strconv"
	"time"
)

// IdentityID is the store's number for one person.
type IdentityID uint64

// Key is the identity's name in trained models: its number in decimal.
// Models never hold alias text, so erasing a person's aliases from the
// store leaves no trace of them in stored model versions.
func (id IdentityID) Key() string { return strconv.FormatUint(uint64(id), 10) }

// Stage is how far a person has become known.
type Stage string

const (
	StageAnonymous     Stage = "anonymous"
	StageKnown         Stage = "known"
	StageRegistered    Stage = "registered"
	StageAuthenticated Stage = "authenticated"
)

// rank orders stages from least to most known.
func (s Stage) rank() int {
	switch s {
	case StageKnown:
		return 1
	case StageRegistered:
		return 2
	case StageAuthenticated:
		return 3
	}
	return 0
}

// Identity is one person with every alias linked to them.
type Identity struct {
	ID            IdentityID
	Stage         Stage
	Region        string
	Aliases       []Alias
	Authenticated []Alias // the aliases the person has logged in with
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Has reports whether a is one of p's aliases.
func (p *Identity) Has(a Alias) bool { return slices.Contains(p.Aliases, a) }

// StageOf returns the stage a set of aliases earns: the highest any alias
// implies on its own, or authenticated once the person logged in with one.
func StageOf(aliases, authenticated []Alias) Stage {
	s := StageAnonymous
	for _, a := range aliases {
		s = s.Raise(StageFor(a))
	}
	if len(authenticated) > 0 {
		s = StageAuthenticated
	}
	return s
}

// StageFor returns the stage an alias kind implies on its own: an anonymous
// cookie says nothing, an email, loyalty or social id makes a person known,
// a customer or B2B account id makes them registered. Authentication is a
// separate fact and is never implied by an alias.
func StageFor(a Alias) Stage {
	switch {
	case a.Kind == KindCustomer || a.Kind == KindB2B:
		return StageRegistered
	case a.Kind == KindAnon:
		return StageAnonymous
	default:
		return StageKnown
	}
}

// Raise returns the higher of s and t.
func (s Stage) Raise(t Stage) Stage {
	if t.rank() > s.rank() {
		return t
	}
	return s
}
