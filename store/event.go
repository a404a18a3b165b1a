package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

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
// on error, none. An event whose client id is already stored under the same
// alias (or repeated under it in the batch) is skipped and counted as a
// duplicate; the same id under another alias is another event. When it returns without error the batch is on disk
// (with SyncWrites).
//
// Unknown aliases become new identities first, in a small transaction of
// their own, so that concurrent batches for overlapping new people conflict
// (and retry) only over those few keys, not over whole batches. If the event
// write then fails, those identities remain, with no events. The write reads
// every alias again, so a link, merge or erasure that commits in between
// makes it retry rather than file events under a stale identity.
func (db *DB) AppendEvents(ctx context.Context, events []engine.Event) (engine.IngestResult, error) {
	var res engine.IngestResult
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		res, err = db.appendEvents(ctx, events)
		if !errors.Is(err, errAliasGone) {
			break
		}
	}
	if errors.Is(err, errTxnTooBig) {
		return engine.IngestResult{}, engine.Errorf(engine.CodeTooLarge, "the batch is too large to store at once; send fewer events per request")
	}
	if err != nil {
		return engine.IngestResult{}, fmt.Errorf("append events: %w", err)
	}
	return res, nil
}

// errAliasGone reports that an alias was erased between resolving it and
// writing its events; AppendEvents starts over, making it a new person.
var errAliasGone = errors.New("store: alias erased during the write")

