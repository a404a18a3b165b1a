package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"rapport/api"
	"rapport/engine"
)

// orgWorld is three organisations whose buying is marked: each
// organisation has a member of its own only, who bought that
// organisation's marker SKU, and people who belong to one, two and three
// organisations and bought only the shared SKU. Any response about ACME
// that carries GLOBEX-SKU or INITECH-SKU has leaked another organisation's
// buying.
func orgWorld(t *testing.T) (*env, signer) {
	t.Helper()
	e := newEnv(t)
	sg := signer{secret: []byte("the idp's shared secret for rapport")}
	e.api.UserTokens = &api.UserTokens{Secret: sg.secret, Issuer: "https://idp.example", Audience: "rapport"}
	var events strings.Builder
	for i, who := range []string{"b2b:only-acme", "b2b:only-globex", "b2b:only-initech", "b2b:one", "b2b:two", "b2b:three"} {
		item := "SHARED-SKU"
		if org, ok := strings.CutPrefix(who, "b2b:only-"); ok {
			item = strings.ToUpper(org) + "-SKU"
		}
		for day := range 3 {
			fmt.Fprintf(&events, `{"id":"o-%d-%d","alias":%q,"type":"purchase","item":%q,"quantity":%d,"timestamp":%q}`+"\n",
				i, day, who, item, 5+i, time.Now().Add(-time.Duration(30*(3-day))*24*time.Hour).UTC().Format(time.RFC3339))
		}
	}
	e.post("/v1/events", engine.RoleIngest, events.String(), 200)
	for _, org := range []string{"ACME", "GLOBEX", "INITECH"} {
		e.admin("PUT", "/v1/orgs/"+org, `{"name":"`+org+` Ltd"}`)
	}
	for who, orgs := range map[string][]string{
		"b2b:only-acme": {"ACME"}, "b2b:only-globex": {"GLOBEX"}, "b2b:only-initech": {"INITECH"},
		"b2b:one": {"ACME"}, "b2b:two": {"ACME", "GLOBEX"}, "b2b:three": {"ACME", "GLOBEX", "INITECH"},
	} {
		for _, org := range orgs {
			if r := e.admin("PUT", "/v1/orgs/"+org+"/members/"+who, `{"role":"buyer"}`); r.status != 200 {
				t.Fatalf("member %s of %s: %d %s", who, org, r.status, r.body)
			}
		}
	}
	e.train()
	return e, sg
}

