package store_test

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"rapport/engine"
	"rapport/store"
	"rapport/store/storetest"
)

// filesContaining returns, for each of strs, the files under dir whose
// bytes contain it. It reads every file once (Badger's value log is a
// large sparse file).
func filesContaining(t *testing.T, dir string, strs ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		for _, s := range strs {
			if bytes.Contains(b, []byte(s)) {
				out[s] = append(out[s], filepath.Base(p))
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// containing is filesContaining for the backend under test: on Redis it
// reads every key of the test's namespace (names, values, index members).
func containing(t *testing.T, dir string, strs ...string) map[string][]string {
	t.Helper()
	if !storetest.Redis() {
		return filesContaining(t, dir, strs...)
	}
	opts := storetest.Options(t, dir)
	u, _ := url.Parse(opts.URL)
	ns := u.Query().Get("namespace")
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: strings.Split(u.Host, ",")})
	defer rdb.Close()
	ctx := context.Background()
	var keys []string
	var mu sync.Mutex
	keysOf := func(ctx context.Context, n redis.Cmdable) error {
		k, err := n.Keys(ctx, "rapport:{"+ns+"}:*").Result()
		mu.Lock()
		keys = append(keys, k...)
		mu.Unlock()
		return err
	}
	var err error
	if c, ok := rdb.(*redis.ClusterClient); ok { // KEYS is per node
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return keysOf(ctx, n) })
	} else {
		err = keysOf(ctx, rdb)
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, k := range keys {
		blob := []byte(k)
		switch rdb.Type(ctx, k).Val() {
		case "string":
			v, _ := rdb.Get(ctx, k).Bytes()
			blob = append(blob, v...)
		case "zset":
			for _, m := range rdb.ZRange(ctx, k, 0, -1).Val() {
				blob = append(blob, m...)
			}
		case "set":
			for _, m := range rdb.SMembers(ctx, k).Val() {
				blob = append(blob, m...)
			}
		}
		for _, s := range strs {
			if bytes.Contains(blob, []byte(s)) {
				out[s] = append(out[s], k)
			}
		}
	}
	return out
}

func TestErasureLeavesNoTraceInAnyFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	now := time.Now().Add(-time.Hour).UTC()
	gone := []string{"customer:ZZ-ERASE-ME-1", "anon:ZZ-COOKIE-1", "loyalty:ZZ-LOYAL-1"}
	kept := "customer:ZZ-KEEP-ME-2"
	var batch []engine.Event
	for i, a := range append(gone[:2:2], kept, gone[0], kept) {
		ev := event(t, a, "purchase", "SKU-1", "", now.Add(time.Duration(i)*time.Second))
		ev.ClientID = a + "-order-" + string(rune('a'+i)) // client ids that carry the alias text too
		batch = append(batch, ev)
	}
	batch = append(batch, engine.Event{Alias: alias(t, gone[0]), Type: engine.EventSocialFollow, Target: "brand:Acme", Source: "social:facebook", Quantity: 1, Time: now})
	if _, err := db.AppendEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// Links (a merge and a join), consents, and a vector.
	if _, err := db.Link(ctx, alias(t, gone[0]), alias(t, gone[1]), false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Link(ctx, alias(t, gone[0]), alias(t, gone[2]), true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutConsent(ctx, alias(t, gone[1]), engine.Consent{Purpose: engine.PurposeSocial, Granted: true, Source: "web", Time: now}); err != nil {
		t.Fatal(err)
	}
	id, _ := db.ResolveAlias(ctx, alias(t, gone[0]))
	if err := db.PutVectors(ctx, []engine.FeatureVector{{Identity: id, ComputedAt: now, Sources: []string{"events"}}}); err != nil {
		t.Fatal(err)
	}
	// An unlink and a re-link leave old versions of records behind.
	if _, _, err := db.Unlink(ctx, alias(t, gone[0]), alias(t, gone[2])); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Link(ctx, alias(t, gone[0]), alias(t, gone[2]), false); err != nil {
		t.Fatal(err)
	}
	found := containing(t, dir, append(gone, kept)...)
	for _, a := range append(gone, kept) {
		if len(found[a]) == 0 {
			t.Fatalf("control: %s is in no file before erasure", a)
		}
	}

	receipt, err := db.RequestErasure(ctx, alias(t, gone[1]))
	if err != nil {
		t.Fatal(err)
	}
	if !engine.ValidErasureID(receipt.ID) || receipt.Status != engine.ErasurePending {
		t.Fatalf("receipt %+v", receipt)
	}
	held := receipt.Held
	if held["events"] != 3 || held["social_signals"] != 1 || held["aliases"] != 3 || held["consent_records"] != 1 || held["vectors"] != 1 || held["link_records"] != 4 {
		t.Fatalf("held %v", held)
	}
	for _, a := range gone {
		if _, err := db.ResolveAlias(ctx, alias(t, a)); engine.ErrorCode(err) != engine.CodeNotFound {
			t.Fatalf("%s still resolves after the request: %v", a, err)
		}
	}
	// Training no longer sees the person.
	if err := db.ScanEvents(ctx, func(owner engine.IdentityID, ev *engine.Event) error {
		if owner == id {
			t.Errorf("scan still yields an event of the erased person: %+v", ev)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	done, err := db.Erase(ctx)
	if err != nil || len(done) != 1 {
		t.Fatalf("erase: %v %v", done, err)
	}
	r, err := db.Erasure(ctx, receipt.ID)
	if err != nil || r.Status != engine.ErasureDone || r.CompletedAt.IsZero() {
		t.Fatalf("receipt after the job: %+v %v", r, err)
	}
	for k, v := range held {
		if r.Removed[k] != v {
			t.Errorf("removed %s = %d, held %d", k, r.Removed[k], v)
		}
	}
	if r.Removed["dedup_keys"] != 3 || r.Removed["identities"] != 1 {
		t.Errorf("removed %v", r.Removed)
	}
	if again, err := db.Erase(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second run: %v %v", again, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	found = containing(t, dir, append(gone, kept)...)
	for _, a := range gone {
		if files := found[a]; len(files) > 0 {
			t.Errorf("%s is still in %v", a, files)
		}
	}
	if len(found[kept]) == 0 {
		t.Errorf("the person who was not erased is gone too")
	}
	db = openDB(t, dir)
	defer db.Close()
	if _, evs, err := db.IdentityEvents(ctx, mustResolve(t, db, kept)); err != nil || len(evs) != 2 {
		t.Fatalf("the other person's events: %d %v", len(evs), err)
	}
}

func mustResolve(t *testing.T, db *store.DB, a string) engine.IdentityID {
	t.Helper()
	id, err := db.ResolveAlias(context.Background(), alias(t, a))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPurgeExpiredByType(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	now := time.Now().UTC()
	old := now.AddDate(0, 0, -100)
	old1 := event(t, "customer:1", "view", "a", "v-old", old)
	if _, err := db.AppendEvents(ctx, []engine.Event{
		old1, event(t, "customer:1", "purchase", "a", "", old), event(t, "customer:1", "view", "b", "", now.AddDate(0, 0, -1)),
		event(t, "anon:2", "view", "c", "", old),
	}); err != nil {
		t.Fatal(err)
	}
	removed, err := db.PurgeExpired(ctx, map[engine.EventType]time.Duration{engine.EventView: 30 * 24 * time.Hour}, now)
	if err != nil || removed["view"] != 2 || len(removed) != 1 {
		t.Fatalf("removed %v, %v", removed, err)
	}
	_, evs, err := db.IdentityEvents(ctx, mustResolve(t, db, "customer:1"))
	if err != nil || len(evs) != 2 || evs[0].Type != engine.EventPurchase || evs[1].Item != "b" {
		t.Fatalf("left %+v %v", evs, err)
	}
	// The idempotency key went with the event: the same event may come again.
	if res, err := db.AppendEvents(ctx, []engine.Event{old1}); err != nil || res.Accepted != 1 {
		t.Fatalf("re-sent after retention: %+v %v", res, err)
	}
}
