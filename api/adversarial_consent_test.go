package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"rapport/engine"
)

// socialHeld counts the social signals stored for alias.
func (e *env) socialHeld(alias string) int {
	e.t.Helper()
	return e.identity(alias).Counts["social_signals"]
}

// TestAdversarialSocialSourceIsASocialSignal proves "A view, wishlist or
// rating event with a social:* source is stored and used as history
// without social_signals consent".
func TestAdversarialSocialSourceIsASocialSignal(t *testing.T) {
	e := newEnv(t)
	r := e.post("/v1/events", engine.RoleIngest, `{"alias":"customer:eu-1","type":"purchase","item":"A","region":"EU"}
{"alias":"customer:eu-1","type":"view","item":"B","source":"social:instagram","region":"EU"}
{"alias":"customer:eu-1","type":"wishlist","item":"C","source":"social:facebook","region":"EU"}
{"alias":"customer:eu-1","type":"rating","item":"D","weight":5,"source":"social:facebook","region":"EU"}`, 200)
	if !strings.Contains(string(r.body), `"dropped_social_signals":3`) {
		t.Fatalf("ingest: %s", r.body)
	}
	if n := e.storedEvents("customer:eu-1"); n != 1 {
		t.Fatalf("%d events stored, want the purchase only", n)
	}
}

// TestAdversarialBatchIsJudgedInItsStrictestRegion proves "For a new alias,
// a social event is judged on its own (absent) region, not on the
// identity's": one batch [view in the EU, social_like without a region]
// stored the signal.
func TestAdversarialBatchIsJudgedInItsStrictestRegion(t *testing.T) {
	e := newEnv(t)
	r := e.post("/v1/events", engine.RoleIngest, `{"alias":"anon:new-1","type":"view","item":"A","region":"EU-DE"}
{"alias":"anon:new-1","type":"social_like","item":"B","source":"social:instagram"}`, 200)
	if !strings.Contains(string(r.body), `"dropped_social_signals":1`) || e.socialHeld("anon:new-1") != 0 {
		t.Fatalf("ingest: %s; %d signals held", r.body, e.socialHeld("anon:new-1"))
	}
	// A known person of the US seen in the EU in this batch: the EU's
	// opt-in applies.
	e.post("/v1/events", engine.RoleIngest, `{"alias":"customer:us-1","type":"view","item":"A","region":"US"}`, 200)
	r = e.post("/v1/events", engine.RoleIngest, `{"alias":"customer:us-1","type":"view","item":"A","region":"EU"}
{"alias":"customer:us-1","type":"social_like","item":"B","source":"social:instagram","region":"US"}`, 200)
	if !strings.Contains(string(r.body), `"dropped_social_signals":1`) {
		t.Fatalf("a US person seen in the EU: %s", r.body)
	}
}

// TestAdversarialConsentIsOrderedByReceipt proves "Decisions are ordered by
// the client-supplied time": a grant stamped 25 s ahead overrode a
// withdrawal made after it, and a withdrawal stamped in the past was
// accepted and had no effect.
func TestAdversarialConsentIsOrderedByReceipt(t *testing.T) {
	e := newEnv(t)
	e.post("/v1/events", engine.RoleIngest, `{"alias":"customer:c1","type":"view","item":"A","region":"US"}`, 200)
	put := func(body string, want int) {
		t.Helper()
		if r := e.do("PUT", "/v1/identities/customer:c1/consents/social_signals", e.keys[engine.RoleStorefront], strings.NewReader(body)); r.status != want {
			t.Fatalf("PUT %s: %d %s, want %d", body, r.status, r.body, want)
		}
	}
	stamp := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	put(`{"granted":true,"time":"`+stamp(25*time.Second)+`"}`, 200)
	put(`{"granted":false}`, 200)
	r := e.post("/v1/events", engine.RoleIngest, `{"alias":"customer:c1","type":"social_like","item":"B","source":"social:instagram"}`, 200)
	if !strings.Contains(string(r.body), `"dropped_social_signals":1`) {
		t.Fatalf("a withdrawal made after a future-stamped grant did not hold: %s", r.body)
	}
	put(`{"granted":true}`, 200)
	put(`{"granted":false,"time":"`+stamp(-time.Hour)+`"}`, 200)
	if granted := e.consentInForce("customer:c1", "social_signals"); granted {
		t.Fatal("a withdrawal stamped in the past had no effect")
	}
	put(`{"granted":true,"time":"`+stamp(10*time.Minute)+`"}`, 400) // beyond the clock skew
}

