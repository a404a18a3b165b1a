package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"rapport/engine"
	"rapport/store"
)

func alias(t *testing.T, s string) engine.Alias {
	t.Helper()
	a, err := engine.ParseAlias(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func items(evs []engine.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Item)
	}
	return out
}

func history(t *testing.T, db *store.DB, a string) (engine.Identity, []string) {
	t.Helper()
	id, err := db.ResolveAlias(context.Background(), alias(t, a))
	if err != nil {
		t.Fatal(err)
	}
	p, evs, err := db.IdentityEvents(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p, items(evs)
}

func TestLinkMergeAndUnlinkRestoresBothHistories(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	t0 := time.Now().Add(-time.Hour).UTC()
	if _, err := db.AppendEvents(ctx, []engine.Event{
		event(t, "anon:cookie1", "view", "a", "", t0),
		event(t, "customer:7", "purchase", "b", "", t0.Add(time.Minute)),
		event(t, "anon:cookie1", "view", "c", "", t0.Add(2*time.Minute)),
	}); err != nil {
		t.Fatal(err)
	}
	anonID, _ := db.ResolveAlias(ctx, alias(t, "anon:cookie1"))

	res, err := db.Link(ctx, alias(t, "customer:7"), alias(t, "anon:cookie1"), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Merged != anonID || res.Joined || res.Identity.Stage != engine.StageRegistered || len(res.Identity.Aliases) != 2 {
		t.Fatalf("merge result %+v", res)
	}
	p, got := history(t, db, "anon:cookie1")
	if p.ID != res.Identity.ID || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("merged history of %d: %v", p.ID, got)
	}
	// New events under either alias land in the one identity.
	if _, err := db.AppendEvents(ctx, []engine.Event{event(t, "anon:cookie1", "view", "d", "", t0.Add(3*time.Minute))}); err != nil {
		t.Fatal(err)
	}
	if _, got := history(t, db, "customer:7"); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("after a new event: %v", got)
	}
	page, next, err := db.Events(ctx, p.ID, "", 3)
	if err != nil || !slices.Equal(items(page), []string{"d", "c", "b"}) || next == "" {
		t.Fatalf("page 1: %v %q %v", items(page), next, err)
	}
	if page, next, err = db.Events(ctx, p.ID, next, 3); err != nil || !slices.Equal(items(page), []string{"a"}) || next != "" {
		t.Fatalf("page 2: %v %q %v", items(page), next, err)
	}
	// Training sees one person.
	owners := map[engine.IdentityID]int{}
	if err := db.ScanEvents(ctx, func(id engine.IdentityID, ev *engine.Event) error { owners[id]++; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(owners) != 1 || owners[p.ID] != 4 {
		t.Fatalf("scan owners %v", owners)
	}

	kept, split, err := db.Unlink(ctx, alias(t, "customer:7"), alias(t, "anon:cookie1"))
	if err != nil {
		t.Fatal(err)
	}
	if kept.ID == split.ID || split.Stage != engine.StageAnonymous || kept.Stage != engine.StageRegistered {
		t.Fatalf("split %+v %+v", kept, split)
	}
	if _, got := history(t, db, "customer:7"); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("customer after unlink: %v", got)
	}
	if _, got := history(t, db, "anon:cookie1"); !slices.Equal(got, []string{"a", "c", "d"}) {
		t.Fatalf("anon after unlink: %v", got)
	}
	links, err := db.Links(ctx, split.ID)
	if err != nil || len(links) != 2 || links[0].Op != engine.OpMerge || links[1].Op != engine.OpUnlink {
		t.Fatalf("links %+v %v", links, err)
	}
}

func TestLinkRefusals(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	now := time.Now().Add(-time.Minute)
	if _, err := db.AppendEvents(ctx, []engine.Event{
		event(t, "customer:1", "view", "a", "", now),
		event(t, "customer:2", "view", "b", "", now),
		event(t, "anon:x", "view", "c", "", now),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Link(ctx, alias(t, "customer:1"), alias(t, "anon:y"), true); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		at, other string
		code      engine.Code
	}{
		"itself":          {"customer:1", "customer:1", engine.CodeInvalid},
		"already linked":  {"customer:1", "anon:y", engine.CodeConflict},
		"cycle":           {"anon:y", "customer:1", engine.CodeConflict},
		"second customer": {"customer:1", "customer:2", engine.CodeConflict},
		"new customer":    {"customer:1", "customer:3", engine.CodeConflict},
		"unknown at":      {"customer:9", "anon:z", engine.CodeNotFound},
	} {
		_, err := db.Link(ctx, alias(t, c.at), alias(t, c.other), false)
		if engine.ErrorCode(err) != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
	p, err := db.Identity(ctx, alias(t, "customer:1"))
	if err != nil || len(p.Aliases) != 2 || p.Stage != engine.StageAuthenticated {
		t.Fatalf("after refusals: %+v %v", p, err)
	}
	if _, _, err := db.Unlink(ctx, alias(t, "customer:1"), alias(t, "anon:x")); engine.ErrorCode(err) != engine.CodeNotFound {
		t.Fatalf("unlink of a stranger: %v", err)
	}
	for i := 0; i < engine.MaxAliasesPerKind-1; i++ {
		if _, err := db.Link(ctx, alias(t, "customer:1"), alias(t, "anon:n"+string(rune('a'+i))), false); err != nil {
			t.Fatal(i, err)
		}
	}
	if _, err := db.Link(ctx, alias(t, "customer:1"), alias(t, "anon:over"), false); engine.ErrorCode(err) != engine.CodeConflict {
		t.Fatalf("past the per-kind limit: %v", err)
	}
	// Splitting off the alias that founded the identity: the rest keep the
	// identity's number and the founder takes a new one, with its history.
	kept, split, err := db.Unlink(ctx, alias(t, "anon:y"), alias(t, "customer:1"))
	if err != nil || kept.ID != p.ID || split.ID == p.ID || kept.Stage != engine.StageAuthenticated || split.Stage != engine.StageRegistered {
		t.Fatalf("founder split: %+v %+v %v", kept, split, err)
	}
	if _, got := history(t, db, "customer:1"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("founder's history: %v", got)
	}
}
