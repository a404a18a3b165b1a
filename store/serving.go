package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"rapport/engine"
)

// servingKey holds the ids of the versions that have served, the one
// serving now last: what rollback goes back along.
var servingKey = []byte("m/serving")

// maxServingHistory bounds the history kept.
const maxServingHistory = 100

func getVersion(txn kvTxn, id string) (engine.ModelVersion, error) {
	item, err := txn.Get(versionKey(id))
	if errors.Is(err, errNotFound) {
		return engine.ModelVersion{}, engine.Errorf(engine.CodeNotFound, "no model version %q", id)
	}
	if err != nil {
		return engine.ModelVersion{}, err
	}
	var v engine.ModelVersion
	err = item.Value(func(val []byte) (err error) {
		v, err = decodeVersion(id, val)
		return err
	})
	return v, err
}

func servingHistory(txn kvTxn) ([]string, error) {
	item, err := txn.Get(servingKey)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	err = item.Value(func(val []byte) error {
		d, err := newDecoder(val)
		if err != nil {
			return err
		}
		for n := d.count(); n > 0 && !d.bad; n-- {
			out = append(out, d.string())
		}
		return d.err()
	})
	return out, err
}

// SetServing makes version id the one that serves (promoting it if it was
// a candidate) and returns it.
func (db *DB) SetServing(ctx context.Context, id string) (engine.ModelVersion, error) {
	var v engine.ModelVersion
	err := db.update(ctx, func(txn kvTxn) error {
		var err error
		if v, err = getVersion(txn, id); err != nil {
			return err
		}
		if v.Status != engine.VersionPromoted {
			v.Status = engine.VersionPromoted
			rec, err := encodeVersion(&v)
			if err != nil {
				return err
			}
			if err := txn.Set(versionKey(id), rec); err != nil {
				return err
			}
		}
		history, err := servingHistory(txn)
		if err != nil {
			return err
		}
		if n := len(history); n == 0 || history[n-1] != id {
			history = append(history, id)
		}
		if len(history) > maxServingHistory {
			history = history[len(history)-maxServingHistory:]
		}
		e := newEncoder(16 * len(history))
		e.uint(uint64(len(history)))
		for _, h := range history {
			e.string(h)
		}
		return txn.Set(servingKey, e.buf)
	})
	if err != nil {
		return engine.ModelVersion{}, fmt.Errorf("set serving version: %w", err)
	}
	return v, nil
}

// ServingVersion returns the version that serves: the last one set, or,
// in a store from before serving was recorded, the newest promoted one.
// ok is false when none does.
func (db *DB) ServingVersion(ctx context.Context) (v engine.ModelVersion, ok bool, err error) {
	history, err := db.ServingHistory(ctx)
	if err != nil {
		return v, false, err
	}
	if n := len(history); n > 0 {
		err = db.kv.View(func(txn kvTxn) (err error) {
			v, err = getVersion(txn, history[n-1])
			return err
		})
		return v, err == nil, err
	}
	vs, err := db.Versions(ctx)
	if err != nil {
		return v, false, err
	}
	for _, v := range vs {
		if v.Status == engine.VersionPromoted {
			return v, true, nil
		}
	}
	return v, false, nil
}

// ServingHistory returns the ids of the versions that have served,
// oldest first; the last serves now.
func (db *DB) ServingHistory(ctx context.Context) ([]string, error) {
	var out []string
	err := db.kv.View(func(txn kvTxn) (err error) {
		out, err = servingHistory(txn)
		return err
	})
	return slices.Clip(out), err
}
