package api_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"rapport/engine"
)

type identityBody struct {
	Identity struct {
		Stage   string   `json:"stage"`
		Aliases []string `json:"aliases"`
	} `json:"identity"`
	Consents []struct {
		Purpose string `json:"purpose"`
		Granted bool   `json:"granted"`
		Default bool   `json:"default"`
	} `json:"consents"`
	Counts map[string]int `json:"counts"`
}

func (e *env) identity(alias string) identityBody {
	e.t.Helper()
	r := e.do("GET", "/v1/identities/"+alias, e.keys[engine.RoleData], nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET identity %s: %d %s", alias, r.status, r.body)
	}
	var b identityBody
	r.json(e.t, &b)
	return b
}

func (e *env) post(path string, role engine.Role, body string, want int) response {
	e.t.Helper()
	r := e.do("POST", path, e.keys[role], strings.NewReader(body))
	if r.status != want {
		e.t.Fatalf("POST %s %s: %d %s, want %d", path, body, r.status, r.body, want)
	}
	return r
}

func TestAnonymousVisitorLinksAndUnlinks(t *testing.T) {
	e := newEnv(t)
	e.post("/v1/events", engine.RoleIngest, `{"alias":"anon:v1","type":"view","item":"A","region":"UK"}
{"alias":"anon:v1","type":"view","item":"B","region":"UK"}
{"alias":"customer:9","type":"purchase","item":"C","region":"UK"}`, 200)
	if b := e.identity("anon:v1"); b.Identity.Stage != "anonymous" || b.Counts["events"] != 2 {
		t.Fatalf("anonymous: %+v", b)
	}
	r := e.post("/v1/identities/customer:9/links", engine.RoleStorefront, `{"alias":"anon:v1"}`, 200)
	if !strings.Contains(string(r.body), `"merged":true`) {
		t.Fatalf("link: %s", r.body)
	}
	b := e.identity("anon:v1")
	if b.Identity.Stage != "registered" || len(b.Identity.Aliases) != 2 || b.Counts["events"] != 3 || b.Counts["link_records"] != 1 {
		t.Fatalf("merged: %+v", b)
	}
	if n := e.storedEvents("customer:9"); n != 3 {
		t.Fatalf("customer:9 lists %d events after the merge, want 3", n)
	}
	// A login with a new alias raises the stage.
	e.post("/v1/identities/customer:9/links", engine.RoleStorefront, `{"alias":"social:google:g1","authenticated":true}`, 200)
	if b := e.identity("customer:9"); b.Identity.Stage != "authenticated" || len(b.Identity.Aliases) != 3 {
		t.Fatalf("after login: %+v", b)
	}

	if r := e.do("DELETE", "/v1/identities/customer:9/links/anon:v1", e.keys[engine.RoleStorefront], nil); r.status != http.StatusForbidden {
		t.Fatalf("a storefront key may not unlink: %d", r.status)
	}
	r = e.do("DELETE", "/v1/identities/customer:9/links/anon:v1", e.keys[engine.RoleData], nil)
	if r.status != http.StatusOK {
		t.Fatalf("unlink: %d %s", r.status, r.body)
	}
	if n := e.storedEvents("customer:9"); n != 1 {
		t.Fatalf("customer:9 has %d events after the unlink, want 1", n)
	}
	if n := e.storedEvents("anon:v1"); n != 2 {
		t.Fatalf("anon:v1 has %d events after the unlink, want 2", n)
	}
	if b := e.identity("anon:v1"); b.Identity.Stage != "anonymous" || len(b.Identity.Aliases) != 1 {
		t.Fatalf("split off: %+v", b)
	}
}

