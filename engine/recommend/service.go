// Package recommend serves recommendations: it keeps each identity's
// serving state fresh as events arrive, scores with the serving model's
// ranker, filters, applies business rules and explains every item.
package recommend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"rapport/engine"
	"rapport/engine/model"
)

// Store is what serving reads.
type Store interface {
	ResolveAlias(ctx context.Context, a engine.Alias) (engine.IdentityID, error)
	IdentityEvents(ctx context.Context, id engine.IdentityID) (engine.Identity, []engine.Event, error)
	Consents(ctx context.Context, id engine.IdentityID) (engine.Identity, []engine.Consent, error)
	Preferences(ctx context.Context, id engine.IdentityID) (engine.Preferences, bool, error)
	ScanItems(ctx context.Context, fn func(it engine.Item) error) error
}

// Gate is the consent gate (features.Gate): what of a person's events
// serving may use, and the decision that let social signals through.
type Gate interface {
	Usable(p *engine.Identity, history []engine.Consent, events []engine.Event, now time.Time) ([]engine.Event, engine.Consent)
	// Decide returns the consent in force for purpose.
	Decide(p *engine.Identity, history []engine.Consent, purpose engine.Purpose, now time.Time, also ...string) engine.Consent
}

// Service answers recommendation requests. Set Store and Serving; Gate,
// Rules, MaxHistory, CacheSize and CacheBytes are optional. Without a
// Gate, serving uses a person's own events and never their social signals.
type Service struct {
	Store      Store
	Serving    *model.Serving
	Gate       Gate
	Rules      *Rules
	MaxHistory int // recent interactions kept per identity; default 200
	CacheSize  int // identities kept in memory; default 100,000
	// CacheBytes bounds the memory those identities' states and lists
	// hold, as estimated; default 128 MiB.
	CacheBytes int64

	mu         sync.Mutex
	entries    map[engine.IdentityID]*entry
	followers  map[engine.IdentityID]map[engine.IdentityID]bool // person → the people following them whose state uses their purchases
	cacheBytes int64                                            // the entries' sizes, as last counted
	itemsMu    sync.Mutex
	catalog    atomic.Pointer[catalog]
	catalogGen atomic.Uint64

	placementsMu sync.Mutex
	placements   map[string]int64

	workspaces sync.Pool     // *workspace
	hits       atomic.Uint64 // state lookups found in memory
	misses     atomic.Uint64 // and read from the store
	candSets   sync.Pool     // *model.CandSet
}

// workspace is one request's scratch memory, reused across requests.
type workspace struct {
	scores  []float64
	contrib map[string][]float64
}

var partNames = []string{model.PartItemToItem, model.PartALS, model.PartSeasonal, model.PartTrending, partContext, model.PartSocial}

func (s *Service) workspace(n int) *workspace {
	ws, _ := s.workspaces.Get().(*workspace)
	if ws == nil || len(ws.scores) != n {
		ws = &workspace{scores: make([]float64, n), contrib: map[string][]float64{}}
		for _, k := range partNames {
			ws.contrib[k] = make([]float64, n)
		}
		return ws
	}
	for _, c := range ws.contrib {
		clear(c)
	}
	return ws
}

func (s *Service) maxHistory() int {
	if s.MaxHistory > 0 {
		return s.MaxHistory
	}
	return 200
}

func (s *Service) cacheBudget() int64 {
	if s.CacheBytes > 0 {
		return s.CacheBytes
	}
	return 128 << 20
}

func (s *Service) cacheSize() int {
	if s.CacheSize > 0 {
		return s.CacheSize
	}
	return 100_000
}

// ErrNoModel is returned before any model version serves.
var ErrNoModel = engine.Errorf(engine.CodeUnavailable, "no model has been trained yet: run rapport train, or POST /v1/jobs/train/runs")

// Request is one recommendation request.
type Request struct {
	N, Offset         int
	Categories        []string // include only these categories (or below them)
	Brands            []string // include only these brands
	ExcludeCategories []string
	Exclude           []string // item ids
	MinPrice          float64
	MaxPrice          float64 // 0: no upper bound
	AvailableOnly     bool
	ContextItem       string
	Placement         string
	IncludePurchased  bool
	// Preview is a look by staff (the dashboard), not a visitor's list:
	// no experiment assigns or counts it.
	Preview bool

	tag string // experiment variant, appended to the recommendation id
}

