package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"rapport/engine"
)

// ErrLocked is returned by Open when another process holds the data directory.
var ErrLocked = &engine.Error{Code: engine.CodeUnavailable, Message: "the data directory is in use by another rapport process (a running server?); stop it, or do this through the HTTP API"}

// Options configures a DB. Start from DefaultOptions and change fields.
type Options struct {
	Dir string
	// URL, when it is a redis:// URL, puts the store in Redis instead of
	// Badger in Dir (see OpenRedis); the Badger options do not apply.
	URL string
	// SyncWrites makes every committed write fsync before returning; true by
	// default. Only bulk loaders that fsync at the end should turn it off.
	SyncWrites bool
	// Logger receives Badger's warnings and errors; nil discards them.
	Logger *slog.Logger
	// MemTableSize overrides Badger's memtable size in bytes when positive.
	MemTableSize int64
	// Lean trades Badger's caches for memory: two memtables instead of
	// five and a 16 MiB block cache (the OS page cache still holds the
	// tables). The server uses it; bulk loads keep the larger buffers.
	Lean bool
}

// DefaultLargestWrite is the largest write, in request bytes, that
// DefaultOptions is sized for: the API's default body limit.
const DefaultLargestWrite = 4 << 20

// DefaultOptions returns the options the server uses for dir, sized for
// writes of up to DefaultLargestWrite bytes (see ForLargestWrite).
func DefaultOptions(dir string) Options {
	return Options{Dir: dir, SyncWrites: true}.ForLargestWrite(DefaultLargestWrite)
}

// ForLargestWrite sizes the memtable so that one transaction can hold a
// write made from n request bytes, the largest batch the caller accepts:
// Badger caps a transaction at 15% of a memtable, and a batch stores up to
// about twice its JSON (an event's id is kept in its record and in its
// deduplication key, a person target in its record and in the reference
// index), so the memtable is 16n, at least 16 MiB: 64 MiB for 4 MiB.
//
// The memtable is most of what Badger holds under writes: two of its
// arenas (the one filling, the one flushing), the level-0 table built from
// the flushing one, whose buffers Badger's allocator pool keeps for the
// next, and the pages of its memory-mapped log: about 5n to 8n under
// sustained writes, before the GC's headroom (README, Memory).
func (o Options) ForLargestWrite(n int64) Options {
	o.MemTableSize = max(16<<20, (16*n+1<<20-1)/(1<<20)*(1<<20))
	return o
}

// ForBulkLoad adjusts o for a process that loads data in bulk through a
// Loader, which fsyncs once at the end (imports, the demo): no fsync per
// write, and a 16 MiB memtable. With the server's 128 MiB memtable a whole
// import lands in one large skiplist (slower to insert into, cache miss by
// cache miss) that Badger then flushes on close, on the import's critical
// path; at 16 MiB the flushes overlap the load. The Online Retail import
// ran at ~110k rows/s against ~92k (64 MiB: ~105k, 8 MiB: ~110k). A bulk
// loader's own transactions are small, so the lower cap on a transaction's
// size (15% of a memtable) does not bind.
func (o Options) ForBulkLoad() Options {
	o.SyncWrites = false
	o.MemTableSize = 16 << 20
	return o
}

// DB is Rapport's Badger store. It is safe for concurrent use.
type DB struct {
	kv          kv
	eventSeq    kvSequence
	identitySeq kvSequence
	changeSeq   kvSequence
}

// Open opens (creating if needed) the store in opts.Dir.
func Open(opts Options) (*DB, error) {
	if opts.URL != "" {
		return OpenRedis(opts.URL)
	}
	privateDir(opts.Dir, opts.Logger)
	bdb, err := badger.Open(opts.badger())
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("open badger in %s: %w", opts.Dir, err)
	}
	// Badger is guarded against a full disk and a directory that stops
	// taking files (see disk.go).
	return openKV(guardedKV{badgerKV{bdb}, newDiskGuard(opts)})
}

// memTableLogged returns the memtable size that the memtable logs in dir
// were written with (Badger makes each log twice its memtable), 0 if none.
// A log left by a process that did not close the store (kill -9, or an
// older rapport with larger memtables) is replayed into a memtable of the
// size being opened; one that does not fit would panic Badger, so Open
// uses the larger size until the log is flushed.
func memTableLogged(dir string) int64 {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	var largest int64
	for _, l := range logs {
		if fi, err := os.Stat(l); err == nil {
			largest = max(largest, fi.Size()/2)
		}
	}
	return largest
}

// privateDir makes an existing data directory 0700 and its files 0600,
// as a new one is (Badger creates the directory 0700; rapport's umask of
// 0077 makes its files 0600): an older directory, or one made by hand,
// may let other users read the store. A failure (a directory on a
// read-only file system, or owned by someone else) is logged, not fatal.
func privateDir(dir string, logger *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // not there yet: Badger creates it 0700
	}
	tighten := func(path string, private os.FileMode) {
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&os.ModeSymlink != 0 || fi.Mode().Perm()&0o077 == 0 {
			return
		}
		if err := os.Chmod(path, fi.Mode().Perm()&private); err != nil && logger != nil {
			logger.Warn("cannot make the data directory private", "path", path, "err", err)
		}
	}
	tighten(dir, 0o700)
	for _, e := range entries {
		if e.Type().IsRegular() {
			tighten(filepath.Join(dir, e.Name()), 0o600)
		}
	}
}

