package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestOpenAPIListsEveryRoute checks the served document against the routes
// Gin actually registered, both ways.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	s := &Server{Version: "test"}
	g := s.Handler().(*gin.Engine)
	raw, err := json.Marshal(s.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	registered := map[string]bool{}
	for _, r := range g.Routes() {
		key := strings.ToLower(r.Method) + " " + openAPIPath(r.Path)
		registered[key] = true
		if _, ok := doc.Paths[openAPIPath(r.Path)][strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s is not in the OpenAPI document", r.Method, r.Path)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !registered[method+" "+path] {
				t.Errorf("the OpenAPI document lists %s %s, which is not served", method, path)
			}
		}
	}
	if len(registered) < 8 {
		t.Fatalf("only %d routes registered", len(registered))
	}
}
