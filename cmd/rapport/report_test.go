package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestEvalReport(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	data := t.TempDir()
	rapport(t, "demo", "--data", data, "--customers", "200", "--items", "300")
	out := filepath.Join(t.TempDir(), "report.html")
	rapport(t, "eval", "--data", data, "--test-fraction", "0.2", "--models", "popularity,als,ranker", "--report", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, want := range []string{"NDCG@k", "Recall@k", "Catalog coverage", "Popularity bias", "Training loss by iteration", "held-out purchases", ">ranker<", ">als<", ">popularity<"} {
		if !strings.Contains(html, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if n := strings.Count(html, "<svg"); n != 6 {
		t.Errorf("%d charts, want 6", n)
	}
	// Self-contained: nothing is fetched from anywhere.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).FindString(html); m != "" {
		t.Errorf("the report loads an external resource: %s", m)
	}
	// A report that cannot be written leaves nothing behind and fails.
	bad := filepath.Join(t.TempDir(), "missing", "report.html")
	var stderr strings.Builder
	if code := run(t.Context(), []string{"eval", "--data", data, "--test-fraction", "0.2", "--models", "popularity", "--report", bad}, &strings.Builder{}, &stderr); code == 0 {
		t.Fatalf("a report in a missing directory was accepted: %s", stderr.String())
	}
}
