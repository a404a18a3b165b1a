package store

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/dgraph-io/badger/v4"

	"rapport/engine"
)

// Backup writes a consistent snapshot of the whole store to w: every live
// key as of one moment, while the store keeps serving. It returns the
// snapshot's version.
func (db *DB) Backup(ctx context.Context, w io.Writer) (uint64, error) {
	v, err := db.kv.Backup(w)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return v, ctx.Err()
}

// Restore loads a backup into the data directory opts.Dir, which must be
// new or empty: restoring over live data would mix two histories. It opens
// Badger itself, without the store's id sequences, so that the restored
// sequence leases are not overwritten by fresh ones.
func Restore(ctx context.Context, opts Options, r io.Reader) error {
	bo := badger.DefaultOptions(opts.Dir).WithSyncWrites(true).WithLogger(badgerLogger{opts.Logger})
	if opts.MemTableSize > 0 {
		bo = bo.WithMemTableSize(opts.MemTableSize)
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
