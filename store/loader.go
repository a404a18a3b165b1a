package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"rapport/engine"
)

// Loader writes validated events and items in bulk, for imports and the
// demo. It batches writes without waiting for each to reach disk and fsyncs
// once in Close, so nothing it wrote is durable before Close returns.
//
// The caller's goroutine only checks client ids and queues; one goroutine
// of the Loader's own resolves identities, encodes and hands the writes to
// the store, so that a reader parsing a file and the store's encoding run
// on both cores. An error there stops the load and comes back from the
// next call or from Close. A Loader assumes this process alone writes the
// identities it touches and is not safe for concurrent use.
type Loader struct {
	db      *DB
	seen    map[loadedID]bool
	streams map[engine.Alias]uint64 // stream in the store when first seen; 0: new in this load
	members map[engine.OrgID][]engine.Alias
	batch   []loadOp      // queued, not yet handed to the writer
	ops     chan []loadOp // to the writer
	free    chan []loadOp // batches the writer is done with
	done    chan struct{} // closed when the writer returns
	failed  atomic.Pointer[error]

	// Owned by the writer goroutine.
	wb     kvBatch
	ids    map[engine.Alias]aliasEntry
	now    time.Time
	change uint64 // the change-log sequence of this load
	err    error  // from drawing it
}

// loadedID is an event id the load has seen, under the alias it came with.
type loadedID struct {
	alias    engine.Alias
	clientID string
}

// loadOp is one queued write: an event, or (rarer, so not inline) a
// consent or an item.
type loadOp struct {
	kind    byte // 'e', 'c' or 'i'
	id      uint64
	event   engine.Event
	alias   engine.Alias
	consent *engine.Consent
	item    *engine.Item
}

const loadBatch = 256 // ops a batch hands to the writer at once

// NewLoader starts a bulk load.
func (db *DB) NewLoader() *Loader {
	l := &Loader{
		db: db, wb: db.kv.NewWriteBatch(nil),
		ids: make(map[engine.Alias]aliasEntry), seen: make(map[loadedID]bool), streams: make(map[engine.Alias]uint64),
		now: time.Now().UTC(),
		ops: make(chan []loadOp, 8), free: make(chan []loadOp, 10), done: make(chan struct{}),
	}
	l.change, l.err = db.changeSeq.Next()
	l.batch = make([]loadOp, 0, loadBatch)
	go l.write(l.ops)
	return l
}

// write is the writer goroutine: it applies batches in order until ops is
// closed, and after a failure only drains them.
func (l *Loader) write(ops <-chan []loadOp) {
	defer close(l.done)
	for batch := range ops {
		for i := range batch {
			if l.failed.Load() != nil {
				break
			}
			if err := l.apply(&batch[i]); err != nil {
				l.failed.Store(&err)
			}
			batch[i] = loadOp{} // let the batch's strings go
		}
		select {
		case l.free <- batch[:0]:
		default:
		}
	}
}

func (l *Loader) apply(op *loadOp) error {
	switch op.kind {
	case 'e':
		ev := &op.event
		e, err := l.identity(ev.Alias, ev.Region)
		if err != nil {
			return err
		}
		ref := newEventRef(e.stream, ev.Time, op.id)
		if err := l.wb.Set(ref.key(), encodeEvent(ev)); err != nil {
			return fmt.Errorf("load event: %w", err)
		}
		if err := setReference(l.wb.Set, ev, ref); err != nil {
			return err
		}
		if ev.ClientID != "" {
			if err := l.wb.Set(dedupKey(e.stream, ev.ClientID), append([]byte{formatV1}, ref[:]...)); err != nil {
				return fmt.Errorf("load dedup: %w", err)
			}
		}
	case 'c':
		e, err := l.identity(op.alias, "")
		if err != nil {
			return err
		}
		if err := l.wb.Set(streamRecordKey(prefixConsent, e.stream, op.consent.Time, op.id), encodeConsent(op.alias, op.consent)); err != nil {
			return fmt.Errorf("load consent: %w", err)
		}
	case 'i':
		op.item.UpdatedAt = l.now
		if err := l.wb.Set(itemKey(op.item.ID), encodeItem(op.item)); err != nil {
			return fmt.Errorf("load item: %w", err)
		}
	}
	return nil
}

// queue adds an op (filled in by fill) to the current batch, handing the
// batch to the writer when it is full. It returns the writer's error, if
// it has failed.
func (l *Loader) queue(fill func(*loadOp)) error {
	if err := l.failed.Load(); err != nil {
		return *err
	}
	if l.ops == nil {
		return fmt.Errorf("load: the loader is closed")
	}
	l.batch = append(l.batch, loadOp{})
	fill(&l.batch[len(l.batch)-1])
	if len(l.batch) == cap(l.batch) {
		l.handOff()
	}
	return nil
}

func (l *Loader) handOff() {
	if len(l.batch) == 0 {
		return
	}
	l.ops <- l.batch
	select {
	case l.batch = <-l.free:
	default:
		l.batch = make([]loadOp, 0, loadBatch)
	}
}

// finish hands off what is queued, waits for the writer and returns its
// error. Later calls only return the error.
func (l *Loader) finish() error {
	if l.ops != nil {
		l.handOff()
		close(l.ops)
		l.ops = nil
		<-l.done
	}
	if err := l.failed.Load(); err != nil {
		return *err
	}
	return nil
}

// AddEvent writes a validated event under eventID, which the caller derives
// from its source (a file row, a generator's counter) so that loading the
// same data again rewrites the same keys. It reports false, without writing,
// when the event's client id is already stored under its alias (or was
// loaded under it before), as AppendEvents does.
func (l *Loader) AddEvent(ev *engine.Event, eventID uint64) (bool, error) {
	if ev.ClientID != "" {
		id := loadedID{ev.Alias, ev.ClientID}
		if l.seen[id] {
			return false, nil
		}
		l.seen[id] = true
		if dup, err := l.stored(id); err != nil || dup {
			return false, err
		}
	}
	err := l.queue(func(op *loadOp) { op.kind, op.id, op.event = 'e', eventID, *ev })
	return err == nil, err
}

// stored reports whether id was in the store before this load. An alias
// the store did not know when the load first met it has no stored ids:
// all of its ids are in seen.
func (l *Loader) stored(id loadedID) (bool, error) {
	stream, known := l.streams[id.alias]
	var dup bool
	err := l.db.kv.View(func(txn kvTxn) error {
		if !known {
			e, err := lookupAlias(txn, id.alias)
			if err != nil && engine.ErrorCode(err) != engine.CodeNotFound {
				return err
			}
			stream = e.stream // 0 when not found
			l.streams[id.alias] = stream
		}
		if stream == 0 {
			return nil
		}
		var err error
		dup, err = hasDedup(txn, dedupID{stream, id.clientID})
		return err
	})
	return dup, err
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
	return l.queue(func(op *loadOp) { op.kind, op.id, op.alias, op.consent = 'c', id, a, &c })
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
	return l.queue(func(op *loadOp) { op.kind, op.item = 'i', &it })
}

// Close writes everything queued, flushes and fsyncs. A Loader cannot be
// reused.
func (l *Loader) Close() error {
	if err := l.finish(); err != nil {
		l.wb.Cancel()
		return err
	}
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
func (l *Loader) Cancel() {
	cancelled := errors.New("load cancelled")
	l.failed.CompareAndSwap(nil, &cancelled) // the writer skips what is queued
	l.finish()
	l.wb.Cancel()
}
