package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"rapport/engine"
)

// Erasure has two steps. RequestErasure, at once: the identity and its
// aliases stop resolving, and a receipt records what is held. Erase, the
// job: it removes every layer of the person with Badger's DropPrefix, which
// rewrites the tables and the memtable without those keys, so that no old
// version of them survives in any file. What it drops is the person's
// streams (events, social signals, consents, links, the alias of each
// stream), their alias keys, identity record and feature vector; the
// idempotency keys of their events are dropped too when no other key
// shares their prefix, and deleted otherwise. Other people's signals that
// name one of the person's aliases as their target (a follow of a
// friend), found through the t/ index, are dropped with their index
// entries; the receipt counts them as LayerReferences.

func erasureKey(id string) []byte { return []byte(prefixErasure + id) }

func encodeErasure(e *engine.Erasure) []byte {
	enc := newEncoder(96)
	enc.string(string(e.Status))
	enc.time(e.RequestedAt)
	enc.time(e.CompletedAt)
	enc.uint(uint64(e.Identity))
	for _, m := range []map[string]int{e.Held, e.Removed} {
		enc.uint(uint64(len(m)))
		for k, v := range m {
			enc.string(k)
			enc.uint(uint64(v))
		}
	}
	enc.uint(uint64(len(e.Remains)))
	for _, r := range e.Remains {
		enc.string(r.Layer)
		enc.uint(uint64(r.Count))
		enc.string(r.Until)
		enc.uint(uint64(len(r.Copies)))
		for _, c := range r.Copies {
			enc.time(c.At)
			enc.string(c.Where)
		}
	}
	return enc.buf
}

func decodeErasure(id string, val []byte) (engine.Erasure, error) {
	d, err := newDecoder(val)
	if err != nil {
		return engine.Erasure{}, err
	}
	e := engine.Erasure{ID: id, Status: engine.ErasureStatus(d.string()), RequestedAt: d.time(), CompletedAt: d.time(), Identity: engine.IdentityID(d.uint())}
	for _, m := range []*map[string]int{&e.Held, &e.Removed} {
		n := d.count()
		if n > 0 {
			*m = make(map[string]int, n)
		}
		for ; n > 0 && !d.bad; n-- {
			(*m)[d.string()] = int(d.uint())
		}
	}
	e.Remains = []engine.Remnant{}
	if len(d.buf) > 0 { // receipts written before remnants were recorded have none
		for n := d.count(); n > 0 && !d.bad; n-- {
			r := engine.Remnant{Layer: d.string(), Count: int(d.uint()), Until: d.string()}
			for c := d.count(); c > 0 && !d.bad; c-- {
				r.Copies = append(r.Copies, engine.Copy{At: d.time(), Where: d.string()})
			}
			e.Remains = append(e.Remains, r)
		}
	}
	return e, d.err()
}

// RequestErasure starts erasing the person alias a names and returns the
// receipt. When it returns, none of the person's aliases resolves.
func (db *DB) RequestErasure(ctx context.Context, a engine.Alias) (engine.Erasure, error) {
	id, err := engine.NewErasureID()
	if err != nil {
		return engine.Erasure{}, err
	}
	var receipt engine.Erasure
	err = db.update(ctx, func(txn kvTxn) error {
		_, r, err := resolveRecord(txn, a)
		if err != nil {
			return err
		}
		held, err := countHeld(txn, &r)
		if err != nil {
			return err
		}
		receipt = engine.Erasure{ID: id, Status: engine.ErasurePending, RequestedAt: time.Now().UTC(), Held: held, Identity: r.ID}
		if receipt.Remains, err = backupRemnant(txn, receipt.RequestedAt); err != nil {
			return err
		}
		if receipt.Remains == nil {
			receipt.Remains = []engine.Remnant{}
		}
		// Organisations stop listing the person at once.
		if _, err := dropMemberships(txn, r.streams); err != nil {
			return err
		}
		for i, alias := range r.Aliases {
			if err := txn.Set(aliasKey(alias), aliasEntry{0, r.streams[i]}.encode()); err != nil {
				return fmt.Errorf("set erased alias: %w", err)
			}
		}
		r.erasure = id
		if err := putRecord(txn, &r); err != nil {
			return err
		}
		return txn.Set(erasureKey(id), encodeErasure(&receipt))
	})
	return receipt, err
}

