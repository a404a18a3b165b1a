package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"rapport/store"
	"rapport/store/storetest"
)

// TestAdversarialErasureNoTrace proves the erasure findings of issue 13 end
// to end, on Badger and on a private Redis that keeps an append-only file:
// a person with events, consents, social signals (a like, a follow of a
// friend by e-mail, followed by two others, one by e-mail as given),
// preferences, an organisation membership and an experiment click is
// erased through the API and the erasure job; then every version of every
// key, the decompressed tables and the other files (Badger), every key and
// the AOF (Redis), and the server's whole log (debug level, every request)
// hold none of their aliases, e-mail or its hash.
func TestAdversarialErasureNoTrace(t *testing.T) {
	t.Run("Badger", func(t *testing.T) {
		data := t.TempDir()
		noTrace(t, store.Options{Dir: data}, "", []string{"--data", data})
	})
	t.Run("Redis", func(t *testing.T) {
		url, aofDir, _ := storetest.StartRedis(t, 16398)
		url += "?namespace=notrace"
		noTrace(t, store.Options{URL: url}, aofDir, []string{"--store", url})
	})
}

func noTrace(t *testing.T, opts store.Options, aofDir string, where []string) {
	// A small shop and a model, so that lists are served in an experiment.
	rapport(t, append([]string{"demo", "--customers", "60", "--items", "60"}, where...)...)
	rapport(t, append([]string{"train", "--factors", "4", "--iterations", "2"}, where...)...)
	out := strings.TrimSpace(rapport(t, append([]string{"keys", "create", "--role", "admin"}, where...)...))
	key := out[strings.LastIndexByte(out, '\n')+1:]
	data := opts.Dir
	if data == "" {
		data = t.TempDir()
	}
	// The server logs everything it would (every request, debug level),
	// so that the log can be searched for the person too.
	var serverLog bytes.Buffer
	args := append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--merge-schedule", "off", "--train-schedule", "off",
		"--erasure-schedule", "off", "--log-level", "debug", "--access-log"}, where...)
	cmd := exec.Command(binary, args...)
	cmd.Stderr = &lockedBuffer{b: &serverLog}
	srv := launch(t, cmd)
	stopped := false
	defer func() {
		if !stopped {
			srv.cmd.Process.Signal(syscall.SIGTERM)
			<-srv.done
		}
	}()
	must := func(method, path, body string, want int) []byte {
		t.Helper()
		status, b := call(t, method, srv.url+path, key, body)
		if status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, status, b, want)
		}
		return b
	}
	const (
		person, personMail = "customer:ZZ-NT-P", "zz-nt-p@example.com"
		cookie             = "anon:ZZ-NT-COOKIE"
		friend, friendMail = "customer:ZZ-NT-F", "zz-nt-f@example.com"
		fan                = "customer:ZZ-NT-G"
	)
	must("PUT", "/v1/items", `[{"id":"SKU-1","title":"Mug","category":"Home"},{"id":"SKU-2","title":"Cup","category":"Home"},{"id":"SKU-3","title":"Pot","category":"Home"}]`, 200)
	must("POST", "/v1/events", `{"id":"zz-nt-order-1","alias":"customer:ZZ-NT-P","type":"purchase","item":"SKU-1","region":"US"}
{"alias":"anon:ZZ-NT-COOKIE","type":"view","item":"SKU-2","region":"US"}
{"alias":"customer:ZZ-NT-F","type":"purchase","item":"SKU-2","region":"US"}
{"alias":"customer:ZZ-NT-G","type":"purchase","item":"SKU-3","region":"US"}`, 200)
	must("POST", "/v1/identities/"+person+"/links", `{"alias":"`+cookie+`"}`, 200)
	must("POST", "/v1/identities/"+person+"/links", `{"alias":"email:`+personMail+`"}`, 200)
	must("POST", "/v1/identities/"+friend+"/links", `{"alias":"email:`+friendMail+`"}`, 200)
	for _, a := range []string{person, friend, fan} {
		must("PUT", "/v1/identities/"+a+"/consents/social_signals", `{"granted":true,"source":"cmp"}`, 200)
	}
	b := must("POST", "/v1/events", `{"alias":"customer:ZZ-NT-P","type":"social_like","item":"SKU-3","source":"social:instagram","region":"US"}
{"alias":"customer:ZZ-NT-P","type":"social_follow","target":"email:ZZ-NT-F@Example.com","source":"social:facebook","region":"US"}
{"alias":"customer:ZZ-NT-F","type":"social_follow","target":"email:ZZ-NT-P@Example.com","source":"social:facebook","region":"US"}
{"id":"zz-nt-g-follow","alias":"customer:ZZ-NT-G","type":"social_follow","target":"customer:ZZ-NT-P","source":"social:facebook","region":"US"}`, 200)
	if !strings.Contains(string(b), `"accepted":4`) {
		t.Fatalf("social signals: %s", b)
	}
	must("PUT", "/v1/identities/"+person+"/preferences", `{"favourite_categories":["Home"]}`, 200)
	must("PUT", "/v1/orgs/ZZ-NT-ORG", `{"name":"Acme"}`, 201)
	must("PUT", "/v1/orgs/ZZ-NT-ORG/members/"+person, `{"role":"buyer"}`, 200)
	must("PUT", "/v1/experiments/zz-nt-ab", `{"variants":[{"name":"control","share":0.5},{"name":"other","share":0.5,"blend":{"weight_trending":0}}]}`, 201)
	var list recList
	if err := json.Unmarshal(must("GET", "/v1/identities/"+person+"/recommendations", "", 200), &list); err != nil || list.Experiment != "zz-nt-ab" || list.RecommendationID == "" {
		t.Fatalf("recommendations in the experiment: %+v %v", list, err)
	}
	must("POST", "/v1/events", `{"alias":"customer:ZZ-NT-P","type":"click","item":"SKU-2","attributes":{"recommendation_id":"`+list.RecommendationID+`"}}`, 200)

	var receipt struct {
		ID      string
		Status  string
		Held    map[string]int
		Removed map[string]int
		Remains []struct {
			Layer string
			Count int
			Until string
		}
	}
	if err := json.Unmarshal(must("DELETE", "/v1/identities/email:"+personMail, "", http.StatusAccepted), &receipt); err != nil {
		t.Fatal(err)
	}
	if receipt.Held["references_held_by_others"] != 2 || receipt.Held["memberships"] != 1 || receipt.Held["preferences"] != 1 || receipt.Held["aliases"] != 3 {
		t.Fatalf("held %v", receipt.Held)
	}
	must("POST", "/v1/jobs/erasure/runs", "", http.StatusAccepted)
	for deadline := time.Now().Add(time.Minute); receipt.Status != "done"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("erasure not done: %+v", receipt)
		}
		if err := json.Unmarshal(must("GET", "/v1/erasures/"+receipt.ID, "", 200), &receipt); err != nil {
			t.Fatal(err)
		}
	}
	for layer, n := range receipt.Held {
		if receipt.Removed[layer] != n {
			t.Errorf("%s: held %d, removed %d", layer, n, receipt.Removed[layer])
		}
	}
	for _, r := range receipt.Remains {
		if r.Layer == "redis_aof" || r.Layer == "backups" {
			t.Errorf("the receipt says %s still hold the person: %+v", r.Layer, r)
		}
	}
	// The friend's follow of the person went; the friend stays.
	if b := must("GET", "/v1/identities/"+friend, "", 200); !strings.Contains(string(b), `"social_signals":0`) {
		t.Errorf("the friend's follow of the erased person is still counted: %s", b)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	stopped = true

	sum := sha256.Sum256([]byte(personMail))
	gone := []string{"ZZ-NT-P", "ZZ-NT-COOKIE", personMail, "ZZ-NT-P@Example.com", hex.EncodeToString(sum[:]), "zz-nt-order-1"}
	kept := []string{"ZZ-NT-F", "ZZ-NT-G"}
	logText := cmd.Stderr.(*lockedBuffer).String()
	for _, s := range gone {
		for _, line := range strings.Split(logText, "\n") {
			if strings.Contains(line, s) {
				t.Errorf("the server's log names %s: %s", s, line)
			}
		}
	}
	if !strings.Contains(logText, "/v1/identities/:alias") {
		t.Error("control: the server's log has no request lines")
	}
	found := storetest.Traces(t, opts, append(gone, kept...)...)
	for _, s := range gone {
		if len(found[s]) > 0 {
			t.Errorf("%s is still in %v", s, found[s])
		}
	}
	for _, s := range kept {
		if len(found[s]) == 0 {
			t.Errorf("control: %s, who was not erased, is gone", s)
		}
	}
	if aofDir == "" {
		return
	}
	// Redis removes the files a rewrite replaced in the background.
	var inAOF map[string][]string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if inAOF = storetest.FilesContaining(t, aofDir, gone...); len(inAOF) == 0 {
			break
		}
	}
	if len(inAOF) > 0 {
		t.Errorf("Redis's files still hold %v", inAOF)
	}
	if len(storetest.FilesContaining(t, aofDir, kept...)) != len(kept) {
		t.Error("control: the people who stay are not in Redis's files")
	}
}

// lockedBuffer is a bytes.Buffer a child process and the test may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
