package features

import (
	"math"
	"strings"
	"time"

	"rapport/engine"
)

// Social is the source built from permitted social signals: a like of an
// item is interest in the item, its category and its brand; a follow of a
// brand, category or topic is interest in it. Follows of people (friends)
// are not read here. The merge hands it only signals the Gate let through.
type Social struct {
	HalfLife time.Duration // decay of interests; 0 means none
}

func (s *Social) Name() string { return "social" }

// Weights of one signal: a follow is a standing interest, a like a
// passing one.
const (
	likeWeight   = 0.5
	followWeight = 1.0
)

func (s *Social) Apply(p *engine.Identity, events []engine.Event, v *engine.FeatureVector, cat *Catalog, now time.Time) {
	interests := map[string]float64{}
	hl := s.HalfLife.Seconds()
	for _, ev := range events {
		if !ev.Type.IsSocial() {
			continue
		}
		d := 1.0
		if age := now.Sub(ev.Time).Seconds(); hl > 0 && age > 0 {
			d = math.Exp2(-age / hl)
		}
		w := likeWeight
		if ev.Type == engine.EventSocialFollow {
			w = followWeight
		}
		switch {
		case ev.Item != "" && cat != nil:
			interests["item:"+ev.Item] += w * d
			it := cat.Item(ev.Item)
			if it.Category != "" {
				interests["category:"+it.Category] += w * d / 2
			}
			if it.Brand != "" {
				interests["brand:"+it.Brand] += w * d / 2
			}
		case isInterestTarget(ev.Target):
			interests[ev.Target] += w * d
		}
	}
	v.Social = top(interests)
}

// isInterestTarget reports whether a social target names a thing (brand,
// category or topic) rather than a person.
func isInterestTarget(t string) bool {
	kind, value, _ := strings.Cut(t, ":")
	return value != "" && (kind == "brand" || kind == "category" || kind == "topic")
}
