package store_test

import (
	"os"
	"path/filepath"
	"testing"

	"rapport/store"
)

// TestAdversarialDataDirPrivate proves issue 13 §6 (data files 0600,
// directories 0700) for a data directory that already exists with open
// permissions, as one made by hand or by an older rapport: opening the
// store makes it and its files private. (rapport's umask, set in main,
// covers the files created afterwards; cmd/rapport's test checks that.)
func TestAdversarialDataDirPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db, err := store.Open(store.DefaultOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Chmod(filepath.Join(dir, e.Name()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db, err = store.Open(store.DefaultOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // Badger may have replaced it
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v, want no group or other access", e.Name(), fi.Mode().Perm())
		}
	}
}
