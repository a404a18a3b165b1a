package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"rapport/engine"
)

func encodeItem(it *engine.Item) []byte {
	e := newEncoder(64 + len(it.Title))
	e.string(it.Title)
	e.string(it.Category)
	e.string(it.Brand)
	e.float(it.Price)
	e.string(it.Currency)
	e.bool(it.Available)
	e.attrs(it.Attributes)
	e.time(it.UpdatedAt)
	return e.buf
}

func decodeItem(id string, val []byte) (engine.Item, error) {
	d, err := newDecoder(val)
	if err != nil {
		return engine.Item{}, err
	}
	it := engine.Item{ID: id, Title: d.string(), Category: d.string(), Brand: d.string(), Price: d.float(),
		Currency: d.string(), Available: d.bool(), Attributes: d.attrs(), UpdatedAt: d.time()}
	return it, d.err()
}

// PutItems upserts a batch of validated items atomically, replacing each
// item's previous record whole.
func (db *DB) PutItems(ctx context.Context, items []engine.Item) error {
	now := time.Now().UTC()
	err := db.update(ctx, func(txn kvTxn) error {
		for i := range items {
			it := items[i]
			it.UpdatedAt = now
			if err := txn.Set(itemKey(it.ID), encodeItem(&it)); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if errors.Is(err, errTxnTooBig) {
		return engine.Errorf(engine.CodeTooLarge, "the batch is too large to store at once; send fewer items per request")
	}
	if err != nil {
		return fmt.Errorf("put items: %w", err)
	}
	return nil
}

// Item returns one catalog item, or an error with code not_found.
func (db *DB) Item(ctx context.Context, id string) (engine.Item, error) {
	var it engine.Item
	err := db.kv.View(func(txn kvTxn) error {
		item, err := txn.Get(itemKey(id))
		if errors.Is(err, errNotFound) {
			return engine.Errorf(engine.CodeNotFound, "item %q does not exist", id)
		}
		if err != nil {
			return fmt.Errorf("get item: %w", err)
		}
		return item.Value(func(v []byte) (err error) {
			it, err = decodeItem(id, v)
			return err
		})
	})
	return it, err
}

// ScanItems calls fn for every catalog item.
func (db *DB) ScanItems(ctx context.Context, fn func(it engine.Item) error) error {
	return db.kv.View(func(txn kvTxn) error {
		opts := defaultIterOptions
		opts.Prefix = []byte(prefixItem)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := string(it.Item().Key()[len(prefixItem):])
			var item engine.Item
			err := it.Item().Value(func(v []byte) (err error) {
				item, err = decodeItem(id, v)
				return err
			})
			if err != nil {
				return fmt.Errorf("decode item %s: %w", id, err)
			}
			if err := fn(item); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
}
