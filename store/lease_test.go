package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"rapport/engine"
	"rapport/store"
	"rapport/store/storetest"
)

func TestLeasesAndFencing(t *testing.T) {
	if !storetest.Redis() {
		t.Skip("leases are shared through Redis; a Badger store has one process and none")
	}
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	l := db.Leases()
	a, ok, err := l.Acquire(ctx, "job:merge", "replica-a", 300*time.Millisecond)
	if err != nil || !ok || a == 0 {
		t.Fatalf("acquire: %d %v %v", a, ok, err)
	}
	if again, ok, _ := l.Acquire(ctx, "job:merge", "replica-a", 300*time.Millisecond); !ok || again != a {
		t.Fatalf("the holder acquires again with the same token: %d %v", again, ok)
	}
	if _, ok, _ := l.Acquire(ctx, "job:merge", "replica-b", time.Second); ok {
		t.Fatal("a held lease was taken")
	}
	fenced := store.WithFence(ctx, store.Fence{Name: "job:merge", Owner: "replica-a", Token: a})
	vec := []engine.FeatureVector{{Identity: 7, ComputedAt: time.Now().UTC(), Sources: []string{"events"}}}
	if err := db.PutVectors(fenced, vec); err != nil {
		t.Fatalf("a write under a held lease: %v", err)
	}
	if err := db.PutSetting(fenced, "x", []byte("1")); err != nil {
		t.Fatalf("a transaction under a held lease: %v", err)
	}
	// A pause longer than the lease: b takes it over, a's writes are refused.
	time.Sleep(400 * time.Millisecond)
	if ok, _ := l.Renew(ctx, "job:merge", "replica-a", a, time.Second); ok {
		t.Fatal("an expired lease was renewed")
	}
	b, ok, err := l.Acquire(ctx, "job:merge", "replica-b", time.Second)
	if err != nil || !ok || b <= a {
		t.Fatalf("takeover: token %d after %d, %v %v", b, a, ok, err)
	}
	if err := db.PutVectors(fenced, vec); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("a batch under a lost lease: %v, want ErrFenced", err)
	}
	if err := db.PutSetting(fenced, "x", []byte("2")); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("a transaction under a lost lease: %v, want ErrFenced", err)
	}
	if v, _ := db.Setting(ctx, "x"); string(v) != "1" {
		t.Fatalf("the fenced write landed: %q", v)
	}
	if ok, _ := l.Renew(ctx, "job:merge", "replica-b", b, time.Second); !ok {
		t.Fatal("the holder could not renew")
	}
	if err := l.Release(ctx, "job:merge", "replica-a", a); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := l.Acquire(ctx, "job:merge", "replica-c", time.Second); ok {
		t.Fatal("a stale release freed b's lease")
	}
	if err := l.Release(ctx, "job:merge", "replica-b", b); err != nil {
		t.Fatal(err)
	}
	if c, ok, _ := l.Acquire(ctx, "job:merge", "replica-c", time.Second); !ok || c <= b {
		t.Fatalf("after release: %d %v", c, ok)
	}
}
