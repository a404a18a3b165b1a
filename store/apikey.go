package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"rapport/engine"
)

func encodeAPIKey(k *engine.APIKey) []byte {
	e := newEncoder(96)
	e.string(k.Name)
	e.string(string(k.Role))
	e.buf = append(e.buf, k.Hash[:]...)
	e.time(k.CreatedAt)
	e.time(k.RevokedAt)
	e.string(string(k.Org))
	e.float(k.Rate)
	return e.buf
}

func decodeAPIKey(id string, val []byte) (engine.APIKey, error) {
	d, err := newDecoder(val)
	if err != nil {
		return engine.APIKey{}, err
	}
	k := engine.APIKey{ID: id, Name: d.string(), Role: engine.Role(d.string())}
	if len(d.buf) < len(k.Hash) {
		return engine.APIKey{}, errCorrupt
	}
	copy(k.Hash[:], d.buf)
	d.buf = d.buf[len(k.Hash):]
	k.CreatedAt, k.RevokedAt = d.time(), d.time()
	if len(d.buf) > 0 { // keys written before scopes and rate limits have neither
		k.Org, k.Rate = engine.OrgID(d.string()), d.float()
	}
	return k, d.err()
}

// CreateKey stores a new API key (its hash, never its secret).
func (db *DB) CreateKey(ctx context.Context, k engine.APIKey) error {
	return db.update(ctx, func(txn kvTxn) error {
		if _, err := txn.Get(apiKeyKey(k.ID)); err == nil {
			return engine.Errorf(engine.CodeConflict, "key %s already exists", k.ID)
		}
		if err := txn.Set(apiKeyKey(k.ID), encodeAPIKey(&k)); err != nil {
			return err
		}
		return txn.Set(keyHashKey(k.Hash), []byte(k.ID))
	})
}

// Keys lists every API key, active and revoked, oldest first.
func (db *DB) Keys(ctx context.Context) ([]engine.APIKey, error) {
	var keys []engine.APIKey
	err := db.kv.View(func(txn kvTxn) error {
		opts := defaultIterOptions
		opts.Prefix = []byte(prefixKey)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := string(it.Item().Key()[len(prefixKey):])
			err := it.Item().Value(func(v []byte) error {
				k, err := decodeAPIKey(id, v)
				keys = append(keys, k)
				return err
			})
			if err != nil {
				return fmt.Errorf("decode key %s: %w", id, err)
			}
		}
		return nil
	})
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].CreatedAt.Before(keys[j].CreatedAt) })
	return keys, err
}

// RevokeKey marks a key revoked; it fails with not_found for an unknown id.
// Revoking a revoked key keeps its first revocation time.
func (db *DB) RevokeKey(ctx context.Context, id string, now time.Time) (engine.APIKey, error) {
	var k engine.APIKey
	err := db.update(ctx, func(txn kvTxn) error {
		var err error
		if k, err = getAPIKey(txn, id); err != nil {
			return err
		}
		if !k.Active() {
			return nil
		}
		k.RevokedAt = now.UTC()
		return txn.Set(apiKeyKey(id), encodeAPIKey(&k))
	})
	return k, err
}

// KeyByHash returns the key whose secret hashes to h (not_found if none).
func (db *DB) KeyByHash(ctx context.Context, h engine.KeyHash) (engine.APIKey, error) {
	var k engine.APIKey
	err := db.kv.View(func(txn kvTxn) error {
		item, err := txn.Get(keyHashKey(h))
		if errors.Is(err, errNotFound) {
			return engine.Errorf(engine.CodeNotFound, "no such key")
		}
		if err != nil {
			return err
		}
		id, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		k, err = getAPIKey(txn, string(id))
		return err
	})
	return k, err
}

func getAPIKey(txn kvTxn, id string) (engine.APIKey, error) {
	item, err := txn.Get(apiKeyKey(id))
	if errors.Is(err, errNotFound) {
		return engine.APIKey{}, engine.Errorf(engine.CodeNotFound, "key %s does not exist", id)
	}
	if err != nil {
		return engine.APIKey{}, fmt.Errorf("get key: %w", err)
	}
	var k engine.APIKey
	err = item.Value(func(v []byte) (err error) {
		k, err = decodeAPIKey(id, v)
		return err
	})
	return k, err
}
