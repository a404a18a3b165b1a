package model

import (
	"maps"
	"slices"
	"strings"

	"rapport/engine"
)

// PartSocial names the part of a score that comes from social signals.
const PartSocial = "social"

// Interest is how much a person's social signals point at one item, and
// which signal points most (an index into the signals given).
type Interest struct {
	Weight float64 // in (0, 1]
	Signal int
}

// Weights of social signals: a follow is a standing interest, a like a
// passing one; an item liked is itself the strongest pointer, what is
// bought with it and the favourites of a brand or category followed are
// weaker ones.
const (
	socialFollow    = 1.0
	socialLike      = 0.5
	socialNeighbour = 0.5
	socialFriend    = 0.6
	perTarget       = 50 // items a followed brand or category points at, its most popular
)

// SocialInterests turns a person's social signals — only ones the consent
// gate let through — into interest per item: a liked item and its
// item-to-item neighbours, the most popular items of each brand or
// category liked or followed, and what followed friends bought lately
// (friends[k]: the items of the person signal k follows, given only where
// that person permits it too). attrs gives an item's category and brand.
// Signals aimed at topics point at no item.
func (t *Trained) SocialInterests(signals []engine.Event, attrs func(item int32) (category, brand string), friends map[int][]string) map[int32]Interest {
	out := map[int32]Interest{}
	note := func(i int32, w float64, signal int) {
		if w > out[i].Weight {
			out[i] = Interest{Weight: min(w, 1), Signal: signal}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(friends)) {
		for _, id := range friends[k] {
			if i, ok := t.ItemIndex(id); ok {
				note(i, socialFriend, k)
			}
		}
	}
	type target struct {
		kind, value string
		w           float64
		signal      int
	}
	var targets []target
	for k, ev := range signals {
		if !ev.Type.IsSocial() {
			continue
		}
		w := socialLike
		if ev.Type == engine.EventSocialFollow {
			w = socialFollow
		}
		if ev.Item != "" {
			i, ok := t.ItemIndex(ev.Item)
			if !ok {
				continue
			}
			note(i, 1, k)
			nbrs := t.Ranker.KNN.NeighboursOf(i)
			if len(nbrs) > 0 && nbrs[0].Score > 0 {
				for _, nb := range nbrs {
					note(nb.Item, socialNeighbour*nb.Score/nbrs[0].Score, k)
				}
			}
			continue
		}
		kind, value, _ := strings.Cut(ev.Target, ":")
		if (kind == "brand" || kind == "category") && value != "" {
			targets = append(targets, target{kind, value, w, k})
		}
	}
	if len(targets) == 0 {
		return out
	}
	// The favourites of each target, by popularity over the whole catalog.
	top := make([][]Scored, len(targets))
	for i := range t.Items {
		item := int32(i)
		category, brand := attrs(item)
		for k, tg := range targets {
			match := tg.kind == "brand" && brand == tg.value ||
				tg.kind == "category" && (category == tg.value || strings.HasPrefix(category, tg.value+" > "))
			if match {
				top[k] = append(top[k], Scored{Item: item, Score: t.Ranker.Trending.At("", item) + t.Ranker.Seasonal.At("", item)})
			}
		}
	}
	for k, tg := range targets {
		best := Best(top[k], perTarget)
		if len(best) == 0 || best[0].Score <= 0 {
			continue
		}
		for _, s := range best {
			note(s.Item, tg.w*(0.5+0.5*s.Score/best[0].Score), tg.signal)
		}
	}
	return out
}