func TestIdentityAndConsentBadInput(t *testing.T) {
	e := newEnv(t)
	e.post("/v1/events", engine.RoleIngest, `{"alias":"customer:1","type":"view","item":"A"}
{"alias":"customer:2","type":"view","item":"A"}`, 200)
	e.post("/v1/identities/customer:1/links", engine.RoleStorefront, `{"alias":"anon:a"}`, 200)
	for _, c := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/v1/identities/customer:1/links", `{"alias":"customer:1"}`, 400, "itself"},
		{"POST", "/v1/identities/customer:1/links", `{"alias":"anon:a"}`, 409, "already linked"},
		{"POST", "/v1/identities/anon:a/links", `{"alias":"customer:1"}`, 409, "already linked"},
		{"POST", "/v1/identities/customer:1/links", `{"alias":"customer:2"}`, 409, "one customer alias"},
		{"POST", "/v1/identities/customer:1/links", `{"alias":"nonsense"}`, 400, `"field":"alias"`},
		{"POST", "/v1/identities/customer:1/links", `{"alias":"anon:b","extra":1}`, 400, "extra"},
		{"POST", "/v1/identities/customer:404/links", `{"alias":"anon:c"}`, 404, "customer:404"},
		{"DELETE", "/v1/identities/customer:1/links/customer:2", ``, 404, "not linked"},
		{"DELETE", "/v1/identities/customer:1/links/customer:1", ``, 400, "itself"},
		{"PUT", "/v1/identities/customer:1/consents/marketing", `{"granted":true}`, 400, `"field":"purpose"`},
		{"PUT", "/v1/identities/customer:404/consents/analytics", `{"granted":true}`, 200, `"alias":"customer:404"`}, // a first visit may start with the consent banner
		{"PUT", "/v1/identities/customer:1/consents/analytics", `{}`, 400, `"field":"granted"`},
		{"PUT", "/v1/identities/customer:1/consents/analytics", `{"granted":true,"time":"3000-01-01T00:00:00Z"}`, 400, "future"},
		{"PUT", "/v1/identities/customer:1/consents/analytics", `{"granted":true,"time":"2026-01-01T00:00:00Z","expires":"2025-01-01T00:00:00Z"}`, 400, `"field":"expires"`},
		{"GET", "/v1/identities/bad/consents", ``, 400, `"field":"alias"`},
	} {
		r := e.do(c.method, c.path, e.keys[engine.RoleData], strings.NewReader(c.body))
		if r.status != c.status || !strings.Contains(string(r.body), c.want) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", c.method, c.path, c.body, r.status, r.body, c.status, c.want)
		}
	}
	if b := e.identity("customer:1"); len(b.Identity.Aliases) != 2 || b.Counts["consent_records"] != 0 {
		t.Fatalf("refused requests changed something: %+v", b)
	}
}

func TestSocialSignalsNeedConsent(t *testing.T) {
	e := newEnv(t)
	like := `{"alias":"customer:eu","type":"social_like","target":"brand:Acme","source":"social:facebook","region":"EU-FR"}`
	e.post("/v1/events", engine.RoleIngest, `{"alias":"customer:eu","type":"view","item":"A","region":"EU-FR"}`, 200)
	if r := e.post("/v1/events", engine.RoleIngest, like, 200); !strings.Contains(string(r.body), `"accepted":0,"duplicates":0,"dropped_social_signals":1`) {
		t.Fatalf("EU signal without consent: %s", r.body)
	}
	r := e.do("PUT", "/v1/identities/customer:eu/consents/social_signals", e.keys[engine.RoleStorefront], strings.NewReader(`{"granted":true,"source":"web","policy_version":"2026-03"}`))
	if r.status != 200 {
		t.Fatalf("grant: %d %s", r.status, r.body)
	}
	if r := e.post("/v1/events", engine.RoleIngest, like, 200); !strings.Contains(string(r.body), `"accepted":1`) {
		t.Fatalf("EU signal with consent: %s", r.body)
	}
	if b := e.identity("customer:eu"); b.Counts["social_signals"] != 1 {
		t.Fatalf("counts %+v", b.Counts)
	}
	r = e.do("PUT", "/v1/identities/customer:eu/consents/social_signals", e.keys[engine.RoleStorefront], strings.NewReader(`{"granted":false,"source":"app"}`))
	if r.status != 200 || !strings.Contains(string(r.body), `"purged_social_signals":1`) {
		t.Fatalf("withdraw: %d %s", r.status, r.body)
	}
	b := e.identity("customer:eu")
	if b.Counts["social_signals"] != 0 || b.Counts["events"] != 1 || b.Counts["consent_records"] != 2 {
		t.Fatalf("after withdrawal: %+v", b.Counts)
	}
	for _, c := range b.Consents {
		if c.Purpose == "social_signals" && (c.Granted || c.Default) {
			t.Fatalf("social consent in force: %+v", c)
		}
	}
	r = e.do("GET", "/v1/identities/customer:eu/consents", e.keys[engine.RoleStorefront], nil)
	if r.status != 200 || strings.Count(string(r.body), `"purpose":"social_signals"`) != 3 {
		t.Fatalf("consent list: %s", r.body)
	}

	// Withdrawing cross_device keeps devices apart.
	e.do("PUT", "/v1/identities/customer:eu/consents/cross_device", e.keys[engine.RoleStorefront], strings.NewReader(`{"granted":false}`))
	e.post("/v1/identities/customer:eu/links", engine.RoleStorefront, `{"alias":"anon:phone"}`, http.StatusForbidden)
}

