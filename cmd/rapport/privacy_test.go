package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"rapport/store"
	"rapport/store/storetest"
)

func call(t *testing.T, method, url, key, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestExportAndErasureEndToEnd runs the privacy flow against a real server
// and then scans the raw files of its data directory.
func TestExportAndErasureEndToEnd(t *testing.T) {
	data := t.TempDir()
	key := createKey(t, data, "admin")
	srv := startServer(t, data)
	// Every event carries a region: a social like from a person with none
	// would meet the strictest policy and not be stored.
	events := `{"id":"zz-ord-1","alias":"customer:ZZ-PRIV-1","type":"purchase","item":"SKU-1","price":5,"currency":"EUR","region":"US"}
{"alias":"anon:ZZ-PRIV-COOKIE","type":"view","item":"SKU-2","region":"US"}
{"alias":"customer:ZZ-PRIV-1","type":"social_like","item":"SKU-3","source":"social:instagram","region":"US"}
{"alias":"customer:ZZ-STAYS-2","type":"purchase","item":"SKU-1","region":"US"}`
	if status, body := call(t, "POST", srv.url+"/v1/events", key, events); status != 200 || !strings.Contains(string(body), `"accepted":4`) {
		t.Fatalf("events: %d %s", status, body)
	}
	if status, body := call(t, "POST", srv.url+"/v1/identities/customer:ZZ-PRIV-1/links", key, `{"alias":"anon:ZZ-PRIV-COOKIE"}`); status != 200 {
		t.Fatalf("link: %d %s", status, body)
	}
	if status, body := call(t, "PUT", srv.url+"/v1/identities/anon:ZZ-PRIV-COOKIE/consents/analytics", key, `{"granted":true,"source":"cmp"}`); status != 200 {
		t.Fatalf("consent: %d %s", status, body)
	}
	status, body := call(t, "GET", srv.url+"/v1/identities/customer:ZZ-PRIV-1/export", key, "")
	var export struct {
		Identity struct{ Aliases []string }
		Events   []struct {
			Alias string
			Item  string
		}
		SocialSignals []json.RawMessage `json:"social_signals"`
		Consents      struct{ History []json.RawMessage }
		Links         []json.RawMessage
		FeatureVector *struct{ Provenance []json.RawMessage } `json:"feature_vector"`
	}
	if status != 200 || json.Unmarshal(body, &export) != nil {
		t.Fatalf("export: %d %s", status, body)
	}
	if len(export.Identity.Aliases) != 2 || len(export.Events) != 2 || len(export.SocialSignals) != 1 || len(export.Consents.History) != 1 || len(export.Links) != 1 || export.FeatureVector == nil {
		t.Fatalf("export: %s", body)
	}

	status, body = call(t, "DELETE", srv.url+"/v1/identities/anon:ZZ-PRIV-COOKIE", key, "")
	var receipt struct {
		ID      string
		Status  string
		Held    map[string]int
		Removed map[string]int
	}
	if status != http.StatusAccepted || json.Unmarshal(body, &receipt) != nil || receipt.Status != "pending" {
		t.Fatalf("erase: %d %s", status, body)
	}
	for _, a := range []string{"customer:ZZ-PRIV-1", "anon:ZZ-PRIV-COOKIE"} {
		if status, _ := call(t, "GET", srv.url+"/v1/identities/"+a+"/export", key, ""); status != 404 {
			t.Fatalf("export of erased %s: %d", a, status)
		}
	}
	if status, body := call(t, "POST", srv.url+"/v1/jobs/erasure/runs", key, ""); status != http.StatusAccepted && status != 200 {
		t.Fatalf("start erasure job: %d %s", status, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for receipt.Status != "done" {
		if time.Now().After(deadline) {
			t.Fatalf("erasure not done: %+v", receipt)
		}
		time.Sleep(50 * time.Millisecond)
		_, body := call(t, "GET", srv.url+"/v1/erasures/"+receipt.ID, key, "")
		if err := json.Unmarshal(body, &receipt); err != nil {
			t.Fatalf("receipt: %s", body)
		}
	}
	for layer, n := range receipt.Held {
		if receipt.Removed[layer] != n {
			t.Errorf("%s: held %d, removed %d", layer, n, receipt.Removed[layer])
		}
	}
	if receipt.Held["events"] != 2 || receipt.Held["social_signals"] != 1 || receipt.Held["aliases"] != 2 {
		t.Errorf("held %v", receipt.Held)
	}

	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	// Every version of every key, the decompressed tables, the other files.
	found := storetest.Traces(t, store.Options{Dir: data}, "ZZ-PRIV-1", "ZZ-PRIV-COOKIE", "zz-ord-1", "ZZ-STAYS-2")
	for _, s := range []string{"ZZ-PRIV-1", "ZZ-PRIV-COOKIE", "zz-ord-1"} {
		if files := found[s]; len(files) > 0 {
			t.Errorf("%s is still in %v", s, files)
		}
	}
	if len(found["ZZ-STAYS-2"]) == 0 {
		t.Error("control: the person who was not erased is in no file")
	}
}

func TestBenchWithdraw(t *testing.T) {
	data := t.TempDir()
	rapport(t, "demo", "--data", data, "--customers", "300", "--items", "300")
	rapport(t, "train", "--data", data, "--factors", "8", "--iterations", "2")
	key := createKey(t, data, "storefront")
	aliases := filepath.Join(t.TempDir(), "aliases")
	if err := os.WriteFile(aliases, []byte("customer:C00001\ncustomer:C00002\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, data)
	out := rapport(t, "bench", "withdraw", "--url", srv.url, "--key", key, "--aliases", aliases, "--trials", "5")
	if !strings.Contains(out, "the very next list used no social signal in 5") || !strings.Contains(out, "p99") {
		t.Fatalf("bench withdraw:\n%s", out)
	}
}

func TestImportConsentsAndSocial(t *testing.T) {
	data := t.TempDir()
	dir := t.TempDir()
	write := func(name, body string) string { return writeFile(t, dir, name, body) }
	events := write("events.csv", "customer,sku,when,region\n1,A,2026-01-01T10:00:00Z,EU-DE\n2,B,2026-01-02T10:00:00Z,EU-FR\n3,C,2026-01-02T11:00:00Z,US-NY\n")
	consents := write("consents.csv", "cid,what,decision,at\n1,social_signals,yes,2026-02-01T00:00:00Z\n2,social_signals,no,2026-02-01T00:00:00Z\n9,social_signals,yes,2026-02-01T00:00:00Z\n1,marketing,yes,2026-02-01T00:00:00Z\n1,analytics,maybe,2026-02-01T00:00:00Z\n")
	social := write("social.csv", "user,follows,at\n1,brand:Acme,2026-03-01T00:00:00Z\n2,brand:Acme,2026-03-01T00:00:00Z\n3,category:Toys,2026-03-01T00:00:00Z\n")
	rapport(t, "import", "events", events, "--data", data, "--map", "identity=customer,item=sku,time=when", "--identity-kind", "customer", "--type", "purchase")
	out := rapport(t, "import", "consents", consents, "--data", data, "--map", "identity=cid,purpose=what,granted=decision,time=at", "--identity-kind", "customer", "--source", "cmp", "--json")
	var sum struct {
		Imported int
		Skipped  map[string]int
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Imported != 2 || sum.Skipped["unknown identity"] != 1 || sum.Skipped["invalid purpose"] != 1 || sum.Skipped["invalid granted"] != 1 {
		t.Fatalf("consents: %s", out)
	}
	// Follows of things and of friends; customer 2 said no, 3 is in the US
	// (allowed until withdrawn), 1 said yes.
	out = rapport(t, "import", "social", social, "--data", data, "--map", "identity=user,target=follows,time=at", "--identity-kind", "customer", "--source", "social:facebook", "--json")
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Imported != 2 || sum.Skipped["no social_signals consent"] != 1 {
		t.Fatalf("social things: %s", out)
	}
	friends := write("friends.csv", "user,friend,at\n1,2,2026-03-02T00:00:00Z\n1,1,2026-03-02T00:00:00Z\n")
	out = rapport(t, "import", "social", friends, "--data", data, "--map", "identity=user,friend=friend,time=at", "--identity-kind", "customer", "--source", "social:facebook", "--json")
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Imported != 1 || sum.Skipped["invalid friend"] != 1 {
		t.Fatalf("social friends: %s", out)
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"import", "social", social, "--data", data, "--map", "identity=user,target=follows,time=at"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "--source social:") {
		t.Fatalf("social without a source: %d %s", code, stderr.String())
	}
	key := createKey(t, data, "data")
	srv := startServer(t, data)
	for who, want := range map[string]string{"customer:1": `"social_signals":2`, "customer:2": `"social_signals":0`, "customer:3": `"social_signals":1`} {
		if status, body := call(t, "GET", srv.url+"/v1/identities/"+who, key, ""); status != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %s, want %s", who, status, body, want)
		}
	}
}

// TestAdversarialImportedWithdrawalPurges proves that consent is enforced
// on the import path too: `import consents` stored a withdrawal but never
// called the enforcer, so the social signals it forbids stayed stored.
func TestAdversarialImportedWithdrawalPurges(t *testing.T) {
	data := t.TempDir()
	dir := t.TempDir()
	write := func(name, body string) string { return writeFile(t, dir, name, body) }
	rapport(t, "import", "events", write("events.csv", "customer,sku,when,region\n1,A,2026-01-01T10:00:00Z,US-NY\n"), "--data", data,
		"--map", "identity=customer,item=sku,time=when", "--identity-kind", "customer", "--type", "purchase")
	rapport(t, "import", "social", write("social.csv", "user,follows,at\n1,brand:Acme,2026-03-01T00:00:00Z\n"), "--data", data,
		"--map", "identity=user,target=follows,time=at", "--identity-kind", "customer", "--source", "social:facebook")
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"import", "consents", write("consents.csv", "cid,what,decision\n1,social_signals,no\n"), "--data", data,
		"--map", "identity=cid,purpose=what,granted=decision", "--identity-kind", "customer"}, io.Discard, &stderr); code != 0 || !strings.Contains(stderr.String(), "purged 1 social signals") {
		t.Fatalf("import consents: exit %d, %s", code, stderr.String())
	}
	key := createKey(t, data, "data")
	srv := startServer(t, data)
	if status, body := call(t, "GET", srv.url+"/v1/identities/customer:1", key, ""); status != 200 || !strings.Contains(string(body), `"social_signals":0`) {
		t.Fatalf("after an imported withdrawal: %d %s", status, body)
	}
}

// writeFile writes body to dir/name and returns its path.
func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
