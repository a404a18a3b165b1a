package storetest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartRedis starts a private redis-server on port (0: a free one),
// keeping an append-only file in a temporary directory, and returns its URL,
// that directory and a stop that kills it at once (an outage; safe to call
// again); the server is shut down when the test ends in any case. The AOF
// is written as plain commands (no RDB preamble, which would compress
// strings), so a grep of the directory sees every byte. The test is skipped
// when redis-server is not installed.
func StartRedis(t testing.TB, port int) (url, dir string, stop func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	if port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	dir = t.TempDir()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "no",
		"--save", "", "--rdbcompression", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	var once sync.Once
	stop = func() { once.Do(func() { cmd.Process.Kill(); <-exited }) }
	t.Cleanup(func() {
		rdb.Close()
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		stop()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := rdb.Ping(context.Background()).Err(); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s: %v", addr, err)
		}
	}
	return "redis://" + addr + "/0", dir, stop
}