func TestPreferences(t *testing.T) {
	e := newEnv(t)
	e.post("/v1/events", engine.RoleIngest, `{"alias":"customer:1","type":"view","item":"A"}`, 200)
	put := func(body string) response {
		return e.do("PUT", "/v1/identities/customer:1/preferences", e.keys[engine.RoleStorefront], strings.NewReader(body))
	}
	for body, want := range map[string]string{
		`{"favourite_brands":["Acme"],"excluded_brands":["Acme"]}`: `"field":"excluded_brands"`,
		`{"communication":{"pigeon":true}}`:                        `"field":"communication"`,
		`{"favourite_categories":[" "]}`:                           `"field":"favourite_categories"`,
		`{"sizes":{"shoes":""}}`:                                   `"field":"sizes"`,
		`{"colour":"red"}`:                                         "colour",
		`[]`:                                                       "object",
	} {
		if r := put(body); r.status != 400 || !strings.Contains(string(r.body), want) {
			t.Errorf("%s: %d %s, want 400 with %s", body, r.status, r.body, want)
		}
	}
	if r := e.do("PUT", "/v1/identities/customer:404/preferences", e.keys[engine.RoleStorefront], strings.NewReader(`{}`)); r.status != 404 {
		t.Errorf("unknown alias: %d", r.status)
	}
	r := e.do("GET", "/v1/identities/customer:1/preferences", e.keys[engine.RoleStorefront], nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"favourite_brands":[]`) {
		t.Fatalf("before any: %d %s", r.status, r.body)
	}
	if r := put(`{"favourite_brands":["Acme"," Acme "],"sizes":{"shoes":"42"},"communication":{"email":false,"sms":true}}`); r.status != 200 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/v1/identities/customer:1/preferences", e.keys[engine.RoleStorefront], nil)
	if !strings.Contains(string(r.body), `"favourite_brands":["Acme"]`) || !strings.Contains(string(r.body), `"sizes":{"shoes":"42"}`) || !strings.Contains(string(r.body), `"sms":true`) {
		t.Fatalf("get: %s", r.body)
	}
}

func TestRateLimitIsPerKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	secret := func(rate float64) string {
		k, s, err := engine.NewAPIKey(engine.RoleStorefront, "limited", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Restrict("", rate); err != nil {
			t.Fatal(err)
		}
		if err := e.db.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		return s
	}
	busy, calm := secret(5), secret(5)
	limited := 0
	for i := 0; i < 40; i++ {
		r := e.do("GET", "/v1/items/nothing", busy, nil)
		switch r.status {
		case http.StatusNotFound:
		case http.StatusTooManyRequests:
			limited++
			if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || !strings.Contains(string(r.body), `"code":"rate_limited"`) {
				t.Fatalf("429 without a Retry-After: %v %s", r.header, r.body)
			}
		default:
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	if limited < 25 {
		t.Fatalf("a burst of 40 at 5/s (bursts of 10) was limited only %d times", limited)
	}
	for i := 0; i < 10; i++ {
		if r := e.do("GET", "/v1/items/nothing", calm, nil); r.status != http.StatusNotFound {
			t.Fatalf("the other key was limited too: %d %s", r.status, r.body)
		}
	}
}
