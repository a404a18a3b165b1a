package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"rapport/engine"
	"rapport/engine/eval"
	"rapport/engine/model"
)

// EventScanner reads every stored event.
type EventScanner interface {
	ScanEvents(ctx context.Context, fn func(id engine.IdentityID, ev *engine.Event) error) error
}

// VersionStore keeps model versions and which one serves.
type VersionStore interface {
	NextVersionID(ctx context.Context) (string, error)
	SaveVersion(ctx context.Context, v engine.ModelVersion, artefact []byte) error
	ServingVersion(ctx context.Context) (engine.ModelVersion, bool, error)
	SetServing(ctx context.Context, id string) (engine.ModelVersion, error)
}

// Trainer is the train job: it reads every event, measures the ranker on a
// held-out slice (the last Holdout of the data, trained on what came
// before), trains on everything and stores the version. The guardrail then
// decides: a version whose held-out engine.GuardMetric is worse than the
// serving version's by more than Margin is kept as a candidate, with the
// reason; otherwise it serves and goes to Publish.
type Trainer struct {
	Events   EventScanner
	Versions VersionStore
	Config   model.RankerConfig
	Holdout  time.Duration                                 // default 28 days
	Publish  func(v engine.ModelVersion, t *model.Trained) // may be nil
	Progress func(stage string, done, total int)           // may be nil
	// Use says whether a person's events may train models (the consent
	// gate's personalization decision); nil: everyone's may.
	Use func(ctx context.Context, id engine.IdentityID) (bool, error)
	// Margin is how much worse than the serving version's the new
	// version's held-out metric may be and still be promoted.
	Margin float64
}

// Train does one training and returns the stored version.
func (t *Trainer) Train(ctx context.Context, counts map[string]int) (engine.ModelVersion, error) {
	start := time.Now()
	progress := func(stage string, done, total int) {
		if t.Progress != nil {
			t.Progress(stage, done, total)
		}
	}
	progress("reading events", 0, 1)
	b := model.NewBuilder()
	events, excluded := 0, 0
	use := map[engine.IdentityID]bool{}
	err := t.Events.ScanEvents(ctx, func(id engine.IdentityID, ev *engine.Event) error {
		if t.Use != nil {
			ok, seen := use[id]
			if !seen {
				var err error
				if ok, err = t.Use(ctx, id); err != nil {
					return err
				}
				use[id] = ok
				if !ok {
					excluded++
				}
			}
			if !ok {
				return nil
			}
		}
		events++
		b.AddAs(id.Key(), ev)
		return nil
	})
	if err != nil {
		return engine.ModelVersion{}, fmt.Errorf("read events: %w", err)
	}
	d := b.Build()
	counts["events"], counts["identities"], counts["items"] = events, d.NumUsers(), d.NumItems()
	counts["identities_without_consent"] = excluded
	if d.NumUsers() == 0 || d.NumItems() == 0 {
		return engine.ModelVersion{}, engine.Errorf(engine.CodeInvalid, "there are no item events to train on")
	}
	// Models are fitted as of the newest event: for live data that is now,
	// and historical data keeps its own clock.
	end := d.End()
	holdout := t.Holdout
	if holdout <= 0 {
		holdout = 28 * 24 * time.Hour
	}
	metrics, protocol, err := t.measure(ctx, d, end.Add(-holdout), progress)
	if err != nil {
		return engine.ModelVersion{}, err
	}
	trained, err := model.Train(ctx, d, t.Config, end.Unix(), func(done, total int) { progress("training", done, total) })
	if err != nil {
		return engine.ModelVersion{}, err
	}
	artefact, err := trained.MarshalBinary()
	if err != nil {
		return engine.ModelVersion{}, fmt.Errorf("encode model: %w", err)
	}
	id, err := t.Versions.NextVersionID(ctx)
	if err != nil {
		return engine.ModelVersion{}, err
	}
	v := engine.ModelVersion{
		ID: id, CreatedAt: time.Now().UTC(), Status: engine.VersionPromoted, Hyperparameters: hyperparameters(t.Config),
		DataWatermark: end, Events: events, Identities: d.NumUsers(), Items: d.NumItems(),
		TrainSeconds: time.Since(start).Seconds(), Holdout: protocol, Metrics: metrics,
	}
	serving, ok, err := t.Versions.ServingVersion(ctx)
	if err != nil {
		return engine.ModelVersion{}, err
	}
	if old, now := serving.Metrics[engine.GuardMetric], metrics[engine.GuardMetric]; ok && now < old-t.Margin {
		v.Status = engine.VersionCandidate
		v.Reason = fmt.Sprintf("held-out %s %.4f is worse than serving %s's %.4f by more than the margin %.4f", engine.GuardMetric, now, serving.ID, old, t.Margin)
	}
	if err := t.Versions.SaveVersion(ctx, v, artefact); err != nil {
		return engine.ModelVersion{}, fmt.Errorf("save version: %w", err)
	}
	v.ArtefactBytes = len(artefact)
	counts["artefact_bytes"] = len(artefact)
	if v.Status != engine.VersionPromoted {
		counts["promoted"] = 0
		return v, nil
	}
	counts["promoted"] = 1
	if _, err := t.Versions.SetServing(ctx, v.ID); err != nil {
		return v, err
	}
	if t.Publish != nil {
		t.Publish(v, trained)
	}
	return v, nil
}

// maxMeasured caps the people the held-out measurement ranks for: enough
// for stable figures, few enough that a million-person shop trains in
// minutes rather than most of an hour.
const maxMeasured = 20_000

// measure trains on the data before cutoff and scores the ranker
// (discover) and buy-again (reorder) on the purchases after it, for at
// most maxMeasured people each.
func (t *Trainer) measure(ctx context.Context, d *model.Dataset, cutoff time.Time, progress func(string, int, int)) (map[string]float64, string, error) {
	split := eval.TimeSplit(d, cutoff, time.Time{})
	metrics := map[string]float64{}
	progress("measuring on the held-out slice", 0, 2)
	for i, c := range []struct {
		task eval.Task
		m    model.Model
	}{{eval.TaskDiscover, model.NewRanker(t.Config)}, {eval.TaskReorder, model.NewBuyAgain(t.Config)}} {
		r, err := eval.EvaluateCases(ctx, c.m, split, eval.CasesFor(split, c.task).Sample(maxMeasured), c.task, 10)
		if err != nil {
			return nil, "", err
		}
		progress("measuring on the held-out slice", i+1, 2)
		if r.Users == 0 {
			continue
		}
		p := string(c.task) + "_"
		metrics[p+"ndcg@10"], metrics[p+"recall@10"], metrics[p+"hit@10"], metrics[p+"people"] = r.NDCG, r.Recall, r.HitRate, float64(r.Users)
	}
	return metrics, split.Protocol, nil
}

// hyperparameters turns the config into the version's parameter map,
// durations written the way flags take them ("168h0m0s").
func hyperparameters(cfg model.RankerConfig) map[string]any {
	b, _ := json.Marshal(cfg)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"HistoryHalfLife", "TrendingHalfLife", "SeasonWidth"} {
		if n, ok := m[k].(float64); ok {
			m[k] = time.Duration(n).String()
		}
	}
	return m
}
