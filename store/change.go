package store

import (
	"context"
	"encoding/binary"
	"fmt"

	"rapport/engine"
)

// The change log has one key per (batch, identity) that got events:
// q/<seq:8><identity:8>. The merge reads every entry there, recomputes those
// identities, then deletes exactly the entries it read, so an entry
// committed while a merge runs is kept for the next one.

func changeKey(seq uint64, id engine.IdentityID) []byte {
	k := binary.BigEndian.AppendUint64([]byte(prefixChange), seq)
	return binary.BigEndian.AppendUint64(k, uint64(id))
}

// Changes returns up to limit change-log entries, oldest first.
func (db *DB) Changes(ctx context.Context, limit int) ([]engine.Change, error) {
	var out []engine.Change
	err := db.kv.View(func(txn kvTxn) error {
		opts := defaultIterOptions
		opts.Prefix, opts.PrefetchValues = []byte(prefixChange), false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid() && len(out) < limit; it.Next() {
			k := it.Item().Key()[len(prefixChange):]
			if len(k) != 16 {
				return errCorrupt
			}
			out = append(out, engine.Change{Seq: binary.BigEndian.Uint64(k), Identity: engine.IdentityID(binary.BigEndian.Uint64(k[8:]))})
		}
		return ctx.Err()
	})
	return out, err
}

// AckChanges deletes the given change-log entries.
func (db *DB) AckChanges(ctx context.Context, changes []engine.Change) error {
	wb := db.kv.NewWriteBatch(fenceOf(ctx))
	defer wb.Cancel()
	for _, c := range changes {
		if err := wb.Delete(changeKey(c.Seq, c.Identity)); err != nil {
			return fmt.Errorf("ack change: %w", err)
		}
	}
	return wb.Flush()
}

// AllIdentities returns the id of every identity (for a full recomputation).
func (db *DB) AllIdentities(ctx context.Context) ([]engine.IdentityID, error) {
	return db.idsUnder(ctx, prefixIdentity)
}

// idsUnder lists the identity ids that follow prefix in the keys under it
// (identity records, vectors), reading keys only.
func (db *DB) idsUnder(ctx context.Context, prefix string) ([]engine.IdentityID, error) {
	var ids []engine.IdentityID
	err := db.kv.View(func(txn kvTxn) error {
		opts := defaultIterOptions
		opts.Prefix, opts.PrefetchValues = []byte(prefix), false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			ids = append(ids, engine.IdentityID(binary.BigEndian.Uint64(it.Item().Key()[len(prefix):])))
		}
		return ctx.Err()
	})
	return ids, err
}

// IdentityEvents returns all events of one identity, oldest first, and
// the identity record.
func (db *DB) IdentityEvents(ctx context.Context, id engine.IdentityID) (engine.Identity, []engine.Event, error) {
	var r record
	var out []engine.Event
	err := db.kv.View(func(txn kvTxn) (err error) {
		if r, err = getRecord(txn, id); err != nil {
			return err
		}
		out, err = readStreams(txn, r.streams)
		return err
	})
	return r.Identity, out, err
}
