package recommend

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"rapport/engine"
	"rapport/engine/model"
)

// ExperimentStore keeps experiments and their counts.
type ExperimentStore interface {
	PutExperiment(ctx context.Context, e engine.Experiment) (bool, error)
	Experiment(ctx context.Context, name string) (engine.Experiment, map[string]engine.VariantCounts, error)
	Experiments(ctx context.Context) ([]engine.Experiment, error)
	// FoundingAlias is the unit people are assigned by.
	FoundingAlias(ctx context.Context, a engine.Alias) (string, error)
	AddImpressions(ctx context.Context, served map[engine.VariantKey]int64) error
	AddFeedback(ctx context.Context, fs []engine.Feedback) (int, error)
}

// Experiments serves recommendations through A/B experiments. It is the
// Service (every request outside an experiment, and every other call, goes
// to it) plus one service per variant arm: a model version of its own, or
// the serving model with other blend settings; the control arm is the
// Service itself. Each arm keeps its own cache, since its lists differ.
//
// A recommendation served in an experiment carries the experiment and
// variant, and its id ends in the variant's tag (engine.Experiment.Tag), so
// feedback events naming the id are attributed without any lookup table.
type Experiments struct {
	*Service
	Store ExperimentStore
	// Load loads a model version by id, for variants that name one.
	Load func(ctx context.Context, version string) (*model.Loaded, error)
	// Refresh is how often the experiment list is re-read, so changes made
	// through another replica arrive; default 5 s.
	Refresh time.Duration
	Logger  *slog.Logger

	mu       sync.Mutex
	list     []engine.Experiment
	readAt   time.Time
	arms     map[string]*arm
	served   map[engine.VariantKey]int64 // impressions not yet stored
	flushMu  sync.Mutex
	loadMu   sync.Mutex
	failures map[string]time.Time // arms that failed to load, and when
}

// arm is one variant's service and the serving version it was built over.
type arm struct {
	svc  *Service
	base string // for blend arms: the serving version the blend was made from
}

// tagSeparator ends the random part of a recommendation id and starts the
// variant tag.
const tagSeparator = "_x"

// PutExperiment stores an experiment; this replica applies it at once,
// others within Refresh.
func (x *Experiments) PutExperiment(ctx context.Context, e engine.Experiment) (bool, error) {
	for i, v := range e.Variants {
		if v.Model == "" || x.Load == nil {
			continue
		}
		if _, err := x.armFor(ctx, v); err != nil {
			return false, &engine.Error{Code: engine.CodeInvalid, Message: fmt.Sprintf("variants[%d].model: %s cannot serve: %s", i, v.Model, engine.ErrorMessage(err)),
				Details: []engine.FieldError{{Index: -1, Field: fmt.Sprintf("variants[%d].model", i), Reason: "cannot serve: " + engine.ErrorMessage(err)}}}
		}
	}
	created, err := x.Store.PutExperiment(ctx, e)
	x.mu.Lock()
	x.readAt = time.Time{}
	x.mu.Unlock()
	return created, err
}

// Experiment returns an experiment with its counts, this replica's
// impressions stored first.
func (x *Experiments) Experiment(ctx context.Context, name string) (engine.Experiment, map[string]engine.VariantCounts, error) {
	if err := x.Flush(ctx); err != nil {
		return engine.Experiment{}, nil, err
	}
	return x.Store.Experiment(ctx, name)
}

// Experiments lists the stored experiments.
func (x *Experiments) Experiments(ctx context.Context) ([]engine.Experiment, error) {
	return x.Store.Experiments(ctx)
}

func (x *Experiments) experiments(ctx context.Context) []engine.Experiment {
	refresh := x.Refresh
	if refresh <= 0 {
		refresh = 5 * time.Second
	}
	x.mu.Lock()
	if time.Since(x.readAt) < refresh {
		defer x.mu.Unlock()
		return x.list
	}
	x.mu.Unlock()
	list, err := x.Store.Experiments(ctx)
	x.mu.Lock()
	defer x.mu.Unlock()
	if err != nil {
		x.logf("reading experiments", err)
		return x.list // the last good list
	}
	x.list, x.readAt = list, time.Now()
	return list
}

func (x *Experiments) logf(what string, err error, args ...any) {
	if x.Logger != nil {
		x.Logger.Warn(what, append(args, "err", err)...)
	}
}

// active returns the running experiment a request for placement is in.
func (x *Experiments) active(ctx context.Context, placement string, now time.Time) *engine.Experiment {
	for _, e := range x.experiments(ctx) {
		if e.Active(now) && e.Applies(placement) {
			return &e
		}
	}
	return nil
}

