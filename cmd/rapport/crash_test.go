package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// crashBackend is a store a crash drill kills under load: start brings it
// (and a rapport serve on it) up, kill takes both down with SIGKILL.
type crashBackend struct {
	args  []string // store flags for rapport
	start func(t *testing.T)
	kill  func(t *testing.T)
}

// privateRedis runs a redis-server of the test's own on a free port, with
// the AOF fsynced on every write (appendfsync always), so that killing it
// tests what an acknowledgement promises.
func privateRedis(t *testing.T) (url string, start, kill func(t *testing.T)) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("RAPPORT_REDIS_TESTS") == "1" {
			t.Fatal("RAPPORT_REDIS_TESTS=1 but no redis-server on PATH")
		}
		t.Skip("no redis-server on PATH")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	var cmd *exec.Cmd
	var done chan struct{}
	start = func(t *testing.T) {
		cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes",
			"--appendfsync", "always", "--save", "", "--protected-mode", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done = make(chan struct{})
		go func(c *exec.Cmd, d chan struct{}) { c.Wait(); close(d) }(cmd, done)
		for i := 0; ; i++ { // until it answers PONG: LOADING while it replays the AOF
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				buf := make([]byte, 64)
				c.SetDeadline(time.Now().Add(time.Second))
				c.Write([]byte("PING\r\n"))
				n, _ := c.Read(buf)
				c.Close()
				if strings.HasPrefix(string(buf[:n]), "+PONG") {
					return
				}
			}
			if i > 500 {
				t.Fatal("redis-server did not start")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	kill = func(t *testing.T) {
		cmd.Process.Kill()
		<-done
	}
	t.Cleanup(func() {
		if cmd != nil && cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return fmt.Sprintf("redis://127.0.0.1:%d/0?namespace=drill", port), start, kill
}

// TestCrashDrill kills rapport serve with SIGKILL while four clients post
// event batches, restarts it and checks that every acknowledged batch is
// there in full and no batch is there in part — RAPPORT_CRASH_CYCLES times
// (default 2) on each backend: Badger, and Redis with appendfsync always,
// where Redis itself is killed too.
func TestCrashDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	cycles := 2
	if n, err := strconv.Atoi(os.Getenv("RAPPORT_CRASH_CYCLES")); err == nil && n > 0 {
		cycles = n
	}
	t.Run("badger", func(t *testing.T) {
		data := t.TempDir()
		crashDrill(t, cycles, crashBackend{args: []string{"--data", data}, start: func(*testing.T) {}, kill: func(*testing.T) {}})
	})
	t.Run("redis", func(t *testing.T) {
		url, start, kill := privateRedis(t)
		crashDrill(t, cycles, crashBackend{args: []string{"--store", url}, start: start, kill: kill})
	})
}

func crashDrill(t *testing.T, cycles int, b crashBackend) {
	b.start(t)
	key := func(role string) string {
		out := strings.TrimSpace(rapport(t, append([]string{"keys", "create", "--role", role}, b.args...)...))
		return out[strings.LastIndex(out, "\n")+1:]
	}
	ingest, admin := key("ingest"), key("admin")
	data := t.TempDir() // ignored with --store
	var all []int       // every acknowledged batch, over all cycles
	next := 0
	for cycle := 1; cycle <= cycles; cycle++ {
		srv := startServer(t, data, b.args...)
		var (
			mu    sync.Mutex
			acked []int
			sent  []int
			wg    sync.WaitGroup
		)
		stop := make(chan struct{})
		batches := make(chan int)
		go func() {
			defer close(batches)
			for {
				select {
				case batches <- next:
					next++
				case <-stop:
					return
				}
			}
		}()
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range batches {
					mu.Lock()
					sent = append(sent, n)
					mu.Unlock()
					status, body, err := post(srv.url, ingest, crashBatchBody(n))
					if err != nil {
						return // killed
					}
					if status != http.StatusOK {
						t.Errorf("batch %d: %d %s", n, status, body)
						return
					}
					mu.Lock()
					acked = append(acked, n)
					mu.Unlock()
				}
			}()
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= 30 || time.Now().After(deadline) {
				break
			}
		}
		b.kill(t)                                      // the store first (Redis), mid-write
		if err := srv.cmd.Process.Kill(); err != nil { // then rapport: no shutdown, no flush
			t.Fatal(err)
		}
		<-srv.done
		close(stop)
		wg.Wait()
		if len(acked) < 30 {
			t.Fatalf("cycle %d: only %d batches acknowledged", cycle, len(acked))
		}
		b.start(t)
		srv = startServer(t, data, b.args...)
		ackedSet := map[int]bool{}
		for _, n := range acked {
			ackedSet[n] = true
			if got := countEvents(t, srv.url, admin, n); got != crashBatch {
				t.Errorf("cycle %d: acknowledged batch %d has %d of %d events after the crash", cycle, n, got, crashBatch)
			}
		}
		whole := 0
		for _, n := range sent {
			if ackedSet[n] {
				continue
			}
			switch got := countEvents(t, srv.url, admin, n); got {
			case 0:
			case crashBatch:
				whole++ // written, but killed before the reply went out
			default:
				t.Errorf("cycle %d: unacknowledged batch %d is half-written: %d events", cycle, n, got)
			}
		}
		all = append(all, acked...)
		t.Logf("cycle %d: %d batches acknowledged, all present; %d in flight at the kill, %d of those stored whole", cycle, len(acked), len(sent)-len(acked), whole)
		if cycle == cycles {
			for _, n := range all { // nothing acknowledged in an earlier cycle went missing later
				if got := countEvents(t, srv.url, admin, n); got != crashBatch {
					t.Errorf("batch %d, acknowledged in an earlier cycle, has %d events at the end", n, got)
				}
			}
			status, body, err := post(srv.url, ingest, crashBatchBody(all[0]))
			if err != nil || status != 200 || !strings.Contains(string(body), fmt.Sprintf(`"duplicates":%d`, crashBatch)) {
				t.Fatalf("resend after restart: %d %s %v", status, body, err)
			}
		}
		srv.cmd.Process.Kill()
		<-srv.done
	}
	t.Logf("%d cycles, %d acknowledged batches (%d events), none lost", cycles, len(all), len(all)*crashBatch)
}

// countEvents counts the stored events of crash batch n.
func countEvents(t *testing.T, url, key string, n int) int {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/identities/customer:crash-%d/events?limit=1000", url, n), nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return 0
	}
	var page struct{ Events []json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return len(page.Events)
}
