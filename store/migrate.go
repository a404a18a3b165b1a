package store

import (
	"errors"
	"fmt"

	"rapport/engine"
)

// Layout 3 added the t/ index of social signals that name a person, and
// stores such a target in its normal form (an e-mail address only as
// email:<sha256>). migrateTo3 brings a layout-2 store there on open: it
// indexes every stored signal that names a person and rewrites those whose
// target held a raw address. A rewritten event is first copied, already
// rewritten, under m/migrate/3/<event ref>; then its key is dropped with
// DropPrefix, so that no file keeps the old value, and written back. A
// crash in between is finished by the next open, which starts by writing
// back what m/migrate/3/ holds.

// errLayout2 says the store is in key layout 2 and needs migrateTo3.
var errLayout2 = errors.New("store: key layout 2")

const prefixMigrateHold = "m/migrate/3/"

// migrateTo3 indexes and normalises the person targets of a layout-2
// store. It returns how many signals it indexed and how many it rewrote.
func migrateTo3(k kv) (indexed, rewritten int, err error) {
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

// finishRewrites replaces every event held under m/migrate/3/ by its
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
