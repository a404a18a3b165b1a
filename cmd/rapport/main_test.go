package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rapport/jobs"
)

var binary string

// TestMain builds the rapport binary once, for tests that run it as a
// separate process.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rapport-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "rapport")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build rapport: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// rapport runs the binary to completion and returns its stdout.
func rapport(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rapport %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// createKey makes a key with the CLI and returns its secret (the last line).
func createKey(t *testing.T, data, role string) string {
	t.Helper()
	out := strings.TrimSpace(rapport(t, "keys", "create", "--data", data, "--role", role))
	lines := strings.Split(out, "\n")
	return lines[len(lines)-1]
}

// serverProcess is rapport serve running as a child process.
type serverProcess struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

// openServer opens rapport serve in this process on data, with the merge
// job on the given schedule and the other jobs off; the caller closes it.
func openServer(t *testing.T, data, mergeSchedule string) (*Server, string) {
	t.Helper()
	srv := &Server{Addr: "127.0.0.1:0", DataDir: data, Logger: slog.New(slog.DiscardHandler), Schedules: Schedules{mergeSchedule, jobs.Off, jobs.Off, jobs.Off}}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	return srv, "http://" + srv.Addr
}

// startServer starts rapport serve on data with jobs off; extra flags
// (after the defaults, so they win) change that.
func startServer(t *testing.T, data string, extra ...string) *serverProcess {
	t.Helper()
	args := append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--log-level", "error", "--merge-schedule", "off", "--train-schedule", "off", "--factors", "16", "--iterations", "4"}, extra...)
	return launch(t, exec.Command(binary, args...))
}

// launch starts cmd, a rapport serve, and waits until it listens; its
// log goes to cmd.Stderr, or the test's stderr if that is nil.
func launch(t *testing.T, cmd *exec.Cmd) *serverProcess {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "rapport: listening on "); ok {
				lines <- u
			}
		}
	}()
	select {
	case p.url = <-lines:
	case <-p.done:
		t.Fatal("server exited before listening")
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("server did not start")
	}
	t.Cleanup(func() { cmd.Process.Kill(); <-p.done })
	return p
}

func post(url, key string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest("POST", url+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

const crashBatch = 200

func crashBatchBody(n int) []byte { return viewBatch("crash", n, crashBatch, crashBatch, "") }

// viewBatch is batch n of a drill called name: events views by
// customer:<name>-<n>, with ids <name>-<n>-<i>, of items SKU-<i mod
// items><itemSuffix>.
func viewBatch(name string, n, events, items int, itemSuffix string) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; i < events; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%s-%d-%d","alias":"customer:%s-%d","type":"view","item":"SKU-%d%s"}`, name, n, i, name, n, i%items, itemSuffix)
	}
	b.WriteByte(']')
	return b.Bytes()
}

func TestCLIErrors(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"keys", "create", "--data", t.TempDir(), "--role", "root"}, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "not one of") {
		t.Fatalf("bad role: exit %d, %s", code, stderr.String())
	}
	stderr.Reset()
	code = run(context.Background(), []string{"import", "events", "x.csv", "--map", "colour=x"}, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "unknown field") {
		t.Fatalf("bad map: exit %d, %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"frobnicate"}, io.Discard, &stderr); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
	t.Setenv("RAPPORT_ADDR", "not-an-address")
	stderr.Reset()
	if code := run(context.Background(), []string{"serve", "--data", t.TempDir()}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "not-an-address") {
		t.Fatalf("RAPPORT_ADDR not used as the default: exit %d, %s", code, stderr.String())
	}
}

// TestLockedDataDir: a second process on a served data dir gets a clear error.
func TestLockedDataDir(t *testing.T) {
	data := t.TempDir()
	startServer(t, data)
	cmd := exec.Command(binary, "keys", "list", "--data", data)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another rapport process") {
		t.Fatalf("keys list on a served dir: %v %s", err, out)
	}
}

