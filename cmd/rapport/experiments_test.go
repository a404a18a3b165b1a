package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"rapport/engine"
	"rapport/jobs"
)

type recList struct {
	RecommendationID string `json:"recommendation_id"`
	Experiment       string `json:"experiment"`
	Variant          string `json:"variant"`
	Items            []struct {
		Item string `json:"item"`
	} `json:"items"`
}

type abReport struct {
	Active   bool `json:"active"`
	Variants []struct {
		Name                 string             `json:"name"`
		Impressions          int64              `json:"impressions"`
		Clicks               int64              `json:"clicks"`
		Conversions          int64              `json:"conversions"`
		Conversion           engine.Rate        `json:"conversion"`
		ClickThrough         engine.Rate        `json:"click_through"`
		ConversionDifference *engine.Difference `json:"conversion_difference"`
	} `json:"variants"`
}

// TestExperimentSimulation runs an A/B experiment on a real server:
// simulated visitors convert at known rates per variant, and the report
// must count exactly what was sent and its intervals must cover the true
// rates and their difference. Assignment must hold across requests, a
// restart, and a visitor becoming known.
func TestExperimentSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	data := t.TempDir()
	rapport(t, "demo", "--data", data, "--customers", "200", "--items", "300")
	rapport(t, "train", "--data", data, "--factors", "8", "--iterations", "3")
	key := createKey(t, data, "admin")
	open := func() (*Server, string) { return openServer(t, data, jobs.Off) }
	srv, base := open()
	defer func() { srv.Close(context.Background()) }()

	// Bad designs are refused, naming the field.
	for body, field := range map[string]string{
		`{"variants":[{"name":"a","share":0.5},{"name":"b","share":0.4}]}`:                               "variants",
		`{"variants":[{"name":"a","share":1}]}`:                                                          "variants",
		`{"variants":[{"name":"a","share":0.5},{"name":"b","share":0.5,"model":"v000099"}]}`:             "variants[1].model",
		`{"variants":[{"name":"a","share":0.5},{"name":"a","share":0.5}]}`:                               "variants[1].name",
		`{"variants":[{"name":"a","share":0.5},{"name":"b","share":0.5,"blend":{"weight_als":-1}}]}`:     "variants[1].blend.weight_als",
		`{"variants":[{"name":"a","share":0.5},{"name":"b","share":0.5}],"stop":"2000-01-01T00:00:00Z"}`: "stop",
	} {
		status, b := call(t, "PUT", base+"/v1/experiments/bad", key, body)
		if status != 400 || !strings.Contains(string(b), `"field":"`+field+`"`) {
			t.Fatalf("%s: %d %s, want 400 naming %s", body, status, b, field)
		}
	}
	design := `{"variants":[{"name":"control","share":0.5},{"name":"als-heavy","share":0.5,"blend":{"weight_als":12,"weight_trending":0}}]}`
	if status, b := call(t, "PUT", base+"/v1/experiments/home-ab", key, design); status != 201 {
		t.Fatalf("create: %d %s", status, b)
	}
	if status, b := call(t, "PUT", base+"/v1/experiments/other", key, design); status != 409 {
		t.Fatalf("an overlapping experiment: %d %s, want 409", status, b)
	}
	changed := strings.Replace(design, "0.5", "0.4", 1)
	changed = strings.Replace(changed, `"share":0.5`, `"share":0.6`, 1)
	if status, b := call(t, "PUT", base+"/v1/experiments/home-ab", key, changed); status != 409 {
		t.Fatalf("changing a started experiment's variants: %d %s, want 409", status, b)
	}

	recommend := func(who string) recList {
		t.Helper()
		status, b := call(t, "GET", base+"/v1/identities/"+who+"/recommendations?n=5", key, "")
		var l recList
		if status != 200 || json.Unmarshal(b, &l) != nil || l.Experiment != "home-ab" || len(l.Items) == 0 {
			t.Fatalf("recommend %s: %d %s", who, status, b)
		}
		return l
	}
	truth := map[string]float64{"control": 0.10, "als-heavy": 0.16}
	clickRate := map[string]float64{"control": 0.30, "als-heavy": 0.36}
	rng := rand.New(rand.NewPCG(11, 12))
	const visitors = 3000
	assigned := map[string]string{}
	sent := map[string][2]int64{} // variant → impressions, conversions
	var batch []string
	for i := range visitors {
		who := fmt.Sprintf("anon:sim-%04d", i)
		// A visitor of no known region is in an experiment only once they
		// accept analytics on the consent banner.
		if status, b := call(t, "PUT", base+"/v1/identities/"+who+"/consents/analytics", key, `{"granted":true,"source":"banner"}`); status != 200 {
			t.Fatalf("consent banner: %d %s", status, b)
		}
		l := recommend(who)
		assigned[who] = l.Variant
		c := sent[l.Variant]
		c[0]++
		if rng.Float64() < clickRate[l.Variant] {
			batch = append(batch, fmt.Sprintf(`{"id":"click-%d","alias":%q,"type":"click","item":%q,"attributes":{"recommendation_id":%q}}`, i, who, l.Items[0].Item, l.RecommendationID))
		}
		if rng.Float64() < truth[l.Variant] {
			c[1]++
			for k := range 2 { // a second purchase from the same list counts once
				batch = append(batch, fmt.Sprintf(`{"id":"buy-%d-%d","alias":%q,"type":"purchase","item":%q,"price":9.5,"currency":"EUR","attributes":{"recommendation_id":%q}}`, i, k, who, l.Items[k%len(l.Items)].Item, l.RecommendationID))
			}
		}
		sent[l.Variant] = c
	}
	events := "[" + strings.Join(batch, ",") + "]"
	for range 2 { // a retried batch counts once
		if status, b := call(t, "POST", base+"/v1/events", key, events); status != 200 {
			t.Fatalf("feedback: %d %s", status, b)
		}
	}

	// Assignment is stable: again, after becoming known, after a restart.
	for i := 0; i < visitors; i += 50 {
		who := fmt.Sprintf("anon:sim-%04d", i)
		if v := recommend(who).Variant; v != assigned[who] {
			t.Fatalf("%s moved from %s to %s", who, assigned[who], v)
		}
		// Their first event makes them a stored identity, founded by the
		// anonymous alias: the variant stays.
		view := fmt.Sprintf(`[{"alias":%q,"type":"view","item":"SKU-00001"}]`, who)
		if status, b := call(t, "POST", base+"/v1/events", key, view); status != 200 {
			t.Fatalf("view: %d %s", status, b)
		}
		email := fmt.Sprintf("email:sim-%04d@example.com", i)
		if status, b := call(t, "POST", base+"/v1/identities/"+who+"/links", key, fmt.Sprintf(`{"alias":%q,"authenticated":true}`, email)); status >= 300 {
			t.Fatalf("link: %d %s", status, b)
		}
		if v := recommend(email).Variant; v != assigned[who] {
			t.Fatalf("%s, logged in as %s, moved from %s to %s", who, email, assigned[who], v)
		}
	}
	report := func() abReport {
		status, b := call(t, "GET", base+"/v1/experiments/home-ab", key, "")
		var r abReport
		if status != 200 || json.Unmarshal(b, &r) != nil || len(r.Variants) != 2 {
			t.Fatalf("report: %d %s", status, b)
		}
		return r
	}
	before := report()
	srv.Close(context.Background())
	srv, base = open()
	for i := 0; i < visitors; i += 50 {
		who := fmt.Sprintf("email:sim-%04d@example.com", i)
		if v := recommend(who).Variant; v != assigned[fmt.Sprintf("anon:sim-%04d", i)] {
			t.Fatalf("after a restart %s moved to %s", who, v)
		}
	}

	r := report()
	checks := int64(visitors / 50) // the stability checks' lists: two each before the restart, one after
	total := r.Variants[0].Impressions + r.Variants[1].Impressions
	if n := before.Variants[0].Impressions + before.Variants[1].Impressions; n != visitors+2*checks || total != visitors+3*checks {
		t.Fatalf("impressions %d then %d, want %d then %d", n, total, visitors+2*checks, visitors+3*checks)
	}
	for _, v := range r.Variants {
		if v.Conversions != sent[v.Name][1] {
			t.Fatalf("%s: %d conversions reported, %d sent", v.Name, v.Conversions, sent[v.Name][1])
		}
		// The rates are over every list, the stability checks' included.
		if p := truth[v.Name] * float64(sent[v.Name][0]) / float64(v.Impressions); p < v.Conversion.Low || p > v.Conversion.High {
			t.Fatalf("%s: true conversion %.4f outside [%.4f, %.4f]", v.Name, p, v.Conversion.Low, v.Conversion.High)
		}
		if share := float64(sent[v.Name][0]) / visitors; share < 0.45 || share > 0.55 {
			t.Fatalf("%s got %.3f of the visitors, want about half", v.Name, share)
		}
	}
	ctl, trt := r.Variants[0], r.Variants[1]
	diff := truth["als-heavy"]*float64(sent["als-heavy"][0])/float64(trt.Impressions) - truth["control"]*float64(sent["control"][0])/float64(ctl.Impressions)
	d := trt.ConversionDifference
	if ctl.Name != "control" || d == nil || diff < d.Low || diff > d.High || !(d.Low > 0) {
		t.Fatalf("true difference %.4f; reported %+v", diff, d)
	}
	t.Logf("control %d/%d = %.4f [%.4f, %.4f]; als-heavy %d/%d = %.4f [%.4f, %.4f]; difference %.4f [%.4f, %.4f] (true %.4f)",
		ctl.Conversions, ctl.Impressions, ctl.Conversion.Value, ctl.Conversion.Low, ctl.Conversion.High,
		trt.Conversions, trt.Impressions, trt.Conversion.Value, trt.Conversion.Low, trt.Conversion.High, d.Value, d.Low, d.High, diff)

	// The variant's arm explains its own lists.
	var l recList
	who := ""
	for i := 0; l.Variant != "als-heavy"; i++ {
		who = fmt.Sprintf("customer:C%05d", i+1)
		// Customers who have not permitted analytics get the control,
		// outside the experiment.
		if status, b := call(t, "GET", base+"/v1/identities/"+who+"/recommendations?n=5", key, ""); status != 200 || json.Unmarshal(b, &l) != nil {
			t.Fatalf("recommend %s: %d %s", who, status, b)
		}
	}
	if status, b := call(t, "GET", base+"/v1/identities/"+who+"/recommendations/"+l.RecommendationID+"/explain", key, ""); status != 200 {
		t.Fatalf("explain: %d %s", status, b)
	}
}

