package api_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"rapport/api"
	"rapport/engine"
)

// TestAccessMatrix walks every /v1 route × every key role (unscoped, and
// scoped to organisation ACME where a role can be) × an object in the
// key's organisation, in another (GLOBEX), or in none × a user token of the
// object's own person, of someone else, expired, badly signed, or none. It
// derives from the route table which cells may pass and checks that the
// others answer 401, 403 or 404 — and that no answer outside the allowed
// cells carries a byte of the other organisation's data.
func TestAccessMatrix(t *testing.T) {
	e := newEnv(t)
	sg := signer{secret: []byte("the idp's shared secret for rapport")}
	e.api.UserTokens = &api.UserTokens{Secret: sg.secret, Issuer: "https://idp.example", Audience: "rapport"}
	e.api.RequireUserToken = true
	e.api.BrowserRate = -1 // thousands of calls from one address: TestAdversarialBrowserKeysRateLimitedByDefault tests the limit
	e.post("/v1/events", engine.RoleIngest, `{"alias":"b2b:acme-1","type":"purchase","item":"A"}
{"alias":"b2b:globex-1","type":"purchase","item":"GLOBEX-SECRET-ITEM"}
{"alias":"customer:solo","type":"purchase","item":"A"}
{"alias":"customer:stranger","type":"view","item":"A"}`, 200)
	e.admin("PUT", "/v1/orgs/ACME", `{"name":"Acme"}`)
	e.admin("PUT", "/v1/orgs/GLOBEX", `{"name":"GLOBEX-SECRET-NAME"}`)
	e.admin("PUT", "/v1/orgs/ACME/members/b2b:acme-1", `{"role":"buyer"}`)
	e.admin("PUT", "/v1/orgs/GLOBEX/members/b2b:globex-1", `{"role":"buyer"}`)
	if r := e.do("PUT", "/v1/identities/b2b:globex-1/preferences", e.keys[engine.RoleAdmin], strings.NewReader(`{"favourite_brands":["GLOBEX-SECRET-BRAND"]}`)); r.status != 200 {
		t.Fatalf("preferences: %d %s", r.status, r.body)
	}

	type object struct{ name, alias, org string }
	objects := []object{{"own org", "b2b:acme-1", "ACME"}, {"foreign org", "b2b:globex-1", "GLOBEX"}, {"no org", "customer:solo", "NONE"}}
	scopes := e.api.RouteScopes()
	soon := time.Now().Add(time.Hour)
	type key struct {
		role   engine.Role
		scoped bool
		secret string
	}
	var keys []key
	for _, r := range engine.Roles {
		keys = append(keys, key{r, false, e.keys[r]})
		if r == engine.RolePortal || r == engine.RoleStorefront {
			keys = append(keys, key{r, true, e.scopedKey(r, "ACME")})
		}
	}
	tokens := []string{"own", "someone else's", "expired", "badly signed", "none"}
	cells, allowedCells, leaks := 0, 0, 0
	for route, roles := range e.api.RouteRoles() {
		method, path, _ := strings.Cut(route, " ")
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		aboutPerson, aboutOrg := strings.Contains(path, "{alias}"), strings.Contains(path, "{org}")
		for _, k := range keys {
			for _, o := range objects {
				for _, tok := range tokens {
					cells++
					alias, sub := o.alias, o.alias
					if method == "DELETE" {
						alias = "customer:ghost" // never erase or unlink what the other cells read
						sub = alias
					}
					p := strings.NewReplacer("{alias}", alias, "{org}", o.org, "{item}", "A", "{id}", "key_000000000000",
						"{name}", "merge", "{purpose}", "analytics", "{other}", "anon:ghost", "{rid}", "rec_000000000000000000000000").Replace(path)
					token := ""
					switch tok {
					case "own":
						token = sg.token(t, "HS256", "", claims(sub, soon))
					case "someone else's":
						token = sg.token(t, "HS256", "", claims("customer:stranger", soon))
					case "expired":
						token = sg.token(t, "HS256", "", claims(sub, time.Now().Add(-time.Hour)))
					case "badly signed":
						token = signer{secret: []byte("another secret")}.token(t, "HS256", "", claims(sub, soon))
					}
					// What the rules say, in the order the server applies them.
					want := 0 // 0: allowed
					inScope := o.org == "ACME" && method != "DELETE"
					switch {
					case !slices.Contains(roles, k.role):
						want = 403
					case k.scoped && scopes[route] == "":
						want = 403
					case k.scoped && (scopes[route] == "org" || scopes[route] == "identity") && !inScope:
						want = 404
					case tok == "expired" || tok == "badly signed":
						want = 401
					case tok == "none" && aboutPerson && (k.role == engine.RoleStorefront || k.role == engine.RolePortal || k.role == engine.RoleBrowser):
						want = 401 // none of the objects is anonymous
					case tok == "none" && aboutOrg && k.role == engine.RoleBrowser:
						want = 401
					case tok == "someone else's" && (aboutPerson || aboutOrg):
						want = 403
					case tok == "own" && aboutOrg && o.org == "NONE":
						want = 403 // a person outside any organisation is a member of none
					case tok == "own" && aboutOrg && method == "DELETE":
						want = 403 // the ghost is no member
					}
					req, _ := http.NewRequest(method, e.url+p, strings.NewReader(`{"__not_a_field":true}`))
					req.Header.Set("Authorization", "Bearer "+k.secret)
					if token != "" {
						req.Header.Set(api.UserTokenHeader, token)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					var body strings.Builder
					fmt.Fprint(&body, readAll(resp))
					status := resp.StatusCode
					name := fmt.Sprintf("%s %s · %s key%s · %s · %s token", method, path, k.role, map[bool]string{true: " (ACME)"}[k.scoped], o.name, tok)
					switch {
					case want == 0:
						allowedCells++
						if status == 401 || status == 403 {
							t.Errorf("%s: %d %s, want it allowed", name, status, body.String())
						}
					case status != want:
						t.Errorf("%s: %d %s, want %d", name, status, body.String(), want)
					}
					if want != 0 && strings.Contains(body.String(), "SECRET") {
						leaks++
						t.Errorf("%s leaked: %s", name, body.String())
					}
				}
			}
		}
	}
	t.Logf("%d cells (%d allowed), %d leaks", cells, allowedCells, leaks)
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestREADMENamesEveryRoute keeps the README's access table whole: every
// /v1 route appears in it.
func TestREADMENamesEveryRoute(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	for route := range e.api.RouteRoles() {
		_, path, _ := strings.Cut(route, " ")
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		// The table abbreviates a shared prefix as "…/last-part".
		last := path[strings.LastIndex(path, "/"):]
		if !strings.Contains(string(readme), path) && !strings.Contains(string(readme), "…"+last) {
			t.Errorf("the README's access table does not name %s", route)
		}
	}
}