// TestREADMEExamples runs the curl examples on the README's first screen
// against a server on demo data with keys made as make run makes them.
func TestREADMEExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var examples []string
	var cmd strings.Builder
	for _, line := range strings.Split(string(readme), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "curl ") || cmd.Len() > 0 {
			cmd.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			if !strings.HasSuffix(trimmed, "\\") {
				examples = append(examples, cmd.String())
				cmd.Reset()
			}
		}
	}
	if len(examples) < 4 {
		t.Fatalf("found %d curl examples in the README, want at least 4", len(examples))
	}
	data := t.TempDir()
	rapport(t, "demo", "--data", data)
	rapport(t, "train", "--data", data, "--if-none", "--factors", "16", "--iterations", "4")
	if out := rapport(t, "train", "--data", data, "--if-none"); !strings.Contains(out, "already trained") {
		t.Fatalf("train --if-none trained again: %s", out)
	}
	admin := createKey(t, data, "admin")
	storefront := createKey(t, data, "storefront")
	browser := createKey(t, data, "browser")
	srv := startServer(t, data)
	host := strings.TrimPrefix(srv.url, "http://")
	for _, ex := range examples[:4] { // in order: the fourth reads what the third posted
		ex = strings.ReplaceAll(ex, "localhost:8080", host)
		c := exec.Command("bash", "-c", ex+" -w '\\n%{http_code}'")
		c.Env = append(os.Environ(), "RAPPORT_ADMIN_KEY="+admin, "RAPPORT_STOREFRONT_KEY="+storefront, "RAPPORT_BROWSER_KEY="+browser)
		out, err := c.Output()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if code := lines[len(lines)-1]; err != nil || !strings.HasPrefix(code, "2") {
			t.Errorf("README example %q: %v, status %s: %s", ex, err, code, out)
		}
	}
}

