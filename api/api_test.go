package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"rapport/api"
	"rapport/engine"
	"rapport/engine/model"
	"rapport/engine/recommend"
	"rapport/features"
	"rapport/jobs"
	"rapport/store"
	"rapport/store/storetest"
)

// env is a real server over a real Badger store in a temp dir, with one key
// per role.
type env struct {
	t    *testing.T
	url  string
	db   *store.DB
	api  *api.Server
	keys map[engine.Role]string
	ts   *httptest.Server
	// serving is what the recommender serves; train fills it.
	serving *model.Serving
}

// registry promotes in the store only: the tests' serving holds no model.
type registry struct{ *store.DB }

func (r registry) Promote(ctx context.Context, id string) (engine.ModelVersion, error) {
	return r.SetServing(ctx, id)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, storetest.Open(t, t.TempDir()))
}

// newEnvOn is newEnv over db, which it closes when the test ends; each
// configure function changes the server before it starts.
func newEnvOn(t *testing.T, db *store.DB, configure ...func(*api.Server)) *env {
	t.Helper()
	sched := jobs.New(db, nil)
	sched.Add(jobs.Job{Name: "merge", Schedule: "@every 5m", Run: func(ctx context.Context, counts map[string]int) error { counts["identities"] = 1; return nil }})
	serving := &model.Serving{}
	gate := features.NewGate(engine.DefaultConsentPolicy())
	rec := &recommend.Experiments{Service: &recommend.Service{Store: db, Serving: serving, Gate: gate}, Store: db}
	s := &api.Server{Events: db, Items: db, Keys: db, Health: db, Jobs: sched, Models: registry{db}, Recommender: rec, Experiments: rec, ServingVersion: func() string { return "" },
		People: db, Privacy: db, Orgs: db, Backups: db, Consent: &features.Enforcer{Gate: gate, Store: db, Merger: &features.Merger{Store: db, Gate: gate}},
		MaxBodyBytes: 1 << 20, Version: "test", KeyCacheTTL: time.Second}
	for _, f := range configure {
		f(s)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); db.Close() })
	e := &env{t: t, url: ts.URL, db: db, api: s, keys: map[engine.Role]string{}, ts: ts, serving: serving}
	for _, r := range engine.Roles {
		k, secret, err := engine.NewAPIKey(r, string(r), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateKey(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		e.keys[r] = secret
	}
	return e
}

// train trains a small model on every stored event and serves it.
func (e *env) train() {
	e.t.Helper()
	ctx := context.Background()
	b := model.NewBuilder()
	if err := e.db.ScanItems(ctx, func(it engine.Item) error { b.Item(it.ID); return nil }); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.ScanEvents(ctx, func(id engine.IdentityID, ev *engine.Event) error { b.AddAs(id.Key(), ev); return nil }); err != nil {
		e.t.Fatal(err)
	}
	d := b.Build()
	cfg := model.DefaultRankerConfig()
	cfg.Factors, cfg.Iterations = 4, 2
	tr, err := model.Train(ctx, d, cfg, d.End().Unix(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.serving.Swap(&model.Loaded{Version: engine.ModelVersion{ID: "v-test"}, Trained: tr})
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorOf returns the error object of an error response.
func (r response) errorOf(t *testing.T) (code, message string, details []engine.FieldError) {
	t.Helper()
	var b struct {
		Error struct {
			Code    string              `json:"code"`
			Message string              `json:"message"`
			Details []engine.FieldError `json:"details"`
		} `json:"error"`
	}
	r.json(t, &b)
	return b.Error.Code, b.Error.Message, b.Error.Details
}

func (e *env) do(method, path, key string, body io.Reader) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func (e *env) admin(method, path, body string) response {
	return e.do(method, path, e.keys[engine.RoleAdmin], strings.NewReader(body))
}

// storedEvents counts the events stored for alias (0 when it is unknown).
func (e *env) storedEvents(alias string) int {
	e.t.Helper()
	r := e.admin("GET", "/v1/identities/"+alias+"/events?limit=1000", "")
	if r.status == http.StatusNotFound {
		return 0
	}
	var page struct{ Events []json.RawMessage }
	r.json(e.t, &page)
	return len(page.Events)
}

func TestIngestEvents(t *testing.T) {
	e := newEnv(t)
	batch := `[{"id":"e1","alias":"customer:1","type":"view","item":"SKU-1"},
	           {"id":"e2","alias":"customer:1","type":"purchase","item":"SKU-1","quantity":2,"price":9.5,"currency":"EUR"}]`
	r := e.do("POST", "/v1/events", e.keys[engine.RoleIngest], strings.NewReader(batch))
	if r.status != http.StatusOK || string(bytes.TrimSpace(r.body)) != `{"accepted":2,"duplicates":0,"dropped_social_signals":0}` {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r.header.Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID on the response")
	}
	// Re-sending is idempotent; NDJSON is accepted too.
	nd := `{"id":"e2","alias":"customer:1","type":"purchase","item":"SKU-1"}` + "\n\n" + `{"id":"e3","alias":"customer:1","type":"view","item":"SKU-2"}` + "\n"
	r = e.do("POST", "/v1/events", e.keys[engine.RoleStorefront], strings.NewReader(nd))
	if r.status != http.StatusOK || string(bytes.TrimSpace(r.body)) != `{"accepted":1,"duplicates":1,"dropped_social_signals":0}` {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// A single pretty-printed object, and a lower-case auth scheme.
	req, _ := http.NewRequest("POST", e.url+"/v1/events", strings.NewReader("{\n  \"alias\": \"customer:1\",\n  \"type\": \"view\",\n  \"item\": \"SKU-3\"\n}\n"))
	req.Header.Set("Authorization", "bearer "+e.keys[engine.RoleIngest])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pretty-printed object: %d", resp.StatusCode)
	}
	if n := e.storedEvents("customer:1"); n != 4 {
		t.Fatalf("stored %d events, want 4", n)
	}
}

// TestIngestRejectsBadInput: each bad batch is a 4xx naming the problem,
// and nothing of it is stored, not even its valid events.
func TestIngestRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	good := `{"alias":"customer:9","type":"view","item":"a"}`
	for _, tc := range []struct {
		name, body string
		status     int
		field      string
		msgHas     string
	}{
		{"MalformedJSON", `[` + good + `,{"alias":"customer:9",`, 400, "", "malformed JSON"},
		{"MalformedNDJSONLine", good + "\n{oops}\n", 400, "", "malformed JSON"},
		{"WrongType", `[` + good + `,{"alias":"customer:9","type":"view","item":"a","quantity":"3"}]`, 400, "quantity", "must be a number"},
		{"UnknownEventType", `[` + good + `,{"alias":"customer:9","type":"teleport","item":"a"}]`, 400, "type", "not an event type"},
		{"MissingItem", `[` + good + `,{"alias":"customer:9","type":"purchase"}]`, 400, "item", "required"},
		{"NegativeQuantity", `[` + good + `,{"alias":"customer:9","type":"purchase","item":"a","quantity":-1}]`, 400, "quantity", "greater than 0"},
		{"AbsurdPrice", `[` + good + `,{"alias":"customer:9","type":"purchase","item":"a","price":1e12,"currency":"EUR"}]`, 400, "price", "between"},
		{"FutureTimestamp", `[` + good + `,{"alias":"customer:9","type":"view","item":"a","timestamp":"2999-01-01T00:00:00Z"}]`, 400, "timestamp", "future"},
		{"BadAlias", `[` + good + `,{"alias":"customer 9","type":"view","item":"a"}]`, 400, "alias", "kind:value"},
		{"UnknownField", `[` + good + `,{"alias":"customer:9","type":"view","item":"a","sku":"x"}]`, 400, "sku", "not a known field"},
		{"Empty", ``, 400, "", "empty"},
		{"EmptyArray", `[]`, 400, "", "no events"},
		{"OversizeBody", `[` + strings.Repeat(good+",", 1<<20/len(good)) + good + `]`, 413, "", "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/v1/events", e.keys[engine.RoleIngest], strings.NewReader(tc.body))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			code, msg, details := r.errorOf(t)
			if code == "" || !strings.Contains(msg, tc.msgHas) && !slices.ContainsFunc(details, func(fe engine.FieldError) bool { return strings.Contains(fe.Reason, tc.msgHas) }) {
				t.Fatalf("error %s %q %v does not mention %q", code, msg, details, tc.msgHas)
			}
			if tc.field != "" && !slices.ContainsFunc(details, func(fe engine.FieldError) bool { return fe.Field == tc.field && fe.Index == 1 }) {
				t.Fatalf("details %v do not name field %q of event #1", details, tc.field)
			}
			if n := e.storedEvents("customer:9"); n != 0 {
				t.Fatalf("%d events stored from a rejected batch", n)
			}
		})
	}
}

func TestIngestBatchLimit(t *testing.T) {
	e := newEnv(t)
	s := &api.Server{Events: e.db, Items: e.db, Keys: e.db, Health: e.db, MaxBodyBytes: 8 << 20}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	var b strings.Builder
	for i := 0; i <= api.MaxBatch; i++ {
		fmt.Fprintf(&b, `{"alias":"customer:big","type":"view","item":"a%d"}`+"\n", i)
	}
	req, _ := http.NewRequest("POST", ts.URL+"/v1/events", strings.NewReader(b.String()))
	req.Header.Set("Authorization", "Bearer "+e.keys[engine.RoleIngest])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "at most 10000") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if n := e.storedEvents("customer:big"); n != 0 {
		t.Fatalf("%d events stored", n)
	}
}

