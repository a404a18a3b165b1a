package api_test

import (
	"bytes"
	"net/http"
	"testing"

	"rapport/engine"
)

// TestAdversarialEventIDsCannotBePreempted proves issue 13's finding "event
// ids are one global namespace": whoever may post events could post a
// guessed id (order-<n>) first under an alias of their own, and the real
// purchase with that id was answered duplicates: 1 and never stored. An
// id is now unique per alias: the purchase is stored, and only a retry
// under the victim's alias is a duplicate.
func TestAdversarialEventIDsCannotBePreempted(t *testing.T) {
	e := newEnv(t)
	reply := func(r response) string { return string(bytes.TrimSpace(r.body)) }
	attack := `{"id":"order-1","alias":"anon:attacker","type":"view","item":"SKU-1","region":"UK"}`
	if r := e.post("/v1/events", engine.RoleStorefront, attack, http.StatusOK); reply(r) != `{"accepted":1,"duplicates":0,"dropped_social_signals":0}` {
		t.Fatalf("attacker's event: %s", r.body)
	}
	real := `[{"id":"order-1","alias":"customer:victim","type":"purchase","item":"SKU-9","quantity":1,"price":20,"currency":"GBP","region":"UK"}]`
	if r := e.post("/v1/events", engine.RoleIngest, real, http.StatusOK); reply(r) != `{"accepted":1,"duplicates":0,"dropped_social_signals":0}` {
		t.Fatalf("victim's purchase after the attacker's id: %s", r.body)
	}
	var page struct {
		Events []struct{ ID, Type, Item string }
	}
	e.admin("GET", "/v1/identities/customer:victim/events", "").json(t, &page)
	if len(page.Events) != 1 || page.Events[0].ID != "order-1" || page.Events[0].Type != "purchase" || page.Events[0].Item != "SKU-9" {
		t.Fatalf("victim's events: %+v", page.Events)
	}
	if r := e.post("/v1/events", engine.RoleIngest, real, http.StatusOK); reply(r) != `{"accepted":0,"duplicates":1,"dropped_social_signals":0}` {
		t.Fatalf("victim's retry: %s", r.body)
	}
	if n := e.storedEvents("customer:victim"); n != 1 {
		t.Fatalf("victim holds %d events after the retry, want 1", n)
	}
}
