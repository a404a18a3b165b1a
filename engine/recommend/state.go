package recommend

import (
	"cmp"
	"context"
	"slices"
	"time"
	"unsafe"

	"rapport/engine"
	"rapport/engine/model"
)

// state is what serving keeps of one identity, for one model version:
// its recent history in the model's item indices, its purchases, and its
// latent factors folded in from that history when it has events the model
// did not see. A state is never changed once built; updates replace it.
type state struct {
	version   string
	region    string
	user      int                 // training index, -1 if the model never saw them
	history   []model.Interaction // oldest first, the last maxHistory
	purchases []purchase          // every purchase and return, oldest first
	factors   []float64           // folded-in factors; nil: the trained ones serve
	newest    int64               // Unix time of the newest event
	bought    map[int32]bool      // items bought, net of returns

	// social is the interest the person's permitted social signals point
	// at; signals are those signals, socialConsent the decision that
	// permitted them (for reasons).
	social        map[int32]model.Interest
	signals       []engine.Event
	socialConsent engine.Consent

	prefs engine.Preferences // what the person chose in the preference centre
}

type purchase struct {
	item int32
	time int64
	qty  float32
	ret  bool
}

// profile is the scoring profile of s.
func (s *state) profile(t *model.Trained) *model.Profile {
	now := max(t.Now, s.newest)
	return &model.Profile{User: s.user, History: s.history, Region: s.region, Now: now, Factors: s.factors}
}

// purchased computes the items s has bought: more purchases than returns,
// or a purchase as the latest of either (a return of an earlier order does
// not un-buy what was bought since).
func (s *state) purchased() map[int32]bool {
	net := map[int32]int{}
	lastWasPurchase := map[int32]bool{}
	for _, p := range s.purchases { // oldest first
		if p.ret {
			net[p.item]--
		} else {
			net[p.item]++
		}
		lastWasPurchase[p.item] = !p.ret
	}
	out := map[int32]bool{}
	for i, n := range net {
		if n > 0 || lastWasPurchase[i] {
			out[i] = true
		}
	}
	return out
}

// buildState makes the state of an identity from all its events (id 0:
// a person the store does not know yet).
func buildState(l *model.Loaded, id engine.IdentityID, region string, events []engine.Event, maxHistory int) *state {
	t := l.Trained
	s := &state{version: l.VersionID(), region: region, user: -1}
	if id != 0 {
		s.user = t.UserIndex(id.Key())
	}
	s.add(t, events, maxHistory)
	s.bought = s.purchased()
	return s
}

// add folds events into s and refolds its factors if any is newer than
// what the model trained on.
func (s *state) add(t *model.Trained, events []engine.Event, maxHistory int) {
	fresh := false
	for _, ev := range events {
		if ev.Type.IsSocial() {
			continue
		}
		s.newest = max(s.newest, ev.Time.Unix())
		if ev.Region != "" {
			s.region = ev.Region
		}
		i, ok := t.ItemIndex(ev.Item)
		if !ok {
			continue
		}
		in := model.Interaction{Item: i, Type: ev.Type, Time: ev.Time.Unix(), Qty: float32(ev.Quantity), Price: float32(ev.Price)}
		if ev.Type == engine.EventRating {
			in.Qty = float32(ev.Weight)
		}
		s.history = append(s.history, in)
		if ev.Type == engine.EventPurchase || ev.Type == engine.EventReturn {
			s.purchases = append(s.purchases, purchase{item: i, time: in.Time, qty: float32(ev.Quantity), ret: ev.Type == engine.EventReturn})
		}
		if in.Time >= t.Now {
			fresh = true
		}
	}
	slices.SortStableFunc(s.history, func(a, b model.Interaction) int { return cmp.Compare(a.Time, b.Time) })
	slices.SortStableFunc(s.purchases, func(a, b purchase) int { return cmp.Compare(a.time, b.time) })
	if len(s.history) > maxHistory {
		s.history = slices.Clip(s.history[len(s.history)-maxHistory:])
	}
	if fresh || s.user < 0 && len(s.history) > 0 {
		s.factors = t.Ranker.ALS.FoldIn(s.history)
	}
}

