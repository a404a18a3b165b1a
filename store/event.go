package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"rapport/engine"
)

func encodeEvent(ev *engine.Event) []byte {
	e := newEncoder(96 + len(ev.Item) + len(ev.ClientID))
	e.string(ev.ClientID)
	e.string(ev.Alias.String())
	e.string(string(ev.Type))
	e.string(ev.Item)
	e.string(ev.Target)
	e.float(ev.Quantity)
	e.float(ev.Price)
	e.string(ev.Currency)
	e.string(ev.Source)
	e.string(ev.Region)
	e.float(ev.Weight)
	e.attrs(ev.Attributes)
	return e.buf
}

func decodeEvent(ref eventRef, val []byte) (engine.Event, error) {
	d, err := newDecoder(val)
	if err != nil {
		return engine.Event{}, err
	}
	ev := engine.Event{ClientID: d.string()}
	alias := d.string()
	ev.Type = engine.EventType(d.string())
	ev.Item = d.string()
	ev.Target = d.string()
	ev.Quantity = d.float()
	ev.Price = d.float()
	ev.Currency = d.string()
	ev.Source = d.string()
	ev.Region = d.string()
	ev.Weight = d.float()
	ev.Attributes = d.attrs()
	ev.Time = ref.time()
	if err := d.err(); err != nil {
		return engine.Event{}, err
	}
	if ev.Alias, err = engine.ParseAlias(alias); err != nil {
		return engine.Event{}, errCorrupt
	}
	return ev, nil
}

// AppendEvents stores a batch of validated events atomically: all of them or,
// on error, none. An event whose client id is already stored is skipped and
// counted as a duplicate. When it returns without error the batch is on disk
// (with SyncWrites).
//
// Unknown aliases become new identities first, in a small transaction of
// their own, so that concurrent batches for overlapping new people conflict
// (and retry) only over those few keys, not over whole batches. If the event
// write then fails, those identities remain, with no events.
func (db *DB) AppendEvents(ctx context.Context, events []engine.Event) (engine.IngestResult, error) {
	ids, err := db.ensureIdentities(ctx, events)
	if err != nil {
		return engine.IngestResult{}, fmt.Errorf("resolve aliases: %w", err)
	}
	var res engine.IngestResult
	err = db.update(ctx, func(txn *badger.Txn) error {
		res = engine.IngestResult{}
		seen := make(map[string]bool)
		changed := make(map[engine.IdentityID]bool)
		for i := range events {
			ev := &events[i]
			if ev.ClientID != "" {
				dup, err := isDuplicate(txn, ev.ClientID, seen)
				if err != nil {
					return err
				}
				if dup {
					res.Duplicates++
					continue
				}
			}
			eventID, err := db.eventSeq.Next()
			if err != nil {
				return fmt.Errorf("next event id: %w", err)
			}
			ref := newEventRef(ids[ev.Alias], ev.Time, eventID)
			if err := txn.Set(ref.key(), encodeEvent(ev)); err != nil {
				return fmt.Errorf("set event: %w", err)
			}
			if ev.ClientID != "" {
				if err := txn.Set(dedupKey(ev.ClientID), append([]byte{formatV1}, ref[:]...)); err != nil {
					return fmt.Errorf("set dedup: %w", err)
				}
			}
			res.Accepted++
			changed[ids[ev.Alias]] = true
		}
		if len(changed) > 0 {
			seq, err := db.changeSeq.Next()
			if err != nil {
				return fmt.Errorf("next change: %w", err)
			}
			for id := range changed {
				if err := txn.Set(changeKey(seq, id), nil); err != nil {
					return fmt.Errorf("set change: %w", err)
				}
			}
		}
		return ctx.Err()
	})
	if errors.Is(err, badger.ErrTxnTooBig) {
		return engine.IngestResult{}, engine.Errorf(engine.CodeTooLarge, "the batch is too large to store at once; send fewer events per request")
	}
	if err != nil {
		return engine.IngestResult{}, fmt.Errorf("append events: %w", err)
	}
	return res, nil
}

