package store

// AsLayout2 turns db back into key layout 2, as a store written before
// layout 3 would be: no t/ index and the layout stamp "2" (its targets are
// whatever the test stored). The next Open migrates it.
func AsLayout2(db *DB) error {
	if err := db.kv.DropPrefix([]byte(prefixReference)); err != nil {
		return err
	}
	return db.kv.Update(nil, func(txn kvTxn) error { return txn.Set([]byte("m/schema"), []byte("2")) })
}