// TestAdversarialIsolationMatrix proves the finding "Organisations leak": a
// portal key scoped to ACME asking for the prefill of a member of ACME and
// GLOBEX with ?org=GLOBEX got GLOBEX's buying, and without ?org= the
// alphabetically first organisation was used. It walks scoped keys (portal,
// storefront), a browser key with a member's token, and an unscoped server
// key naming the organisation × people in one, two and three organisations
// × every route that returns organisation or person data × every ?org=,
// and counts the cells whose answer carries another organisation's buying.
func TestAdversarialIsolationMatrix(t *testing.T) {
	e, sg := orgWorld(t)
	soon := time.Now().Add(time.Hour)
	markers := map[string]string{"ACME": "ACME-SKU", "GLOBEX": "GLOBEX-SKU", "INITECH": "INITECH-SKU"}
	type caller struct {
		name   string
		key    string
		token  func(person string) string
		acting string // the organisation the caller acts for; "" for the one it names
	}
	callers := []caller{
		{"portal key scoped to ACME", e.scopedKey(engine.RolePortal, "ACME"), nil, "ACME"},
		{"storefront key scoped to ACME", e.scopedKey(engine.RoleStorefront, "ACME"), nil, "ACME"},
		{"browser key with the member's token", e.keys[engine.RoleBrowser], func(p string) string { return sg.token(t, "HS256", "", claims(p, soon)) }, ""},
		{"unscoped portal key", e.keys[engine.RolePortal], nil, ""},
	}
	people := []string{"b2b:one", "b2b:two", "b2b:three"}
	// Recommendations are left out: trending lists are the shared
	// catalog's, so every marker SKU may rightly appear there.
	personRoutes := []string{"/v1/identities/%s", "/v1/identities/%s/buy-again", "/v1/identities/%s/preferences", "/v1/identities/%s/consents"}
	cells, leaks := 0, 0
	check := func(name, want, body string) {
		cells++
		for org, marker := range markers {
			if org != want && strings.Contains(body, marker) {
				leaks++
				t.Errorf("%s: carries %s's buying (%s): %s", name, org, marker, body)
			}
		}
	}
	for _, c := range callers {
		for _, p := range people {
			get := func(path string) response {
				req, _ := http.NewRequest("GET", e.url+path, nil)
				req.Header.Set("Authorization", "Bearer "+c.key)
				if c.token != nil {
					req.Header.Set(api.UserTokenHeader, c.token(p))
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				return response{resp.StatusCode, resp.Header, []byte(readAll(resp))}
			}
			for _, route := range personRoutes {
				path := fmt.Sprintf(route, p)
				check(c.name+" GET "+path, "", string(get(path).body))
			}
			for _, org := range []string{"", "ACME", "GLOBEX", "INITECH"} {
				path := "/v1/identities/" + p + "/preferences/prefill"
				if org != "" {
					path += "?org=" + org
				}
				r := get(path)
				member := org == "" || org == "ACME" || org == "GLOBEX" && p != "b2b:one" || org == "INITECH" && p == "b2b:three"
				acting := org
				if c.acting != "" {
					acting = c.acting
					member = org == "" || org == c.acting
				}
				name := c.name + " GET " + path
				switch {
				case !member && r.status != 404:
					t.Errorf("%s: %d %s, want 404 (not an organisation this caller acts for)", name, r.status, r.body)
				case member && r.status != 200:
					t.Errorf("%s: %d %s, want 200", name, r.status, r.body)
				case member && acting != "" && !strings.Contains(string(r.body), markers[acting]):
					t.Errorf("%s: %s's buying is missing: %s", name, acting, r.body)
				}
				check(name, acting, string(r.body))
			}
			for _, org := range []string{"ACME", "GLOBEX", "INITECH"} {
				for _, path := range []string{"/v1/orgs/" + org, "/v1/orgs/" + org + "/preferences"} {
					r := get(path)
					if r.status == 200 {
						check(c.name+" as "+p+" GET "+path, org, string(r.body))
						continue
					}
					check(c.name+" as "+p+" GET "+path, "", string(r.body))
				}
			}
		}
	}
	t.Logf("%d cells tested, %d leaked", cells, leaks)
	if cells < 150 {
		t.Fatalf("only %d cells", cells)
	}
}

// TestAdversarialPrefillDoesNotFollowMemberships proves the second half of
// "Organisations leak": without ?org=, adding the person to another
// organisation changed what an ACME-scoped key returned.
func TestAdversarialPrefillDoesNotFollowMemberships(t *testing.T) {
	e, _ := orgWorld(t)
	acme := e.scopedKey(engine.RolePortal, "ACME")
	before := e.do("GET", "/v1/identities/b2b:two/preferences/prefill", acme, nil)
	e.admin("PUT", "/v1/orgs/AAA", `{"name":"Sorts first"}`)
	e.admin("PUT", "/v1/orgs/AAA/members/b2b:two", `{"role":"buyer"}`)
	after := e.do("GET", "/v1/identities/b2b:two/preferences/prefill", acme, nil)
	if before.status != 200 || after.status != 200 || !strings.Contains(string(after.body), `"org":"ACME"`) || !strings.Contains(string(after.body), "ACME-SKU") {
		t.Fatalf("before %d %s\nafter %d %s", before.status, before.body, after.status, after.body)
	}
	// An unscoped server key names the organisation, or gets none blended in.
	r := e.do("GET", "/v1/identities/b2b:two/preferences/prefill", e.keys[engine.RolePortal], nil)
	if r.status != 200 || strings.Contains(string(r.body), "-SKU\"") && !strings.Contains(string(r.body), "SHARED-SKU") || strings.Contains(string(r.body), `"source":"organisation"`) {
		t.Fatalf("unscoped, no org: %d %s", r.status, r.body)
	}
}

// TestAdversarialBrowserKey proves "A key meant for the browser can act on
// anyone": a publishable key serves anonymous visitors and posts their
// behaviour, but reads or changes a known person only with that person's
// token.
func TestAdversarialBrowserKey(t *testing.T) {
	e, sg := orgWorld(t)
	browser := e.keys[engine.RoleBrowser]
	soon := time.Now().Add(time.Hour)
	tokenOf := func(sub string) string { return sg.token(t, "HS256", "", claims(sub, soon)) }
	call := func(method, path, token, body string) response {
		req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+browser)
		if token != "" {
			req.Header.Set(api.UserTokenHeader, token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return response{resp.StatusCode, resp.Header, []byte(readAll(resp))}
	}
	for _, c := range []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"anonymous events", "POST", "/v1/events", "", `[{"alias":"anon:cookie-1","type":"view","item":"SHARED-SKU"}]`, 200},
		{"anonymous recommendations", "GET", "/v1/identities/anon:cookie-1/recommendations", "", "", 200},
		{"anonymous consent banner", "PUT", "/v1/identities/anon:cookie-1/consents/analytics", "", `{"granted":true}`, 200},
		{"anonymous export", "GET", "/v1/identities/anon:cookie-1/export", "", "", 200},
		{"events for a known person", "POST", "/v1/events", "", `[{"alias":"b2b:one","type":"purchase","item":"SHARED-SKU"}]`, 403},
		{"export of a known person", "GET", "/v1/identities/b2b:one/export", "", "", 401},
		{"erasure of a known person", "DELETE", "/v1/identities/b2b:one", "", "", 401},
		{"consent of a known person", "PUT", "/v1/identities/b2b:one/consents/personalization", "", `{"granted":false}`, 401},
		{"link to a known person", "POST", "/v1/identities/b2b:one/links", "", `{"alias":"anon:cookie-1"}`, 401},
		{"an anonymous visitor claims an e-mail", "POST", "/v1/identities/anon:cookie-1/links", "", `{"alias":"email:victim@example.com"}`, 403},
		{"organisation without a token", "GET", "/v1/orgs/ACME", "", "", 401},
		{"the person's own export", "GET", "/v1/identities/b2b:one/export", tokenOf("b2b:one"), "", 200},
		{"the person's own events", "POST", "/v1/events", tokenOf("b2b:one"), `[{"alias":"b2b:one","type":"view","item":"SHARED-SKU"}]`, 200},
		{"another person's export", "GET", "/v1/identities/b2b:two/export", tokenOf("b2b:one"), "", 403},
		{"another person's erasure", "DELETE", "/v1/identities/b2b:two", tokenOf("b2b:one"), "", 403},
		{"another person's events", "POST", "/v1/events", tokenOf("b2b:one"), `[{"alias":"b2b:two","type":"purchase","item":"SHARED-SKU"}]`, 403},
		{"their organisation", "GET", "/v1/orgs/ACME", tokenOf("b2b:one"), "", 200},
		{"an organisation they are not in", "GET", "/v1/orgs/GLOBEX", tokenOf("b2b:one"), "", 403},
		{"keys", "GET", "/v1/keys", "", "", 403},
		{"another person's event list", "GET", "/v1/identities/b2b:one/events", tokenOf("b2b:one"), "", 403},
	} {
		if r := call(c.method, c.path, c.token, c.body); r.status != c.want {
			t.Errorf("%s: %s %s: %d %s, want %d", c.name, c.method, c.path, r.status, r.body, c.want)
		}
	}
	if n := e.storedEvents("b2b:two"); n != 3 {
		t.Errorf("b2b:two has %d events, want its 3 purchases only", n)
	}
	// Once the cookie is linked into a known person, it still gets its
	// lists, but no longer opens the person's record.
	e.post("/v1/identities/b2b:one/links", engine.RoleData, `{"alias":"anon:cookie-1"}`, 200)
	if r := call("GET", "/v1/identities/anon:cookie-1/recommendations", "", ""); r.status != 200 {
		t.Errorf("a linked cookie's recommendations: %d %s", r.status, r.body)
	}
	if r := call("GET", "/v1/identities/anon:cookie-1/export", "", ""); r.status != 401 {
		t.Errorf("a linked cookie opened the person's export: %d %s", r.status, r.body)
	}
}

