package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImportAssignsOrganisations(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(t.TempDir(), "orders.csv")
	body := "buyer,company,sku,when\n" +
		"w1,ACME,A,2026-01-01T10:00:00Z\nw1,ACME,B,2026-01-02T10:00:00Z\nw2,ACME,A,2026-01-03T10:00:00Z\n" +
		"w3,GLOBEX,C,2026-01-03T10:00:00Z\nw4,,C,2026-01-04T10:00:00Z\nw5,bad org!,C,2026-01-04T10:00:00Z\n"
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := rapport(t, "import", "events", file, "--data", data, "--map", "identity=buyer,org=company,item=sku,time=when", "--identity-kind", "b2b", "--type", "purchase")
	if !strings.Contains(out, "imported  5 events") || !strings.Contains(out, "invalid org") {
		t.Fatalf("import:\n%s", out)
	}
	// Imported members are buyers; roles are set over HTTP.
	key := createKey(t, data, "data")
	srv := startServer(t, data)
	if status, body := call(t, "PUT", srv.url+"/v1/orgs/ACME/members/b2b:w2", key, `{"role":"approver"}`); status != 200 {
		t.Fatalf("role: %d %s", status, body)
	}
	status, got := call(t, "GET", srv.url+"/v1/orgs/ACME", key, "")
	if status != 200 || strings.Count(string(got), `"alias"`) != 2 || !strings.Contains(string(got), `"name":"ACME"`) || !strings.Contains(string(got), `"role":"approver"`) {
		t.Fatalf("ACME: %d %s", status, got)
	}
	if status, got := call(t, "GET", srv.url+"/v1/orgs/GLOBEX", key, ""); status != 200 || !strings.Contains(string(got), "b2b:w3") {
		t.Fatalf("GLOBEX: %d %s", status, got)
	}
}

func TestModelRegistry(t *testing.T) {
	data := t.TempDir()
	rapport(t, "demo", "--data", data, "--customers", "400", "--items", "300")
	rapport(t, "train", "--data", data, "--factors", "16", "--iterations", "6")
	out := rapport(t, "train", "--data", data, "--factors", "2", "--iterations", "1")
	if !strings.Contains(out, "status: candidate, not serving: held-out discover_ndcg@10") {
		t.Fatalf("a worse model:\n%s", out)
	}
	if out := rapport(t, "models", "list", "--data", data); !strings.Contains(out, "*  v000001") || !strings.Contains(out, "candidate") {
		t.Fatalf("list:\n%s", out)
	}
	if out := rapport(t, "models", "promote", "v000002", "--data", data); !strings.Contains(out, "v000002 serves (was v000001)") {
		t.Fatalf("promote:\n%s", out)
	}
	if out := rapport(t, "models", "rollback", "--data", data); !strings.Contains(out, "rolled back: v000001 serves (was v000002)") {
		t.Fatalf("rollback:\n%s", out)
	}
	key := createKey(t, data, "data")
	srv := startServer(t, data)
	if status, body := call(t, "GET", srv.url+"/v1/models", key, ""); status != 200 || !strings.Contains(string(body), `"serving":"v000001"`) {
		t.Fatalf("models: %d %s", status, body)
	}
	if status, body := call(t, "POST", srv.url+"/v1/models/v000002/promote", key, ""); status != 200 || !strings.Contains(string(body), `"status":"promoted"`) {
		t.Fatalf("promote over HTTP: %d %s", status, body)
	}
	if status, body := call(t, "GET", srv.url+"/v1/identities/customer:C00001/recommendations", key, ""); status != 200 || !strings.Contains(string(body), `"model_version":"v000002"`) {
		t.Fatalf("serving after promotion: %d %s", status, body)
	}
	if status, _ := call(t, "POST", srv.url+"/v1/models/v999999/promote", key, ""); status != 404 {
		t.Fatalf("unknown version: %d", status)
	}
}

func TestBackupAndRestore(t *testing.T) {
	data := t.TempDir()
	admin := createKey(t, data, "admin")
	srv := startServer(t, data)
	events := `{"alias":"customer:1","type":"purchase","item":"A"}
{"alias":"customer:2","type":"view","item":"B"}
{"alias":"customer:2","type":"view","item":"C"}`
	if status, body := call(t, "POST", srv.url+"/v1/events", admin, events); status != 200 {
		t.Fatalf("events: %d %s", status, body)
	}
	file := filepath.Join(t.TempDir(), "snap.backup")
	// Online, while the server serves.
	if out := rapport(t, "backup", "--to", file, "--url", srv.url, "--key", admin); !strings.Contains(out, "backed up to") {
		t.Fatalf("backup:\n%s", out)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if out := rapport(t, "restore", "--from", file, "--data", restored); !strings.Contains(out, "restored") {
		t.Fatalf("restore:\n%s", out)
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"restore", "--from", file, "--data", restored}, io.Discard, &stderr); code == 0 || !strings.Contains(stderr.String(), "empty data directory") {
		t.Fatalf("restore over data: %d %s", code, stderr.String())
	}
	two := startServer(t, restored) // the admin key came along
	count := func(alias string) int {
		status, body := call(t, "GET", two.url+"/v1/identities/"+alias, admin, "")
		if status != 200 {
			t.Fatalf("%s: %d %s", alias, status, body)
		}
		var b struct{ Counts map[string]int }
		json.Unmarshal(body, &b)
		return b.Counts["events"]
	}
	if count("customer:1") != 1 || count("customer:2") != 2 {
		t.Fatalf("restored counts %d %d", count("customer:1"), count("customer:2"))
	}
	// New people in the restored store get new numbers, not old ones.
	if status, body := call(t, "POST", two.url+"/v1/events", admin, `{"alias":"customer:3","type":"view","item":"D"}`); status != 200 {
		t.Fatalf("after restore: %d %s", status, body)
	}
	if count("customer:3") != 1 || count("customer:1") != 1 || count("customer:2") != 2 {
		t.Fatalf("a new identity collided with a restored one")
	}
}
