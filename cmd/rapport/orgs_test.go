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
