package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"rapport/engine"
)

func encodeIdentity(p *engine.Identity) []byte {
	e := newEncoder(64)
	e.string(string(p.Stage))
	e.string(p.Region)
	e.time(p.CreatedAt)
	e.time(p.UpdatedAt)
	e.uint(uint64(len(p.Aliases)))
	for _, a := range p.Aliases {
		e.string(a.String())
	}
	return e.buf
}

func decodeIdentity(id engine.IdentityID, val []byte) (engine.Identity, error) {
	d, err := newDecoder(val)
	if err != nil {
		return engine.Identity{}, err
	}
	p := engine.Identity{ID: id, Stage: engine.Stage(d.string()), Region: d.string(), CreatedAt: d.time(), UpdatedAt: d.time()}
	n := d.uint()
	if n > uint64(len(val)) {
		return engine.Identity{}, errCorrupt
	}
	for i := uint64(0); i < n && !d.bad; i++ {
		a, err := engine.ParseAlias(d.string())
		if err != nil {
			return engine.Identity{}, errCorrupt
		}
		p.Aliases = append(p.Aliases, a)
	}
	return p, d.err()
}

// ResolveAlias returns the identity an alias belongs to, or an error with
// code not_found.
func (db *DB) ResolveAlias(ctx context.Context, a engine.Alias) (engine.IdentityID, error) {
	var id engine.IdentityID
	err := db.bdb.View(func(txn *badger.Txn) (err error) {
		id, err = lookupAlias(txn, a)
		return err
	})
	return id, err
}

// Identity returns the person an alias belongs to (not_found if none).
func (db *DB) Identity(ctx context.Context, a engine.Alias) (engine.Identity, error) {
	var p engine.Identity
	err := db.bdb.View(func(txn *badger.Txn) error {
		id, err := lookupAlias(txn, a)
		if err != nil {
			return err
		}
		p, err = getIdentity(txn, id)
		return err
	})
	return p, err
}

func lookupAlias(txn *badger.Txn, a engine.Alias) (engine.IdentityID, error) {
	item, err := txn.Get(aliasKey(a))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, engine.Errorf(engine.CodeNotFound, "no identity has the alias %s", a)
	}
	if err != nil {
		return 0, fmt.Errorf("get alias: %w", err)
	}
	var id engine.IdentityID
	err = item.Value(func(v []byte) error {
		id, err = parseIDValue(v)
		return err
	})
	return id, err
}

func getIdentity(txn *badger.Txn, id engine.IdentityID) (engine.Identity, error) {
	item, err := txn.Get(identityKey(id))
	if err != nil {
		return engine.Identity{}, fmt.Errorf("get identity %d: %w", id, err)
	}
	var p engine.Identity
	err = item.Value(func(v []byte) error {
		p, err = decodeIdentity(id, v)
		return err
	})
	return p, err
}

// newIdentity draws an id and makes the record for a person first seen
// under alias a; the caller writes it with identityWrites.
func (db *DB) newIdentity(a engine.Alias, region string, now time.Time) (engine.Identity, error) {
	n, err := db.identitySeq.Next()
	if err != nil {
		return engine.Identity{}, fmt.Errorf("next identity id: %w", err)
	}
	return engine.Identity{
		ID:    engine.IdentityID(n + 1), // 0 is never an identity
		Stage: engine.StageFor(a), Region: region,
		Aliases: []engine.Alias{a}, CreatedAt: now, UpdatedAt: now,
	}, nil
}

// identityWrites returns the two entries that create an identity.
func identityWrites(p *engine.Identity) (aliasK, aliasV, idK, idV []byte) {
	return aliasKey(p.Aliases[0]), idValue(p.ID), identityKey(p.ID), encodeIdentity(p)
}

// ScanAliases calls fn with every alias that names an identity.
func (db *DB) ScanAliases(ctx context.Context, fn func(a string) error) error {
	return db.bdb.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix, opts.PrefetchValues = []byte(prefixAlias), false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := fn(string(it.Item().Key()[len(prefixAlias):])); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
}