func TestImportCommand(t *testing.T) {
	data := t.TempDir()
	sample := "../../engine/importer/testdata/online-retail-sample.csv"
	rejects := filepath.Join(t.TempDir(), "rejects.csv")
	out := rapport(t, "import", "events", sample, "--preset", "online-retail", "--data", data, "--rejects", rejects, "--json")
	var sum struct {
		Rows         int `json:"rows"`
		Imported     int `json:"imported"`
		SkippedTotal int `json:"skipped_total"`
		Items        int `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if sum.Rows != 12 || sum.Imported+sum.SkippedTotal != sum.Rows || sum.Items == 0 {
		t.Fatalf("summary %s", out)
	}
	if b, err := os.ReadFile(rejects); err != nil || strings.Count(string(b), "\n") != sum.SkippedTotal+1 {
		t.Fatalf("rejects file (%v):\n%s", err, b)
	}
	// --strict imports nothing from a file with a bad row, and says which.
	strictData := t.TempDir()
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"import", "events", sample, "--preset", "online-retail", "--strict", "--data", strictData}, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "line ") {
		t.Fatalf("strict: exit %d, %s", code, stderr.String())
	}
	admin := createKey(t, strictData, "admin")
	srv := startServer(t, strictData)
	req, _ := http.NewRequest("GET", srv.url+"/v1/items/85123A", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a failed --strict import stored the catalog: %d", resp.StatusCode)
	}
}

// BenchmarkImportOnlineRetail imports the real UCI Online Retail file (if
// the shared datasets folder is there) with the CLI, into a fresh data dir
// each time, and reports rows/s.
func BenchmarkImportOnlineRetail(b *testing.B) {
	const file = "../../../shared/datasets/online-retail/online_retail.csv.gz"
	if _, err := os.Stat(file); err != nil {
		b.Skip("the online-retail data set is not next to this checkout")
	}
	for i := 0; i < b.N; i++ {
		data := b.TempDir()
		var out bytes.Buffer
		start := time.Now()
		if code := run(context.Background(), []string{"import", "events", file, "--preset", "online-retail", "--data", data, "--json"}, &out, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
		var sum struct {
			Rows int `json:"rows"`
		}
		json.Unmarshal(out.Bytes(), &sum)
		b.ReportMetric(float64(sum.Rows)/time.Since(start).Seconds(), "rows/s")
	}
}

// TestTrainRecommendAndServeModels: demo data, rapport train, rapport
// recommend, then a server that serves the trained version and trains a
// new one on request.
func TestTrainRecommendAndServeModels(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	data := t.TempDir()
	rapport(t, "demo", "--data", data, "--customers", "200", "--items", "300")
	out := rapport(t, "train", "--data", data, "--factors", "16", "--iterations", "4", "--json")
	var trained struct {
		Version struct {
			ID      string             `json:"id"`
			Metrics map[string]float64 `json:"metrics"`
		} `json:"version"`
		Counts map[string]int `json:"counts"`
	}
	if err := json.Unmarshal([]byte(out), &trained); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if trained.Version.ID != "v000001" || trained.Version.Metrics["discover_ndcg@10"] <= 0 || trained.Counts["vectors"] == 0 {
		t.Fatalf("train: %s", out)
	}
	out = rapport(t, "recommend", "--data", data, "--identity", "customer:C00001", "--n", "5", "--json")
	var rec recommendation
	if err := json.Unmarshal([]byte(out), &rec); err != nil || len(rec.Items) != 5 || rec.ModelVersion != "v000001" {
		t.Fatalf("recommend: %s", out)
	}
	admin := createKey(t, data, "admin")
	srv := startServer(t, data)
	get := func(path string) []byte {
		req, _ := http.NewRequest("GET", srv.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	var models struct {
		Serving  string `json:"serving"`
		Versions []struct{ ID string }
	}
	json.Unmarshal(get("/v1/models"), &models)
	if models.Serving != "v000001" || len(models.Versions) != 1 {
		t.Fatalf("models at start: %+v", models)
	}
	// Serving over HTTP: a personal list is never cacheable by others; a
	// shared list revalidates by ETag.
	req, _ := http.NewRequest("GET", srv.url+"/v1/identities/customer:C00001/recommendations?n=3&include=item", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var recs struct {
		Step  string
		Items []struct {
			Item    string
			Details *struct{ Title string }
		}
	}
	json.NewDecoder(resp.Body).Decode(&recs)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(recs.Items) != 3 || recs.Items[0].Details == nil || recs.Items[0].Details.Title == "" ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
		t.Fatalf("recommendations: %d %+v %v", resp.StatusCode, recs, resp.Header)
	}
	req, _ = http.NewRequest("GET", srv.url+"/v1/popular?n=3", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	req.Header.Set("If-None-Match", etag)
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotModified || etag == "" {
		t.Fatalf("revalidating popular with %q: %v %v", etag, resp, err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("POST", srv.url+"/v1/jobs/train/runs", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start train: %v %v", resp, err)
	}
	resp.Body.Close()
	// Keep requests flowing while the new version trains and swaps in.
	stop := make(chan struct{})
	var failures, served atomic.Int64
	var load sync.WaitGroup
	for w := 0; w < 3; w++ {
		load.Add(1)
		go func() {
			defer load.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", srv.url+"/v1/identities/customer:C00002/recommendations", nil)
				req.Header.Set("Authorization", "Bearer "+admin)
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 200 {
					failures.Add(1)
				} else {
					served.Add(1)
				}
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	defer func() {
		close(stop)
		load.Wait()
		if failures.Load() > 0 || served.Load() == 0 {
			t.Errorf("during the swap: %d requests failed, %d served", failures.Load(), served.Load())
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		json.Unmarshal(get("/v1/models"), &models)
		if models.Serving == "v000002" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new version never served: %+v; jobs: %s", models, get("/v1/jobs"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkTrainOnlineRetail times rapport train (merge + train + vector
// refresh) on the whole Online Retail data set, imported once beforehand.
func BenchmarkTrainOnlineRetail(b *testing.B) {
	const file = "../../../shared/datasets/online-retail/online_retail.csv.gz"
	if _, err := os.Stat(file); err != nil {
		b.Skip("the online-retail data set is not next to this checkout")
	}
	data := b.TempDir()
	if code := run(context.Background(), []string{"import", "events", file, "--preset", "online-retail", "--data", data}, io.Discard, io.Discard); code != 0 {
		b.Fatalf("import: exit %d", code)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code := run(context.Background(), []string{"train", "--data", data}, io.Discard, io.Discard); code != 0 {
			b.Fatalf("train: exit %d", code)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/train")
}

// TestBenchServe runs the all-in-one serving load tool on a tiny shop.
func TestBenchServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds, trains and loads a shop")
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"bench", "serve", "--items", "60", "--customers", "40", "--duration", "1s", "--json"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var res struct {
		Load struct {
			Requests int     `json:"requests"`
			P99ms    float64 `json:"p99_ms"`
		} `json:"load"`
		RSS int64 `json:"rss_bytes"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Load.Requests == 0 || res.Load.P99ms <= 0 || res.RSS <= 0 {
		t.Fatalf("%v: %s", err, out.String())
	}
}