// entry is a cache slot: the state (nil when only the epoch is known) and
// an epoch that every observed write to the identity bumps, so a state
// built from a store read that a newer write overtook is never cached.
type entry struct {
	st     *state
	epoch  uint64
	lists  []cachedList // finished lists for this state, one per request key
	served []served     // the last lists served, oldest first
	bytes  int          // size() when last counted in Service.cacheBytes
	// friends are the people whose purchases the state used: the entry is
	// registered in Service.followers under each, until it is dropped.
	friends []engine.IdentityID
}

// cachedList is a ranked, explained list kept for identical requests until
// the identity's next event, a catalog change or a model swap.
type cachedList struct {
	key     string
	version string
	catalog uint64
	step    string
	items   []Item
}

// size estimates the memory e holds, for the cache's byte budget: the
// structs and slices it owns, not the strings it shares with the model.
func (e *entry) size() int {
	n := int(unsafe.Sizeof(entry{})) + 64 // and its slot in Service.entries
	if st := e.st; st != nil {
		n += int(unsafe.Sizeof(state{})) + len(st.region)
		n += cap(st.history)*int(unsafe.Sizeof(model.Interaction{})) + cap(st.purchases)*int(unsafe.Sizeof(purchase{})) + cap(st.factors)*8
		n += 48 + len(st.bought)*16
		n += 48 + len(st.social)*24 + cap(st.signals)*int(unsafe.Sizeof(engine.Event{}))
		for _, l := range [][]string{st.prefs.FavouriteCategories, st.prefs.FavouriteBrands, st.prefs.ExcludedCategories, st.prefs.ExcludedBrands} {
			for _, v := range l {
				n += 16 + len(v)
			}
		}
	}
	for _, sv := range e.served {
		n += int(unsafe.Sizeof(sv)) + len(sv.id) + 16*len(sv.items)
	}
	for _, c := range e.lists {
		n += int(unsafe.Sizeof(c)) + len(c.key) + cap(c.items)*int(unsafe.Sizeof(Item{}))
		for _, it := range c.items {
			for _, r := range it.Reasons {
				n += int(unsafe.Sizeof(r)) + len(r)
			}
		}
	}
	return n
}

// recount brings s.cacheBytes up to date after e changed. s.mu is held.
func (s *Service) recount(e *entry) {
	n := e.size()
	s.cacheBytes += int64(n - e.bytes)
	e.bytes = n
}

// stateFor returns the serving state of alias under l: from the cache, or
// built from the store (an alias the store does not know gets an empty
// state: an anonymous newcomer).
func (s *Service) stateFor(ctx context.Context, l *model.Loaded, a engine.Alias) (*state, error) {
	st, _, _, err := s.stateAndKey(ctx, l, a)
	return st, err
}

// stateAndKey is stateFor that also returns the identity and the epoch the
// state belongs to (0, 0 for an alias the store does not know).
func (s *Service) stateAndKey(ctx context.Context, l *model.Loaded, a engine.Alias) (*state, engine.IdentityID, uint64, error) {
	id, err := s.Store.ResolveAlias(ctx, a)
	if engine.ErrorCode(err) == engine.CodeNotFound {
		return buildState(l, 0, "", nil, s.maxHistory()), 0, 0, nil
	}
	if err != nil {
		return nil, 0, 0, err
	}
	s.mu.Lock()
	e := s.entries[id]
	var epoch uint64
	if e != nil {
		if st := e.st; st != nil && st.version == l.VersionID() {
			epoch := e.epoch
			s.mu.Unlock()
			s.hits.Add(1)
			return st, id, epoch, nil
		}
		epoch = e.epoch
	}
	s.mu.Unlock()
	s.misses.Add(1)
	st, err := s.load(ctx, l, id, epoch)
	return st, id, epoch, err
}

// CacheCounts reports how many state lookups of known people found the
// state in memory, and how many read it from the store.
func (s *Service) CacheCounts() (hits, misses uint64) { return s.hits.Load(), s.misses.Load() }

