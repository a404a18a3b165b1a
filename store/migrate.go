package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"rapport/engine"
)

// migrateBatch bounds the idempotency keys one migration transaction
// rewrites, keeping it far below Badger's cap on a transaction's size.
const migrateBatch = 1000

// migrateDedupKeys brings a layout-2 store to layout 3. Layout 2 kept one
// idempotency key per event id for the whole store, d/<client id>; layout
// 3 keeps it under the stream of the alias the event came with,
// d/<stream:8><client id>. Each key's value is the reference of the event
// it stands for, which begins with that stream, so every key is rewritten
// from its own value, without reading the event.
//
// The two forms never mix up: a stream number is below 2^56, so a scoped
// key's third byte is zero, and no client id starts with a byte at or
// below a space (engine's checkIDText). All old keys therefore sort at or
// after d/\x01 and all new ones before it: each transaction rewrites the
// next keys from where the last one stopped (not from d/\x01, which would
// walk Badger's tombstones of every key rewritten so far), and the one
// that finds no old key left from d/\x01 on stamps layout 3. A crash part
// way leaves a layout-2 store with some keys rewritten, each rewrite
// whole; the next Open carries on from there. Several processes opening
// one Redis store at once conflict and retry over the same keys, with the
// same outcome.
func migrateDedupKeys(k kv) error {
	first := []byte(prefixDedup + "\x01")
	from := first
	for {
		var next []byte // where the next transaction starts; nil: done
		err := k.Update(nil, func(txn kvTxn) error {
			next = nil
			type rewrite struct{ old, new, val []byte }
			var batch []rewrite
			opts := defaultIterOptions
			opts.Prefix = []byte(prefixDedup)
			it := txn.NewIterator(opts)
			for it.Seek(from); it.Valid() && len(batch) < migrateBatch; it.Next() {
				old := it.Item().KeyCopy(nil)
				val, err := it.Item().ValueCopy(nil)
				if err != nil {
					it.Close()
					return err
				}
				if len(val) != 1+len(eventRef{}) || val[0] != formatV1 {
					it.Close()
					return fmt.Errorf("idempotency key %q: %w", old, errCorrupt)
				}
				stream := binary.BigEndian.Uint64(val[1:])
				if stream>>56 != 0 {
					it.Close()
					return fmt.Errorf("idempotency key %q names stream %d, beyond any this store draws: %w", old, stream, errCorrupt)
				}
				batch = append(batch, rewrite{old, dedupKey(stream, string(old[len(prefixDedup):])), val})
			}
			it.Close()
			for _, r := range batch {
				if err := txn.Set(r.new, r.val); err != nil {
					return err
				}
				if err := txn.Delete(r.old); err != nil {
					return err
				}
			}
			if len(batch) == migrateBatch {
				next = append(batch[len(batch)-1].old, 0)
				return nil
			}
			// None left after these, unless written before from meanwhile:
			// then go round again; else stamp the layout in this commit.
			it = txn.NewIterator(opts)
			it.Seek(first)
			left := it.Valid()
			it.Close()
			if left {
				next = first
				return nil
			}
			item, err := txn.Get([]byte("m/schema"))
			if err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if string(v) != "2" && string(v) != schema {
				return engine.Errorf(engine.CodeUnavailable, "the data directory has key layout %q; this rapport reads layout %s", v, schema)
			}
			return txn.Set([]byte("m/schema"), []byte(schema))
		})
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("migrate event ids to layout %s: %w", schema, err)
		}
		if next == nil {
			return nil
		}
		from = next
	}
}
