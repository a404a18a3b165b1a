package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"rapport/store"
)

// runBackup is `rapport backup --to FILE`: a consistent snapshot of a data
// directory, or, with --url and an admin --key, of a running server's
// store while it serves. The file appears only once complete.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", "backup --to FILE [--url URL --key ADMIN_KEY]", stderr)
	g := addGlobals(fs)
	to := fs.String("to", "", "the backup file to write")
	target := fs.String("url", "", "a running server to back up (loopback); without it, the data dir")
	key := fs.String("key", "", "an admin key of that server")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || *to == "" {
		return usagef("backup takes --to FILE and no arguments")
	}
	if (*target == "") != (*key == "") {
		return usagef("--url and --key go together")
	}
	tmp, err := os.CreateTemp(filepath.Dir(*to), ".rapport-backup-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	start := time.Now()
	if *target != "" {
		err = backupOnline(ctx, *target, *key, tmp)
	} else {
		var db *store.DB
		if db, err = openStore(g, false); err == nil {
			where, _ := filepath.Abs(*to)
			_, err = db.BackupTo(ctx, tmp, where)
			if cerr := db.Close(); err == nil {
				err = cerr
			}
		}
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *to); err != nil {
		return err
	}
	fi, err := os.Stat(*to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up to %s (%s) in %.1fs\n", *to, humanBytes(fi.Size()), time.Since(start).Seconds())
	return nil
}

func backupOnline(ctx context.Context, target, key string, w io.Writer) error {
	u, err := loopbackURL(target)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u.JoinPath("/v1/backup").String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET /v1/backup: %s %s", resp.Status, b)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// runRestore is `rapport restore --from FILE`: a backup loaded into a new
// or empty data directory.
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("restore", "restore --from FILE [--data NEW_DIR]", stderr)
	g := addGlobals(fs)
	from := fs.String("from", "", "the backup file to load")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || *from == "" {
		return usagef("restore takes --from FILE and no arguments")
	}
	if *g.store != "" {
		return usagef("restore loads a backup into a new Badger data directory (--data); a Redis store is restored by Redis itself (RDB or AOF)")
	}
	f, err := os.Open(*from)
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	if err := store.Restore(ctx, store.DefaultOptions(*g.data), f); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s into %s in %.1fs\n", *from, *g.data, time.Since(start).Seconds())
	return nil
}