func (e *env) consentInForce(alias, purpose string) bool {
	e.t.Helper()
	for _, c := range e.identity(alias).Consents {
		if c.Purpose == purpose {
			return c.Granted
		}
	}
	e.t.Fatalf("no %s consent shown for %s", purpose, alias)
	return false
}

// TestAdversarialAnalyticsIsEnforced proves "The analytics purpose is
// recorded and shown, but nothing checks it": a person who has not
// permitted analytics is served the control, outside the experiment, and
// their feedback is not counted.
func TestAdversarialAnalyticsIsEnforced(t *testing.T) {
	e := newEnv(t)
	e.post("/v1/events", engine.RoleIngest, `{"alias":"customer:eu-1","type":"purchase","item":"A","region":"EU"}
{"alias":"customer:us-1","type":"purchase","item":"B","region":"US"}
{"alias":"customer:x","type":"purchase","item":"A"}
{"alias":"customer:x","type":"purchase","item":"B"}`, 200)
	e.train()
	if r := e.do("PUT", "/v1/experiments/exp1", e.keys[engine.RoleData], strings.NewReader(`{"variants":[{"name":"a","share":0.5},{"name":"b","share":0.5,"blend":{"weight_als":9}}]}`)); r.status != 201 && r.status != 200 {
		t.Fatalf("experiment: %d %s", r.status, r.body)
	}
	served := func(alias string) (experiment, rid string) {
		t.Helper()
		r := e.do("GET", "/v1/identities/"+alias+"/recommendations", e.keys[engine.RoleStorefront], nil)
		var b struct {
			Experiment       string `json:"experiment"`
			RecommendationID string `json:"recommendation_id"`
		}
		r.json(t, &b)
		return b.Experiment, b.RecommendationID
	}
	if x, _ := served("customer:us-1"); x != "exp1" {
		t.Fatalf("a US person, analytics by default: experiment %q", x)
	}
	x, rid := served("customer:eu-1")
	if x != "" {
		t.Fatalf("an EU person without an analytics grant was put in experiment %q", x)
	}
	e.post("/v1/events", engine.RoleIngest, `{"alias":"customer:eu-1","type":"view","item":"B","attributes":{"recommendation_id":"`+rid+`"}}`, 200)
	r := e.do("GET", "/v1/experiments/exp1", e.keys[engine.RoleData], nil)
	var rep struct {
		Variants []struct {
			Impressions int64 `json:"impressions"`
			Clicks      int64 `json:"clicks"`
		} `json:"variants"`
	}
	if err := json.Unmarshal(r.body, &rep); err != nil {
		t.Fatalf("%s: %v", r.body, err)
	}
	total := int64(0)
	for _, v := range rep.Variants {
		total += v.Impressions + v.Clicks
	}
	if total > 1 { // the US person's one impression
		t.Fatalf("counts: %s", r.body)
	}
	// With a grant, the person joins the experiment.
	if r := e.do("PUT", "/v1/identities/customer:eu-1/consents/analytics", e.keys[engine.RoleStorefront], strings.NewReader(`{"granted":true}`)); r.status != 200 {
		t.Fatal(r.status)
	}
	if x, _ := served("customer:eu-1"); x != "exp1" {
		t.Fatalf("after an analytics grant: experiment %q", x)
	}
}

// TestAdversarialLinkPurgesUnpermittedSignals proves "Social signals
// admitted under an alias stay stored after that alias is linked into a
// person who has not granted social_signals".
func TestAdversarialLinkPurgesUnpermittedSignals(t *testing.T) {
	e := newEnv(t)
	e.post("/v1/events", engine.RoleIngest, `{"alias":"anon:us-cookie","type":"view","item":"A","region":"US"}
{"alias":"anon:us-cookie","type":"social_like","item":"B","source":"social:instagram","region":"US"}
{"alias":"customer:eu-9","type":"purchase","item":"A","region":"EU"}`, 200)
	if n := e.socialHeld("anon:us-cookie"); n != 1 {
		t.Fatalf("%d signals before the link", n)
	}
	e.post("/v1/identities/customer:eu-9/links", engine.RoleStorefront, `{"alias":"anon:us-cookie"}`, 200)
	if n := e.socialHeld("customer:eu-9"); n != 0 {
		t.Fatalf("%d social signals kept after linking into a person without social_signals consent", n)
	}
}
