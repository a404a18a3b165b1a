package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"rapport/engine"
	"rapport/store"
)

// countEvents returns how many events the person alias names holds.
func countEvents(t *testing.T, db *store.DB, a string) int {
	t.Helper()
	ctx := context.Background()
	id, err := db.ResolveAlias(ctx, alias(t, a))
	if err != nil {
		t.Fatal(err)
	}
	evs, _, err := db.Events(ctx, id, "", 10_000)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// appendWant appends events and fails unless the reply counts accepted
// and duplicates.
func appendWant(t *testing.T, db *store.DB, accepted, duplicates int, events ...engine.Event) {
	t.Helper()
	res, err := db.AppendEvents(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != accepted || res.Duplicates != duplicates {
		t.Fatalf("%+v, want %d accepted and %d duplicates", res, accepted, duplicates)
	}
}

// TestAdversarialEventIDsAreUniquePerAlias proves the store side of issue
// 13's finding "event ids are one global namespace": an id sent first
// under someone else's alias no longer makes the real event a duplicate,
// through the API's path and the bulk Loader's, while a retry under the
// same alias still is one, also after that alias is linked and unlinked.
func TestAdversarialEventIDsAreUniquePerAlias(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	attack := event(t, "anon:attacker", "view", "a", "order-1", t0)
	real := event(t, "customer:victim", "purchase", "a", "order-1", t0.Add(time.Hour))

	appendWant(t, db, 1, 0, attack)
	appendWant(t, db, 1, 0, real)
	appendWant(t, db, 0, 1, real)
	appendWant(t, db, 0, 2, attack, real)
	if n := countEvents(t, db, "customer:victim"); n != 1 {
		t.Fatalf("victim holds %d events, want the purchase", n)
	}

	// The id stays with the alias it came under: linked into the victim
	// and unlinked again, the device's retry is still a duplicate.
	device := event(t, "anon:victim-device", "view", "b", "view-9", t0)
	appendWant(t, db, 1, 0, device)
	if _, err := db.Link(ctx, alias(t, "customer:victim"), alias(t, "anon:victim-device"), true); err != nil {
		t.Fatal(err)
	}
	appendWant(t, db, 0, 1, device)
	if _, _, err := db.Unlink(ctx, alias(t, "customer:victim"), alias(t, "anon:victim-device")); err != nil {
		t.Fatal(err)
	}
	appendWant(t, db, 0, 1, device)

	// The Loader keys ids the same way: by alias, against what is stored
	// and what it loaded before.
	l := db.NewLoader()
	for i, c := range []struct {
		ev   engine.Event
		want bool
	}{
		{real, false},   // stored by AppendEvents
		{attack, false}, // likewise
		{event(t, "customer:other", "purchase", "a", "order-1", t0), true},
		{event(t, "customer:other", "purchase", "a", "order-1", t0), false}, // loaded just before
		{event(t, "customer:new", "purchase", "a", "order-2", t0), true},
		{event(t, "customer:victim", "purchase", "a", "order-2", t0), true},
	} {
		ok, err := l.AddEvent(&c.ev, uint64(1000+i))
		if err != nil || ok != c.want {
			t.Fatalf("load %d (%s %s): %v %v, want %v", i, c.ev.Alias, c.ev.ClientID, ok, err, c.want)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	appendWant(t, db, 0, 2, event(t, "customer:other", "view", "a", "order-1", t0), event(t, "customer:new", "view", "a", "order-2", t0))
	if n := countEvents(t, db, "customer:victim"); n != 2 {
		t.Fatalf("victim holds %d events, want 2", n)
	}
}

// TestOpenMigratesLayout2EventIDs: a store whose event ids were unique
// store-wide (key layout 2) opens with each id moved under the alias it
// came with, also when an earlier migration stopped part way; retries
// stay duplicates and the ids are free for other aliases.
func TestOpenMigratesLayout2EventIDs(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []engine.Event
	for i := 0; i < 2500; i++ { // more than one migration transaction's worth
		batch = append(batch, event(t, fmt.Sprintf("customer:%d", i%3), "view", "a", fmt.Sprintf("e-%d", i), t0.Add(time.Duration(i)*time.Minute)))
	}
	batch = append(batch, event(t, "customer:0", "view", "a", "", t0))
	appendWant(t, db, len(batch), 0, batch...)
	if err := store.ToLayout2(db, 700); err != nil { // 700 rewritten before a crash
		t.Fatal(err)
	}
	if global, scoped, err := store.DedupKeys(db); err != nil || global != 1800 || scoped != 700 {
		t.Fatalf("layout 2 written: %d global and %d scoped keys, %v", global, scoped, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for reopen := 0; reopen < 2; reopen++ { // the second open finds nothing to do
		db = openDB(t, dir)
		if v, err := store.Schema(db); err != nil || v != "4" {
			t.Fatalf("open %d: layout %q, %v", reopen, v, err)
		}
		if global, scoped, err := store.DedupKeys(db); err != nil || global != 0 || scoped != 2500+reopen {
			t.Fatalf("open %d: %d global and %d scoped keys, %v", reopen, global, scoped, err)
		}
		if reopen == 0 {
			appendWant(t, db, 0, len(batch)-1, batch[:len(batch)-1]...)
			appendWant(t, db, 1, 0, event(t, "customer:1", "view", "a", "e-0", t0)) // e-0 was customer:0's
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer db.Close()
	if n := countEvents(t, db, "customer:1"); n != 834 {
		t.Fatalf("customer:1 holds %d events, want 833 and the one sent after the migration", n)
	}
}