// Recommend ranks items for an alias, through the experiment its request
// is in, if any; a person who has not permitted analytics is served the
// control and not counted.
func (x *Experiments) Recommend(ctx context.Context, a engine.Alias, req Request) (Result, error) {
	var e *engine.Experiment
	if !req.Preview {
		e = x.active(ctx, req.Placement, time.Now())
	}
	if e == nil {
		return x.Service.Recommend(ctx, a, req)
	}
	if ok, err := x.analytics(ctx, a); err != nil {
		return Result{}, err
	} else if !ok {
		return x.Service.Recommend(ctx, a, req) // the control, uncounted
	}
	unit, err := x.Store.FoundingAlias(ctx, a)
	if err != nil {
		return Result{}, err
	}
	vi := e.Assign(unit)
	v := e.Variants[vi]
	svc, err := x.armFor(ctx, v)
	if err != nil {
		// A variant that cannot serve (its model version is gone) must not
		// take the storefront down: the control serves, uncounted.
		x.logf("experiment variant cannot serve", err, "experiment", e.Name, "variant", v.Name)
		return x.Service.Recommend(ctx, a, req)
	}
	req.tag = tagSeparator + e.Tag(vi)
	res, err := svc.Recommend(ctx, a, req)
	if err != nil {
		return res, err
	}
	res.Experiment, res.Variant = e.Name, v.Name
	x.mu.Lock()
	if x.served == nil {
		x.served = map[engine.VariantKey]int64{}
	}
	x.served[engine.VariantKey{Experiment: e.Name, Variant: v.Name}]++
	x.mu.Unlock()
	return res, nil
}

// analytics reports whether alias a's person permits analytics, the
// purpose experiments serve: without it they get the control and nothing
// of theirs is counted. Without a Gate, everyone counts.
func (x *Experiments) analytics(ctx context.Context, a engine.Alias) (bool, error) {
	if x.Gate == nil {
		return true, nil
	}
	var p engine.Identity
	var history []engine.Consent
	id, err := x.Service.Store.ResolveAlias(ctx, a)
	switch {
	case engine.ErrorCode(err) == engine.CodeNotFound: // a visitor not seen yet: the policy decides
	case err != nil:
		return false, err
	default:
		if p, history, err = x.Service.Store.Consents(ctx, id); err != nil && engine.ErrorCode(err) != engine.CodeNotFound {
			return false, err
		}
	}
	return x.Gate.Decide(&p, history, engine.PurposeAnalytics, time.Now()).Granted, nil
}

// armFor returns the service that serves variant v.
func (x *Experiments) armFor(ctx context.Context, v engine.Variant) (*Service, error) {
	serving := x.Service.Serving.Load()
	if v.Model == "" && v.Blend == nil || v.Model != "" && v.Model == serving.VersionID() {
		return x.Service, nil
	}
	key := "model:" + v.Model
	if v.Blend != nil {
		key = "blend:" + blendKey(*v.Blend)
	}
	x.mu.Lock()
	a := x.arms[key]
	x.mu.Unlock()
	if a != nil && (v.Blend == nil || a.base == serving.VersionID()) {
		return a.svc, nil
	}
	x.loadMu.Lock()
	defer x.loadMu.Unlock()
	x.mu.Lock()
	a = x.arms[key] // another request may have built it meanwhile
	x.mu.Unlock()
	if a != nil && (v.Blend == nil || a.base == serving.VersionID()) {
		return a.svc, nil
	}
	var l *model.Loaded
	if v.Blend != nil {
		if serving == nil {
			return nil, ErrNoModel
		}
		l = &model.Loaded{Version: serving.Version, Trained: serving.Trained.WithBlend(*v.Blend)}
	} else {
		if x.Load == nil {
			return nil, engine.Errorf(engine.CodeUnavailable, "this server cannot load model version %s for an experiment", v.Model)
		}
		if at, failed := x.failures[key]; failed && time.Since(at) < time.Minute {
			return nil, engine.Errorf(engine.CodeUnavailable, "model version %s could not be loaded", v.Model)
		}
		var err error
		if l, err = x.Load(ctx, v.Model); err != nil {
			if x.failures == nil {
				x.failures = map[string]time.Time{}
			}
			x.failures[key] = time.Now()
			return nil, err
		}
	}
	s := x.Service
	svc := &Service{Store: s.Store, Serving: &model.Serving{}, Gate: s.Gate, Rules: s.Rules, MaxHistory: s.MaxHistory, CacheSize: s.CacheSize, CacheBytes: s.CacheBytes}
	svc.Serving.Swap(l)
	x.mu.Lock()
	if x.arms == nil {
		x.arms = map[string]*arm{}
	}
	x.arms[key] = &arm{svc: svc, base: serving.VersionID()}
	x.mu.Unlock()
	return svc, nil
}