// TestExperimentModelVariant serves an older model version as a variant
// beside the serving one, each with its own lists and explanations.
func TestExperimentModelVariant(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	data := t.TempDir()
	rapport(t, "demo", "--data", data, "--customers", "200", "--items", "300")
	rapport(t, "train", "--data", data, "--factors", "8", "--iterations", "3")
	rapport(t, "train", "--data", data, "--factors", "12", "--iterations", "3", "--promote-margin", "1")
	key := createKey(t, data, "admin")
	srv, base := openServer(t, data, jobs.Off)
	defer srv.Close(context.Background())
	if status, b := call(t, "PUT", base+"/v1/experiments/versions", key, `{"variants":[{"name":"current","share":0.5},{"name":"previous","share":0.5,"model":"v000009"}]}`); status != 400 || !strings.Contains(string(b), `variants[1].model`) {
		t.Fatalf("a missing version: %d %s", status, b)
	}
	if status, b := call(t, "PUT", base+"/v1/experiments/versions", key, `{"variants":[{"name":"current","share":0.5},{"name":"previous","share":0.5,"model":"v000001"}]}`); status != 201 {
		t.Fatalf("create: %d %s", status, b)
	}
	seen := map[string]string{}
	for i := 1; i <= 60; i++ {
		who := fmt.Sprintf("customer:C%05d", i)
		status, b := call(t, "GET", base+"/v1/identities/"+who+"/recommendations?n=3", key, "")
		var l struct {
			recList
			ModelVersion string `json:"model_version"`
		}
		if status != 200 || json.Unmarshal(b, &l) != nil {
			t.Fatalf("recommend: %d %s", status, b)
		}
		// Customers who have not permitted analytics get the serving model,
		// outside the experiment.
		want := map[string]string{"current": "v000002", "previous": "v000001", "": "v000002"}[l.Variant]
		if l.ModelVersion != want {
			t.Fatalf("variant %q served model %q, want %q", l.Variant, l.ModelVersion, want)
		}
		if seen[l.Variant] == "" {
			if status, b := call(t, "GET", base+"/v1/identities/"+who+"/recommendations/"+l.RecommendationID+"/explain", key, ""); status != 200 || !strings.Contains(string(b), want) {
				t.Fatalf("explain on the %s arm: %d %s", l.Variant, status, b)
			}
		}
		seen[l.Variant] = who
	}
	if seen["current"] == "" || seen["previous"] == "" {
		t.Fatalf("only variants %v were served", seen)
	}
}
