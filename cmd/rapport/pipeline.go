package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"sync/atomic"
	"time"

	"rapport/engine"
	"rapport/engine/model"
	"rapport/features"
	"rapport/jobs"
	"rapport/store"
)

// pipeline wires the merge and train jobs over one store and the serving
// model they share.
type pipeline struct {
	db      *store.DB
	serving *model.Serving
	merger  *features.Merger
	trainer *jobs.Trainer
	// retention is the time to live of each event type; types not in it
	// are kept for good.
	retention map[engine.EventType]time.Duration
	enforcer  *features.Enforcer
	trained   atomic.Pointer[engine.ModelVersion] // the version the last train run stored
	// forget drops serving state (set once serving exists).
	forget func(ids ...engine.IdentityID)
	logger *slog.Logger
}

func newPipeline(db *store.DB, cfg model.RankerConfig, gate *features.Gate, logger *slog.Logger) *pipeline {
	if gate == nil {
		gate = features.NewGate(engine.DefaultConsentPolicy())
	}
	p := &pipeline{db: db, serving: &model.Serving{}, logger: logger}
	p.merger = &features.Merger{Store: db, Gate: gate, Model: func() features.Factors {
		if l := p.serving.Load(); l != nil {
			return loadedFactors{l}
		}
		return nil
	}}
	p.enforcer = &features.Enforcer{Gate: gate, Store: db, Merger: p.merger}
	p.trainer = &jobs.Trainer{Events: db, Versions: db, Config: cfg, Use: func(ctx context.Context, id engine.IdentityID) (bool, error) {
		who, history, err := db.Consents(ctx, id)
		if err != nil {
			return false, err
		}
		return gate.Decide(&who, history, engine.PurposePersonalization, time.Now()).Granted, nil
	}, Publish: func(v engine.ModelVersion, t *model.Trained) {
		t.Compact() // stored already; from here it only serves
		p.serving.Swap(&model.Loaded{Version: v, Trained: t})
		logger.Info("model version serving", "version", v.ID)
	}}
	return p
}

// loadedFactors adapts a loaded version to what the merge asks of a model.
type loadedFactors struct{ l *model.Loaded }

func (f loadedFactors) Version() string               { return f.l.VersionID() }
func (f loadedFactors) Factors(user string) []float64 { return f.l.Factors(user) }

// loadServing loads the serving version, if there is one.
func (p *pipeline) loadServing(ctx context.Context) error {
	l, err := servingModel(ctx, p.db)
	if err != nil || l == nil {
		return err
	}
	p.serving.Swap(l)
	return nil
}

// servingModel loads the version that serves (nil if none).
func servingModel(ctx context.Context, db *store.DB) (*model.Loaded, error) {
	v, ok, err := db.ServingVersion(ctx)
	if err != nil || !ok {
		return nil, err
	}
	return loadVersion(ctx, db, v)
}

// loadVersion loads a version's artefact, trimmed for serving.
// loadVersionID loads a model version by id.
func loadVersionID(ctx context.Context, db *store.DB, id string) (*model.Loaded, error) {
	vs, err := db.Versions(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if v.ID == id {
			return loadVersion(ctx, db, v)
		}
	}
	return nil, engine.Errorf(engine.CodeNotFound, "no model version %q", id)
}

func loadVersion(ctx context.Context, db *store.DB, v engine.ModelVersion) (*model.Loaded, error) {
	art, err := db.Artefact(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	t, err := model.UnmarshalTrained(art)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", v.ID, err)
	}
	t.Compact() // loaded to serve, never to be re-encoded
	art = nil
	debug.FreeOSMemory() // the artefact bytes and the float64 factors are garbage now
	return &model.Loaded{Version: v, Trained: t}, nil
}

// registry is the model registry the API sees: the store's versions, and
// promotion through the pipeline so the version serves at once.
type registry struct {
	*store.DB
	p *pipeline
}

func (r registry) Promote(ctx context.Context, id string) (engine.ModelVersion, error) {
	return r.p.promote(ctx, id)
}

// promote makes version id serve: recorded in the store, and swapped in
// for serving at once.
func (p *pipeline) promote(ctx context.Context, id string) (engine.ModelVersion, error) {
	v, err := p.db.SetServing(ctx, id)
	if err != nil {
		return v, err
	}
	l, err := loadVersion(ctx, p.db, v)
	if err != nil {
		return v, err
	}
	p.serving.Swap(l)
	p.logger.Info("model version serving", "version", v.ID, "by", "promotion")
	return v, nil
}

// merge is the merge job: vectors of identities with new events.
func (p *pipeline) merge(ctx context.Context, counts map[string]int) error {
	r, err := p.merger.Merge(ctx, false)
	counts["identities"], counts["changes"], counts["events"] = r.Identities, r.Changes, r.Events
	return err
}

// train is the train job: a new version, then every stored vector given
// the serving model's factors.
func (p *pipeline) train(ctx context.Context, counts map[string]int) error {
	v, err := p.trainer.Train(ctx, counts)
	if err != nil {
		return err
	}
	p.trained.Store(&v)
	n, err := p.merger.RefreshFactors(ctx)
	counts["vectors"] = n
	return err
}

// erase is the erasure job: every requested erasure carried out.
func (p *pipeline) erase(ctx context.Context, counts map[string]int) error {
	done, err := p.db.Erase(ctx)
	counts["erasures"] = len(done)
	for _, e := range done {
		for layer, n := range e.Removed {
			counts[layer] += n
		}
	}
	return err
}

