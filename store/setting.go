package store

import (
	"context"
	"errors"

	"rapport/engine"
)

// settingKey names a stored setting: a small document the operator chose,
// such as the tuned training configuration. The store keeps its bytes and
// knows nothing of their form.
func settingKey(name string) []byte { return []byte("m/setting/" + name) }

// PutSetting stores a setting, replacing any earlier value.
func (db *DB) PutSetting(ctx context.Context, name string, value []byte) error {
	if name == "" || len(value) > 1<<20 {
		return engine.Errorf(engine.CodeInvalid, "a setting needs a name and at most 1 MiB")
	}
	e := newEncoder(len(value) + 8)
	e.string(string(value))
	return db.update(ctx, func(txn kvTxn) error { return txn.Set(settingKey(name), e.buf) })
}

// Setting returns a stored setting, or nil when there is none.
func (db *DB) Setting(ctx context.Context, name string) ([]byte, error) {
	var out []byte
	err := db.kv.View(func(txn kvTxn) error {
		item, err := txn.Get(settingKey(name))
		if errors.Is(err, errNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(val []byte) error {
			d, err := newDecoder(val)
			if err != nil {
				return err
			}
			out = []byte(d.string())
			return d.err()
		})
	})
	return out, err
}

// DeleteSetting removes a setting; absent is not an error.
func (db *DB) DeleteSetting(ctx context.Context, name string) error {
	return db.update(ctx, func(txn kvTxn) error { return txn.Delete(settingKey(name)) })
}
