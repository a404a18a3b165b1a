package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rapport/engine"
	"rapport/store"
	"rapport/store/storetest"
)

func openDB(t *testing.T, dir string) *store.DB {
	t.Helper()
	db := storetest.Open(t, dir)
	return db
}

func event(t *testing.T, alias, typ, item, clientID string, at time.Time) engine.Event {
	t.Helper()
	a, err := engine.ParseAlias(alias)
	if err != nil {
		t.Fatal(err)
	}
	ev := engine.Event{ClientID: clientID, Alias: a, Type: engine.EventType(typ), Item: item, Quantity: 1, Time: at, Region: "UK"}
	if errs := ev.Validate(time.Now()); len(errs) > 0 {
		t.Fatal(errs)
	}
	return ev
}

func TestAppendEventsDeduplicatesAndOrders(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := []engine.Event{
		event(t, "customer:1", "view", "a", "c1", t0.Add(2*time.Hour)),
		event(t, "customer:1", "purchase", "b", "c2", t0),
		event(t, "customer:1", "view", "c", "c1", t0), // same id later in the batch
		event(t, "customer:2", "view", "a", "", t0),
	}
	res, err := db.AppendEvents(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 3 || res.Duplicates != 1 {
		t.Fatalf("first batch: %+v, want 3 accepted and 1 duplicate", res)
	}
	res, err = db.AppendEvents(ctx, batch[:2])
	if err != nil || res.Accepted != 0 || res.Duplicates != 2 {
		t.Fatalf("resend: %+v, %v; want 2 duplicates", res, err)
	}
	// Data survives a close and reopen.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, dir)
	defer db.Close()
	c1, _ := engine.ParseAlias("customer:1")
	id, err := db.ResolveAlias(ctx, c1)
	if err != nil {
		t.Fatal(err)
	}
	events, next, err := db.Events(ctx, id, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || next != "" || events[0].Item != "a" || events[1].Item != "b" {
		t.Fatalf("events newest first: %+v (next %q)", events, next)
	}
	p, err := db.Identity(ctx, c1)
	if err != nil || p.Stage != engine.StageRegistered || p.Region != "UK" || len(p.Aliases) != 1 {
		t.Fatalf("identity: %+v, %v", p, err)
	}
}

func TestEventsPaging(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []engine.Event
	for i := 0; i < 25; i++ {
		batch = append(batch, event(t, "anon:v1", "view", "item", "", t0.Add(time.Duration(i)*time.Minute)))
	}
	if _, err := db.AppendEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	a, _ := engine.ParseAlias("anon:v1")
	id, _ := db.ResolveAlias(ctx, a)
	var all []engine.Event
	cursor := ""
	for pages := 0; ; pages++ {
		evs, next, err := db.Events(ctx, id, cursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
		if next == "" {
			break
		}
		cursor = next
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(all) != 25 {
		t.Fatalf("paged %d events, want 25", len(all))
	}
	for i := 1; i < len(all); i++ {
		if !all[i].Time.Before(all[i-1].Time) {
			t.Fatalf("event %d at %v is not older than %v", i, all[i].Time, all[i-1].Time)
		}
	}
	if _, _, err := db.Events(ctx, id, "zz", 10); engine.ErrorCode(err) != engine.CodeInvalid {
		t.Fatalf("bad cursor: %v", err)
	}
}

func TestItemsAndKeys(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	it := engine.Item{ID: "SKU-1", Title: "Mug", Price: 3, Currency: "EUR", Available: true, Attributes: map[string]string{"color": "red"}}
	if err := db.PutItems(ctx, []engine.Item{it}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Item(ctx, "SKU-1")
	if err != nil || got.Title != "Mug" || got.Attributes["color"] != "red" || got.UpdatedAt.IsZero() {
		t.Fatalf("item: %+v, %v", got, err)
	}
	if _, err := db.Item(ctx, "nope"); engine.ErrorCode(err) != engine.CodeNotFound {
		t.Fatalf("missing item: %v", err)
	}
	k, secret, err := engine.NewAPIKey(engine.RoleAdmin, "ops", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	found, err := db.KeyByHash(ctx, engine.HashSecret(secret))
	if err != nil || found.ID != k.ID || !found.Active() {
		t.Fatalf("lookup: %+v, %v", found, err)
	}
	if _, err := db.RevokeKey(ctx, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	found, _ = db.KeyByHash(ctx, engine.HashSecret(secret))
	if found.Active() {
		t.Fatal("revoked key still active")
	}
	if _, err := db.RevokeKey(ctx, "key_missing", time.Now()); engine.ErrorCode(err) != engine.CodeNotFound {
		t.Fatalf("revoking a missing key: %v", err)
	}
}

func TestLoaderIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	load := func() {
		l := db.NewLoader()
		for i := 0; i < 100; i++ {
			ev := event(t, "customer:7", "purchase", "a", "", t0.Add(time.Duration(i)*time.Hour))
			if _, err := l.AddEvent(&ev, uint64(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	load()
	load()
	a, _ := engine.ParseAlias("customer:7")
	id, err := db.ResolveAlias(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	evs, _, err := db.Events(ctx, id, "", 1000)
	if err != nil || len(evs) != 100 {
		t.Fatalf("after loading twice: %d events, %v; want 100", len(evs), err)
	}
	if empty, _ := db.Empty(ctx); empty {
		t.Fatal("Empty after a load")
	}
}

// TestLoaderReportsWriteErrors: the Loader writes on a goroutine of its
// own; a failure there comes back from a later call or from Close, and
// neither hangs nor panics.
func TestLoaderReportsWriteErrors(t *testing.T) {
	db := openDB(t, t.TempDir())
	l := db.NewLoader()
	db.Close() // every write the loader tries now fails
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var addErr error
	for i := 0; i < 10_000 && addErr == nil; i++ {
		ev := event(t, fmt.Sprintf("customer:%d", i), "purchase", "a", "", t0)
		_, addErr = l.AddEvent(&ev, uint64(i))
	}
	closeErr := l.Close()
	if closeErr == nil {
		t.Fatalf("Close after failed writes: no error (AddEvent: %v)", addErr)
	}
	if addErr != nil && addErr.Error() != closeErr.Error() {
		t.Fatalf("AddEvent said %v, Close %v", addErr, closeErr)
	}
}

func TestOpenLocked(t *testing.T) {
	if storetest.Redis() {
		t.Skip("a directory lock is Badger's; Redis takes many processes by design")
	}
	dir := t.TempDir()
	db := openDB(t, dir)
	defer db.Close()
	if _, err := store.Open(store.DefaultOptions(dir)); err != store.ErrLocked {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

func TestVersionsRunsVectorsAndChanges(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	art := make([]byte, 9<<20) // three chunks
	for i := range art {
		art[i] = byte(i * 7)
	}
	for i := 0; i < 2; i++ {
		id, err := db.NextVersionID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v := engine.ModelVersion{ID: id, CreatedAt: time.Now(), Status: engine.VersionPromoted, Hyperparameters: map[string]any{"factors": 64.0}, Metrics: map[string]float64{"ndcg": 0.1}}
		if err := db.SaveVersion(ctx, v, art); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := db.Versions(ctx)
	if err != nil || len(vs) != 2 || vs[0].ID != "v000002" || vs[1].ID != "v000001" || vs[0].Metrics["ndcg"] != 0.1 || vs[0].ArtefactBytes != len(art) {
		t.Fatalf("versions %+v, %v", vs, err)
	}
	back, err := db.Artefact(ctx, "v000001")
	if err != nil || len(back) != len(art) || back[len(art)-1] != art[len(art)-1] || back[5<<20] != art[5<<20] {
		t.Fatalf("artefact of %d bytes, %v", len(back), err)
	}
	t0 := time.Now().UTC()
	for i := 0; i < 3; i++ {
		r := engine.JobRun{ID: fmt.Sprint("merge-", i), Job: "merge", StartedAt: t0.Add(time.Duration(i) * time.Second), Status: engine.RunSucceeded, Counts: map[string]int{"identities": i}}
		if err := db.PutRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := db.Runs(ctx, "merge", 2)
	if err != nil || len(runs) != 2 || runs[0].ID != "merge-2" || runs[0].Counts["identities"] != 2 {
		t.Fatalf("runs %+v, %v", runs, err)
	}
	batch := []engine.Event{event(t, "customer:1", "view", "a", "", t0), event(t, "customer:2", "view", "a", "", t0)}
	if _, err := db.AppendEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	changes, err := db.Changes(ctx, 100)
	if err != nil || len(changes) != 2 {
		t.Fatalf("changes %v, %v", changes, err)
	}
	if _, err := db.AppendEvents(ctx, batch[:1]); err != nil { // arrives before the ack
		t.Fatal(err)
	}
	if err := db.AckChanges(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if left, _ := db.Changes(ctx, 100); len(left) != 1 {
		t.Fatalf("after the ack, %d changes left, want the 1 that came later", len(left))
	}
	v := engine.FeatureVector{Identity: changes[0].Identity, Sources: []string{"events"}, Items: []engine.Affinity{{Key: "a", Score: 1.5}}, Factors: []float64{0.5, -1}, PriceBand: "mid"}
	if err := db.PutVectors(ctx, []engine.FeatureVector{v}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Vector(ctx, v.Identity)
	if err != nil || got.Items[0].Score != 1.5 || got.Factors[1] != -1 || got.PriceBand != "mid" || got.Sources[0] != "events" {
		t.Fatalf("vector %+v, %v", got, err)
	}
}

// TestOpenReplaysLargerMemtableLog: a store left open (kill -9) by a
// process with large memtables, or by an older rapport, reopens with
// smaller ones: its memtable log, larger than the new memtable, is
// replayed whole instead of panicking Badger ("Arena too small").
func TestOpenReplaysLargerMemtableLog(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 24 MB")
	}
	dir, crashed := t.TempDir(), t.TempDir()
	big := store.DefaultOptions(dir).ForLargestWrite(4 << 20) // 64 MiB memtable
	db, err := store.Open(big)
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{}
	for i := 0; i < 4; i++ {
		attrs[fmt.Sprint("k", i)] = strings.Repeat("v", engine.MaxAttributeValue-8)
	}
	at := time.Now().Add(-time.Hour)
	for b := 0; b < 3; b++ {
		evs := make([]engine.Event, 2000)
		for i := range evs {
			evs[i] = event(t, "customer:replay", "view", fmt.Sprint("SKU-", i), fmt.Sprintf("e%d-%d", b, i), at)
			evs[i].Attributes = attrs
		}
		if _, err := db.AppendEvents(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	// What a kill -9 leaves: the files as they are, memtable log unflushed.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			os.WriteFile(filepath.Join(crashed, e.Name()), b, 0o600)
		}
	}
	db.Close()
	small := store.DefaultOptions(crashed).ForLargestWrite(1 << 20) // 16 MiB memtable
	db, err = store.Open(small)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, _ := engine.ParseAlias("customer:replay")
	id, err := db.ResolveAlias(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for cursor := ""; ; {
		evs, next, err := db.Events(context.Background(), id, cursor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		n += len(evs)
		if cursor = next; next == "" {
			break
		}
	}
	if n != 6000 {
		t.Fatalf("%d events after reopening, want 6000", n)
	}
}