// openKV checks the key layout of an opened engine and leases the id
// sequences.
func openKV(k kv) (*DB, error) {
	if err := checkSchema(k); err != nil {
		k.Close()
		return nil, err
	}
	db := &DB{kv: k}
	var err error
	if db.eventSeq, err = k.Sequence([]byte("m/seq/event"), 4096); err == nil {
		if db.identitySeq, err = k.Sequence([]byte("m/seq/identity"), 256); err == nil {
			db.changeSeq, err = k.Sequence([]byte("m/seq/change"), 1024)
		}
	}
	if err != nil {
		k.Close()
		return nil, fmt.Errorf("open sequences: %w", err)
	}
	return db, nil
}

// schema names the key layout this version reads and writes (see doc.go).
// Version 2 gave every alias its own stream of events and ended alias keys
// with a zero byte; version 3 keys event ids by stream (dedupKey); version
// 4 indexes the social signals that name a person (t/) and keeps their
// targets hashed like aliases (migrate.go).
const schema = "4"

// checkSchema refuses a data directory written in another key layout,
// rather than misreading it, stamps a new one with this layout, and
// brings a layout-2 or -3 one up to date in place (migrate.go).
func checkSchema(k kv) error {
	key := []byte("m/schema")
	var found string
	err := k.Update(nil, func(txn kvTxn) error {
		item, err := txn.Get(key)
		if err == nil {
			v, err := item.ValueCopy(nil)
			found = string(v)
			return err
		}
		if !errors.Is(err, errNotFound) {
			return err
		}
		opts := defaultIterOptions
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		it.Rewind()
		used := it.Valid()
		it.Close()
		if used {
			return engine.Errorf(engine.CodeUnavailable, "the data directory was written by an earlier rapport (key layout 1); remove it and import the data again")
		}
		found = schema
		return txn.Set(key, []byte(schema))
	})
	if err != nil || found == schema {
		return err
	}
	if found != "2" && found != "3" {
		return engine.Errorf(engine.CodeUnavailable, "the data directory has key layout %q; this rapport reads layout %s", found, schema)
	}
	if found == "2" {
		if err := migrateDedupKeys(k); err != nil {
			return err
		}
	}
	if _, _, err := migrateReferences(k); err != nil {
		return fmt.Errorf("migrate the data to key layout %s: %w", schema, err)
	}
	return k.Update(nil, func(txn kvTxn) error { return txn.Set(key, []byte(schema)) })
}

// Close releases the sequences and closes Badger, flushing everything.
func (db *DB) Close() error {
	err := errors.Join(db.eventSeq.Release(), db.identitySeq.Release(), db.changeSeq.Release())
	return errors.Join(err, db.kv.Close())
}

// Ping checks that the store can serve a read and, on Badger, that its
// data directory takes files: CodeUnavailable says why not, including when
// only a restart can bring the store back. A full disk is not an error
// here (reads go on; writes answer CodeInsufficientStorage).
func (db *DB) Ping(ctx context.Context) error {
	if db.kv.IsClosed() {
		return engine.Errorf(engine.CodeUnavailable, "store is closed")
	}
	if g, ok := db.kv.(guardedKV); ok {
		if err := g.g.health(); err != nil {
			return err
		}
	}
	return db.kv.View(func(txn kvTxn) error {
		_, err := txn.Get([]byte("m/ping"))
		if errors.Is(err, errNotFound) {
			return nil
		}
		return err
	})
}

// Sync fsyncs everything written so far.
func (db *DB) Sync() error { return db.kv.Sync() }

// update runs fn in a read-write transaction, retrying with a short,
// growing, jittered pause when Badger reports a conflict with a concurrent
// transaction (another writer changed a key fn read).
func (db *DB) update(ctx context.Context, fn func(txn kvTxn) error) error {
	for attempt := 0; attempt < 12; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := db.kv.Update(fenceOf(ctx), fn)
		if !errors.Is(err, errConflict) {
			return err
		}
		pause := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 5)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	return engine.Errorf(engine.CodeUnavailable, "too many concurrent writes to the same records; retry")
}

// badgerLogger sends Badger's log lines to slog; nil discards them.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) { b.log(slog.LevelError, f, a...) }
func (b badgerLogger) Warningf(f string, a ...any) {
	b.log(slog.LevelWarn, f, a...)
}
func (b badgerLogger) Infof(f string, a ...any)  { b.log(slog.LevelDebug, f, a...) }
func (b badgerLogger) Debugf(f string, a ...any) { b.log(slog.LevelDebug, f, a...) }

func (b badgerLogger) log(level slog.Level, f string, a ...any) {
	if b.l != nil {
		b.l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
	}
}

// Empty reports whether the store holds no events and no items.
func (db *DB) Empty(ctx context.Context) (bool, error) {
	empty := true
	err := db.kv.View(func(txn kvTxn) error {
		for _, p := range []string{prefixEvent, prefixItem} {
			opts := defaultIterOptions
			opts.Prefix, opts.PrefetchValues = []byte(p), false
			it := txn.NewIterator(opts)
			it.Rewind()
			if it.Valid() {
				empty = false
			}
			it.Close()
		}
		return nil
	})
	return empty, err
}
