package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"rapport/engine"
	"rapport/store"
)

// redisStore returns a fresh Redis namespace for one test (dropped at its
// end) on the server RAPPORT_TEST_STORE names, or the local one. Without a
// reachable server the test is skipped, unless RAPPORT_REDIS_TESTS=1 (CI)
// makes that a failure.
func redisStore(t *testing.T) string {
	t.Helper()
	base := os.Getenv("RAPPORT_TEST_STORE")
	if !store.IsRedisURL(base) {
		base = "redis://127.0.0.1:6379/0"
	}
	u := fmt.Sprintf("%s?namespace=%s-%d", base, strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano())
	db, err := store.OpenRedis(u)
	if err != nil {
		if os.Getenv("RAPPORT_REDIS_TESTS") == "1" {
			t.Fatalf("RAPPORT_REDIS_TESTS=1 but %v", err)
		}
		t.Skipf("no Redis: %v", err)
	}
	t.Cleanup(func() {
		if err := db.DropNamespace(context.Background()); err != nil {
			t.Errorf("drop the test namespace: %v", err)
		}
		db.Close()
	})
	return u
}

type jobList struct {
	Replica string `json:"replica"`
	Leader  bool   `json:"leader"`
	Jobs    []struct {
		Name   string          `json:"name"`
		Recent []engine.JobRun `json:"recent_runs"`
	} `json:"jobs"`
}

func (p *serverProcess) jobs(t *testing.T, key string) jobList {
	t.Helper()
	status, b := call(t, "GET", p.url+"/v1/jobs?runs=100", key, "")
	var l jobList
	if status != 200 || json.Unmarshal(b, &l) != nil {
		t.Fatalf("jobs: %d %s", status, b)
	}
	return l
}

// TestReplicasOverRedis runs two rapport serve processes on one Redis
// store: an event written through A shows in B's recommendations within
// 100 ms, a model trained through A serves on B, one replica leads the
// schedule, and when it is killed the other runs the next scheduled job
// within about one lease period, with no job ever running twice at once.
func TestReplicasOverRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	url := redisStore(t)
	rapport(t, "demo", "--store", url, "--customers", "200", "--items", "300")
	rapport(t, "train", "--store", url, "--factors", "8", "--iterations", "3")
	out := strings.TrimSpace(rapport(t, "keys", "create", "--store", url, "--role", "admin"))
	key := out[strings.LastIndex(out, "\n")+1:]
	const ttl = 2 * time.Second
	replica := func() *serverProcess {
		return startServer(t, t.TempDir(), "--store", url, "--merge-schedule", "@every 1s", "--lease-ttl", ttl.String())
	}
	a, b := replica(), replica()

	// Freshness: a purchase through A leaves B's list (purchased items are
	// not recommended) within 100 ms.
	var lags []time.Duration
	for i := 1; i <= 20; i++ {
		who := fmt.Sprintf("customer:C%05d", i)
		top := func() string {
			status, body := call(t, "GET", b.url+"/v1/identities/"+who+"/recommendations?n=1", key, "")
			var l recList
			if status != 200 || json.Unmarshal(body, &l) != nil || len(l.Items) == 0 {
				t.Fatalf("B recommends: %d %s", status, body)
			}
			return l.Items[0].Item
		}
		item := top()
		ev := fmt.Sprintf(`[{"alias":%q,"type":"purchase","item":%q,"price":3,"currency":"EUR"}]`, who, item)
		if status, body := call(t, "POST", a.url+"/v1/events", key, ev); status != 200 {
			t.Fatalf("A ingests: %d %s", status, body)
		}
		acked := time.Now()
		for top() == item {
			if time.Since(acked) > 2*time.Second {
				t.Fatalf("%s's purchase of %s through A never reached B", who, item)
			}
			time.Sleep(time.Millisecond)
		}
		lags = append(lags, time.Since(acked))
	}
	slices.Sort(lags)
	t.Logf("purchase through A to B's list: median %v, max %v over %d people", lags[len(lags)/2], lags[len(lags)-1], len(lags))
	if lags[len(lags)-1] > 100*time.Millisecond {
		t.Errorf("slowest change took %v to reach B, want ≤ 100 ms", lags[len(lags)-1])
	}

	// A model trained through A serves on B.
	if status, body := call(t, "POST", a.url+"/v1/jobs/train/runs", key, ""); status != 202 {
		t.Fatalf("train on A: %d %s", status, body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body := call(t, "GET", b.url+"/v1/models", key, "")
		var m struct{ Serving string }
		json.Unmarshal(body, &m)
		if m.Serving == "v000002" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B still serves %q", m.Serving)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// One leader; kill it.
	var leader, other *serverProcess
	for deadline := time.Now().Add(3 * ttl); leader == nil; time.Sleep(50 * time.Millisecond) {
		la, lb := a.jobs(t, key), b.jobs(t, key)
		if la.Leader && lb.Leader {
			t.Fatalf("two leaders: %s and %s", la.Replica, lb.Replica)
		}
		if la.Leader {
			leader, other = a, b
		} else if lb.Leader {
			leader, other = b, a
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader was elected")
		}
	}
	time.Sleep(1500 * time.Millisecond) // let it run the schedule a little
	if err := leader.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-leader.done
	killed := time.Now().UTC()
	var took time.Duration
	for {
		l := other.jobs(t, key)
		for _, j := range l.Jobs {
			for _, r := range j.Recent {
				if j.Name == "merge" && r.Trigger == "schedule" && r.StartedAt.After(killed) {
					took = r.StartedAt.Sub(killed)
				}
			}
		}
		if took > 0 {
			if !l.Leader {
				t.Errorf("%s ran the schedule without leading", l.Replica)
			}
			break
		}
		if time.Since(killed) > 3*ttl {
			t.Fatalf("no scheduled merge on the other replica %v after the kill", time.Since(killed))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("leader killed; the other replica ran the next scheduled merge %v later (lease period %v)", took.Round(time.Millisecond), ttl)
	if took > ttl+ttl/5 {
		t.Errorf("takeover took %v, more than the lease period %v (and a fifth for polling)", took, ttl)
	}
	time.Sleep(2 * time.Second)

	// No job ever ran twice at once: the whole history, from the survivor.
	for _, j := range other.jobs(t, key).Jobs {
		runs := slices.Clone(j.Recent)
		sort.Slice(runs, func(x, y int) bool { return runs[x].StartedAt.Before(runs[y].StartedAt) })
		for i := 1; i < len(runs); i++ {
			end := runs[i-1].EndedAt
			if end.IsZero() { // the killed leader's last run: it ended with the process
				end = killed
			}
			if runs[i].StartedAt.Before(end) {
				t.Errorf("%s: run %s started at %v, before run %s ended at %v", j.Name, runs[i].ID, runs[i].StartedAt, runs[i-1].ID, end)
			}
		}
		t.Logf("%s: %d runs, none overlapping", j.Name, len(runs))
	}
}