// Validate checks a request's ranges.
func (r *Request) Validate() []engine.FieldError {
	var errs []engine.FieldError
	bad := func(f, why string) { errs = append(errs, engine.FieldError{Index: -1, Field: f, Reason: why}) }
	if r.N < 1 || r.N > 100 {
		bad("n", "must be an integer from 1 to 100")
	}
	if r.Offset < 0 || r.Offset > 1000 {
		bad("offset", "must be an integer from 0 to 1000")
	}
	if !(r.MinPrice >= 0) || math.IsInf(r.MinPrice, 0) {
		bad("min_price", "must be a number ≥ 0")
	}
	if !(r.MaxPrice >= 0) || math.IsInf(r.MaxPrice, 0) {
		bad("max_price", "must be a number ≥ 0")
	} else if r.MaxPrice > 0 && r.MinPrice > r.MaxPrice {
		bad("min_price", "must not exceed max_price")
	}
	if len(r.Placement) > 64 {
		bad("placement", "is longer than 64 bytes")
	}
	return errs
}

// Item is one recommended item.
type Item struct {
	Item    string       `json:"item"`
	Rank    int          `json:"rank"`
	Score   float64      `json:"score"`
	Reasons []string     `json:"reasons"`
	Details *engine.Item `json:"details,omitempty"`
}

// Result is a ranked, explained list.
type Result struct {
	Alias            string `json:"alias,omitempty"`
	RecommendationID string `json:"recommendation_id"`
	ModelVersion     string `json:"model_version"`
	Step             string `json:"step"`
	Placement        string `json:"placement,omitempty"`
	Experiment       string `json:"experiment,omitempty"`
	Variant          string `json:"variant,omitempty"`
	Items            []Item `json:"items"`
}

func newRecommendationID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "rec_" + hex.EncodeToString(b[:])
}

// Recommend ranks items for an alias.
func (s *Service) Recommend(ctx context.Context, a engine.Alias, req Request) (Result, error) {
	if errs := req.Validate(); len(errs) > 0 {
		return Result{}, &engine.Error{Code: engine.CodeInvalid, Message: errs[0].String(), Details: errs}
	}
	l := s.Serving.Load()
	if l == nil {
		return Result{}, ErrNoModel
	}
	gen := s.catalogGen.Load() // before the catalog: a list cached with a stale gen is only dropped early
	cat, err := s.catalogFor(ctx, l)
	if err != nil {
		return Result{}, err
	}
	st, id, epoch, err := s.stateAndKey(ctx, l, a)
	if err != nil {
		return Result{}, err
	}
	if req.Placement != "" {
		s.count(req.Placement)
	}
	key := req.key()
	res := Result{Alias: a.String(), RecommendationID: newRecommendationID() + req.tag, ModelVersion: l.VersionID(), Placement: req.Placement}
	sv := served{id: res.RecommendationID, at: time.Now().UTC(), req: req, version: l.VersionID(), epoch: epoch, catalog: gen}
	if c, ok := s.cached(id, epoch, key, l.VersionID(), gen); ok {
		res.Step, res.Items = c.step, slices.Clone(c.items)
		s.noteServed(id, sv, res.Items)
		return res, nil
	}
	r := s.compute(l, cat, st, req)
	defer r.release()
	res.Step, res.Items = string(r.step), []Item{}
	for _, rk := range r.ranked {
		reasons := slices.Concat(rk.why, r.ex.reasons(rk.item)) // rules first: they decided
		res.Items = append(res.Items, Item{Item: l.Trained.Items[rk.item], Rank: len(res.Items) + 1 + req.Offset, Score: rk.score, Reasons: reasons})
	}
	s.keep(id, epoch, key, cachedList{version: l.VersionID(), catalog: gen, step: res.Step, items: slices.Clone(res.Items)})
	s.noteServed(id, sv, res.Items)
	return res, nil
}

// ranking is one computed list with what explains it; release returns
// its scratch memory, after which ex may no longer be used.
type ranking struct {
	step    model.Step
	ranked  []ranked
	ex      *explainer
	release func()
}

// compute scores, filters and ranks a list for state st.
func (s *Service) compute(l *model.Loaded, cat *catalog, st *state, req Request) ranking {
	t := l.Trained
	p := st.profile(t)
	ctxItem := int32(-1)
	if req.ContextItem != "" {
		if i, ok := t.ItemIndex(req.ContextItem); ok {
			ctxItem = i
		}
	}
	skip := s.filter(t, cat, st, req, ctxItem)
	var sc scoring
	release := func() {}
	if t.Ranker.ALS.Indexed() {
		cs, _ := s.candSets.Get().(*model.CandSet)
		if cs == nil {
			cs = new(model.CandSet)
		}
		release = func() { s.candSets.Put(cs) }
		sc = scoreCandidates(t, p, ctxItem, st.social, cs)
	} else {
		ws := s.workspace(len(t.Items))
		release = func() { s.workspaces.Put(ws) }
		sc = scoreAll(t, p, ctxItem, st.social, ws)
	}
	ex := &explainer{s: s, t: t, cat: cat, p: p, st: st, step: sc.step, part: sc.part, ctxItem: ctxItem}
	return ranking{step: sc.step, ranked: s.rank(t, cat, st, sc, req, skip), ex: ex, release: release}
}

