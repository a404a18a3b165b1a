package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rapport/api"
	"rapport/engine"
	"rapport/store"
	"rapport/store/storetest"
)

// TestAdversarialDuplicateJSONKeys proves issue 13 §6: a name given twice in
// one JSON object, at any depth and however it is escaped, is a 400 naming
// it, on every route that takes a JSON body (encoding/json alone keeps the
// last, so a proxy that reads the first and Rapport would disagree).
func TestAdversarialDuplicateJSONKeys(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, method, path, body, field string
		index                           int
	}{
		{"Event", "POST", "/v1/events", `[{"alias":"customer:1","type":"view","item":"a","item":"b"}]`, "item", 0},
		{"EventEscapedName", "POST", "/v1/events", `{"alias":"customer:1","type":"view","item":"a","\u0061lias":"customer:2"}`, "alias", 0},
		{"EventAttributes", "POST", "/v1/events", `{"alias":"customer:1","type":"view","item":"a"}` + "\n" + `{"alias":"customer:1","type":"view","item":"a","attributes":{"k":"1","k":"2"}}`, "attributes.k", 1},
		{"Item", "PUT", "/v1/items", `[{"id":"a","title":"Mug","title":"Cup"}]`, "title", 0},
		{"Consent", "PUT", "/v1/identities/customer:1/consents/analytics", `{"granted":true,"source":"web","granted":false}`, "granted", -1},
		{"Preferences", "PUT", "/v1/identities/customer:1/preferences", `{"sizes":{"shoes":"42","shoes":"43"}}`, "sizes.shoes", -1},
		{"Link", "POST", "/v1/identities/customer:1/links", `{"alias":"anon:a","alias":"anon:b"}`, "alias", -1},
		{"Org", "PUT", "/v1/orgs/acme", `{"name":"Acme","name":"Other"}`, "name", -1},
		{"Member", "PUT", "/v1/orgs/acme/members/customer:1", `{"role":"viewer","role":"admin"}`, "role", -1},
		{"Key", "POST", "/v1/keys", `{"role":"ingest","name":"till","role":"admin"}`, "role", -1},
		{"Experiment", "PUT", "/v1/experiments/ab", `{"variants":[{"name":"a","share":0.5},{"name":"b","share":0.5,"name":"c"}]}`, "variants[1].name", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.admin(tc.method, tc.path, tc.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.status, r.body)
			}
			_, msg, details := r.errorOf(t)
			if len(details) != 1 || details[0] != (engine.FieldError{Index: tc.index, Field: tc.field, Reason: "is given more than once in the same object"}) {
				t.Fatalf("details %v (%s), want one naming %s of record %d given twice", details, msg, tc.field, tc.index)
			}
			if !strings.Contains(msg, tc.field) {
				t.Errorf("message %q does not name %s", msg, tc.field)
			}
		})
	}
}

// TestAdversarialStoreOutage proves issue 13 §6: while the store cannot be
// reached, calls answer 503 unavailable (retry later), not 500. On Redis,
// a private redis-server (never the shared one) is stopped under a running
// API; on Badger, the store is closed under it, as during shutdown.
func TestAdversarialStoreOutage(t *testing.T) {
	t.Run("Redis", func(t *testing.T) {
		url, _, stop := storetest.StartRedis(t, 0)
		db, err := store.OpenRedis(url)
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvOn(t, db)
		if r := e.admin("POST", "/v1/events", `{"alias":"customer:1","type":"view","item":"a"}`); r.status != http.StatusOK {
			t.Fatalf("ingest while Redis is up: %d %s", r.status, r.body)
		}
		stop()
		e.expectOutage(t)
	})
	t.Run("Badger", func(t *testing.T) {
		db, err := store.Open(store.DefaultOptions(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvOn(t, db)
		db.Close()
		e.expectOutage(t)
	})
}

// expectOutage checks that reads and writes answer 503 unavailable.
func (e *env) expectOutage(t *testing.T) {
	t.Helper()
	time.Sleep(1100 * time.Millisecond) // past the key cache, so the key is read from the store too
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/identities/customer:1", ""},
		{"GET", "/v1/identities/customer:1/events", ""},
		{"POST", "/v1/events", `{"alias":"customer:1","type":"view","item":"b"}`},
		{"GET", "/readyz", ""},
	} {
		r := e.admin(c.method, c.path, c.body)
		code, msg, _ := r.errorOf(t)
		if r.status != http.StatusServiceUnavailable || code != string(engine.CodeUnavailable) {
			t.Errorf("%s %s while the store is down: %d %s %q, want 503 unavailable", c.method, c.path, r.status, code, msg)
		}
	}
}

// logBuffer collects log output safely from the server's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAdversarialLogsCarryNoAliases proves issue 13 §6: the log never
// carries an alias or e-mail address, though the 404s and 409s about a
// person name their alias to the caller. An address given raw is hashed by
// engine into email:<sha256>; neither the address nor the hash may appear.
func TestAdversarialLogsCarryNoAliases(t *testing.T) {
	var logs logBuffer
	e := newEnvOn(t, storetest.Open(t, t.TempDir()), func(s *api.Server) {
		s.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		s.AccessLogSample = 1
	})
	sha := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/v1/events", `{"alias":"customer:17850","type":"view","item":"a"}`, 200},
		{"GET", "/v1/identities/customer:17851", "", 404},
		{"GET", "/v1/identities/email:Ann.Person@Example.com/export", "", 404},
		{"GET", "/v1/identities/email:" + sha("bob@example.org") + "/consents", "", 404},
		{"POST", "/v1/identities/customer:17850/links", `{"alias":"email:Ann.Person@Example.com"}`, 200},
		{"POST", "/v1/identities/customer:17850/links", `{"alias":"customer:99999"}`, 409},
		{"POST", "/v1/identities/customer:17850/links", `{"alias":"email:carol@example.net"}`, 409},
		{"DELETE", "/v1/identities/customer:17850/links/loyalty:L-424242", "", 404},
		{"POST", "/v1/events", `{"alias":"customer:17850","type":"social_follow","target":"anon:","source":"social:x"}`, 400},
	} {
		if r := e.admin(c.method, c.path, c.body); r.status != c.status {
			t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, r.status, r.body, c.status)
		} else if c.status >= 400 && !strings.Contains(string(r.body), ":") {
			t.Fatalf("%s %s: %s", c.method, c.path, r.body)
		}
	}
	out := strings.ToLower(logs.String())
	if !strings.Contains(out, "alias#") || strings.Count(out, `"msg":"request"`) < 9 {
		t.Fatalf("the log does not hold the redacted request lines:\n%s", out)
	}
	for _, secret := range []string{"17850", "17851", "99999", "424242", "ann.person", "example.com", "example.org", "example.net", "carol",
		sha("ann.person@example.com"), sha("bob@example.org"), sha("carol@example.net")} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
		}
	}
}