// TestAdversarialRequireUserTokenKeepsAnonymousVisitors proves the
// --require-user-token findings: anonymous visitors lost their
// recommendations (401), and events for any customer: alias were accepted
// without a token.
func TestAdversarialRequireUserTokenKeepsAnonymousVisitors(t *testing.T) {
	e, _ := orgWorld(t)
	e.api.RequireUserToken = true
	store := e.keys[engine.RoleStorefront]
	if r := e.do("GET", "/v1/identities/anon:fresh-visitor/recommendations", store, nil); r.status != 200 {
		t.Errorf("anonymous recommendations: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/events", store, strings.NewReader(`{"alias":"customer:someone","type":"purchase","item":"SHARED-SKU"}`)); r.status != 403 {
		t.Errorf("events for a customer without a token: %d %s", r.status, r.body)
	}
	if n := e.storedEvents("customer:someone"); n != 0 {
		t.Errorf("%d events stored for customer:someone", n)
	}
}

// TestAdversarialTokenLinkNeedsProof proves "Identity claims": a signed-in
// person's token linked an alias nobody had used yet
// (email:someone-else@example.com), so that address's later purchases
// landed in the claimer's history.
func TestAdversarialTokenLinkNeedsProof(t *testing.T) {
	e, sg := orgWorld(t)
	tok := sg.token(t, "HS256", "", claims("b2b:one", time.Now().Add(time.Hour)))
	link := func(key, body string) response {
		req, _ := http.NewRequest("POST", e.url+"/v1/identities/b2b:one/links", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set(api.UserTokenHeader, tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return response{resp.StatusCode, resp.Header, []byte(readAll(resp))}
	}
	for _, key := range []string{e.keys[engine.RoleBrowser], e.keys[engine.RoleStorefront]} {
		for _, other := range []string{"email:someone-else@example.com", "customer:999", "loyalty:AF1"} {
			if r := link(key, `{"alias":"`+other+`"}`); r.status != 403 {
				t.Errorf("token of b2b:one links %s: %d %s, want 403", other, r.status, r.body)
			}
		}
	}
	e.post("/v1/events", engine.RoleIngest, `{"alias":"email:someone-else@example.com","type":"purchase","item":"SHARED-SKU"}`, 200)
	if r := e.do("GET", "/v1/identities/b2b:one", e.keys[engine.RoleData], nil); strings.Contains(string(r.body), "email:") {
		t.Errorf("b2b:one holds an e-mail alias: %s", r.body)
	}
	if r := link(e.keys[engine.RoleBrowser], `{"alias":"anon:my-own-cookie"}`); r.status != 200 {
		t.Errorf("the device's own cookie: %d %s", r.status, r.body)
	}
}

// TestAdversarialBrowserKeysRateLimitedByDefault proves the finding that a
// browser key, public by design, was limited only when the operator set a
// rate: it is limited by default, per visitor, so one visitor's flood does
// not slow the shop's others.
func TestAdversarialBrowserKeysRateLimitedByDefault(t *testing.T) {
	e := newEnv(t)
	e.api.BrowserRate = 1 // bursts of four
	e.api.TrustedProxies = []string{"127.0.0.1/32", "::1"}
	ts := httptest.NewServer(e.api.Handler())
	defer ts.Close()
	limited := 0
	for range 10 {
		switch r := callFrom(t, ts.URL, e.keys[engine.RoleBrowser], "203.0.113.7"); r.status {
		case 429:
			limited++
			if r.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		case 404: // the item does not exist
		default:
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	if limited < 5 {
		t.Fatalf("%d of 10 calls limited, want the ones past the burst of 4", limited)
	}
	if r := callFrom(t, ts.URL, e.keys[engine.RoleBrowser], "203.0.113.8"); r.status != 404 {
		t.Fatalf("another visitor: %d %s", r.status, r.body)
	}
	// Without a setting, the default applies.
	e2 := newEnv(t)
	for i := range 200 {
		if r := e2.do("GET", "/v1/items/x", e2.keys[engine.RoleBrowser], nil); r.status == 429 {
			return
		} else if i == 199 {
			t.Fatalf("200 calls at once were never limited: %d", r.status)
		}
	}
}

// TestAdversarialTokenClaimsBoundTheCaller proves two identity-claim
// findings with the token's own claims: a token links only the e-mail its
// identity provider verified, and a token naming its organisation reads
// that one only, whatever ?org= says.
func TestAdversarialTokenClaimsBoundTheCaller(t *testing.T) {
	e, sg := orgWorld(t)
	soon := time.Now().Add(time.Hour).Unix()
	tok := func(claims map[string]any) string {
		claims["iss"], claims["aud"], claims["exp"] = "https://idp.example", []string{"rapport"}, soon
		return sg.token(t, "HS256", "", claims)
	}
	call := func(method, path, token, body string) response {
		req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.keys[engine.RoleBrowser])
		req.Header.Set(api.UserTokenHeader, token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return response{resp.StatusCode, resp.Header, []byte(readAll(resp))}
	}
	verified := tok(map[string]any{"sub": "b2b:one", "email": "One@Acme.example", "email_verified": true})
	unverified := tok(map[string]any{"sub": "b2b:two", "email": "two@acme.example", "email_verified": false})
	if r := call("POST", "/v1/identities/b2b:two/links", unverified, `{"alias":"email:two@acme.example"}`); r.status != 403 {
		t.Errorf("an unverified e-mail claim linked: %d %s", r.status, r.body)
	}
	if r := call("POST", "/v1/identities/b2b:one/links", verified, `{"alias":"email:someone-else@acme.example"}`); r.status != 403 {
		t.Errorf("another address than the verified one linked: %d %s", r.status, r.body)
	}
	if r := call("POST", "/v1/identities/b2b:one/links", verified, `{"alias":"email:one@acme.example"}`); r.status != 200 {
		t.Errorf("the verified address: %d %s", r.status, r.body)
	}
	acmeOnly := tok(map[string]any{"sub": "b2b:two", "org": "ACME"})
	if r := call("GET", "/v1/identities/b2b:two/preferences/prefill?org=GLOBEX", acmeOnly, ""); r.status != 404 || strings.Contains(string(r.body), "GLOBEX-SKU") {
		t.Errorf("a token for ACME read GLOBEX's prefill: %d %s", r.status, r.body)
	}
	if r := call("GET", "/v1/identities/b2b:two/preferences/prefill", acmeOnly, ""); r.status != 200 || !strings.Contains(string(r.body), "ACME-SKU") {
		t.Errorf("a token for ACME, no ?org=: %d %s", r.status, r.body)
	}
	if r := call("GET", "/v1/orgs/GLOBEX", acmeOnly, ""); r.status != 403 {
		t.Errorf("a token for ACME read GLOBEX: %d %s", r.status, r.body)
	}
}
