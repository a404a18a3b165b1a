package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestAdversarialDataFilesPrivate proves issue 13 §6: every file rapport
// writes — the store a key command creates, what the server adds while
// ingesting, a backup — is 0600 and every directory 0700, even in a data
// directory made beforehand with open permissions.
func TestAdversarialDataFilesPrivate(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	key := createKey(t, data, "admin")
	srv := startServer(t, data)
	if status, body, err := post(srv.url, key, crashBatchBody(0)); err != nil || status != 200 {
		t.Fatalf("ingest: %d %s %v", status, body, err)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	backup := filepath.Join(t.TempDir(), "store.backup")
	rapport(t, "backup", "--data", data, "--to", backup)
	checked := 0
	for _, root := range []string{data, backup} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s is %v, want no group or other access", path, fi.Mode().Perm())
			}
			checked++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d files", checked)
	}
}