// TestIngestLargestBatch: a batch just under the body limit fits in one
// transaction of a store sized for that limit (store.ForLargestWrite), in
// the shapes that store the most per request byte: 10,000 events with
// large attributes, and events whose id, alias and item or target are all
// at their longest (an id is stored twice: in the record and in its
// deduplication key).
func TestIngestLargestBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("writes up to 16 MB per case")
	}
	long := func(prefix string, i int) string {
		return fmt.Sprintf("%s%0*d", prefix, engine.MaxIDLen-len(prefix), i)
	}
	for _, tc := range []struct {
		name  string
		limit int64
		event func(i int) string
	}{
		{"Attributes", api.DefaultMaxBodyBytes, func(i int) string {
			attr := strings.Repeat("x", 160)
			return fmt.Sprintf(`{"id":"big-%d","alias":"customer:%d","type":"view","item":"a","attributes":{"a":"%s","b":"%s"}}`, i, i%100, attr, attr)
		}},
		{"LongestIDs", api.DefaultMaxBodyBytes, func(i int) string {
			return fmt.Sprintf(`{"id":%q,"alias":"customer:%s","type":"view","item":%q}`, long("", i), long("", i)[9:], long("SKU-", i))
		}},
		{"LongestTargets", api.DefaultMaxBodyBytes, func(i int) string {
			return fmt.Sprintf(`{"id":%q,"alias":"customer:%s","type":"social_follow","source":"social:x","target":"customer:%s"}`, long("", i), long("", i)[9:], long("", i+1)[9:])
		}},
		{"Attributes16MiB", 16 << 20, func(i int) string {
			attr := strings.Repeat("x", 780)
			return fmt.Sprintf(`{"id":"big-%d","alias":"customer:%d","type":"view","item":"a","attributes":{"a":"%s","b":"%s"}}`, i, i%100, attr, attr)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := store.Open(store.DefaultOptions(t.TempDir()).ForLargestWrite(tc.limit))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			k, secret, _ := engine.NewAPIKey(engine.RoleIngest, "", time.Now())
			db.CreateKey(context.Background(), k)
			ts := httptest.NewServer((&api.Server{Events: db, Items: db, Keys: db, Health: db, MaxBodyBytes: tc.limit}).Handler())
			defer ts.Close()
			var b strings.Builder
			n := 0
			for ; n < api.MaxBatch; n++ {
				ev := tc.event(n) + "\n"
				if int64(b.Len()+len(ev)) > tc.limit {
					break
				}
				b.WriteString(ev)
			}
			if int64(b.Len()) < tc.limit*9/10 {
				t.Fatalf("body of %d bytes is far under the limit of %d; grow the events", b.Len(), tc.limit)
			}
			req, _ := http.NewRequest("POST", ts.URL+"/v1/events", strings.NewReader(b.String()))
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprintf(`"accepted":%d`, n)) {
				t.Fatalf("%d events in %d bytes: %d %.300s", n, b.Len(), resp.StatusCode, body)
			}
		})
	}
}

