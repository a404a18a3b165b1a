package api_test

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"rapport/engine"
	"rapport/store"
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
		bin, err := exec.LookPath("redis-server")
		if err != nil {
			t.Skip("no redis-server on PATH")
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		redis := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
		if err := redis.Start(); err != nil {
			t.Fatal(err)
		}
		stopped := false
		stop := func() {
			if !stopped {
				stopped = true
				redis.Process.Kill()
				redis.Wait()
			}
		}
		defer stop()
		var db *store.DB
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if db, err = store.OpenRedis(fmt.Sprintf("redis://127.0.0.1:%d/0", port)); err == nil || time.Now().After(deadline) {
				break
			}
		}
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
