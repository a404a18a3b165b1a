package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// smallDisk mounts a tmpfs of size bytes on a new directory that every
// user may enter, and unmounts it when the test ends (after the servers
// started later are stopped: cleanups run last-in, first-out).
func smallDisk(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the disk drills mount a tmpfs, which needs root (CI runs them as root)")
	}
	dir, err := os.MkdirTemp("", "rapport-disk-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		os.Remove(dir)
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("mounting a tmpfs is not permitted here (%v); the disk drills need it", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
		os.Remove(dir)
	})
	return dir
}

// fillFile writes a file of n bytes whose blocks are allocated.
func fillFile(t *testing.T, path string, n int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, n); err != nil {
		t.Fatal(err)
	}
}

const drillBatch = 1000

// drillBatchBody is batch n of the drills: drillBatch events of one alias.
func drillBatchBody(n int) []byte {
	return viewBatch("drill", n, drillBatch, 50, "-"+strings.Repeat("x", 80))
}

// drillCall makes a request with key and returns the status and body; err is
// set only when no answer came (the server is gone).
func drillCall(method, url, key string, body []byte) (int, string, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// mustAnswer asserts that a request answers want; the body must contain
// every one of contains.
func mustAnswer(t *testing.T, what, method, url, key string, body []byte, want int, contains ...string) {
	t.Helper()
	status, got, err := drillCall(method, url, key, body)
	if err != nil {
		t.Fatalf("%s: no answer: %v", what, err)
	}
	if status != want {
		t.Fatalf("%s: %d %s, want %d", what, status, got, want)
	}
	for _, c := range contains {
		if !strings.Contains(got, c) {
			t.Fatalf("%s: %d %s, want it to mention %q", what, status, got, c)
		}
	}
}

// ingestUntilRefused posts event batches from four clients, numbered from
// *next, until the server refuses one, and returns the acknowledged ones
// and the refusal's body ("" if none came before batch limit). It fails
// the test when the server stops answering or answers anything but 200
// and refusal.
func ingestUntilRefused(t *testing.T, srv *serverProcess, key string, next *int, refusal int, limit int) (acked []int, body string) {
	t.Helper()
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		refused string
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				n := *next
				*next++
				stop := refused != "" || n >= limit
				mu.Unlock()
				if stop {
					return
				}
				status, b, err := drillCall("POST", srv.url+"/v1/events", key, drillBatchBody(n))
				mu.Lock()
				switch {
				case err != nil:
					t.Errorf("batch %d: the server stopped answering: %v", n, err)
					refused = "no answer"
				case status == http.StatusOK:
					acked = append(acked, n)
				case status == refusal:
					refused = b
				default:
					t.Errorf("batch %d: %d %s", n, status, b)
					refused = b
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return acked, refused
}

// checkAcked asserts that every acknowledged batch is stored whole.
func checkAcked(t *testing.T, url, key string, acked []int, when string) {
	t.Helper()
	for _, n := range acked {
		status, body, err := drillCall("GET", fmt.Sprintf("%s/v1/identities/customer:drill-%d/events?limit=1000", url, n), key, nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s: batch %d: %d %s %v", when, n, status, body, err)
		}
		var page struct{ Events []json.RawMessage }
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != drillBatch {
			t.Errorf("%s: acknowledged batch %d has %d of %d events", when, n, len(page.Events), drillBatch)
		}
	}
}

// checkReads asserts that the reads a storefront makes still answer, on
// the demo shop of seedData.
func checkReads(t *testing.T, url, key string, when string) {
	t.Helper()
	mustAnswer(t, when+": GET item", "GET", url+"/v1/items/SKU-00001", key, nil, http.StatusOK, `"SKU-00001"`)
	mustAnswer(t, when+": GET recommendations", "GET", url+"/v1/identities/customer:C00001/recommendations", key, nil, http.StatusOK, `"items"`)
	mustAnswer(t, when+": GET identity", "GET", url+"/v1/identities/customer:C00001", key, nil, http.StatusOK, "C00001")
}

// seedData makes a data directory with a small demo shop, a model trained
// on it, and an admin key (returned), once per test binary, and copies it
// to dst, owned by uid and gid.
func seedData(t *testing.T, dst string, uid, gid int) (admin string) {
	t.Helper()
	seedOnce.Do(func() {
		seedDir = filepath.Join(filepath.Dir(binary), "seed") // TestMain removes it
		for _, args := range [][]string{
			{"demo", "--data", seedDir, "--customers", "200", "--items", "300"},
			{"train", "--data", seedDir, "--factors", "8", "--iterations", "3"},
			{"keys", "create", "--data", seedDir, "--role", "admin"},
		} {
			out, err := exec.Command(binary, args...).CombinedOutput()
			if err != nil {
				seedErr = fmt.Errorf("rapport %s: %v %s", args[0], err, out)
				return
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			seedKey = lines[len(lines)-1]
		}
	})
	if seedErr != nil {
		t.Fatal(seedErr)
	}
	if out, err := exec.Command("cp", "-a", seedDir, dst).CombinedOutput(); err != nil {
		t.Fatalf("copy the seed: %v %s", err, out)
	}
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), dst).CombinedOutput(); err != nil {
		t.Fatalf("chown the seed: %v %s", err, out)
	}
	return seedKey
}

var (
	seedOnce         sync.Once
	seedDir, seedKey string
	seedErr          error
)

// stopServer sends SIGTERM and asserts that the server shuts down on its own,
// by exiting, not by a signal (the read-only directory made it SIGSEGV).
func stopServer(t *testing.T, srv *serverProcess) *os.ProcessState {
	t.Helper()
	srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not shut down within 30s of SIGTERM")
	}
	st := srv.cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("the server died of %v while shutting down", ws.Signal())
	}
	return st
}

