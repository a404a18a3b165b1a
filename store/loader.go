package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"rapport/engine"
)

// Loader writes validated events and items in bulk, for imports and the
// demo. It batches writes without waiting for each to reach disk and fsyncs
// once in Close, so nothing it wrote is durable before Close returns. It
// assumes this process alone writes the identities it touches and is not
// safe for concurrent use.
type Loader struct {
	db      *DB
	wb      kvBatch
	ids     map[engine.Alias]aliasEntry
	seen    map[string]bool
	now     time.Time
	change  uint64 // the change-log sequence of this load
	members map[engine.OrgID][]engine.Alias
	err     error // from drawing it
}

// NewLoader starts a bulk load.
func (db *DB) NewLoader() *Loader {
	l := &Loader{
		db: db, wb: db.kv.NewWriteBatch(nil),
		ids: make(map[engine.Alias]aliasEntry), seen: make(map[string]bool),
		now: time.Now().UTC(),
	}
	l.change, l.err = db.changeSeq.Next()
	return l
}

// AddEvent writes a validated event under eventID, which the caller derives
// from its source (a file row, a generator's counter) so that loading the
// same data again rewrites the same keys. It reports false, without writing,
// when the event's client id is already stored.
func (l *Loader) AddEvent(ev *engine.Event, eventID uint64) (bool, error) {
	if ev.ClientID != "" {
		if l.seen[ev.ClientID] {
			return false, nil
		}
		l.seen[ev.ClientID] = true
		var dup bool
		err := l.db.kv.View(func(txn kvTxn) (err error) {
			dup, err = isDuplicate(txn, ev.ClientID, map[string]bool{})
			return err
		})
		if err != nil || dup {
			return false, err
		}
	}
	e, err := l.identity(ev.Alias, ev.Region)
	if err != nil {
		return false, err
	}
	ref := newEventRef(e.stream, ev.Time, eventID)
	if err := l.wb.Set(ref.key(), encodeEvent(ev)); err != nil {
		return false, fmt.Errorf("load event: %w", err)
	}
	if ev.ClientID != "" {
		if err := l.wb.Set(dedupKey(ev.ClientID), append([]byte{formatV1}, ref[:]...)); err != nil {
			return false, fmt.Errorf("load dedup: %w", err)
		}
	}
	return true, nil
}

func (l *Loader) identity(a engine.Alias, region string) (aliasEntry, error) {
	if e, ok := l.ids[a]; ok {
		return e, nil
	}
	if l.err != nil {
		return aliasEntry{}, fmt.Errorf("next change: %w", l.err)
	}
	var e aliasEntry
	err := l.db.kv.View(func(txn kvTxn) (err error) {
		e, err = lookupAlias(txn, a)
		return err
	})
	if engine.ErrorCode(err) == engine.CodeNotFound {
		r, err := l.db.newIdentity(a, region, l.now)
		if err != nil {
			return aliasEntry{}, err
		}
		e = aliasEntry{r.ID, r.streams[0]}
		if err := create(l.wb.Set, &r); err != nil {
			return aliasEntry{}, fmt.Errorf("load identity: %w", err)
		}
	} else if err != nil {
		return aliasEntry{}, err
	}
	if err := l.wb.Set(changeKey(l.change, e.identity), nil); err != nil {
		return aliasEntry{}, fmt.Errorf("load change: %w", err)
	}
	l.ids[a] = e
	return e, nil
}

// AddConsent writes a validated consent decision made under alias a,
// which must have an identity already (its events come first), under id,
// which the caller derives from its source so that loading the same data
// again rewrites the same key.
func (l *Loader) AddConsent(a engine.Alias, c engine.Consent, id uint64) error {
	e, err := l.identity(a, "")
	if err != nil {
		return err
	}
	if err := l.wb.Set(streamRecordKey(prefixConsent, e.stream, c.Time, id), encodeConsent(a, &c)); err != nil {
		return fmt.Errorf("load consent: %w", err)
	}
	return nil
}

// AddMember records that the person a names belongs to org (as a buyer,
// unless already a member); memberships are written in Close, after the
// events that create the people.
func (l *Loader) AddMember(org engine.OrgID, a engine.Alias) error {
	if l.members == nil {
		l.members = map[engine.OrgID][]engine.Alias{}
	}
	l.members[org] = append(l.members[org], a)
	return nil
}

// PutItem writes (replaces) one validated catalog item.
func (l *Loader) PutItem(it engine.Item) error {
	it.UpdatedAt = l.now
	if err := l.wb.Set(itemKey(it.ID), encodeItem(&it)); err != nil {
		return fmt.Errorf("load item: %w", err)
	}
	return nil
}

// Close flushes every pending write and fsyncs. A Loader cannot be reused.
func (l *Loader) Close() error {
	if err := l.wb.Flush(); err != nil {
		return fmt.Errorf("flush load: %w", err)
	}
	for _, org := range slices.Sorted(maps.Keys(l.members)) {
		if err := l.db.EnsureMembers(context.Background(), org, l.members[org], engine.OrgBuyer); err != nil {
			return fmt.Errorf("load members of %s: %w", org, err)
		}
	}
	return l.db.Sync()
}

// Cancel drops writes not yet flushed; what was flushed stays.
func (l *Loader) Cancel() { l.wb.Cancel() }
