package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"rapport/engine"
)

// Backup writes a consistent snapshot of the whole store to w: every live
// key as of one moment, while the store keeps serving. It returns the
// snapshot's version. The store records the backup as streamed to a
// client (GET /v1/backup), so that erasure receipts can list it.
func (db *DB) Backup(ctx context.Context, w io.Writer) (uint64, error) {
	return db.BackupTo(ctx, w, "streamed by GET /v1/backup")
}

// BackupTo is Backup, recording where the backup goes (a file's path).
func (db *DB) BackupTo(ctx context.Context, w io.Writer, where string) (uint64, error) {
	at := time.Now().UTC()
	v, err := db.kv.Backup(w)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return v, err
	}
	// Recorded once the snapshot is written; it holds what was stored at
	// the time it started.
	enc := newEncoder(16 + len(where))
	enc.time(at)
	enc.string(where)
	err = db.update(ctx, func(txn kvTxn) error {
		return txn.Set(binary.BigEndian.AppendUint64([]byte(prefixBackup), sortableTime(at)), enc.buf)
	})
	if err != nil {
		return v, fmt.Errorf("record backup: %w", err)
	}
	return v, nil
}

// prefixBackup keys the record of each backup taken, by time.
const prefixBackup = "m/backup/"

// listedCopies bounds the copies a receipt lists by name.
const listedCopies = 20

// backupsBefore returns the backups recorded as taken before t: how many,
// and the newest of them.
func backupsBefore(txn kvTxn, t time.Time) (int, []engine.Copy, error) {
	var all []engine.Copy
	err := scanPrefix(txn, []byte(prefixBackup), func(k, v []byte) error {
		d, err := newDecoder(v)
		if err != nil {
			return err
		}
		c := engine.Copy{At: d.time(), Where: d.string()}
		if err := d.err(); err != nil {
			return err
		}
		if c.At.Before(t) {
			all = append(all, c)
		}
		return nil
	})
	n := len(all)
	if n > listedCopies {
		all = all[n-listedCopies:]
	}
	slices.Reverse(all) // newest first
	return n, all, err
}

// backupRemnant says which recorded backups hold a person erased at t.
func backupRemnant(txn kvTxn, t time.Time) ([]engine.Remnant, error) {
	n, copies, err := backupsBefore(txn, t)
	if err != nil || n == 0 {
		return nil, err
	}
	return []engine.Remnant{{
		Layer: "backups", Count: n, Copies: copies,
		Until: fmt.Sprintf("these backups, taken before %s, hold this person until they are deleted or expire under your backup retention", t.Format(time.RFC3339)),
	}}, nil
}

// Restore loads a backup into the data directory opts.Dir, which must be
// new or empty: restoring over live data would mix two histories. It opens
// Badger itself, without the store's id sequences, so that the restored
// sequence leases are not overwritten by fresh ones.
func Restore(ctx context.Context, opts Options, r io.Reader) error {
	bo := badger.DefaultOptions(opts.Dir).WithSyncWrites(true).WithLogger(badgerLogger{opts.Logger})
	if opts.MemTableSize > 0 {
		bo = bo.WithMemTableSize(max(opts.MemTableSize, memTableLogged(opts.Dir)))
	}
	bdb, err := badger.Open(bo)
	if err != nil {
		return fmt.Errorf("open %s: %w", opts.Dir, err)
	}
	used := false
	err = badgerKV{bdb}.View(func(txn kvTxn) error {
		o := defaultIterOptions
		o.PrefetchValues = false
		it := txn.NewIterator(o)
		defer it.Close()
		it.Rewind()
		used = it.Valid()
		return nil
	})
	if err == nil && used {
		err = engine.Errorf(engine.CodeConflict, "restore needs a new or empty data directory; %s holds data", opts.Dir)
	}
	if err == nil {
		if err = bdb.Load(r, 256); err != nil {
			err = fmt.Errorf("restore: %w", err)
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	return errors.Join(err, bdb.Close())
}