// TestAdversarialAccessLogBounded proves issue 13 §6: request logging
// cannot fill a disk. By default successful requests write nothing, 4xx
// at most ten lines a second (the next line counts those left out), and
// 5xx and slow requests are always logged.
func TestAdversarialAccessLogBounded(t *testing.T) {
	var logs logBuffer
	e := newEnvOn(t, storetest.Open(t, t.TempDir()), func(s *api.Server) {
		s.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	lines := func() int { return strings.Count(logs.String(), "\n") }
	for range 200 {
		e.do("GET", "/healthz", "", nil)
	}
	if n := lines(); n != 0 {
		t.Fatalf("200 successful requests wrote %d lines by default:\n%s", n, logs.String())
	}
	start := time.Now()
	for range 300 {
		e.do("GET", "/v1/items/x", "", nil) // 401
	}
	seconds := int(time.Since(start)/time.Second) + 1
	if n := lines(); n < 1 || n > 10*(seconds+1) {
		t.Fatalf("300 client errors in %d s wrote %d lines, want 1 to %d", seconds, n, 10*(seconds+1))
	}
	time.Sleep(time.Until(start.Truncate(time.Second).Add(time.Duration(seconds+1) * time.Second)))
	e.do("GET", "/v1/items/x", "", nil)
	if !strings.Contains(logs.String(), `"client_errors_not_logged"`) {
		t.Errorf("no line reports the client errors left out:\n%s", logs.String())
	}
	before := lines()
	e.api.Drain()
	for range 50 {
		e.do("GET", "/readyz", "", nil) // 503
	}
	if n := lines() - before; n != 50 {
		t.Errorf("50 server errors wrote %d lines, want 50", n)
	}
	if e.api.SlowRequest != api.DefaultSlowRequest {
		t.Errorf("SlowRequest defaults to %v, want %v", e.api.SlowRequest, api.DefaultSlowRequest)
	}
}

// eventLines is an NDJSON batch of about size bytes for alias.
func eventLines(alias string, size int) []byte {
	var b bytes.Buffer
	pad := strings.Repeat("x", 150)
	for i := 0; b.Len() < size-300; i++ {
		fmt.Fprintf(&b, `{"id":"e%d","alias":"%s","type":"view","item":"a","attributes":{"pad":"%s"}}`+"\n", i, alias, pad)
	}
	return b.Bytes()
}

// TestAdversarialInflightBudget proves issue 13 §6: the request bodies
// held at once are bounded. With room for two bodies in flight, a third —
// declared by Content-Length or arriving chunked — is answered 503
// unavailable with Retry-After while the two are read, and the budget
// returns when they end.
func TestAdversarialInflightBudget(t *testing.T) {
	const body = 900 << 10
	e := newEnvOn(t, storetest.Open(t, t.TempDir()), func(s *api.Server) {
		s.MaxBodyBytes, s.MaxInflightBytes = 1<<20, 2*body
	})
	type result struct {
		status int
		err    error
	}
	// start sends a batch whose last bytes wait for release; chunked hides
	// its length.
	start := func(alias string, chunked bool) (release func(), done chan result) {
		data := eventLines(alias, body)
		pr, pw := io.Pipe()
		req, err := http.NewRequest("POST", e.url+"/v1/events", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.keys[engine.RoleIngest])
		if !chunked {
			req.ContentLength = int64(len(data))
		}
		done = make(chan result, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- result{0, err}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				err = fmt.Errorf("503 without Retry-After")
			}
			done <- result{resp.StatusCode, err}
		}()
		head := len(data) - 1000
		go pw.Write(data[:head])
		return func() { pw.Write(data[head:]); pw.Close() }, done
	}
	release1, done1 := start("customer:1", false)
	release2, done2 := start("customer:2", true)
	time.Sleep(300 * time.Millisecond) // both are being read
	for _, chunked := range []bool{false, true} {
		release3, done3 := start("customer:3", chunked)
		select {
		case r := <-done3:
			if r.status != http.StatusServiceUnavailable || r.err != nil {
				t.Errorf("a third body (chunked %v) over the budget: %d %v, want 503 with Retry-After", chunked, r.status, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("a third body (chunked %v) over the budget was not turned away", chunked)
		}
		release3()
	}
	release1()
	release2()
	for i, done := range []chan result{done1, done2} {
		if r := <-done; r.status != http.StatusOK || r.err != nil {
			t.Errorf("batch %d within the budget: %d %v", i+1, r.status, r.err)
		}
	}
	if n := e.storedEvents("customer:3"); n != 0 {
		t.Errorf("%d events stored from a refused batch", n)
	}
	if r := e.do("POST", "/v1/events", e.keys[engine.RoleIngest], bytes.NewReader(eventLines("customer:4", body))); r.status != http.StatusOK {
		t.Errorf("after the others ended, a batch got %d %s", r.status, r.body)
	}
}

// exportPeakHeap stores n events for customer:1 and returns the export's
// size and the most the live heap grew while it was served (sampled every
// millisecond, with the GC kept tight so garbage does not count).
func exportPeakHeap(tb testing.TB, e *env, n int) (int, uint64) {
	tb.Helper()
	a, _ := engine.ParseAlias("customer:1")
	at := time.Now().Add(-time.Hour)
	for done := 0; done < n; {
		batch := make([]engine.Event, 0, 5000)
		for ; len(batch) < cap(batch) && done < n; done++ {
			typ := engine.EventView
			source := "web"
			if done%10 == 0 {
				typ, source = engine.EventSocialLike, "social:instagram"
			}
			batch = append(batch, engine.Event{ClientID: fmt.Sprintf("e%d", done), Alias: a, Type: typ, Item: fmt.Sprintf("SKU-%d", done%3000),
				Quantity: 1, Time: at.Add(time.Duration(done) * time.Millisecond), Source: source, Region: "UK"})
		}
		if _, err := e.db.AppendEvents(tb.Context(), batch); err != nil {
			tb.Fatal(err)
		}
	}
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > base && ms.HeapAlloc-base > peak.Load() {
					peak.Store(ms.HeapAlloc - base)
				}
			}
		}
	}()
	req, _ := http.NewRequest("GET", e.url+"/v1/identities/customer:1/export", nil)
	req.Header.Set("Authorization", "Bearer "+e.keys[engine.RoleAdmin])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	// Read the document as a stream too, counting the elements of its
	// two lists, so the client's side holds none of it in this process.
	cw := &countingReader{r: resp.Body}
	counts := map[string]int{}
	dec := json.NewDecoder(cw)
	depth, member := 0, ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("export is not JSON: %v", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if depth == 2 && tok == json.Delim('{') {
				counts[member]++
			}
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		default:
			if k, ok := tok.(string); ok && depth == 1 && member != k {
				member = k
			} else if depth == 1 {
				member = ""
			}
		}
	}
	resp.Body.Close()
	close(stop)
	<-sampled
	if resp.StatusCode != 200 || counts["events"]+counts["social_signals"] != n || counts["social_signals"] != (n+9)/10 {
		tb.Fatalf("export: %d, %d events and %d social signals", resp.StatusCode, counts["events"], counts["social_signals"])
	}
	return cw.n, peak.Load()
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// exportEvents sizes TestAdversarialExportStreams; the figure in the README
// is from -args -export-events 200000.
var exportEvents = flag.Int("export-events", 50_000, "events of the person TestAdversarialExportStreams exports")

// TestAdversarialExportStreams proves issue 13 §6 (exports stream): the
// export of a person with 50,000 events is written as it is read, so the
// server's heap grows by less than the document (before: 164 MiB for the
// 30 MiB export of 200,000 events; after: under 8 MiB).
func TestAdversarialExportStreams(t *testing.T) {
	e := newEnv(t)
	size, peak := exportPeakHeap(t, e, *exportEvents)
	t.Logf("export of %d events: %.1f MiB; heap grew at most %.1f MiB", *exportEvents, float64(size)/(1<<20), float64(peak)/(1<<20))
	if peak > uint64(size) {
		t.Fatalf("the heap grew by %.1f MiB serving an export of %.1f MiB; it should stream", float64(peak)/(1<<20), float64(size)/(1<<20))
	}
}
