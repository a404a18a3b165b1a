package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"rapport/api"
	"rapport/engine"
)

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	m := api.NewMetrics(func() string { return "v000007" }, nil)
	e.api.Metrics = m
	ts := httptest.NewServer(e.api.Handler())
	defer ts.Close()
	e.url = ts.URL
	e.post("/v1/events", engine.RoleIngest, `{"id":"m1","alias":"customer:eu","type":"view","item":"A","region":"EU-DE"}
{"alias":"customer:eu","type":"social_like","target":"brand:X","source":"social:facebook","region":"EU-DE"}`, 200)
	e.post("/v1/events", engine.RoleIngest, `{"id":"m1","alias":"customer:eu","type":"view","item":"A","region":"EU-DE"}`, 200)
	e.do("GET", "/no/such/path/42", "", nil)
	m.JobFinished(engine.JobRun{Job: "merge", Status: engine.RunSucceeded, StartedAt: time.Now().Add(-2 * time.Second), EndedAt: time.Now()})
	resp, err := http.Get(ts.URL + "/metrics") // unauthenticated, as exporters are
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`rapport_events_total{outcome="accepted"} 1`,
		`rapport_events_total{outcome="duplicate"} 1`,
		`rapport_events_total{outcome="dropped_no_consent"} 1`,
		`rapport_http_requests_total{method="POST",route="/v1/events",status="200"} 2`,
		`rapport_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`rapport_http_request_duration_seconds_count{class="2xx",method="POST",route="/v1/events"} 2`,
		`rapport_job_runs_total{job="merge",status="succeeded"} 1`,
		`rapport_model_version_info{version="v000007"} 1`,
		`go_goroutines`,
	} {
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("no %s in:\n%s", want, body[:min(len(body), 3000)])
		}
	}
}
