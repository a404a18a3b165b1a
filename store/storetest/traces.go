package storetest

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
	"github.com/redis/go-redis/v9"

	"rapport/store"
)

// Traces returns, for each of strs, where it is still found in the closed
// store opts names, so that an erasure test can demand none.
//
// In a Badger directory it looks three ways, because a grep of the raw
// files undercounts (table blocks are Snappy-compressed): a logical scan
// of every version of every key, deleted and expired ones included, with
// Badger's own iterator (AllVersions); every table file read block by
// block through Badger's table package, which decompresses them; and the
// raw bytes of every other file (value log, memtable logs, manifest),
// which Badger writes uncompressed. Places are "version", "<file>.sst"
// and the names of the other files.
//
// In Redis it reads every key of the store's namespace, SCANned on every
// master: names, string values, and set and sorted-set members.
func Traces(t testing.TB, opts store.Options, strs ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	note := func(blob []byte, where string) {
		for _, s := range strs {
			if bytes.Contains(blob, []byte(s)) && (len(out[s]) == 0 || out[s][len(out[s])-1] != where) {
				out[s] = append(out[s], where)
			}
		}
	}
	if opts.URL != "" {
		redisTraces(t, opts.URL, note)
		return out
	}
	// Every version, logically.
	db, err := badger.Open(badger.DefaultOptions(opts.Dir).WithReadOnly(true).WithLogger(nil))
	if err != nil {
		t.Fatalf("open %s to scan every version: %v", opts.Dir, err)
	}
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true, PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			note(append(item.KeyCopy(nil), v...), "version")
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("scan every version in %s: %v", opts.Dir, err)
	}
	// Every file: tables decompressed, the rest as they are.
	err = filepath.Walk(opts.Dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		name := filepath.Base(p)
		if strings.HasSuffix(name, ".sst") {
			return tableTraces(p, func(blob []byte) { note(blob, name) })
		}
		b, err := os.ReadFile(p)
		note(b, name)
		return err
	})
	if err != nil {
		t.Fatalf("read the files of %s: %v", opts.Dir, err)
	}
	return out
}

// tableTraces passes every key and value of a table file, decompressed,
// to note.
func tableTraces(path string, note func([]byte)) error {
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("map %s: %w", path, err)
	}
	// The server's options: Badger's default block size and compression.
	tbl, err := table.OpenTable(mf, table.Options{ReadOnly: true, BlockSize: 4 << 10, Compression: options.Snappy, ChkMode: options.OnTableAndBlockRead})
	if err != nil {
		return fmt.Errorf("open table %s: %w", path, err)
	}
	defer tbl.DecrRef()
	it := tbl.NewIterator(table.NOCACHE)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		note(append(bytes.Clone(it.Key()), it.Value().Value...))
	}
	return nil
}

// redisTraces passes every key of rawURL's namespace, with its contents,
// to note.
func redisTraces(t testing.TB, rawURL string, note func([]byte, string)) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	ns := u.Query().Get("namespace")
	if ns == "" {
		ns = "rapport"
	}
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: strings.Split(u.Host, ",")})
	defer rdb.Close()
	ctx := context.Background()
	var mu sync.Mutex
	scan := func(ctx context.Context, node redis.Cmdable) error {
		iter := node.Scan(ctx, 0, "rapport:{"+ns+"}:*", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			blob := []byte(k)
			switch node.Type(ctx, k).Val() {
			case "string":
				v, _ := node.Get(ctx, k).Bytes()
				blob = append(blob, v...)
			case "zset":
				for _, m := range node.ZRange(ctx, k, 0, -1).Val() {
					blob = append(blob, m...)
				}
			case "set":
				for _, m := range node.SMembers(ctx, k).Val() {
					blob = append(blob, m...)
				}
			case "hash":
				for f, v := range node.HGetAll(ctx, k).Val() {
					blob = append(append(blob, f...), v...)
				}
			}
			mu.Lock()
			note(blob, k)
			mu.Unlock()
		}
		return iter.Err()
	}
	if c, ok := rdb.(*redis.ClusterClient); ok { // SCAN is per node
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	} else {
		err = scan(ctx, rdb)
	}
	if err != nil {
		t.Fatalf("scan Redis: %v", err)
	}
}

// FilesContaining returns, for each of strs, the files under dir whose raw
// bytes contain it (for an append-only file, say).
func FilesContaining(t testing.TB, dir string, strs ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		for _, s := range strs {
			if bytes.Contains(b, []byte(s)) {
				out[s] = append(out[s], filepath.Base(p))
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
