package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// hs256 signs claims as the identity provider would.
func hs256(t *testing.T, secret []byte, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	head := enc(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." + enc(claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(head))
	return head + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// shopPage is a storefront on another origin: it calls Rapport with the
// publishable browser key, as a shop's own page would, and leaves what it
// saw in window.results.
const shopPage = `<!doctype html><title>shop</title><pre id="out">running</pre><script type="module">
const {api, key, token, other} = JSON.parse(document.querySelector("#cfg").textContent);
async function call(name, method, path, {body, user} = {}) {
  const headers = {"Authorization": "Bearer " + key};
  if (user) headers["X-User-Token"] = user;
  if (body) headers["Content-Type"] = "application/json";
  try {
    const r = await fetch(api + path, {method, headers, body});
    return [name, r.status];
  } catch (e) {
    return [name, "network error: " + e.message];
  }
}
const results = Object.fromEntries([
  await call("anonymous recommendations", "GET", "/v1/identities/anon:browser-visitor/recommendations?n=3"),
  await call("anonymous events", "POST", "/v1/events", {body: JSON.stringify([{alias: "anon:browser-visitor", type: "view", item: "SKU-00001"}])}),
  await call("own export with token", "GET", "/v1/identities/customer:C00001/export", {user: token}),
  await call("other's export with token", "GET", "/v1/identities/" + other + "/export", {user: token}),
  await call("other's erasure with token", "DELETE", "/v1/identities/" + other, {user: token}),
  await call("other's export without token", "GET", "/v1/identities/" + other + "/export"),
]);
window.results = results;
document.querySelector("#out").textContent = JSON.stringify(results, null, 1);
</script><script type="application/json" id="cfg">%s</script>`

// TestAdversarialBrowserKeyInChromium proves, in a real browser on another
// origin, the finding "A key meant for the browser can act on anyone": with
// the publishable key, anonymous recommendations and events work, the
// signed-in person's export works with their token (so the preflight
// allows the token header), and another person's export or erasure fails.
func TestAdversarialBrowserKeyInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model and starts a browser")
	}
	browser := chromium(t)
	data := t.TempDir()
	rapport(t, "demo", "--data", data, "--customers", "200", "--items", "300")
	rapport(t, "train", "--data", data, "--factors", "8", "--iterations", "3")
	key := createKey(t, data, "browser")
	secret := []byte("the shop's identity provider secret")
	secretFile := filepath.Join(t.TempDir(), "jwt-secret")
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	var page string
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	defer shop.Close()
	srv := startServer(t, data, "--cors-origins", shop.URL, "--jwt-secret-file", secretFile, "--jwt-issuer", "https://idp.shop.example", "--jwt-audience", "rapport")
	token := hs256(t, secret, map[string]any{"sub": "customer:C00001", "iss": "https://idp.shop.example", "aud": "rapport", "exp": time.Now().Add(time.Hour).Unix()})
	cfg, _ := json.Marshal(map[string]string{"api": srv.url, "key": key, "token": token, "other": "customer:C00002"})
	page = fmt.Sprintf(shopPage, cfg)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bctx, time.Minute)
	defer cancel()
	var results map[string]any
	err := chromedp.Do(ctx, chromedp.Navigate(shop.URL),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`window.results !== undefined`)(ctx, t)
			return err
		}),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) (err error) {
			results, err = chromedp.Evaluate[map[string]any](`window.results`)(ctx, t)
			return err
		}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"anonymous recommendations":    200,
		"anonymous events":             200,
		"own export with token":        200,
		"other's export with token":    403,
		"other's erasure with token":   403,
		"other's export without token": 401,
	}
	for name, status := range want {
		if results[name] != status {
			t.Errorf("%s: %v, want %v", name, results[name], status)
		}
	}
	t.Logf("browser on %s calling %s: %v", shop.URL, srv.url, results)
}
