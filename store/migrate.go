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
			if string(v) != "2" && string(v) != "3" {
				return engine.Errorf(engine.CodeUnavailable, "the data directory has key layout %q; this rapport reads layout %s", v, schema)
			}
			return txn.Set([]byte("m/schema"), []byte("3"))
		})
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("migrate event ids to layout 3: %w", err)
		}
		if next == nil {
			return nil
		}
		from = next
	}
}

// Layout 4 added the t/ index of social signals that name a person, and
// stores such a target in its normal form (an e-mail address only as
// email:<sha256>). migrateReferences brings a layout-3 store there on open: it
// indexes every stored signal that names a person and rewrites those whose
// target held a raw address. A rewritten event is first copied, already
// rewritten, under m/migrate/4/<event ref>; then its key is dropped with
// DropPrefix, so that no file keeps the old value, and written back. A
// crash in between is finished by the next open, which starts by writing
// back what m/migrate/4/ holds.

const prefixMigrateHold = "m/migrate/4/"

// migrateReferences indexes and normalises the person targets of a
// layout-3 store. It returns how many signals it indexed and how many it
// rewrote.
func migrateReferences(k kv) (indexed, rewritten int, err error) {
	if _, err := finishRewrites(k); err != nil {
		return 0, 0, err
	}
	wb := k.NewWriteBatch(nil)
	defer wb.Cancel()
	err = k.View(func(txn kvTxn) error {
		opts := defaultIterOptions
		opts.Prefix = []byte(prefixEvent)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			ev, err := itemEvent(it.Item())
			if err != nil {
				return err
			}
			a, ok := engine.PersonTarget(ev.Target)
			if !ok {
				continue
			}
			var ref eventRef
			copy(ref[:], it.Item().Key()[len(prefixEvent):])
			if ev.Target != a.String() {
				ev.Target = a.String()
				if err := wb.Set(append([]byte(prefixMigrateHold), ref[:]...), encodeEvent(&ev)); err != nil {
					return err
				}
			}
			if err := setReference(wb.Set, &ev, ref); err != nil {
				return err
			}
			indexed++
		}
		return nil
	})
	if err == nil {
		err = wb.Flush()
	}
	if err != nil {
		return indexed, 0, fmt.Errorf("index person targets: %w", err)
	}
	rewritten, err = finishRewrites(k)
	return indexed, rewritten, err
}

// finishRewrites replaces every event held under m/migrate/4/ by its
// rewritten copy, and returns how many it replaced.
func finishRewrites(k kv) (int, error) {
	var refs []eventRef
	var vals [][]byte
	err := k.View(func(txn kvTxn) error {
		return scanPrefix(txn, []byte(prefixMigrateHold), func(key, v []byte) error {
			var ref eventRef
			if len(key) != len(prefixMigrateHold)+len(ref) {
				return errCorrupt
			}
			copy(ref[:], key[len(prefixMigrateHold):])
			refs, vals = append(refs, ref), append(vals, append([]byte(nil), v...))
			return nil
		})
	})
	if err != nil || len(refs) == 0 {
		return 0, err
	}
	drop := make([][]byte, len(refs))
	for i, ref := range refs {
		drop[i] = ref.key()
	}
	if err := k.DropPrefix(drop...); err != nil {
		return 0, fmt.Errorf("drop events with raw targets: %w", err)
	}
	wb := k.NewWriteBatch(nil)
	defer wb.Cancel()
	for i, ref := range refs {
		if err := wb.Set(ref.key(), vals[i]); err != nil {
			return 0, err
		}
		if err := wb.Delete(append([]byte(prefixMigrateHold), ref[:]...)); err != nil {
			return 0, err
		}
	}
	if err := wb.Flush(); err != nil {
		return 0, fmt.Errorf("write back rewritten events: %w", err)
	}
	return len(refs), nil
}