// ensureIdentities returns the identity of every alias in events, creating
// the missing ones (with the region of their first event).
func (db *DB) ensureIdentities(ctx context.Context, events []engine.Event) (map[engine.Alias]engine.IdentityID, error) {
	ids := make(map[engine.Alias]engine.IdentityID)
	var missing []int // index of the first event of each unknown alias
	err := db.bdb.View(func(txn *badger.Txn) error {
		for i := range events {
			a := events[i].Alias
			if _, ok := ids[a]; ok {
				continue
			}
			id, err := lookupAlias(txn, a)
			if engine.ErrorCode(err) == engine.CodeNotFound {
				missing = append(missing, i)
				ids[a] = 0
				continue
			}
			if err != nil {
				return err
			}
			ids[a] = id
		}
		return nil
	})
	if err != nil || len(missing) == 0 {
		return ids, err
	}
	now := time.Now().UTC()
	err = db.update(ctx, func(txn *badger.Txn) error {
		created := make(map[engine.Alias]engine.IdentityID, len(missing))
		for _, i := range missing {
			ev := &events[i]
			if _, err := db.resolveOrCreate(txn, created, ev.Alias, ev.Region, now); err != nil {
				return err
			}
		}
		for a, id := range created {
			ids[a] = id
		}
		return nil
	})
	return ids, err
}

func isDuplicate(txn *badger.Txn, clientID string, seen map[string]bool) (bool, error) {
	if seen[clientID] {
		return true, nil
	}
	seen[clientID] = true
	_, err := txn.Get(dedupKey(clientID))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, badger.ErrKeyNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("get dedup: %w", err)
	}
}

// resolveOrCreate returns the identity of alias a, creating it (with region)
// inside txn when it is new. ids caches answers within one transaction.
func (db *DB) resolveOrCreate(txn *badger.Txn, ids map[engine.Alias]engine.IdentityID, a engine.Alias, region string, now time.Time) (engine.IdentityID, error) {
	if id, ok := ids[a]; ok {
		return id, nil
	}
	id, err := lookupAlias(txn, a)
	if engine.ErrorCode(err) == engine.CodeNotFound {
		var p engine.Identity
		if p, err = db.newIdentity(a, region, now); err == nil {
			id = p.ID
			ak, av, pk, pv := identityWrites(&p)
			err = errors.Join(txn.Set(ak, av), txn.Set(pk, pv))
		}
	}
	if err != nil {
		return 0, err
	}
	ids[a] = id
	return id, nil
}

// Events returns up to limit events of identity id, newest first, starting
// at the position cursor names ("" for the newest). The returned cursor names
// the next page's first event, or is "" when there are no more.
func (db *DB) Events(ctx context.Context, id engine.IdentityID, cursor string, limit int) ([]engine.Event, string, error) {
	prefix := eventPrefix(id)
	seek := append(eventPrefix(id), bytes.Repeat([]byte{0xff}, 16)...)
	if cursor != "" {
		b, err := hex.DecodeString(cursor)
		if err != nil || len(b) != 16 {
			return nil, "", engine.Errorf(engine.CodeInvalid, "cursor is malformed; pass the next_cursor of a previous page")
		}
		seek = append(eventPrefix(id), b...)
	}
	var out []engine.Event
	next := ""
	err := db.bdb.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Reverse, opts.Prefix = true, prefix
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(seek); it.Valid(); it.Next() {
			if len(out) == limit {
				next = hex.EncodeToString(it.Item().Key()[len(prefixEvent)+8:]) // the first event not returned
				break
			}
			ev, err := itemEvent(it.Item())
			if err != nil {
				return err
			}
			out = append(out, ev)
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return out, next, err
}

// ScanEvents calls fn for every stored event, identity by identity, each
// identity's events oldest first. fn must not keep ev past the call.
func (db *DB) ScanEvents(ctx context.Context, fn func(id engine.IdentityID, ev *engine.Event) error) error {
	return db.bdb.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixEvent)
		it := txn.NewIterator(opts)
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			ev, err := itemEvent(it.Item())
			if err != nil {
				return err
			}
			id := engine.IdentityID(binary.BigEndian.Uint64(it.Item().Key()[len(prefixEvent):]))
			if err := fn(id, &ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// itemEvent decodes the event an iterator stands on.
func itemEvent(item *badger.Item) (engine.Event, error) {
	var ref eventRef
	copy(ref[:], item.Key()[len(prefixEvent):])
	var ev engine.Event
	err := item.Value(func(v []byte) (err error) {
		ev, err = decodeEvent(ref, v)
		return err
	})
	if err != nil {
		return ev, fmt.Errorf("decode event: %w", err)
	}
	return ev, nil
}
