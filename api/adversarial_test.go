package api_test

import (
	"net/http"
	"strings"
	"testing"

	"rapport/engine"
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