// TestAdversarialDiskFull proves issue 13's finding "a full disk kills the
// server (SIGBUS in Badger's memory-mapped memtable)": on a tmpfs a little
// larger than the store's disk reserve, four clients post events until the
// server refuses them. The server must stay up, answer 507 naming the
// full disk, keep serving reads, take writes again as soon as a file is
// deleted (no restart), shut down cleanly even while full, and hold every
// acknowledged event after the space returns and after a restart.
func TestAdversarialDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	// The setup: a 64 MiB disk, smaller than the reserve. Badger
	// died of SIGBUS after about 120 batches; now the first is refused.
	tiny := smallDisk(t, 64<<20)
	admin := seedData(t, filepath.Join(tiny, "data"), 0, 0)
	srv := startServer(t, filepath.Join(tiny, "data"))
	next := 0
	acked, refusal := ingestUntilRefused(t, srv, admin, &next, http.StatusInsufficientStorage, 2000)
	if refusal == "" {
		t.Fatalf("%d batches all acknowledged on a 64 MiB disk", next)
	}
	checkReads(t, srv.url, admin, "64 MiB disk")
	t.Logf("64 MiB disk: %d batches acknowledged before the first refusal: %s", len(acked), refusal)
	if st := stopServer(t, srv); st.ExitCode() != 0 {
		t.Fatalf("shutdown on a 64 MiB disk exited %d", st.ExitCode())
	}

	// A disk a little larger than the reserve, filled with events.
	reserve := (&Server{}).storeOptions().DiskReserve()
	const room, filler = 96 << 20, 40 << 20
	mnt := smallDisk(t, reserve+room)
	fillFile(t, filepath.Join(mnt, "filler"), filler)
	data := filepath.Join(mnt, "data")
	seedData(t, data, 0, 0)
	srv = startServer(t, data)
	acked, refusal = ingestUntilRefused(t, srv, admin, &next, http.StatusInsufficientStorage, 5000)
	if refusal == "" {
		t.Fatalf("%d batches all acknowledged: the disk never filled", next)
	}
	if !strings.Contains(refusal, `"insufficient_storage"`) || !strings.Contains(refusal, "disk") {
		t.Fatalf("refusal does not name the full disk: %s", refusal)
	}
	t.Logf("disk full after %d acknowledged batches (%d events); reserve %d MiB; refusal: %s", len(acked), len(acked)*drillBatch, reserve>>20, refusal)
	checkReads(t, srv.url, admin, "disk full")
	mustAnswer(t, "readyz while full", "GET", srv.url+"/readyz", "", nil, http.StatusOK)
	mustAnswer(t, "PUT items while full", "PUT", srv.url+"/v1/items", admin, []byte(`[{"id":"SKU-late"}]`), http.StatusInsufficientStorage, "full")
	mustAnswer(t, "PUT consent while full", "PUT", srv.url+"/v1/identities/customer:C00001/consents/analytics", admin, []byte(`{"granted":true}`), http.StatusInsufficientStorage, "full")

	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		t.Fatal(err)
	}
	mustAnswer(t, "POST events once space is freed", "POST", srv.url+"/v1/events", admin, drillBatchBody(next), http.StatusOK)
	acked = append(acked, next)
	next++
	checkAcked(t, srv.url, admin, acked, "after freeing space")

	// Full again, then shut down: the memtable's flush on close must fit
	// in the reserve.
	more, refusal := ingestUntilRefused(t, srv, admin, &next, http.StatusInsufficientStorage, 10000)
	acked = append(acked, more...)
	if refusal == "" {
		t.Fatal("the disk did not fill again")
	}
	if st := stopServer(t, srv); st.ExitCode() != 0 {
		t.Fatalf("shutdown on a full disk exited %d", st.ExitCode())
	}
	srv = startServer(t, data)
	checkAcked(t, srv.url, admin, acked, "after a restart")
	checkReads(t, srv.url, admin, "after a restart")
	t.Logf("%d acknowledged batches (%d events), none lost", len(acked), len(acked)*drillBatch)
}

