package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"rapport/engine"
)

// scopedKey makes a key of role scoped to org.
func (e *env) scopedKey(role engine.Role, org string) string {
	e.t.Helper()
	k, secret, err := engine.NewAPIKey(role, string(role)+"-"+org, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := k.Restrict(org, 0); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.CreateKey(context.Background(), k); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

func TestOrganisationsAndScopedKeys(t *testing.T) {
	e := newEnv(t)
	data := e.keys[engine.RoleData]
	e.post("/v1/events", engine.RoleIngest, `{"alias":"b2b:alice","type":"purchase","item":"A"}
{"alias":"b2b:bob","type":"purchase","item":"B"}
{"alias":"customer:carol","type":"view","item":"C"}`, 200)
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"PUT", "/v1/orgs/ACME", `{"name":"Acme Ltd"}`, 201},
		{"PUT", "/v1/orgs/ACME", `{"name":"Acme Limited"}`, 200},
		{"PUT", "/v1/orgs/GLOBEX", `{"name":"Globex SECRET-NAME"}`, 201},
		{"PUT", "/v1/orgs/bad%20id", `{"name":"x"}`, 400},
		{"PUT", "/v1/orgs/ACME", `{"name":" "}`, 400},
		{"PUT", "/v1/orgs/ACME/members/b2b:alice", `{"role":"buyer"}`, 200},
		{"PUT", "/v1/orgs/ACME/members/b2b:alice", `{"role":"approver"}`, 200},
		{"PUT", "/v1/orgs/GLOBEX/members/b2b:bob", `{"role":"admin"}`, 200},
		{"PUT", "/v1/orgs/ACME/members/b2b:nobody", `{"role":"buyer"}`, 404},
		{"PUT", "/v1/orgs/NOPE/members/b2b:alice", `{"role":"buyer"}`, 404},
		{"PUT", "/v1/orgs/ACME/members/customer:carol", `{"role":"owner"}`, 400},
		{"DELETE", "/v1/orgs/ACME/members/customer:carol", ``, 404},
	} {
		if r := e.do(c.method, c.path, data, strings.NewReader(c.body)); r.status != c.status {
			t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, r.status, r.body, c.status)
		}
	}
	e.post("/v1/identities/b2b:alice/links", engine.RoleData, `{"alias":"email:alice@acme.example"}`, 200)
	if r := e.do("PUT", "/v1/orgs/ACME/members/email:alice@acme.example", data, strings.NewReader(`{"role":"viewer"}`)); r.status != 409 {
		t.Errorf("a second alias of a member: %d %s", r.status, r.body)
	}
	r := e.do("GET", "/v1/orgs/ACME", e.keys[engine.RolePortal], nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"role":"approver","added_at"`) || !strings.Contains(string(r.body), `"alias":"b2b:alice"`) || !strings.Contains(string(r.body), "Acme Limited") {
		t.Fatalf("org: %d %s", r.status, r.body)
	}

	acme := e.scopedKey(engine.RolePortal, "ACME")
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/orgs/ACME", 200},
		{"GET", "/v1/orgs/GLOBEX", 404},
		{"GET", "/v1/orgs/NOPE", 404},
		{"GET", "/v1/identities/b2b:alice/preferences", 200},
		{"GET", "/v1/identities/email:alice@acme.example/preferences", 200},
		{"GET", "/v1/identities/b2b:bob/preferences", 404},
		{"GET", "/v1/identities/b2b:bob", 404},
		{"GET", "/v1/identities/customer:carol/recommendations", 404},
		{"GET", "/v1/identities/b2b:nobody/recommendations", 404},
		{"GET", "/v1/items/A", 404}, // the catalog is shared; this item is just not in it
		{"POST", "/v1/events", 403},
		{"GET", "/v1/identities/b2b:bob/events", 403},
	} {
		r := e.do(c.method, c.path, acme, strings.NewReader(`{"alias":"b2b:bob","type":"view","item":"X"}`))
		if r.status != c.status {
			t.Errorf("scoped %s %s: %d %s, want %d", c.method, c.path, r.status, r.body, c.status)
		}
		for _, secret := range []string{"GLOBEX SECRET", "SECRET-NAME", "\"alias\":\"b2b:bob\""} {
			if strings.Contains(string(r.body), secret) {
				t.Errorf("scoped %s %s leaked %q: %s", c.method, c.path, secret, r.body)
			}
		}
	}
	// Removing or erasing a member takes them out of scope and the list.
	if r := e.do("DELETE", "/v1/identities/b2b:alice", data, nil); r.status != 202 {
		t.Fatalf("erase: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/orgs/ACME", acme, nil); r.status != 200 || strings.Contains(string(r.body), "alice") {
		t.Fatalf("after erasure: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/identities/b2b:alice/preferences", acme, nil); r.status != 404 {
		t.Fatalf("an erased member: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/orgs/GLOBEX", e.keys[engine.RolePortal], nil); r.status != http.StatusOK {
		t.Fatalf("an unscoped portal key reads any organisation: %d", r.status)
	}
}