func TestItems(t *testing.T) {
	e := newEnv(t)
	r := e.do("PUT", "/v1/items", e.keys[engine.RoleIngest], strings.NewReader(
		`[{"id":"SKU-1","title":"Mug","category":"Home > Kitchen","brand":"Acme","price":9.5,"currency":"EUR","attributes":{"color":"red"}},{"id":"SKU-2","available":false}]`))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = e.do("GET", "/v1/items/SKU-1", e.keys[engine.RoleStorefront], nil)
	var it struct {
		ID, Title, Category string
		Price               float64
		Available           bool
		Attributes          map[string]string
	}
	r.json(t, &it)
	if r.status != 200 || it.Title != "Mug" || !it.Available || it.Attributes["color"] != "red" || !strings.Contains(string(r.body), `"Home > Kitchen"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/items/nope", e.keys[engine.RoleStorefront], nil); r.status != 404 {
		t.Fatalf("missing item: %d", r.status)
	}
	r = e.do("PUT", "/v1/items", e.keys[engine.RoleIngest], strings.NewReader(`[{"id":"SKU-3"},{"id":"SKU-4","price":-1}]`))
	if code, _, details := r.errorOf(t); r.status != 400 || code != "invalid" || details[0].Index != 1 || details[0].Field != "price" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/items/SKU-3", e.keys[engine.RoleStorefront], nil); r.status != 404 {
		t.Fatalf("SKU-3 of a rejected batch was stored: %d", r.status)
	}
}

// TestAuthorizationMatrix calls every /v1 route with every role, no key, an
// unknown key and a revoked key, and checks 401/403 against the route table.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t)
	e.api.UnknownKeyRate = -1 // two failed authentications per route, on purpose; the limit has its own test
	k, revoked, _ := engine.NewAPIKey(engine.RoleAdmin, "gone", time.Now())
	if err := e.db.CreateKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if r := e.admin("DELETE", "/v1/keys/"+k.ID, ""); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	table := e.api.RouteRoles()
	if len(table) == 0 {
		t.Fatal("no routes")
	}
	for route, allowed := range table {
		method, path, _ := strings.Cut(route, " ")
		path = strings.NewReplacer("{alias}", "customer:1", "{item}", "SKU-1", "{id}", "key_none", "{name}", "none").Replace(path)
		for _, tc := range []struct {
			who    string
			key    string
			status int
		}{{"no key", "", 401}, {"unknown key", "rpk_nope", 401}, {"revoked key", revoked, 401}} {
			if r := e.do(method, path, tc.key, strings.NewReader("{}")); r.status != tc.status {
				t.Errorf("%s with %s: %d, want %d", route, tc.who, r.status, tc.status)
			}
		}
		for _, role := range engine.Roles {
			path := path
			if role == engine.RoleBrowser {
				// A browser key reaches anonymous people without a token,
				// organisations only with one (TestAccessMatrix has the rest).
				path = strings.ReplaceAll(path, "customer:1", "anon:1")
			}
			r := e.do(method, path, e.keys[role], strings.NewReader("{}"))
			if role == engine.RoleBrowser && strings.HasPrefix(path, "/v1/orgs/") && slices.Contains(allowed, role) {
				if r.status != 401 {
					t.Errorf("%s as %s without a token: %d, want 401", route, role, r.status)
				}
				continue
			}
			if slices.Contains(allowed, role) {
				if r.status == 401 || r.status == 403 {
					t.Errorf("%s as %s: %d, but the role is allowed: %s", route, role, r.status, r.body)
				}
			} else if r.status != 403 {
				t.Errorf("%s as %s: %d, want 403", route, role, r.status)
			}
		}
	}
}

func TestKeysOverHTTP(t *testing.T) {
	e := newEnv(t)
	r := e.admin("POST", "/v1/keys", `{"role":"storefront","name":"shop"}`)
	var created struct {
		Key    struct{ ID, Role string }
		Secret string
	}
	r.json(t, &created)
	if r.status != 201 || !strings.HasPrefix(created.Secret, engine.SecretPrefix) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/items/x", created.Secret, nil); r.status != 404 {
		t.Fatalf("new key: %d", r.status)
	}
	list := e.admin("GET", "/v1/keys", "")
	if strings.Contains(string(list.body), created.Secret) || strings.Contains(string(list.body), "hash") {
		t.Fatal("key list shows a secret or hash")
	}
	if r := e.admin("POST", "/v1/keys", `{"role":"root"}`); r.status != 400 {
		t.Fatalf("bad role: %d", r.status)
	}
	e.admin("DELETE", "/v1/keys/"+created.Key.ID, "")
	if r := e.do("GET", "/v1/items/x", created.Secret, nil); r.status != 401 {
		t.Fatalf("revoked key: %d", r.status)
	}
	if r := e.admin("DELETE", "/v1/keys/key_missing", ""); r.status != 404 {
		t.Fatalf("revoking a missing key: %d", r.status)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", "/healthz", "", nil); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := e.do("GET", "/readyz", "", nil); r.status != 200 {
		t.Fatal(r.status)
	}
	e.api.Drain()
	if r := e.do("GET", "/readyz", "", nil); r.status != 503 {
		t.Fatalf("draining: %d", r.status)
	}
	if r := e.do("GET", "/v1/nothing", "", nil); r.status != 404 {
		t.Fatalf("unknown route: %d", r.status)
	}
}

func TestJobsAndModels(t *testing.T) {
	e := newEnv(t)
	data := e.keys[engine.RoleData]
	r := e.do("POST", "/v1/jobs/merge/runs", data, nil)
	var run engine.JobRun
	r.json(t, &run)
	if r.status != http.StatusAccepted || run.Job != "merge" || run.ID == "" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/jobs/nope/runs", data, nil); r.status != 404 {
		t.Fatalf("unknown job: %d", r.status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var list struct{ Jobs []engine.JobStatus }
		e.do("GET", "/v1/jobs", data, nil).json(t, &list)
		if len(list.Jobs) == 1 && len(list.Jobs[0].Recent) == 1 && list.Jobs[0].Recent[0].Status == engine.RunSucceeded {
			if list.Jobs[0].Next.IsZero() || list.Jobs[0].Recent[0].Counts["identities"] != 1 {
				t.Fatalf("%+v", list.Jobs[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run never finished: %+v", list)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r = e.do("GET", "/v1/models", data, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"versions":[]`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/runs?runs=1000", data, nil); r.status != 404 {
		t.Fatalf("%d", r.status)
	}
	if r := e.do("GET", "/v1/jobs?runs=1000", data, nil); r.status != 400 {
		t.Fatalf("runs=1000: %d", r.status)
	}
}

