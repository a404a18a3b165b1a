package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"rapport/engine"
)

// PutConsent records a consent decision made under alias a and returns the
// identity; an alias seen for the first time becomes a person of its own,
// since a visitor's first act may be the consent banner. The decision is
// kept in a's stream, so it stays with a if a is later split off.
func (db *DB) PutConsent(ctx context.Context, a engine.Alias, c engine.Consent) (engine.Identity, error) {
	var p engine.Identity
	err := db.update(ctx, func(txn kvTxn) error {
		e, r, err := resolveRecord(txn, a)
		if engine.ErrorCode(err) == engine.CodeNotFound {
			if e, err = db.resolveOrCreate(txn, map[engine.Alias]aliasEntry{}, a, "", time.Now().UTC()); err == nil {
				r, err = getRecord(txn, e.identity)
			}
		}
		if err != nil {
			return err
		}
		seq, err := db.eventSeq.Next()
		if err != nil {
			return fmt.Errorf("next consent id: %w", err)
		}
		if err := txn.Set(streamRecordKey(prefixConsent, e.stream, c.Time, seq), encodeConsent(a, &c)); err != nil {
			return fmt.Errorf("set consent: %w", err)
		}
		p = r.Identity
		return db.noteChange(txn, r.ID)
	})
	return p, err
}

func encodeConsent(a engine.Alias, c *engine.Consent) []byte {
	enc := newEncoder(64)
	enc.string(string(c.Purpose))
	enc.bool(c.Granted)
	enc.string(c.Source)
	enc.time(c.Expires)
	enc.string(c.PolicyVersion)
	enc.string(a.String())
	enc.time(c.Received())
	return enc.buf
}

// ConsentsOf returns the identity of alias a and its consent history.
func (db *DB) ConsentsOf(ctx context.Context, a engine.Alias) (engine.Identity, []engine.Consent, error) {
	id, err := db.ResolveAlias(ctx, a)
	if err != nil {
		return engine.Identity{}, nil, err
	}
	return db.Consents(ctx, id)
}

// Consents returns the identity and every consent decision recorded under
// any of its aliases, oldest first.
func (db *DB) Consents(ctx context.Context, id engine.IdentityID) (engine.Identity, []engine.Consent, error) {
	var r record
	var out []engine.Consent
	err := db.kv.View(func(txn kvTxn) (err error) {
		if r, err = getRecord(txn, id); err != nil {
			return err
		}
		out, err = readConsents(txn, r.streams)
		return err
	})
	return r.Identity, out, err
}

func readConsents(txn kvTxn, streams []uint64) ([]engine.Consent, error) {
	var out []engine.Consent
	for _, stream := range streams {
		err := scanPrefix(txn, streamKey(prefixConsent, stream), func(k, v []byte) error {
			c, err := decodeConsent(k, v)
			out = append(out, c)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(out, func(a, b engine.Consent) int {
		if c := a.Received().Compare(b.Received()); c != 0 {
			return c
		}
		return a.Time.Compare(b.Time)
	})
	return out, nil
}

func decodeConsent(key, val []byte) (engine.Consent, error) {
	d, err := newDecoder(val)
	if err != nil {
		return engine.Consent{}, err
	}
	c := engine.Consent{Purpose: engine.Purpose(d.string()), Granted: d.bool(), Source: d.string(), Expires: d.time(), PolicyVersion: d.string()}
	alias := d.string()
	c.Time = streamRecordTime(key)
	if d.more() { // written since decisions are ordered by receipt
		c.Recorded = d.time()
	}
	if err := d.err(); err != nil {
		return engine.Consent{}, err
	}
	if c.Alias, err = engine.ParseAlias(alias); err != nil {
		return engine.Consent{}, errCorrupt
	}
	return c, nil
}

// IdentitiesWithConsents returns every live identity with at least one
// consent decision on record.
func (db *DB) IdentitiesWithConsents(ctx context.Context) ([]engine.IdentityID, error) {
	owners, err := db.streams(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[engine.IdentityID]bool{}
	var out []engine.IdentityID
	err = db.kv.View(func(txn kvTxn) error {
		opts := defaultIterOptions
		opts.Prefix, opts.PrefetchValues = []byte(prefixConsent), false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			stream := binary.BigEndian.Uint64(it.Item().Key()[len(prefixConsent):])
			id, ok := owners[stream]
			if !ok {
				id = engine.IdentityID(stream)
			}
			if id != 0 && !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
		return ctx.Err()
	})
	return out, err
}

// PurgeSocial deletes every social signal (social_like, social_follow) of
// identity id, under all its aliases, and returns how many it deleted. It
// works in batches: if it fails part way, the signals deleted so far stay
// deleted and calling it again finishes the job.
func (db *DB) PurgeSocial(ctx context.Context, id engine.IdentityID) (int, error) {
	purged := 0
	for {
		n, err := db.purgeSocialBatch(ctx, id, 1000)
		purged += n
		if err != nil || n < 1000 {
			return purged, err
		}
	}
}

func (db *DB) purgeSocialBatch(ctx context.Context, id engine.IdentityID, limit int) (int, error) {
	n := 0
	err := db.update(ctx, func(txn kvTxn) error {
		n = 0
		r, err := getRecord(txn, id)
		if err != nil {
			return err
		}
		var doomed [][]byte
		for _, stream := range r.streams {
			opts := defaultIterOptions
			opts.Prefix = eventPrefix(stream)
			it := txn.NewIterator(opts)
			for it.Rewind(); it.Valid() && len(doomed) < 2*limit; it.Next() {
				ev, err := itemEvent(it.Item())
				if err != nil {
					it.Close()
					return err
				}
				if !ev.IsSocialSignal() {
					continue
				}
				doomed = append(doomed, it.Item().KeyCopy(nil))
				if ev.ClientID != "" {
					doomed = append(doomed, dedupKey(stream, ev.ClientID))
				}
				n++
			}
			it.Close()
		}
		for _, k := range doomed {
			if err := txn.Delete(k); err != nil {
				return fmt.Errorf("delete social signal: %w", err)
			}
		}
		if n == 0 {
			return nil
		}
		return db.noteChange(txn, id)
	})
	return n, err
}
