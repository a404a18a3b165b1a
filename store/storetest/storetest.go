// Package storetest opens stores for tests, on the backend the environment
// names: Badger in a temporary directory by default, or Redis when
// RAPPORT_TEST_STORE is a redis:// URL (make test runs the store-backed
// suites both ways), each test in a namespace of its own that is dropped
// when it ends.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"

	"rapport/store"
)

// URL is the Redis URL the tests run against, or "".
func URL() string {
	if u := os.Getenv("RAPPORT_TEST_STORE"); store.IsRedisURL(u) {
		return u
	}
	return ""
}

// Redis reports whether the tests run against Redis.
func Redis() bool { return URL() != "" }

var dropped sync.Map

// Options returns the options of the test store "in" dir: dir itself for
// Badger, or a Redis namespace named after it, so that opening the same
// dir again reopens the same store.
func Options(t testing.TB, dir string) store.Options {
	t.Helper()
	opts := store.DefaultOptions(dir)
	opts.MemTableSize = 16 << 20
	u := URL()
	if u == "" {
		return opts
	}
	sum := sha256.Sum256([]byte(dir))
	ns := "test-" + hex.EncodeToString(sum[:8])
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	opts.URL = u + sep + "namespace=" + ns
	if _, seen := dropped.LoadOrStore(ns, true); !seen {
		t.Cleanup(func() {
			db, err := store.OpenRedis(opts.URL)
			if err != nil {
				t.Errorf("drop test namespace %s: %v", ns, err)
				return
			}
			defer db.Close()
			if err := db.DropNamespace(context.Background()); err != nil {
				t.Errorf("drop test namespace %s: %v", ns, err)
			}
		})
	}
	return opts
}

// Open opens the test store in dir (see Options); the caller closes it.
func Open(t testing.TB, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(Options(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return db
}