// key identifies a request's list: everything that shapes it.
func (r *Request) key() string {
	return fmt.Sprintf("%d|%d|%q|%q|%q|%q|%g|%g|%t|%q|%q|%t", r.N, r.Offset, r.Categories, r.Brands, r.ExcludeCategories, r.Exclude,
		r.MinPrice, r.MaxPrice, r.AvailableOnly, r.ContextItem, r.Placement, r.IncludePurchased)
}

const partContext = "context"

// filter returns the predicate of items a request leaves out.
func (s *Service) filter(t *model.Trained, cat *catalog, st *state, req Request, ctxItem int32) func(int32) bool {
	var bought map[int32]bool
	if !req.IncludePurchased {
		bought = st.bought
	}
	excluded := map[int32]bool{}
	for _, id := range req.Exclude {
		if i, ok := t.ItemIndex(id); ok {
			excluded[i] = true
		}
	}
	if ctxItem >= 0 {
		excluded[ctxItem] = true
	}
	brands := map[string]bool{}
	for _, b := range req.Brands {
		brands[b] = true
	}
	prefs := &st.prefs
	return func(i int32) bool {
		if bought[i] || excluded[i] {
			return true
		}
		m := cat.meta[i]
		if m != nil && (slices.Contains(prefs.ExcludedBrands, m.Brand) ||
			slices.ContainsFunc(prefs.ExcludedCategories, func(c string) bool { return inCategory(m.Category, c) })) {
			return true // the person said never: explicit beats inferred
		}
		if m == nil {
			// Unknown to the catalog: only filters on a known attribute drop it.
			return len(req.Categories) > 0 || len(brands) > 0 || req.MinPrice > 0 || req.MaxPrice > 0
		}
		if req.AvailableOnly && !m.Available {
			return true
		}
		if len(req.Categories) > 0 && !slices.ContainsFunc(req.Categories, func(c string) bool { return inCategory(m.Category, c) }) {
			return true
		}
		if slices.ContainsFunc(req.ExcludeCategories, func(c string) bool { return inCategory(m.Category, c) }) {
			return true
		}
		if len(brands) > 0 && !brands[m.Brand] {
			return true
		}
		if req.MinPrice > 0 && m.Price < req.MinPrice || req.MaxPrice > 0 && m.Price > req.MaxPrice {
			return true
		}
		return false
	}
}

type ranked struct {
	item  int32
	score float64
	boost float64 // the factor rules and favourites applied (1: none)
	why   []string
}

// favouriteBoost multiplies the score of an item of a favourite brand or
// category.
const favouriteBoost = 1.5

// rank applies boosts (rules, then the person's favourites), diversity and
// pins, and cuts the page.
func (s *Service) rank(t *model.Trained, cat *catalog, st *state, sc scoring, req Request, skip func(int32) bool) []ranked {
	rules := s.Rules
	prefs := &st.prefs
	want := req.Offset + req.N
	// Boosts first: they may reorder, so take a wider pool than the page.
	poolSize := want
	if rules != nil || len(prefs.FavouriteBrands)+len(prefs.FavouriteCategories) > 0 {
		poolSize = want*4 + 50
	}
	pool := sc.best(poolSize, skip)
	list := make([]ranked, 0, len(pool))
	for _, c := range pool {
		m := cat.meta[c.Item]
		f, why := rules.boostOf(m)
		if f == 0 {
			continue
		}
		if m != nil {
			if slices.Contains(prefs.FavouriteBrands, m.Brand) {
				f *= favouriteBoost
				why = append(why, "from "+m.Brand+", a favourite brand of yours")
			} else if k := slices.IndexFunc(prefs.FavouriteCategories, func(c string) bool { return inCategory(m.Category, c) }); k >= 0 {
				f *= favouriteBoost
				why = append(why, "in "+prefs.FavouriteCategories[k]+", a favourite category of yours")
			}
		}
		list = append(list, ranked{item: c.Item, score: c.Score * f, boost: f, why: why})
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].score > list[j].score })
	if rules != nil && rules.Diversity.MaxPerCategory > 0 {
		perCat := map[string]int{}
		kept := list[:0]
		for _, r := range list {
			c := ""
			if m := cat.meta[r.item]; m != nil {
				c = m.Category
			}
			if c != "" && perCat[c] >= rules.Diversity.MaxPerCategory {
				continue
			}
			perCat[c]++
			kept = append(kept, r)
		}
		list = kept
	}
	if rules != nil && req.Placement != "" {
		for _, pin := range rules.Pins {
			i, ok := t.ItemIndex(pin.Item)
			if pin.Placement != req.Placement || !ok || skip(i) {
				continue
			}
			list = slices.DeleteFunc(list, func(r ranked) bool { return r.item == i })
			pos := min(pin.Position-1, len(list))
			list = slices.Insert(list, pos, ranked{item: i, score: sc.scoreOf(i), boost: 1, why: []string{"pinned for placement " + req.Placement}})
		}
	}
	if req.Offset >= len(list) {
		return nil
	}
	return list[req.Offset:min(len(list), want)]
}

