package jobs_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"rapport/engine"
	"rapport/jobs"
	"rapport/store"
	"rapport/store/storetest"
)

// TestLeasedSchedulers runs two schedulers on one Redis store: one leads
// the schedule, a manual run on the other is refused while the job runs,
// no two runs of the job overlap, and when the leader stops the other
// takes the schedule over.
func TestLeasedSchedulers(t *testing.T) {
	if !storetest.Redis() {
		t.Skip("leases are shared through Redis (RAPPORT_TEST_STORE)")
	}
	dir := t.TempDir()
	type span struct {
		owner      string
		start, end time.Time
	}
	var mu sync.Mutex
	var spans []span
	const ttl = 600 * time.Millisecond
	newReplica := func(owner string) (*jobs.Scheduler, *store.DB) {
		db := storetest.Open(t, dir)
		s := jobs.New(db, nil)
		s.Leases, s.Owner, s.LeaseTTL = db.Leases(), owner, ttl
		s.Fence = func(ctx context.Context, lease, owner string, token uint64) context.Context {
			return store.WithFence(ctx, store.Fence{Name: lease, Owner: owner, Token: token})
		}
		err := s.Add(jobs.Job{Name: "tick", Schedule: "@every 1s", Run: func(ctx context.Context, counts map[string]int) error {
			sp := span{owner: owner, start: time.Now()}
			select {
			case <-time.After(300 * time.Millisecond):
			case <-ctx.Done():
			}
			// A fenced write, as a job's store writes are.
			if err := db.PutSetting(ctx, "tick", []byte(owner)); err != nil {
				return err
			}
			sp.end = time.Now()
			mu.Lock()
			spans = append(spans, sp)
			mu.Unlock()
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		return s, db
	}
	a, dbA := newReplica("a")
	b, dbB := newReplica("b")
	defer dbA.Close()
	defer dbB.Close()
	a.Start()
	time.Sleep(200 * time.Millisecond) // a leads first
	b.Start()
	if _, lead := a.Leadership(); !lead {
		t.Fatal("a should lead")
	}
	if _, lead := b.Leadership(); lead {
		t.Fatal("two leaders")
	}
	// While a scheduled run is going on a, b's manual run is refused.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		runs, _ := dbA.Runs(context.Background(), "tick", 1)
		if len(runs) == 1 && runs[0].Status == engine.RunRunning {
			if _, err := b.Trigger("tick"); engine.ErrorCode(err) != engine.CodeConflict {
				t.Fatalf("b ran tick while a ran it: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a never ran the schedule")
		}
	}
	time.Sleep(1500 * time.Millisecond)
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	time.Sleep(2500 * time.Millisecond)
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(spans, func(x, y span) int { return x.start.Compare(y.start) })
	owners := map[string]int{}
	for i, sp := range spans {
		owners[sp.owner]++
		if i > 0 && sp.start.Before(spans[i-1].end) {
			t.Errorf("run on %s started %v before the run on %s ended", sp.owner, sp.start, spans[i-1].owner)
		}
		if sp.owner == "a" && sp.start.After(stopped) {
			t.Errorf("a ran after it stopped")
		}
	}
	if owners["a"] == 0 || owners["b"] == 0 {
		t.Fatalf("runs by owner %v: b should take the schedule over when a stops", owners)
	}
}
