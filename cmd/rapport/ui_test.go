package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds the browser for the dashboard tests. CI sets
// RAPPORT_BROWSER_TESTS=1, which makes a missing browser a failure rather
// than a skip.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("RAPPORT_BROWSER_TESTS") == "1" {
		t.Fatal("RAPPORT_BROWSER_TESTS=1 but no chromium on PATH (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH; .ci/run installs it")
	return ""
}

// artifacts is where the browser tests leave their screenshots:
// $RAPPORT_ARTIFACTS, else artifacts/ui at the top of the repository.
func artifacts(t *testing.T) string {
	dir := os.Getenv("RAPPORT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts", "ui")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDashboardInBrowser drives /ui in headless Chromium: a refused login,
// a login, a model's details, a job run, an experiment's report and an
// identity lookup, taking a screenshot at each step.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model and starts a browser")
	}
	browser := chromium(t)
	shots := artifacts(t)
	data := t.TempDir()
	rapport(t, "demo", "--data", data, "--customers", "200", "--items", "300")
	rapport(t, "train", "--data", data, "--factors", "8", "--iterations", "3")
	dataKey := createKey(t, data, "data")
	storefront := createKey(t, data, "storefront")
	srv, base := openServer(t, data, "@every 1h")
	defer srv.Close(context.Background())

	// An experiment with some traffic and feedback, for its chart.
	design := `{"variants":[{"name":"control","share":0.5},{"name":"als-heavy","share":0.5,"blend":{"weight_als":12}}]}`
	if status, b := call(t, "PUT", base+"/v1/experiments/home-ab", dataKey, design); status != 201 {
		t.Fatalf("experiment: %d %s", status, b)
	}
	var feedback []string
	for i := range 300 {
		who := fmt.Sprintf("anon:ui-%d", i)
		_, b := call(t, "GET", base+"/v1/identities/"+who+"/recommendations?n=3", storefront, "")
		var l recList
		if err := json.Unmarshal(b, &l); err != nil || len(l.Items) == 0 {
			t.Fatalf("recommend: %s", b)
		}
		if i%4 == 0 || (l.Variant == "als-heavy" && i%3 == 0) {
			feedback = append(feedback, fmt.Sprintf(`{"alias":%q,"type":"click","item":%q,"attributes":{"recommendation_id":%q}}`, who, l.Items[0].Item, l.RecommendationID))
		}
		if i%9 == 0 {
			feedback = append(feedback, fmt.Sprintf(`{"alias":%q,"type":"purchase","item":%q,"price":4,"currency":"EUR","attributes":{"recommendation_id":%q}}`, who, l.Items[0].Item, l.RecommendationID))
		}
	}
	if status, b := call(t, "POST", base+"/v1/events", dataKey, "["+strings.Join(feedback, ",")+"]"); status != 200 {
		t.Fatalf("feedback: %d %s", status, b)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(bctx); err != nil { // starts the browser, without a deadline
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, t)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name), png, 0o644)
		})
	}
	text := func(sel string, into *string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) (err error) {
			*into, err = chromedp.Text(chromedp.CSS(sel))(ctx, t)
			return err
		})
	}
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	var loginError, metrics, stage, recs, variants string
	steps := []struct {
		name string
		do   []chromedp.Action[chromedp.Void]
	}{
		{"open the login page", []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/ui"), chromedp.WaitVisible(css("#key")), shot("01-login.png")}},
		{"log in with a storefront key", []chromedp.Action[chromedp.Void]{
			chromedp.SendKeys(css("#key"), storefront), chromedp.Click(css("#login-form button")),
			chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				_, err := chromedp.Poll[bool](`document.querySelector("#login-error").textContent.length > 0`)(ctx, t)
				return err
			}),
			text("#login-error", &loginError), shot("02-login-refused.png")}},
		{"log in with a data key", []chromedp.Action[chromedp.Void]{
			chromedp.SendKeys(css("#key"), dataKey), chromedp.Click(css("#login-form button")),
			chromedp.WaitVisible(css("#models-table tbody tr[data-version]")), shot("03-models.png")}},
		{"open a model", []chromedp.Action[chromedp.Void]{
			chromedp.Click(css("#models-table tbody tr[data-version]")), chromedp.WaitVisible(css("#model-metrics")),
			text("#model-metrics", &metrics), shot("04-model.png")}},
		{"run the merge job", []chromedp.Action[chromedp.Void]{
			chromedp.Click(css(`#tabs button[data-tab="jobs"]`)), chromedp.WaitVisible(css(`button[data-job="merge"]`)),
			chromedp.Click(css(`button[data-job="merge"]`)),
			chromedp.WaitVisible(css(`#job-merge tr.run td.ok`)), shot("05-job-run.png")}},
		{"open the experiment", []chromedp.Action[chromedp.Void]{
			chromedp.Click(css(`#tabs button[data-tab="experiments"]`)), chromedp.WaitVisible(css(`tr[data-experiment="home-ab"]`)),
			chromedp.Click(css(`tr[data-experiment="home-ab"]`)), chromedp.WaitVisible(css("#experiment-variants")),
			chromedp.WaitVisible(css("#experiment-detail svg")), text("#experiment-variants", &variants), shot("06-experiment.png")}},
		{"look up an identity", []chromedp.Action[chromedp.Void]{
			chromedp.Click(css(`#tabs button[data-tab="identity"]`)), chromedp.WaitVisible(css("#alias")),
			chromedp.SendKeys(css("#alias"), "customer:C00001"), chromedp.Click(css("#identity-form button")),
			chromedp.WaitVisible(css("#identity-recs li.rec")), text("#identity-stage", &stage),
			text("#identity-recs", &recs), shot("07-identity.png")}},
	}
	for _, s := range steps {
		if err := chromedp.Do(ctx, s.do...); err != nil {
			if png, perr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); perr == nil {
				_ = os.WriteFile(filepath.Join(shots, "failed.png"), png, 0o644)
			}
			t.Fatalf("%s: %v (screenshot in %s)", s.name, err, filepath.Join(shots, "failed.png"))
		}
	}
	if !strings.Contains(loginError, "needs data or admin") {
		t.Errorf("the storefront key's refusal says %q", loginError)
	}
	if !strings.Contains(metrics, "discover_ndcg@10") {
		t.Errorf("the model's metrics show %q", metrics)
	}
	if !strings.Contains(variants, "control") || !strings.Contains(variants, "als-heavy") {
		t.Errorf("the experiment shows %q", variants)
	}
	if stage == "" || stage == "—" || !strings.Contains(recs, "SKU-") {
		t.Errorf("the identity shows stage %q and recommendations %q", stage, recs)
	}
	// The run the browser started is in the history, started by hand.
	_, b := call(t, "GET", base+"/v1/jobs", dataKey, "")
	if !strings.Contains(string(b), `"trigger":"manual"`) {
		t.Errorf("no manual run in %s", b)
	}
}