// explainer says why items are in one request's list.
type explainer struct {
	s       *Service
	t       *model.Trained
	cat     *catalog
	p       *model.Profile
	st      *state
	step    model.Step
	part    func(name string, item int32) float64
	ctxItem int32
	weights map[int32]float64 // history weights for item-to-item, computed on first need
}

// reasons lists the parts that put item in the list, strongest first:
// every part giving at least a fifth of its score.
func (ex *explainer) reasons(item int32) []string {
	type part struct {
		name string
		v    float64
	}
	var parts []part
	total := 0.0
	for _, name := range partNames {
		if v := ex.part(name, item); v > 0 {
			parts = append(parts, part{name, v})
			total += v
		}
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].v > parts[j].v })
	t, cat := ex.t, ex.cat
	var out []string
	for k, pt := range parts {
		if k > 0 && pt.v < 0.2*total {
			break
		}
		switch pt.name {
		case partContext:
			out = append(out, "bought together with "+ex.s.itemLabel(t, cat, ex.ctxItem)+" (the item being viewed)")
		case model.PartItemToItem:
			if ex.weights == nil {
				ex.weights = t.Ranker.KNN.HistoryWeights(ex.p)
			}
			if j := t.Ranker.KNN.Because(ex.weights, item); j >= 0 {
				out = append(out, "bought together with "+ex.s.itemLabel(t, cat, j))
			}
		case model.PartALS:
			out = append(out, "shoppers with your taste bought it")
		case model.PartSocial:
			out = append(out, ex.socialReason(item))
		case model.PartSeasonal:
			out = append(out, "popular at this time of year")
		case model.PartTrending:
			if ex.st.region != "" && t.Ranker.Trending.HasRegion(ex.st.region) {
				out = append(out, "trending in "+ex.st.region)
			} else {
				out = append(out, "trending")
			}
		}
	}
	if len(out) == 0 {
		out = []string{string(ex.step)}
	}
	return out
}

// socialReason names the social signal that points at item, where it
// came from, and the consent that lets Rapport use it.
func (ex *explainer) socialReason(item int32) string {
	in := ex.st.social[item]
	ev := ex.st.signals[in.Signal]
	verb := "liked"
	if ev.Type == engine.EventSocialFollow {
		verb = "follow"
	}
	var what string
	switch {
	case ev.Item != "" && ev.Item == ex.t.Items[item]:
		what = "you " + verb + " it"
	case ev.Item != "":
		if j, ok := ex.t.ItemIndex(ev.Item); ok {
			what = "goes with " + ex.s.itemLabel(ex.t, ex.cat, j) + ", which you " + verb
		}
	default:
		if _, err := engine.ParseAlias(ev.Target); err == nil {
			// A friend's purchase: never say whose.
			what = "people you follow bought it"
			break
		}
		kind, value, _ := strings.Cut(ev.Target, ":")
		what = "you " + verb + " " + kind + " " + value
	}
	c := ex.st.socialConsent
	permit := "permitted by the default policy"
	if ex.st.region != "" {
		permit += " for " + ex.st.region
	}
	if !c.Default {
		permit = "permitted " + c.Time.Format("2006-01-02")
	}
	if _, err := engine.ParseAlias(ev.Target); err == nil {
		permit = "you and they permitted social signals"
	}
	return what + " on " + ev.Source + " — " + permit
}

func (s *Service) itemLabel(t *model.Trained, cat *catalog, i int32) string {
	if title := cat.label(i); title != "" {
		return fmt.Sprintf("%s (%s)", t.Items[i], title)
	}
	return t.Items[i]
}

func (s *Service) count(placement string) {
	s.placementsMu.Lock()
	defer s.placementsMu.Unlock()
	if s.placements == nil {
		s.placements = map[string]int64{}
	}
	s.placements[placement]++
}

// Placements returns how many lists each placement was served.
func (s *Service) Placements() map[string]int64 {
	s.placementsMu.Lock()
	defer s.placementsMu.Unlock()
	out := make(map[string]int64, len(s.placements))
	for k, v := range s.placements {
		out[k] = v
	}
	return out
}

// ItemDetails returns the catalog record of an item, for embedding in
// responses (nil if the catalog lacks it or no model serves).
func (s *Service) ItemDetails(ctx context.Context, id string) *engine.Item {
	l := s.Serving.Load()
	if l == nil {
		return nil
	}
	cat, err := s.catalogFor(ctx, l)
	if err != nil {
		return nil
	}
	if it, ok := cat.byID[id]; ok {
		return &it
	}
	return nil
}
