package store

// Hooks for the external tests: they reach the key layout itself, to write
// a store as an older build left it.

// ToLayout2 rewrites db's idempotency keys the way a layout-2 build kept
// them, one per event id for the whole store (d/<client id>), and stamps
// layout 2, as an older build leaves a data directory. The first keep keys
// stay in the current form, as a migration that stopped part way leaves
// them. Ids repeated under several aliases cannot be written in layout 2;
// the caller avoids them.
func ToLayout2(db *DB, keep int) error {
	return db.kv.Update(nil, func(txn kvTxn) error {
		type key struct{ k, v []byte }
		var scoped []key
		err := scanPrefix(txn, []byte(prefixDedup+"\x00"), func(k, v []byte) error {
			scoped = append(scoped, key{append([]byte(nil), k...), append([]byte(nil), v...)})
			return nil
		})
		if err != nil {
			return err
		}
		for _, s := range scoped[min(keep, len(scoped)):] {
			if err := txn.Delete(s.k); err != nil {
				return err
			}
			global := append([]byte(prefixDedup), s.k[len(prefixDedup)+8:]...)
			if err := txn.Set(global, s.v); err != nil {
				return err
			}
		}
		return txn.Set([]byte("m/schema"), []byte("2"))
	})
}

// DedupKeys counts db's idempotency keys in the layout-2 form (global) and
// in the current one (scoped to a stream).
func DedupKeys(db *DB) (global, scoped int, err error) {
	err = db.kv.View(func(txn kvTxn) error {
		return scanPrefix(txn, []byte(prefixDedup), func(k, v []byte) error {
			if k[len(prefixDedup)] == 0 {
				scoped++
			} else {
				global++
			}
			return nil
		})
	})
	return global, scoped, err
}

// Schema returns the key layout db is stamped with.
func Schema(db *DB) (string, error) {
	var v []byte
	err := db.kv.View(func(txn kvTxn) error {
		item, err := txn.Get([]byte("m/schema"))
		if err == nil {
			v, err = item.ValueCopy(nil)
		}
		return err
	})
	return string(v), err
}

// AsLayout3 turns db back into key layout 3, as a store written before
// layout 4 would be: no t/ index and the layout stamp "3" (its targets are
// whatever the test stored). The next Open migrates it.
func AsLayout3(db *DB) error {
	if err := db.kv.DropPrefix([]byte(prefixReference)); err != nil {
		return err
	}
	return db.kv.Update(nil, func(txn kvTxn) error { return txn.Set([]byte("m/schema"), []byte("3")) })
}
