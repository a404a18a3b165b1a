package recommend

import (
	"context"
	"slices"
	"time"

	"rapport/engine"
	"rapport/engine/model"
)

// served is a list handed out, kept with its identity's serving state so
// that it can be explained and exported: what was asked, against which
// model, state and catalog, and what came back.
type served struct {
	id      string
	at      time.Time
	req     Request
	version string
	epoch   uint64
	catalog uint64
	items   []string
}

// servedKept is how many recent lists an identity keeps.
const servedKept = 5

// noteServed remembers a list served to identity id (a known identity
// whose state is cached; others keep nothing).
func (s *Service) noteServed(id engine.IdentityID, sv served, items []Item) {
	if id == 0 {
		return
	}
	sv.items = make([]string, len(items))
	for i, it := range items {
		sv.items[i] = it.Item
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil || e.epoch != sv.epoch {
		return
	}
	if len(e.served) == servedKept {
		e.served = slices.Delete(e.served, 0, 1)
	}
	e.served = append(e.served, sv)
	s.recount(e)
}

// Served is one recent list, as export shows it.
type Served struct {
	RecommendationID string    `json:"recommendation_id"`
	ServedAt         time.Time `json:"served_at"`
	ModelVersion     string    `json:"model_version"`
	Placement        string    `json:"placement,omitempty"`
	Items            []string  `json:"items"`
}

// Recent returns the lists served to identity id that serving still
// holds, oldest first: the last few of an identity it has in memory.
func (s *Service) Recent(id engine.IdentityID) []Served {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Served{}
	if e := s.entries[id]; e != nil {
		for _, sv := range e.served {
			out = append(out, Served{RecommendationID: sv.id, ServedAt: sv.at, ModelVersion: sv.version, Placement: sv.req.Placement, Items: slices.Clone(sv.items)})
		}
	}
	return out
}

// Signal is one piece of data an explained list used.
type Signal struct {
	Source  string          `json:"source"`            // "events" or a social source such as social:instagram
	Kind    string          `json:"kind"`              // history, or the social event type
	Target  string          `json:"target,omitempty"`  // what a social signal was about: brand:X, category:X, an item
	Time    time.Time       `json:"time,omitzero"`     // when the signal arrived
	Count   int             `json:"count,omitempty"`   // history: interactions used
	Consent *engine.Consent `json:"consent,omitempty"` // the decision that let a social signal in
}

// ExplainedItem is one item of an explained list: its score, each part's
// share of it, the boost rules and favourites applied, and the signals
// behind it.
type ExplainedItem struct {
	Item    string             `json:"item"`
	Rank    int                `json:"rank"`
	Score   float64            `json:"score"`
	Parts   map[string]float64 `json:"parts"`   // item-to-item, als, seasonal, trending, context, social
	Boost   float64            `json:"boost"`   // 1: none
	Signals []int              `json:"signals"` // indexes into Explanation.Signals
	Reasons []string           `json:"reasons"`
}

// Explanation is the full breakdown of a served list.
type Explanation struct {
	RecommendationID string          `json:"recommendation_id"`
	ServedAt         time.Time       `json:"served_at"`
	ModelVersion     string          `json:"model_version"`
	Step             string          `json:"step"`
	Placement        string          `json:"placement,omitempty"`
	Signals          []Signal        `json:"signals"`
	Items            []ExplainedItem `json:"items"`
}

// Explain breaks down a list served to alias a: every part of every
// item's score and the signals behind it, with their sources and
// consents. It works while the list is one of the identity's last few and
// nothing behind it has changed (no new event, consent, link, preference,
// catalog change or model since); otherwise the list can no longer be
// reproduced, and Explain says so rather than explain another list.
func (s *Service) Explain(ctx context.Context, a engine.Alias, recommendationID string) (Explanation, error) {
	l := s.Serving.Load()
	if l == nil {
		return Explanation{}, ErrNoModel
	}
	id, err := s.Store.ResolveAlias(ctx, a)
	if err != nil {
		return Explanation{}, err
	}
	s.mu.Lock()
	var sv *served
	var st *state
	var epoch uint64
	if e := s.entries[id]; e != nil {
		st, epoch = e.st, e.epoch
		for k := range e.served {
			if e.served[k].id == recommendationID {
				c := e.served[k]
				sv = &c
			}
		}
	}
	s.mu.Unlock()
	if sv == nil {
		return Explanation{}, engine.Errorf(engine.CodeNotFound, "no list %s of %s is held; serving keeps the last %d lists of the people it has in memory", recommendationID, a, servedKept)
	}
	if st == nil || sv.epoch != epoch || sv.version != l.VersionID() || st.version != sv.version || sv.catalog != s.catalogGen.Load() {
		return Explanation{}, engine.Errorf(engine.CodeConflict, "the data behind %s has changed since it was served (a new event, consent, link or preference, the catalog or the model); ask for a new list to explain", recommendationID)
	}
	cat, err := s.catalogFor(ctx, l)
	if err != nil {
		return Explanation{}, err
	}
	r := s.compute(l, cat, st, sv.req)
	defer r.release()
	t := l.Trained
	out := Explanation{RecommendationID: sv.id, ServedAt: sv.at, ModelVersion: sv.version, Step: string(r.step), Placement: sv.req.Placement, Signals: []Signal{}, Items: []ExplainedItem{}}
	history := -1 // index of the history signal
	if len(st.history) > 0 {
		history = 0
		out.Signals = append(out.Signals, Signal{Source: "events", Kind: "history", Count: len(st.history)})
	}
	signalAt := map[int]int{} // st.signals index → out.Signals index
	for k, rk := range r.ranked {
		if k >= len(sv.items) || t.Items[rk.item] != sv.items[k] {
			return Explanation{}, engine.Errorf(engine.CodeConflict, "%s can no longer be reproduced exactly; ask for a new list to explain", recommendationID)
		}
		it := ExplainedItem{Item: sv.items[k], Rank: k + 1 + sv.req.Offset, Score: rk.score, Parts: map[string]float64{}, Boost: rk.boost, Signals: []int{},
			Reasons: slices.Concat(rk.why, r.ex.reasons(rk.item))}
		for _, name := range partNames {
			if v := r.ex.part(name, rk.item); v != 0 {
				it.Parts[name] = v
			}
		}
		if history >= 0 && (it.Parts[model.PartItemToItem] > 0 || it.Parts[model.PartALS] > 0) {
			it.Signals = append(it.Signals, history)
		}
		if in, ok := st.social[rk.item]; ok && it.Parts[model.PartSocial] > 0 {
			at, ok := signalAt[in.Signal]
			if !ok {
				ev := st.signals[in.Signal]
				c := st.socialConsent
				target := ev.Target
				if ev.Item != "" {
					target = "item:" + ev.Item
				} else if _, err := engine.ParseAlias(target); err == nil {
					target = "a person you follow" // whose purchases they were is theirs to tell
				}
				at = len(out.Signals)
				out.Signals = append(out.Signals, Signal{Source: ev.Source, Kind: string(ev.Type), Target: target, Time: ev.Time, Consent: &c})
				signalAt[in.Signal] = at
			}
			it.Signals = append(it.Signals, at)
		}
		out.Items = append(out.Items, it)
	}
	if len(r.ranked) != len(sv.items) {
		return Explanation{}, engine.Errorf(engine.CodeConflict, "%s can no longer be reproduced exactly; ask for a new list to explain", recommendationID)
	}
	return out, nil
}
