package model

import (
	"sync/atomic"

	"rapport/engine"
)

// Loaded is a model version ready to serve.
type Loaded struct {
	Version engine.ModelVersion
	Trained *Trained
}

// VersionID returns the version's id ("" for nil).
func (l *Loaded) VersionID() string {
	if l == nil {
		return ""
	}
	return l.Version.ID
}

// Factors returns a user's latent factors in this version (nil if the
// version does not know them).
func (l *Loaded) Factors(user string) []float64 {
	if l == nil {
		return nil
	}
	return l.Trained.Factors(user)
}

// Serving holds the version that serves. Swap replaces it atomically:
// a request that loaded the old one finishes with it, the next gets the
// new one, and none waits.
type Serving struct{ p atomic.Pointer[Loaded] }

// Load returns the serving version, or nil before the first.
func (s *Serving) Load() *Loaded { return s.p.Load() }

// Swap makes l the serving version.
func (s *Serving) Swap(l *Loaded) { s.p.Store(l) }
