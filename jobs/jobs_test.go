package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rapport/engine"
	"rapport/engine/demo"
	"rapport/engine/model"
	"rapport/jobs"
	"rapport/store"
	"rapport/store/storetest"
)

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db := storetest.Open(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	return db
}

// waitRun polls the run history until the newest run of job has ended.
func waitRun(t *testing.T, db *store.DB, job string) engine.JobRun {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		runs, err := db.Runs(context.Background(), job, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 1 && runs[0].Status != engine.RunRunning {
			return runs[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("job %s did not finish", job)
	return engine.JobRun{}
}

func TestSchedulerRunsOneAtATimeAndRecords(t *testing.T) {
	db := openDB(t)
	s := jobs.New(db, nil)
	release := make(chan struct{})
	var runs atomic.Int32
	if err := s.Add(jobs.Job{Name: "slow", Schedule: jobs.Off, Run: func(ctx context.Context, counts map[string]int) error {
		runs.Add(1)
		counts["things"] = 3
		<-release
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	s.Add(jobs.Job{Name: "broken", Schedule: "@every 1h", Run: func(context.Context, map[string]int) error { return errors.New("disk on fire") }})
	s.Add(jobs.Job{Name: "panics", Schedule: jobs.Off, Run: func(context.Context, map[string]int) error { panic("oops") }})
	if err := s.Add(jobs.Job{Name: "bad", Schedule: "every tuesday", Run: nil}); err == nil {
		t.Fatal("a bad schedule was accepted")
	}
	if _, err := s.Trigger("slow"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Trigger("slow"); engine.ErrorCode(err) != engine.CodeConflict {
		t.Fatalf("second trigger while running: %v", err)
	}
	if _, err := s.Trigger("nope"); engine.ErrorCode(err) != engine.CodeNotFound {
		t.Fatalf("unknown job: %v", err)
	}
	close(release)
	if r := waitRun(t, db, "slow"); r.Status != engine.RunSucceeded || r.Counts["things"] != 3 || r.EndedAt.Before(r.StartedAt) {
		t.Fatalf("run %+v", r)
	}
	s.Trigger("broken")
	if r := waitRun(t, db, "broken"); r.Status != engine.RunFailed || r.Error != "disk on fire" {
		t.Fatalf("run %+v", r)
	}
	s.Trigger("panics")
	if r := waitRun(t, db, "panics"); r.Status != engine.RunFailed {
		t.Fatalf("run %+v", r)
	}
	list, err := s.List(context.Background(), 5)
	if err != nil || len(list) != 3 || list[0].Name != "broken" || list[0].Next.IsZero() || len(list[2].Recent) != 1 {
		t.Fatalf("list %+v, %v", list, err)
	}
	if runs.Load() != 1 {
		t.Fatalf("slow ran %d times", runs.Load())
	}
}

func TestStopCancelsARunningJob(t *testing.T) {
	db := openDB(t)
	s := jobs.New(db, nil)
	started := make(chan struct{})
	s.Add(jobs.Job{Name: "long", Schedule: jobs.Off, Run: func(ctx context.Context, _ map[string]int) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}})
	s.Start()
	s.Trigger("long")
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if r := waitRun(t, db, "long"); r.Status != engine.RunCanceled {
		t.Fatalf("run %+v", r)
	}
}

// demoShop fills db with a demo shop of the given seed and size.
func demoShop(t *testing.T, db *store.DB, seed int64, customers, visitors, items int) {
	t.Helper()
	l := db.NewLoader()
	cfg := demo.DefaultConfig(seed, time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC))
	cfg.Customers, cfg.Visitors, cfg.Items = customers, visitors, items
	if _, err := demo.Generate(context.Background(), cfg, l); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTrainerStoresAndPublishesAVersion(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	demoShop(t, db, 3, 300, 200, 300)
	rc := model.DefaultRankerConfig()
	rc.Factors, rc.Iterations = 16, 4
	var published *model.Trained
	// customer:C00001 has not consented to personalization: their events
	// train nothing.
	refuser, err := db.ResolveAlias(ctx, engine.Alias{Kind: engine.KindCustomer, Value: "C00001"})
	if err != nil {
		t.Fatal(err)
	}
	use := func(_ context.Context, id engine.IdentityID) (bool, error) { return id != refuser, nil }
	tr := &jobs.Trainer{Events: db, Versions: db, Config: rc, Use: use, Publish: func(v engine.ModelVersion, tm *model.Trained) { published = tm }}
	counts := map[string]int{}
	v, err := tr.Train(ctx, counts)
	if err != nil {
		t.Fatal(err)
	}
	if published == nil || v.ID != "v000001" || v.Metrics["discover_ndcg@10"] <= 0 || counts["events"] == 0 || v.Hyperparameters["SeasonWidth"] != "168h0m0s" {
		t.Fatalf("version %+v counts %v", v, counts)
	}
	if counts["identities_without_consent"] != 1 || published.UserIndex(refuser.Key()) >= 0 {
		t.Fatalf("the person without consent was trained on: %v", counts)
	}
	vs, _ := db.Versions(ctx)
	art, err := db.Artefact(ctx, vs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	back, err := model.UnmarshalTrained(art)
	if err != nil || len(back.Items) != len(published.Items) {
		t.Fatalf("stored artefact: %v", err)
	}
}

func TestGuardrailKeepsAWorseModelFromServing(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	demoShop(t, db, 4, 600, 200, 300)
	good := model.DefaultRankerConfig()
	good.Factors, good.Iterations = 16, 6
	var published []string
	train := func(rc model.RankerConfig) engine.ModelVersion {
		t.Helper()
		tr := &jobs.Trainer{Events: db, Versions: db, Config: rc, Margin: 0.01, Publish: func(v engine.ModelVersion, _ *model.Trained) { published = append(published, v.ID) }}
		v, err := tr.Train(ctx, map[string]int{})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v1 := train(good)
	// Deliberately worse: two factors, one iteration.
	bad := good
	bad.Factors, bad.Iterations = 2, 1
	v2 := train(bad)
	t.Logf("%s %.4f, %s %.4f: %s", v1.ID, v1.Metrics[engine.GuardMetric], v2.ID, v2.Metrics[engine.GuardMetric], v2.Reason)
	if v1.Status != engine.VersionPromoted || v2.Status != engine.VersionCandidate || !strings.Contains(v2.Reason, "worse than serving "+v1.ID) {
		t.Fatalf("v1 %s, v2 %s %q", v1.Status, v2.Status, v2.Reason)
	}
	if serving, _, _ := db.ServingVersion(ctx); serving.ID != v1.ID || len(published) != 1 {
		t.Fatalf("serving %s, published %v", serving.ID, published)
	}
	// Promoted by hand, it serves; the stored record says so.
	if v, err := db.SetServing(ctx, v2.ID); err != nil || v.Status != engine.VersionPromoted {
		t.Fatalf("promote: %+v %v", v, err)
	}
	if h, _ := db.ServingHistory(ctx); len(h) != 2 || h[0] != v1.ID || h[1] != v2.ID {
		t.Fatalf("history %v", h)
	}
	if _, err := db.SetServing(ctx, "v999999"); engine.ErrorCode(err) != engine.CodeNotFound {
		t.Fatalf("unknown version: %v", err)
	}
}
