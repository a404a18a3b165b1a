package main

import (
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