// retain is the retention job: events past their type's time to live
// deleted, and the social signals of people whose consent has lapsed
// (expired) purged.
func (p *pipeline) retain(ctx context.Context, counts map[string]int) error {
	now := time.Now()
	removed, err := p.db.PurgeExpired(ctx, p.retention, now)
	maps.Copy(counts, removed)
	if err != nil {
		return err
	}
	ids, err := p.db.IdentitiesWithConsents(ctx)
	if err != nil {
		return err
	}
	purged, touched, err := p.enforcer.Sweep(ctx, ids, now)
	counts["social_signals_purged"], counts["identities_purged"] = purged, len(touched)
	if p.forget != nil {
		p.forget(touched...)
	}
	return err
}

// Schedules are the cron specs of serve's jobs ("off" for never).
type Schedules struct {
	Merge, Train, Erasure, Retention string
}

// schedule adds the jobs to s.
func (p *pipeline) schedule(s *jobs.Scheduler, spec Schedules) error {
	for _, j := range []struct {
		name, spec, flag string
		run              func(context.Context, map[string]int) error
	}{
		{"merge", spec.Merge, "--merge-schedule", p.merge},
		{"train", spec.Train, "--train-schedule", p.train},
		{"erasure", spec.Erasure, "--erasure-schedule", p.erase},
		{"retention", spec.Retention, "--retention-schedule", p.retain},
	} {
		if j.spec == "" {
			j.spec = jobs.Off
		}
		if err := s.Add(jobs.Job{Name: j.name, Schedule: j.spec, Run: j.run}); err != nil {
			return fmt.Errorf("%s: %w", j.flag, err)
		}
	}
	return nil
}

// modelFlags are the training settings serve and train share. A flag
// given (on the command line or in the environment) overrides the stored
// tuned configuration; one not given leaves it be.
type modelFlags struct {
	fs                  *flagSet
	factors, iterations *int
	seed                *int64
	lambda, alpha       *float64
	margin              *float64
}

func addModelFlags(fs *flagSet) *modelFlags {
	d := model.DefaultRankerConfig()
	return &modelFlags{
		fs:         fs,
		factors:    fs.Int("factors", d.Factors, "ALS latent factors (default: the tuned configuration, else this)"),
		iterations: fs.Int("iterations", d.Iterations, "ALS iterations (default: the tuned configuration, else this)"),
		seed:       fs.Int64("seed", int64(d.Seed), "random seed: the same data, seed and settings give the same model"),
		lambda:     fs.Float64("lambda", d.Lambda, "ALS regularisation (default: the tuned configuration, else this)"),
		alpha:      fs.Float64("alpha", d.Alpha, "ALS confidence scale (default: the tuned configuration, else this)"),
		margin:     fs.Float64("promote-margin", 0.01, "a new version serves only if its held-out discover NDCG@10 is at most this much below the serving version's; else it stays a candidate"),
	}
}

// overrides checks the flags and returns what the ones given change.
func (f *modelFlags) overrides() (func(*model.RankerConfig), error) {
	switch {
	case *f.factors < 1 || *f.factors > 512:
		return nil, usagef("--factors must be 1 to 512")
	case *f.iterations < 1 || *f.iterations > 200:
		return nil, usagef("--iterations must be 1 to 200")
	case !(*f.lambda > 0) || !(*f.alpha > 0):
		return nil, usagef("--lambda and --alpha must be positive")
	case !(*f.margin >= 0 && *f.margin <= 1):
		return nil, usagef("--promote-margin must be between 0 and 1")
	}
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	for _, name := range []string{"factors", "iterations", "seed", "lambda", "alpha"} {
		if _, ok := f.fs.env(name); ok {
			given[name] = true
		}
	}
	return func(c *model.RankerConfig) {
		if given["factors"] {
			c.Factors = *f.factors
		}
		if given["iterations"] {
			c.Iterations = *f.iterations
		}
		if given["seed"] {
			c.Seed = uint64(*f.seed)
		}
		if given["lambda"] {
			c.Lambda = *f.lambda
		}
		if given["alpha"] {
			c.Alpha = *f.alpha
		}
	}, nil
}

// tunedSetting names the stored configuration `rapport tune --save` chose.
const tunedSetting = "ranker-config"

// trainingConfig is the configuration training uses: the tuned one if
// `rapport tune --save` stored one, else the defaults, with the given
// overrides (the flags given) on top.
func trainingConfig(ctx context.Context, db *store.DB, overrides func(*model.RankerConfig)) (model.RankerConfig, error) {
	cfg := model.DefaultRankerConfig()
	raw, err := db.Setting(ctx, tunedSetting)
	if err != nil {
		return cfg, err
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return cfg, fmt.Errorf("the stored tuned configuration does not parse (%v); run rapport tune --save again or --reset", err)
		}
	}
	if overrides != nil {
		overrides(&cfg)
	}
	return cfg, nil
}

// addScheduleFlags adds serve's job schedule flags.
func addScheduleFlags(fs *flagSet) func() Schedules {
	merge := fs.String("merge-schedule", "@every 5m", "cron spec of the feature merge, or off")
	train := fs.String("train-schedule", "0 3 * * *", "cron spec of training (default nightly at 03:00), or off")
	erasure := fs.String("erasure-schedule", "@every 10m", "cron spec of the erasure job, or off")
	retention := fs.String("retention-schedule", "30 2 * * *", "cron spec of the retention job (deletes events past --retention), or off")
	return func() Schedules { return Schedules{*merge, *train, *erasure, *retention} }
}
