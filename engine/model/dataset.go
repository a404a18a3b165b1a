// Package model holds Rapport's recommendation models and the data they
// learn from: popularity (global, regional, trending), item-to-item
// co-occurrence, implicit-feedback matrix factorisation (ALS), a reorder
// model for repeat buying, and the ranker that blends them. Models are pure
// computation over a Dataset; storage and serving live elsewhere.
package model

import (
	"slices"
	"time"

	"rapport/engine"
)

// Interaction is one event of a person, compactly: the item's index in the
// Dataset, the event type, its Unix time in seconds, quantity and price.
type Interaction struct {
	Item  int32
	Type  engine.EventType
	Time  int64
	Qty   float32
	Price float32
}

// Dataset is every person's item events, in time order, over one item
// vocabulary. Users and Items give the user key (an identity's Key, or
// alias text for data read straight from a file) and item id of each index.
// Events without an item (social events aimed at brands or people) are not
// part of it.
type Dataset struct {
	Users     []string // user key per user index
	Regions   []string // last region seen per user ("" if none)
	Items     []string // item id per item index
	UserIndex map[string]int32
	ItemIndex map[string]int32
	Hist      [][]Interaction // per user, oldest first
}

// NumUsers and NumItems size the dataset.
func (d *Dataset) NumUsers() int { return len(d.Users) }
func (d *Dataset) NumItems() int { return len(d.Items) }

// Builder collects events into a Dataset.
type Builder struct{ d *Dataset }

// NewBuilder starts an empty dataset.
func NewBuilder() *Builder {
	return &Builder{d: &Dataset{UserIndex: map[string]int32{}, ItemIndex: map[string]int32{}}}
}

// Add records one event of the person its alias names: for data read
// straight from a file, where each alias is a person.
func (b *Builder) Add(ev *engine.Event) { b.AddAs(ev.Alias.String(), ev) }

// AddAs records one event of the person with the given user key (an
// identity's Key, for data from the store). Events without an item are
// ignored, and so are social signals: they reach models only through the
// consent gate in the features package, never straight from raw events.
func (b *Builder) AddAs(user string, ev *engine.Event) {
	if ev.Item == "" || ev.Type.IsSocial() {
		return
	}
	d := b.d
	u, ok := d.UserIndex[user]
	if !ok {
		u = int32(len(d.Users))
		d.UserIndex[user] = u
		d.Users = append(d.Users, user)
		d.Regions = append(d.Regions, "")
		d.Hist = append(d.Hist, nil)
	}
	i := b.Item(ev.Item)
	if ev.Region != "" {
		d.Regions[u] = ev.Region
	}
	d.Hist[u] = append(d.Hist[u], Interaction{Item: i, Type: ev.Type, Time: ev.Time.Unix(), Qty: float32(ev.Quantity), Price: float32(ev.Price)})
}

// Item returns the index of item id, adding it to the vocabulary if new.
func (b *Builder) Item(id string) int32 {
	d := b.d
	i, ok := d.ItemIndex[id]
	if !ok {
		i = int32(len(d.Items))
		d.ItemIndex[id] = i
		d.Items = append(d.Items, id)
	}
	return i
}

// Build sorts every history by time and returns the dataset. The Builder
// must not be used afterwards.
func (b *Builder) Build() *Dataset {
	for _, h := range b.d.Hist {
		slices.SortStableFunc(h, func(x, y Interaction) int {
			switch {
			case x.Time < y.Time:
				return -1
			case x.Time > y.Time:
				return 1
			}
			return 0
		})
	}
	return b.d
}

// Restrict returns a dataset with the same users and items whose histories
// keep only the interactions keep accepts. Histories are copied.
func (d *Dataset) Restrict(keep func(u int, in Interaction) bool) *Dataset {
	out := *d
	out.Hist = make([][]Interaction, len(d.Hist))
	for u, h := range d.Hist {
		var kept []Interaction
		for _, in := range h {
			if keep(u, in) {
				kept = append(kept, in)
			}
		}
		out.Hist[u] = kept
	}
	return &out
}

// End returns the time just after the newest interaction (the natural
// "now" for a dataset), or the zero time for an empty one.
func (d *Dataset) End() time.Time {
	var last int64
	for _, h := range d.Hist {
		if len(h) > 0 && h[len(h)-1].Time > last {
			last = h[len(h)-1].Time
		}
	}
	if last == 0 {
		return time.Time{}
	}
	return time.Unix(last+1, 0).UTC()
}