// TestRecommendationParameters: bad parameters are a 400 naming each
// problem; good ones reach the service (503 here: no model yet).
func TestRecommendationParameters(t *testing.T) {
	e := newEnv(t)
	key := e.keys[engine.RoleStorefront]
	for _, tc := range []struct {
		name, path string
		status     int
		field      string
	}{
		{"NZero", "/v1/identities/customer:1/recommendations?n=0", 400, "n"},
		{"NHuge", "/v1/identities/customer:1/recommendations?n=1000000", 400, "n"},
		{"NNotANumber", "/v1/identities/customer:1/recommendations?n=ten", 400, "n"},
		{"BadAlias", "/v1/identities/customer%201/recommendations", 400, "alias"},
		{"UnknownAliasKind", "/v1/identities/phone:123/recommendations", 400, "alias"},
		{"MinAboveMax", "/v1/identities/customer:1/recommendations?min_price=10&max_price=5", 400, "min_price"},
		{"NegativePrice", "/v1/identities/customer:1/recommendations?min_price=-1", 400, "min_price"},
		{"BadBool", "/v1/identities/customer:1/recommendations?available_only=maybe", 400, "available_only"},
		{"UnknownParameter", "/v1/identities/customer:1/recommendations?categroy=x", 400, "categroy"},
		{"BadInclude", "/v1/identities/customer:1/recommendations?include=everything", 400, "include"},
		{"BuyAgainN", "/v1/identities/customer:1/buy-again?n=101", 400, "n"},
		{"PopularN", "/v1/popular?n=-1", 400, "n"},
		{"NoModelYet", "/v1/identities/customer:1/recommendations?n=5&category=Home", 503, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", tc.path, key, nil)
			if r.status != tc.status {
				t.Fatalf("%d, want %d: %s", r.status, tc.status, r.body)
			}
			_, msg, details := r.errorOf(t)
			if tc.field != "" && !slices.ContainsFunc(details, func(fe engine.FieldError) bool { return fe.Field == tc.field }) {
				t.Fatalf("details %v do not name %q (%s)", details, tc.field, msg)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t)
	e.api.CORSOrigins = []string{"https://shop.example"}
	ts := httptest.NewServer(e.api.Handler())
	defer ts.Close()
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", ts.URL+"/v1/identities/customer:1/recommendations", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	ok := preflight("https://shop.example")
	if ok.StatusCode != 204 || ok.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		!strings.Contains(ok.Header.Get("Access-Control-Allow-Headers"), "Authorization") || ok.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("allowed origin: %d %v", ok.StatusCode, ok.Header)
	}
	if other := preflight("https://evil.example"); other.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("another origin was allowed: %v", other.Header)
	}
	if upper := preflight("https://SHOP.example"); upper.StatusCode != 204 || upper.Header.Get("Access-Control-Allow-Origin") != "https://SHOP.example" {
		t.Fatalf("an allowed origin in other case: %d %v", upper.StatusCode, upper.Header)
	}

	// The call itself: the allowed origin may read the response and its
	// request id, ETag and Retry-After; another origin's call is answered
	// as if it had no Origin (here: 401, with its JSON body), without CORS
	// headers, so the browser keeps the answer from the page.
	call := func(origin string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", ts.URL+"/v1/popular", nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, _ := call("https://shop.example")
	expose := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers"))
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" || !strings.Contains(expose, "x-request-id") || !strings.Contains(expose, "etag") || !strings.Contains(expose, "retry-after") {
		t.Fatalf("a call from the allowed origin: %v", resp.Header)
	}
	resp, body := call("https://evil.example")
	if resp.StatusCode != 401 || !strings.Contains(string(body), `"unauthorized"`) || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("a call from another origin: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	// "*": any origin, still without credentials.
	e.api.CORSOrigins = []string{"*"}
	anyOrigin := httptest.NewServer(e.api.Handler())
	defer anyOrigin.Close()
	req, _ := http.NewRequest("OPTIONS", anyOrigin.URL+"/v1/popular", nil)
	req.Header.Set("Origin", "https://anyone.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	star, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	star.Body.Close()
	if star.StatusCode != 204 || star.Header.Get("Access-Control-Allow-Origin") == "" || star.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("with *: %d %v", star.StatusCode, star.Header)
	}
}

// TestAdversarialPreflightAllowsUserToken proves issue 13's finding "the
// CORS preflight does not allow the token header, so a browser cannot send
// it at all": a page on an allowed origin may send X-User-Token with its
// key, on a read and on a privacy call alike.
func TestAdversarialPreflightAllowsUserToken(t *testing.T) {
	e := newEnv(t)
	e.api.CORSOrigins = []string{"https://shop.example"}
	ts := httptest.NewServer(e.api.Handler())
	defer ts.Close()
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/identities/customer:1/recommendations"},
		{"GET", "/v1/identities/customer:1/export"},
		{"DELETE", "/v1/identities/customer:1"},
		{"PUT", "/v1/identities/customer:1/consents/social_signals"},
	} {
		req, _ := http.NewRequest("OPTIONS", ts.URL+c.path, nil)
		req.Header.Set("Origin", "https://shop.example")
		req.Header.Set("Access-Control-Request-Method", c.method)
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-user-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		allowed := strings.Split(strings.ToLower(strings.ReplaceAll(resp.Header.Get("Access-Control-Allow-Headers"), " ", "")), ",")
		methods := strings.ToUpper(resp.Header.Get("Access-Control-Allow-Methods"))
		if resp.StatusCode != 204 || !slices.Contains(allowed, "x-user-token") || !slices.Contains(allowed, "authorization") || !strings.Contains(methods, c.method) {
			t.Fatalf("%s %s: %d, allowed headers %q, methods %q", c.method, c.path, resp.StatusCode, allowed, methods)
		}
	}
}

// TestKeyRevokedElsewhereStopsWithinTheCacheTTL: a key revoked in the
// store behind this server's back (another replica) stops working here
// once its cached copy expires; one revoked through this server at once.
func TestKeyRevokedElsewhereStopsWithinTheCacheTTL(t *testing.T) {
	e := newEnv(t)
	e.api.KeyCacheTTL = 300 * time.Millisecond
	ts := httptest.NewServer(e.api.Handler())
	defer ts.Close()
	k, secret, _ := engine.NewAPIKey(engine.RoleStorefront, "elsewhere", time.Now())
	if err := e.db.CreateKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	get := func() int {
		req, _ := http.NewRequest("GET", ts.URL+"/v1/items/x", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(); s != 404 {
		t.Fatalf("before: %d", s)
	}
	if _, err := e.db.RevokeKey(context.Background(), k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for get() != 401 {
		if time.Since(revoked) > time.Second {
			t.Fatal("a key revoked elsewhere still works after the cache's lifetime")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