func (db *DB) appendEvents(ctx context.Context, events []engine.Event) (engine.IngestResult, error) {
	if _, err := db.ensureIdentities(ctx, events); err != nil {
		return engine.IngestResult{}, fmt.Errorf("resolve aliases: %w", err)
	}
	var res engine.IngestResult
	err := db.update(ctx, func(txn kvTxn) error {
		res = engine.IngestResult{}
		seen := make(map[dedupID]bool)
		ids := make(map[engine.Alias]aliasEntry)
		changed := make(map[engine.IdentityID]bool)
		for i := range events {
			ev := &events[i]
			e, ok := ids[ev.Alias]
			if !ok {
				var err error
				if e, err = lookupAlias(txn, ev.Alias); engine.ErrorCode(err) == engine.CodeNotFound {
					return errAliasGone
				} else if err != nil {
					return err
				}
				ids[ev.Alias] = e
			}
			if ev.ClientID != "" {
				dup, err := isDuplicate(txn, dedupID{e.stream, ev.ClientID}, seen)
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
			ref := newEventRef(e.stream, ev.Time, eventID)
			if err := txn.Set(ref.key(), encodeEvent(ev)); err != nil {
				return fmt.Errorf("set event: %w", err)
			}
			if err := setReference(txn.Set, ev, ref); err != nil {
				return err
			}
			if ev.ClientID != "" {
				if err := txn.Set(dedupKey(e.stream, ev.ClientID), append([]byte{formatV1}, ref[:]...)); err != nil {
					return fmt.Errorf("set dedup: %w", err)
				}
			}
			res.Accepted++
			changed[e.identity] = true
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
	return res, err
}

// ensureIdentities creates an identity for every alias in events that has
// none (with the region of its first event).
func (db *DB) ensureIdentities(ctx context.Context, events []engine.Event) (map[engine.Alias]aliasEntry, error) {
	ids := make(map[engine.Alias]aliasEntry)
	var missing []int // index of the first event of each unknown alias
	err := db.kv.View(func(txn kvTxn) error {
		for i := range events {
			a := events[i].Alias
			if _, ok := ids[a]; ok {
				continue
			}
			e, err := lookupAlias(txn, a)
			if engine.ErrorCode(err) == engine.CodeNotFound {
				missing = append(missing, i)
				ids[a] = aliasEntry{}
				continue
			}
			if err != nil {
				return err
			}
			ids[a] = e
		}
		return nil
	})
	if err != nil || len(missing) == 0 {
		return ids, err
	}
	now := time.Now().UTC()
	err = db.update(ctx, func(txn kvTxn) error {
		created := make(map[engine.Alias]aliasEntry, len(missing))
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

// dedupID is an event id as it is deduplicated: under one alias's stream.
type dedupID struct {
	stream   uint64
	clientID string
}

// isDuplicate reports whether id is in seen (adding it) or stored.
func isDuplicate(txn kvTxn, id dedupID, seen map[dedupID]bool) (bool, error) {
	if seen[id] {
		return true, nil
	}
	seen[id] = true
	return hasDedup(txn, id)
}

// hasDedup reports whether id is stored.
func hasDedup(txn kvTxn, id dedupID) (bool, error) {
	_, err := txn.Get(dedupKey(id.stream, id.clientID))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("get dedup: %w", err)
	}
}

// resolveOrCreate returns the entry of alias a, creating its identity
// (with region) inside txn when it is new. ids caches answers within one
// transaction.
func (db *DB) resolveOrCreate(txn kvTxn, ids map[engine.Alias]aliasEntry, a engine.Alias, region string, now time.Time) (aliasEntry, error) {
	if e, ok := ids[a]; ok {
		return e, nil
	}
	e, err := lookupAlias(txn, a)
	if engine.ErrorCode(err) == engine.CodeNotFound {
		var r record
		if r, err = db.newIdentity(a, region, now); err == nil {
			e = aliasEntry{r.ID, r.streams[0]}
			err = create(txn.Set, &r)
		}
	}
	if err != nil {
		return aliasEntry{}, err
	}
	ids[a] = e
	return e, nil
}

// Events returns up to limit events of identity id, newest first, starting
// at the position cursor names ("" for the newest). The returned cursor names
// the next page's first event, or is "" when there are no more.
func (db *DB) Events(ctx context.Context, id engine.IdentityID, cursor string, limit int) ([]engine.Event, string, error) {
	from := bytes.Repeat([]byte{0xff}, 16) // time and event id of the first event to return
	if cursor != "" {
		b, err := hex.DecodeString(cursor)
		if err != nil || len(b) != 16 {
			return nil, "", engine.Errorf(engine.CodeInvalid, "cursor is malformed; pass the next_cursor of a previous page")
		}
		from = b
	}
	type hit struct {
		pos []byte // time and event id
		ev  engine.Event
	}
	var hits []hit
	err := db.kv.View(func(txn kvTxn) error {
		r, err := getRecord(txn, id)
		if err != nil {
			return err
		}
		// Each stream yields at most limit+1 events from the cursor on;
		// merged newest first, the first limit are the page and the next
		// one is where the following page starts.
		for _, stream := range r.streams {
			prefix := eventPrefix(stream)
			opts := defaultIterOptions
			opts.Reverse, opts.Prefix = true, prefix
			it := txn.NewIterator(opts)
			n := 0
			for it.Seek(append(prefix, from...)); it.Valid() && n <= limit; it.Next() {
				ev, err := itemEvent(it.Item())
				if err != nil {
					it.Close()
					return err
				}
				hits = append(hits, hit{it.Item().KeyCopy(nil)[len(prefix):], ev})
				n++
			}
			it.Close()
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(hits, func(a, b hit) int { return bytes.Compare(b.pos, a.pos) })
	next := ""
	if len(hits) > limit {
		next = hex.EncodeToString(hits[limit].pos)
		hits = hits[:limit]
	}
	out := make([]engine.Event, len(hits))
	for i := range hits {
		out[i] = hits[i].ev
	}
	return out, next, nil
}

// readStreams returns the events of every stream, oldest first.
func readStreams(txn kvTxn, streams []uint64) ([]engine.Event, error) {
	var out []engine.Event
	for _, stream := range streams {
		opts := defaultIterOptions
		opts.Prefix = eventPrefix(stream)
		it := txn.NewIterator(opts)
		for it.Rewind(); it.Valid(); it.Next() {
			ev, err := itemEvent(it.Item())
			if err != nil {
				it.Close()
				return nil, err
			}
			out = append(out, ev)
		}
		it.Close()
	}
	if len(streams) > 1 {
		slices.SortStableFunc(out, func(a, b engine.Event) int { return a.Time.Compare(b.Time) })
	}
	return out, nil
}

// ScanEvents calls fn for every stored event with the identity it belongs
// to, stream by stream, each stream's events in time order. Events of
// identities being erased are left out.
func (db *DB) ScanEvents(ctx context.Context, fn func(id engine.IdentityID, ev *engine.Event) error) error {
	owners, err := db.streams(ctx)
	if err != nil {
		return err
	}
	return db.kv.View(func(txn kvTxn) error {
		opts := defaultIterOptions
		opts.Prefix = []byte(prefixEvent)
		it := txn.NewIterator(opts)
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			stream := binary.BigEndian.Uint64(it.Item().Key()[len(prefixEvent):])
			id, ok := owners[stream]
			if !ok {
				id = engine.IdentityID(stream)
			} else if id == 0 {
				continue
			}
			ev, err := itemEvent(it.Item())
			if err != nil {
				return err
			}
			if err := fn(id, &ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// itemEvent decodes the event an iterator stands on.
func itemEvent(item kvItem) (engine.Event, error) {
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