func blendKey(b engine.BlendOverrides) string {
	var sb strings.Builder
	for _, w := range []*float64{b.WeightALS, b.WeightSeasonal, b.WeightTrending} {
		if w != nil {
			sb.WriteString(strconv.FormatFloat(*w, 'g', -1, 64))
		}
		sb.WriteByte('/')
	}
	if b.MinItems != nil {
		sb.WriteString(strconv.Itoa(*b.MinItems))
	}
	return sb.String()
}

// armOf finds the arm that served a recommendation id, by its tag.
func (x *Experiments) armOf(ctx context.Context, recommendationID string) *Service {
	e, vi, ok := x.variantOf(ctx, recommendationID)
	if !ok {
		return x.Service
	}
	svc, err := x.armFor(ctx, e.Variants[vi])
	if err != nil {
		return x.Service
	}
	return svc
}

// variantOf reads the experiment and variant from a recommendation id.
func (x *Experiments) variantOf(ctx context.Context, recommendationID string) (engine.Experiment, int, bool) {
	i := strings.LastIndex(recommendationID, tagSeparator)
	if i < 0 {
		return engine.Experiment{}, 0, false
	}
	tag := recommendationID[i+len(tagSeparator):]
	for _, e := range x.experiments(ctx) {
		for vi := range e.Variants {
			if e.Tag(vi) == tag {
				return e, vi, true
			}
		}
	}
	return engine.Experiment{}, 0, false
}

// Explain explains a list, asking the arm that served it.
func (x *Experiments) Explain(ctx context.Context, a engine.Alias, recommendationID string) (Explanation, error) {
	return x.armOf(ctx, recommendationID).Explain(ctx, a, recommendationID)
}

// Feedback attributes events that name a recommendation served in an
// experiment (click, add to cart, purchase with a recommendation_id
// attribute) to its variant, for people who permit analytics. Each list
// counts once per kind.
func (x *Experiments) Feedback(ctx context.Context, events []engine.Event) error {
	var fs []engine.Feedback
	for _, ev := range events {
		kind, rid := engine.FeedbackKind(ev.Type), ev.Attributes[engine.AttrRecommendationID]
		if kind == "" || rid == "" {
			continue
		}
		e, vi, ok := x.variantOf(ctx, rid)
		if !ok {
			continue
		}
		if ok, err := x.analytics(ctx, ev.Alias); err != nil {
			return err
		} else if !ok {
			continue
		}
		fs = append(fs, engine.Feedback{VariantKey: engine.VariantKey{Experiment: e.Name, Variant: e.Variants[vi].Name}, Kind: kind, RecommendationID: rid})
	}
	_, err := x.Store.AddFeedback(ctx, fs)
	return err
}

// Flush stores the impressions counted since the last flush.
func (x *Experiments) Flush(ctx context.Context) error {
	x.flushMu.Lock()
	defer x.flushMu.Unlock()
	x.mu.Lock()
	served := x.served
	x.served = nil
	x.mu.Unlock()
	if err := x.Store.AddImpressions(ctx, served); err != nil {
		x.mu.Lock() // put them back for the next flush
		if x.served == nil {
			x.served = map[engine.VariantKey]int64{}
		}
		for k, n := range served {
			x.served[k] += n
		}
		x.mu.Unlock()
		return err
	}
	return nil
}

// Run flushes impressions every interval until ctx ends, then once more.
func (x *Experiments) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := x.Flush(context.Background()); err != nil {
				x.logf("storing experiment impressions", err)
			}
			return
		case <-t.C:
			if err := x.Flush(ctx); err != nil {
				x.logf("storing experiment impressions", err)
			}
		}
	}
}

func (x *Experiments) services() []*Service {
	out := []*Service{x.Service}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, a := range x.arms {
		out = append(out, a.svc)
	}
	return out
}

// Observe, ObserveItems, Forget and Erase reach every arm.
func (x *Experiments) Observe(ctx context.Context, events []engine.Event) error {
	for _, s := range x.services() {
		if err := s.Observe(ctx, events); err != nil {
			return err
		}
	}
	return nil
}

func (x *Experiments) ObserveItems(ctx context.Context, items []engine.Item) error {
	for _, s := range x.services() {
		if err := s.ObserveItems(ctx, items); err != nil {
			return err
		}
	}
	return nil
}

func (x *Experiments) Forget(ids ...engine.IdentityID) {
	for _, s := range x.services() {
		s.Forget(ids...)
	}
}

func (x *Experiments) Erase(ids ...engine.IdentityID) {
	for _, s := range x.services() {
		s.Erase(ids...)
	}
}

// Recent lists the person's recent lists from every arm, newest first.
func (x *Experiments) Recent(id engine.IdentityID) []Served {
	var out []Served
	for _, s := range x.services() {
		out = append(out, s.Recent(id)...)
	}
	slices.SortStableFunc(out, func(a, b Served) int { return b.ServedAt.Compare(a.ServedAt) })
	return out
}