// cached returns a finished list for (id, epoch, key) if still valid.
func (s *Service) cached(id engine.IdentityID, epoch uint64, key, version string, gen uint64) (cachedList, bool) {
	if id == 0 {
		return cachedList{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil || e.epoch != epoch {
		return cachedList{}, false
	}
	for _, c := range e.lists {
		if c.key == key {
			return c, c.version == version && c.catalog == gen
		}
	}
	return cachedList{}, false
}

// keep stores a finished list unless the identity changed meanwhile.
func (s *Service) keep(id engine.IdentityID, epoch uint64, key string, c cachedList) {
	if id == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil || e.epoch != epoch || e.st == nil || e.st.version != c.version {
		return
	}
	c.key = key
	e.lists = slices.DeleteFunc(e.lists, func(l cachedList) bool { return l.key == key })
	if len(e.lists) >= maxListsPerIdentity {
		e.lists = nil
	}
	e.lists = append(e.lists, c)
	s.recount(e)
	s.evict(id)
}

// maxListsPerIdentity bounds the distinct requests cached per identity.
const maxListsPerIdentity = 8

// load builds an identity's state from the store and caches it unless a
// write was observed since epoch was read.
func (s *Service) load(ctx context.Context, l *model.Loaded, id engine.IdentityID, epoch uint64) (*state, error) {
	p, events, err := s.Store.IdentityEvents(ctx, id)
	if err != nil {
		return nil, err
	}
	// Only what the consent gate lets through reaches serving; without a
	// gate, no social signal does.
	var consent engine.Consent
	if s.Gate != nil {
		_, history, err := s.Store.Consents(ctx, id)
		if err != nil {
			return nil, err
		}
		events, consent = s.Gate.Usable(&p, history, events, time.Now())
	}
	st := buildState(l, id, p.Region, events, s.maxHistory())
	var followed []engine.IdentityID
	if st.prefs, _, err = s.Store.Preferences(ctx, id); err != nil {
		return nil, err
	}
	if s.Gate != nil && consent.Granted {
		cat, err := s.catalogFor(ctx, l)
		if err != nil {
			return nil, err
		}
		for _, ev := range events {
			if ev.Type.IsSocial() {
				st.signals = append(st.signals, ev)
			}
		}
		friends, err := s.friendsBought(ctx, id, st.signals)
		if err != nil {
			return nil, err
		}
		st.social, st.socialConsent = l.Trained.SocialInterests(st.signals, cat.attrs, friends.bought), consent
		followed = friends.ids
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	switch {
	case e == nil && epoch == 0:
		s.makeRoom()
		e = &entry{st: st}
		s.entries[id] = e
	case e != nil && e.epoch == epoch:
		e.st, e.lists = st, nil
	default:
		return st, nil
	}
	e.friends = followed
	s.recount(e)
	s.evict(id)
	return st, nil
}

// Friends: at most maxFriends followed people are read, and of each their
// last friendItems purchases.
const (
	maxFriends  = 20
	friendItems = 20
)

// friends is what friendsBought found: for each signal that follows a
// person, what they bought lately, and the people read.
type friends struct {
	bought map[int][]string
	ids    []engine.IdentityID
}

// friendsBought returns, for each signal of id that follows another
// person, what that person bought lately — only where they too permit
// social signals. id is registered as their follower first, so that their
// consent changing drops id's state (and a build in flight is not kept).
func (s *Service) friendsBought(ctx context.Context, id engine.IdentityID, signals []engine.Event) (friends, error) {
	out := friends{bought: map[int][]string{}}
	for k, ev := range signals {
		if len(out.ids) == maxFriends || ev.Target == "" {
			continue
		}
		a, err := engine.ParseAlias(ev.Target)
		if err != nil {
			continue // a brand, category or topic
		}
		fid, err := s.Store.ResolveAlias(ctx, a)
		if engine.ErrorCode(err) == engine.CodeNotFound || fid == id {
			continue
		}
		if err != nil {
			return out, err
		}
		out.ids = append(out.ids, fid)
		s.mu.Lock()
		if s.followers == nil {
			s.followers = map[engine.IdentityID]map[engine.IdentityID]bool{}
		}
		if s.followers[fid] == nil {
			s.followers[fid] = map[engine.IdentityID]bool{}
		}
		s.followers[fid][id] = true
		s.mu.Unlock()
		p, events, err := s.Store.IdentityEvents(ctx, fid)
		if engine.ErrorCode(err) == engine.CodeNotFound {
			continue
		}
		if err != nil {
			return out, err
		}
		_, history, err := s.Store.Consents(ctx, fid)
		if err != nil {
			return out, err
		}
		usable, consent := s.Gate.Usable(&p, history, events, time.Now())
		if !consent.Granted {
			continue
		}
		var bought []string
		for i := len(usable) - 1; i >= 0 && len(bought) < friendItems; i-- {
			if usable[i].Type == engine.EventPurchase && !slices.Contains(bought, usable[i].Item) {
				bought = append(bought, usable[i].Item)
			}
		}
		if len(bought) > 0 {
			out.bought[k] = bought
		}
	}
	return out, nil
}

// makeRoom drops an arbitrary entry when the cache holds its most
// identities. s.mu is held.
func (s *Service) makeRoom() {
	if s.entries == nil {
		s.entries = map[engine.IdentityID]*entry{}
	}
	if len(s.entries) < s.cacheSize() {
		return
	}
	for k, e := range s.entries {
		s.drop(k, e)
		return
	}
}

// drop removes an entry from the cache and from the followers of the
// people its state used. s.mu is held.
func (s *Service) drop(k engine.IdentityID, e *entry) {
	delete(s.entries, k)
	s.cacheBytes -= int64(e.bytes)
	for _, fid := range e.friends {
		if f := s.followers[fid]; f != nil {
			delete(f, k)
			if len(f) == 0 {
				delete(s.followers, fid)
			}
		}
	}
}

// Forget drops the serving state of ids: after a link, an unlink, a
// consent change or an erasure, the next request rebuilds it from the
// store, and a build already in flight is not kept.
func (s *Service) Forget(ids ...engine.IdentityID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The people who follow one of ids may be using what it permitted.
	ids = slices.Clone(ids)
	for _, id := range ids {
		for f := range s.followers[id] {
			ids = append(ids, f)
		}
		delete(s.followers, id)
	}
	for _, id := range ids {
		if id == 0 {
			continue
		}
		e := s.entries[id]
		if e == nil { // an entry, so a build in flight from before sees the new epoch
			s.makeRoom()
			e = &entry{}
			s.entries[id] = e
		}
		e.epoch++
		e.st, e.lists = nil, nil
		s.recount(e)
	}
}

// Erase drops everything serving holds of ids, the lists served to them
// included: after an erasure request.
func (s *Service) Erase(ids ...engine.IdentityID) {
	s.Forget(ids...)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if e := s.entries[id]; e != nil {
			e.served = nil
			s.recount(e)
		}
	}
}

// evict drops arbitrary entries other than keep's while the cache holds
// more than its byte budget. s.mu is held.
func (s *Service) evict(keep engine.IdentityID) {
	budget := s.cacheBudget()
	for k, e := range s.entries {
		if s.cacheBytes <= budget {
			return
		}
		if k != keep {
			s.drop(k, e)
		}
	}
}

// Observe brings the serving state of the identities behind just-stored
// events up to date before it returns: a cached identity is rebuilt from
// the store (its recent items refreshed, its factors folded in again);
// for any other, the next request reads the store anyway.
func (s *Service) Observe(ctx context.Context, events []engine.Event) error {
	l := s.Serving.Load()
	if l == nil {
		return nil
	}
	seen := map[engine.Alias]bool{}
	for _, ev := range events {
		if seen[ev.Alias] {
			continue
		}
		seen[ev.Alias] = true
		id, err := s.Store.ResolveAlias(ctx, ev.Alias)
		if err != nil {
			return err
		}
		s.mu.Lock()
		e := s.entries[id]
		if e == nil {
			s.makeRoom()
			e = &entry{}
			s.entries[id] = e
		}
		e.epoch++
		e.lists = nil
		s.recount(e)
		s.evict(id)
		epoch, cached := e.epoch, e.st != nil
		s.mu.Unlock()
		if cached {
			if _, err := s.load(ctx, l, id, epoch); err != nil {
				return err
			}
		}
	}
	return nil
}
