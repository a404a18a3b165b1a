package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"rapport/api"
)

func TestDashboardAssets(t *testing.T) {
	ts := httptest.NewServer((&api.Server{Dashboard: true}).Handler())
	defer ts.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		resp, err := client.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get("/ui"); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("/ui: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := get("/ui/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, `src="/ui/app.js"`) {
		t.Fatalf("/ui/: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Fatalf("CSP %q", csp)
	}
	for path, typ := range map[string]string{"/ui/app.js": "text/javascript", "/ui/app.css": "text/css"} {
		if resp, _ := get(path); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), typ) {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/ui/missing.js", "/ui/../go.mod", "/ui/%2e%2e/api/server.go"} {
		if resp, body := get(path); resp.StatusCode != 404 && resp.StatusCode != 301 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	// Without the option there is no dashboard.
	plain := httptest.NewServer((&api.Server{}).Handler())
	defer plain.Close()
	if resp, err := http.Get(plain.URL + "/ui/"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("dashboard served without the option: %v %v", resp.StatusCode, err)
	}
}