// Erasure returns a receipt (not_found if there is none).
func (db *DB) Erasure(ctx context.Context, id string) (engine.Erasure, error) {
	var e engine.Erasure
	err := db.kv.View(func(txn kvTxn) error {
		item, err := txn.Get(erasureKey(id))
		if errors.Is(err, errNotFound) {
			return engine.Errorf(engine.CodeNotFound, "no erasure %s", id)
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) (err error) {
			e, err = decodeErasure(id, v)
			return err
		})
	})
	return e, err
}

// Erase carries out every pending erasure and returns the receipts it
// completed. It is safe to run again after a crash: a receipt is marked
// removing, with its counts, before anything is dropped, and done after.
func (db *DB) Erase(ctx context.Context) ([]engine.Erasure, error) {
	var pending []engine.Erasure
	err := db.kv.View(func(txn kvTxn) error {
		return scanPrefix(txn, []byte(prefixErasure), func(k, v []byte) error {
			e, err := decodeErasure(string(k[len(prefixErasure):]), v)
			if err == nil && e.Status != engine.ErasureDone {
				pending = append(pending, e)
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	var removed []engine.Erasure
	for _, e := range pending {
		if err = ctx.Err(); err != nil {
			break
		}
		e, rerr := db.erase(ctx, e)
		if rerr != nil {
			err = fmt.Errorf("erasure %s: %w", e.ID, rerr)
			break
		}
		removed = append(removed, e)
	}
	if len(removed) == 0 {
		return nil, err
	}
	// The engine's own files last, once for every erasure of the run.
	remains := db.kv.Scrub(ctx)
	var done []engine.Erasure
	for _, e := range removed {
		e.Status, e.CompletedAt = engine.ErasureDone, time.Now().UTC()
		uerr := db.update(ctx, func(txn kvTxn) error {
			backups, err := backupRemnant(txn, e.CompletedAt)
			if err != nil {
				return err
			}
			e.Remains = append(append([]engine.Remnant{}, backups...), remains...)
			return txn.Set(erasureKey(e.ID), encodeErasure(&e))
		})
		if uerr != nil {
			return done, errors.Join(err, fmt.Errorf("erasure %s: %w", e.ID, uerr))
		}
		done = append(done, e)
	}
	return done, err
}

// erase removes what the receipt e covers and returns it marked removing;
// Erase marks it done.
func (db *DB) erase(ctx context.Context, e engine.Erasure) (engine.Erasure, error) {
	var drop [][]byte
	err := db.update(ctx, func(txn kvTxn) error {
		drop = nil
		r, err := getAnyRecord(txn, e.Identity)
		if engine.ErrorCode(err) == engine.CodeNotFound {
			return nil // dropped by a run that stopped before marking the receipt done
		}
		if err != nil {
			return err
		}
		if r.erasure != e.ID {
			return fmt.Errorf("identity %d carries erasure %q, not %s", r.ID, r.erasure, e.ID)
		}
		removed, err := countHeld(txn, &r)
		if err != nil {
			return err
		}
		removed["identities"] = 1
		removed["dedup_keys"] = 0
		removed["memberships"] = e.Held["memberships"] // removed with the request
		for i, alias := range r.Aliases {
			stream := r.streams[i]
			for _, table := range []string{prefixEvent, prefixDedup, prefixConsent, prefixLink, prefixStream, prefixPreferences, prefixOrgMember} {
				drop = append(drop, streamKey(table, stream))
			}
			// An alias taken up again since the request (a new visitor
			// with the same cookie) belongs to someone new: keep it.
			if ae, err := lookupAliasEntry(txn, alias); err == nil && ae.identity == 0 && ae.stream == stream {
				drop = append(drop, aliasKey(alias))
			} else {
				removed["aliases"]--
			}
			err := scanPrefix(txn, streamKey(prefixDedup, stream), func(k, v []byte) error {
				removed["dedup_keys"]++
				return nil
			})
			if err != nil {
				return err
			}
			err = scanPrefix(txn, eventPrefix(stream), func(k, v []byte) error {
				var ref eventRef
				copy(ref[:], k[len(prefixEvent):])
				ev, err := decodeEvent(ref, v)
				if err != nil {
					return err
				}
				if target, ok := engine.PersonTarget(ev.Target); ok {
					drop = append(drop, referenceKey(target, ref))
				}
				return nil
			})
			if err != nil {
				return err
			}
			keys, err := dropReferences(db, txn, alias, r.streams)
			if err != nil {
				return err
			}
			drop = append(drop, keys...)
		}
		drop = append(drop, identityKey(r.ID), vectorKey(r.ID))
		e.Status, e.Removed = engine.ErasureRemoving, removed
		return txn.Set(erasureKey(e.ID), encodeErasure(&e))
	})
	if err != nil {
		return e, err
	}
	if len(drop) > 0 {
		if err := db.kv.DropPrefix(drop...); err != nil {
			return e, fmt.Errorf("drop: %w", err)
		}
	}
	return e, nil
}

// lookupAliasEntry reads an alias key as it is, erased marker included.
func lookupAliasEntry(txn kvTxn, a engine.Alias) (aliasEntry, error) {
	item, err := txn.Get(aliasKey(a))
	if err != nil {
		return aliasEntry{}, err
	}
	var e aliasEntry
	err = item.Value(func(v []byte) (err error) {
		e, err = parseAliasEntry(v)
		return err
	})
	return e, err
}

// dropReferences prepares the removal of other people's signals that name
// alias a (one of the erased person's, whose streams are own): it deletes
// their idempotency keys, notes their owners for the merge, and returns
// the keys to drop — each signal and its index entry, so that no old
// version of either survives in a file.
func dropReferences(db *DB, txn kvTxn, a engine.Alias, own []uint64) ([][]byte, error) {
	refs, err := referencesTo(txn, a)
	if err != nil {
		return nil, err
	}
	var drop [][]byte
	var owners []engine.IdentityID
	for _, r := range refs {
		drop = append(drop, r.ref.key(), referenceKey(a, r.ref))
		if !r.live() || slices.Contains(own, r.ref.stream()) {
			continue
		}
		if r.ev.ClientID != "" {
			dk := dedupKey(r.ref.stream(), r.ev.ClientID)
			if item, err := txn.Get(dk); err == nil {
				v, err := item.ValueCopy(nil)
				if err != nil {
					return nil, err
				}
				if bytes.Equal(v, append([]byte{formatV1}, r.ref[:]...)) {
					if err := txn.Delete(dk); err != nil {
						return nil, err
					}
				}
			} else if !errors.Is(err, errNotFound) {
				return nil, err
			}
		}
		owner, err := streamAlias(txn, r.ref.stream())
		if err != nil {
			return nil, err
		}
		if e, err := lookupAliasEntry(txn, owner); err == nil && e.identity != 0 {
			owners = append(owners, e.identity)
		}
	}
	if len(owners) > 0 {
		if err := db.noteChange(txn, owners...); err != nil {
			return nil, err
		}
	}
	return drop, nil
}

// PurgeExpired deletes every event older than its type's time to live at
// now (types without one are kept), with its idempotency key, and returns
// how many it deleted per type. It works in batches; what it deleted
// before an error stays deleted.
func (db *DB) PurgeExpired(ctx context.Context, ttl map[engine.EventType]time.Duration, now time.Time) (map[string]int, error) {
	removed := map[string]int{}
	if len(ttl) == 0 {
		return removed, nil
	}
	owners, err := db.streams(ctx)
	if err != nil {
		return removed, err
	}
	var keys [][]byte
	changed := map[engine.IdentityID]bool{}
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		err := db.update(ctx, func(txn kvTxn) error {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			ids := make([]engine.IdentityID, 0, len(changed))
			for id := range changed {
				ids = append(ids, id)
			}
			return db.noteChange(txn, ids...)
		})
		keys, changed = keys[:0], map[engine.IdentityID]bool{}
		return err
	}
	err = db.kv.View(func(txn kvTxn) error {
		opts := defaultIterOptions
		opts.Prefix = []byte(prefixEvent)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			var ref eventRef
			copy(ref[:], k[len(prefixEvent):])
			ev, err := itemEvent(it.Item())
			if err != nil {
				return err
			}
			life, ok := ttl[ev.Type]
			if !ok || !ref.time().Before(now.Add(-life)) {
				continue
			}
			keys = append(keys, it.Item().KeyCopy(nil))
			stream := binary.BigEndian.Uint64(k[len(prefixEvent):])
			if ev.ClientID != "" {
				keys = append(keys, dedupKey(stream, ev.ClientID))
			}
			if id, ok := owners[stream]; !ok {
				changed[engine.IdentityID(stream)] = true
			} else if id != 0 {
				changed[id] = true
			}
			removed[string(ev.Type)]++
			if len(keys) >= 2000 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return removed, err
	}
	return removed, flush()
}
