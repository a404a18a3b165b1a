package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTuneSavesWhatTrainUses(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	data := t.TempDir()
	rapport(t, "demo", "--data", data, "--customers", "200", "--items", "300")
	out := rapport(t, "tune", "--data", data, "--model", "als", "--trials", "4", "--search", "random",
		"--test-fraction", "0.2", "--validation-days", "20", "--seed", "5", "--json", "--save")
	var tuned struct {
		Params []string `json:"params"`
		Trials []struct {
			ID     int            `json:"id"`
			Score  float64        `json:"score"`
			Share  float64        `json:"share"`
			Config map[string]any `json:"config"`
		} `json:"trials"`
		BestTest float64 `json:"best_test_ndcg"`
		Saved    bool    `json:"saved"`
	}
	if err := json.Unmarshal([]byte(out), &tuned); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(tuned.Trials) != 4 || !tuned.Saved || tuned.Trials[0].Share != 1 || strings.Join(tuned.Params, ",") != "factors,iterations,lambda,alpha" {
		t.Fatalf("tune: %s", out)
	}
	best := tuned.Trials[0].Config
	hyper := func(args ...string) map[string]any {
		out := rapport(t, append([]string{"train", "--data", data, "--json"}, args...)...)
		var v struct {
			Version struct {
				Hyperparameters map[string]any `json:"hyperparameters"`
			} `json:"version"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return v.Version.Hyperparameters
	}
	h := hyper()
	for _, k := range []string{"Factors", "Iterations", "Lambda", "Alpha"} {
		if h[k] != best[k] {
			t.Fatalf("train used %s = %v, tune saved %v", k, h[k], best[k])
		}
	}
	if h := hyper("--factors", "3"); h["Factors"] != 3.0 || h["Lambda"] != best["Lambda"] {
		t.Fatalf("a flag given overrides the tuned value only: %v", h)
	}
	rapport(t, "tune", "--data", data, "--reset")
	if h := hyper(); h["Factors"] != 64.0 {
		t.Fatalf("after --reset train uses the defaults: %v", h)
	}
}