// nobody is the unprivileged user the read-only drill runs rapport as, so
// that taking a directory's write permission away binds it (root ignores
// permissions).
var nobody = &syscall.Credential{Uid: 65534, Gid: 65534}

// TestAdversarialReadOnlyDataDir proves issue 13's finding "a data
// directory that turns read-only mid-run wedges it (every call 500,
// /readyz 500, still 500 after permissions return, SIGSEGV on shutdown)".
// The directory is made read-only with chmod under a server running as
// nobody: remounting the tmpfs read-only is refused (EBUSY) while Badger
// holds its files open for writing, so a mid-run remount cannot happen.
// While read-only, writes must answer 503 naming the cause, /readyz 503
// with the reason, and reads go on; when the permission returns, writes
// resume without a restart; a SIGTERM while read-only must not crash; and
// every acknowledged event is there after a restart.
func TestAdversarialReadOnlyDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	mnt := smallDisk(t, 1<<30)
	// nobody cannot run the binary in the test's private temp directory.
	bin := filepath.Join(mnt, "rapport")
	if out, err := exec.Command("cp", binary, bin).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	data := filepath.Join(mnt, "data")
	admin := seedData(t, data, int(nobody.Uid), int(nobody.Gid))
	asNobody := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: nobody}
		return cmd
	}
	serve := func() *serverProcess {
		p := launch(t, asNobody("serve", "--data", data, "--addr", "127.0.0.1:0", "--log-level", "error", "--merge-schedule", "off", "--train-schedule", "off"))
		return p
	}
	srv := serve()
	next := 0
	acked, _ := ingestUntilRefused(t, srv, admin, &next, http.StatusServiceUnavailable, 40)
	if len(acked) != 40 {
		t.Fatalf("%d of 40 batches acknowledged on a writable directory", len(acked))
	}

	readOnly := func(ro bool) {
		mode := os.FileMode(0o700)
		if ro {
			mode = 0o500
		}
		if err := os.Chmod(data, mode); err != nil {
			t.Fatal(err)
		}
	}
	readOnly(true)
	t.Cleanup(func() { os.Chmod(data, 0o700) })
	mustAnswer(t, "POST events, read-only", "POST", srv.url+"/v1/events", admin, drillBatchBody(next), http.StatusServiceUnavailable, "data directory cannot be written", "permission denied")
	next++
	mustAnswer(t, "PUT items, read-only", "PUT", srv.url+"/v1/items", admin, []byte(`[{"id":"SKU-late"}]`), http.StatusServiceUnavailable, "cannot be written")
	mustAnswer(t, "readyz, read-only", "GET", srv.url+"/readyz", "", nil, http.StatusServiceUnavailable, "data directory cannot be written")
	checkReads(t, srv.url, admin, "read-only")

	readOnly(false)
	mustAnswer(t, "readyz, writable again", "GET", srv.url+"/readyz", "", nil, http.StatusOK)
	mustAnswer(t, "POST events, writable again", "POST", srv.url+"/v1/events", admin, drillBatchBody(next), http.StatusOK)
	acked = append(acked, next)
	next++
	checkAcked(t, srv.url, admin, acked, "writable again")

	// Read-only at shutdown: Badger's Close would retry its flush forever
	// (or, had it lost its memtable, segfault); the server must exit.
	readOnly(true)
	stopServer(t, srv)
	readOnly(false)
	srv = serve()
	checkAcked(t, srv.url, admin, acked, "after a restart")
	checkReads(t, srv.url, admin, "after a restart")
}
