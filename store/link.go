package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"rapport/engine"
)

// Link links alias other to the identity of alias at. A new alias joins
// that identity; an alias of another identity brings that whole identity
// along (a merge: its aliases, and with their streams its events, consents
// and links, which no write moves). authenticated records that the person
// has just logged in with other, which raises the stage to authenticated.
//
// Nothing changes when the link is refused: linking an alias to itself
// (invalid), an alias already linked to the same identity and no new
// login (conflict), a second customer or email alias, or too many aliases
// (conflict).
func (db *DB) Link(ctx context.Context, at, other engine.Alias, authenticated bool) (engine.LinkResult, error) {
	if at == other {
		return engine.LinkResult{}, engine.Errorf(engine.CodeInvalid, "alias: cannot link %s to itself", at)
	}
	var res engine.LinkResult
	err := db.update(ctx, func(txn kvTxn) error {
		res = engine.LinkResult{}
		now := time.Now().UTC()
		_, r, err := resolveRecord(txn, at)
		if err != nil {
			return err
		}
		var links []engine.Link
		oe, err := lookupAlias(txn, other)
		switch {
		case engine.ErrorCode(err) == engine.CodeNotFound:
			if err := engine.CheckJoin(r.Aliases, []engine.Alias{other}); err != nil {
				return err
			}
			stream, err := db.newStream()
			if err != nil {
				return err
			}
			r.add(other, stream)
			if err := setStreamAlias(txn.Set, stream, other); err != nil {
				return err
			}
			links = append(links, engine.Link{Op: engine.OpLink, Alias: other, Identity: r.ID, Authenticated: authenticated, Time: now})
			res.Joined = true
		case err != nil:
			return err
		case oe.identity == r.ID:
			if !authenticated || slices.Contains(r.Authenticated, other) {
				return engine.Errorf(engine.CodeConflict, "%s is already linked to the identity of %s", other, at)
			}
			links = append(links, engine.Link{Op: engine.OpLink, Alias: other, Identity: r.ID, Authenticated: true, Time: now})
		default:
			o, err := getRecord(txn, oe.identity)
			if err != nil {
				return err
			}
			if err := engine.CheckJoin(r.Aliases, o.Aliases); err != nil {
				return err
			}
			for i, a := range o.Aliases {
				r.add(a, o.streams[i])
				links = append(links, engine.Link{Op: engine.OpMerge, Alias: a, Identity: r.ID, From: o.ID, Authenticated: authenticated && a == other, Time: now})
			}
			for _, a := range o.Authenticated {
				if !slices.Contains(r.Authenticated, a) {
					r.Authenticated = append(r.Authenticated, a)
				}
			}
			if r.Region == "" {
				r.Region = o.Region
			}
			r.CreatedAt = minTime(r.CreatedAt, o.CreatedAt)
			if err := txn.Delete(identityKey(o.ID)); err != nil {
				return fmt.Errorf("delete merged identity: %w", err)
			}
			if err := txn.Delete(vectorKey(o.ID)); err != nil {
				return fmt.Errorf("delete merged vector: %w", err)
			}
			res.Merged = o.ID
		}
		if authenticated && !slices.Contains(r.Authenticated, other) {
			r.Authenticated = append(r.Authenticated, other)
		}
		r.Stage, r.UpdatedAt = engine.StageOf(r.Aliases, r.Authenticated), now
		for _, l := range links {
			stream, _ := r.streamOf(l.Alias)
			if err := txn.Set(aliasKey(l.Alias), aliasEntry{r.ID, stream}.encode()); err != nil {
				return fmt.Errorf("set alias: %w", err)
			}
			if err := db.putLink(txn, stream, &l); err != nil {
				return err
			}
		}
		if err := putRecord(txn, &r); err != nil {
			return err
		}
		res.Identity = r.Identity
		return db.noteChange(txn, r.ID)
	})
	return res, err
}

// Unlink splits alias other off the identity of alias at, into an identity
// of its own that takes other's stream: the events, consents and links that
// arrived under other go with it, and everything else stays. It returns both
// identities. other must be linked to at's identity and differ from at.
func (db *DB) Unlink(ctx context.Context, at, other engine.Alias) (kept, split engine.Identity, err error) {
	if at == other {
		return kept, split, engine.Errorf(engine.CodeInvalid, "alias: cannot unlink %s from itself", at)
	}
	err = db.update(ctx, func(txn kvTxn) error {
		now := time.Now().UTC()
		_, r, err := resolveRecord(txn, at)
		if err != nil {
			return err
		}
		stream, ok := r.streamOf(other)
		if !ok {
			return engine.Errorf(engine.CodeNotFound, "%s is not linked to the identity of %s", other, at)
		}
		wasAuth := slices.Contains(r.Authenticated, other)
		r.remove(other)
		r.Stage, r.UpdatedAt = engine.StageOf(r.Aliases, r.Authenticated), now

		// The split-off identity takes its stream's number, unless that is
		// the number the remaining identity keeps.
		id := engine.IdentityID(stream)
		if id == r.ID {
			n, err := db.newStream()
			if err != nil {
				return err
			}
			id = engine.IdentityID(n)
		}
		s := record{Identity: engine.Identity{ID: id, Region: r.Region, CreatedAt: now, UpdatedAt: now}}
		s.add(other, stream)
		if wasAuth {
			s.Authenticated = []engine.Alias{other}
		}
		s.Stage = engine.StageOf(s.Aliases, s.Authenticated)

		if err := txn.Set(aliasKey(other), aliasEntry{s.ID, stream}.encode()); err != nil {
			return fmt.Errorf("set alias: %w", err)
		}
		if err := db.putLink(txn, stream, &engine.Link{Op: engine.OpUnlink, Alias: other, Identity: s.ID, From: r.ID, Time: now}); err != nil {
			return err
		}
		if err := putRecord(txn, &r); err != nil {
			return err
		}
		if err := putRecord(txn, &s); err != nil {
			return err
		}
		if err := db.noteChange(txn, r.ID, s.ID); err != nil {
			return err
		}
		kept, split = r.Identity, s.Identity
		return nil
	})
	return kept, split, err
}

// Links returns the link history of the identity of alias a, oldest first.
func (db *DB) Links(ctx context.Context, id engine.IdentityID) ([]engine.Link, error) {
	var out []engine.Link
	err := db.kv.View(func(txn kvTxn) error {
		r, err := getRecord(txn, id)
		if err != nil {
			return err
		}
		for _, stream := range r.streams {
			err := scanPrefix(txn, streamKey(prefixLink, stream), func(k, v []byte) error {
				l, err := decodeLink(k, v)
				out = append(out, l)
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortStableFunc(out, func(a, b engine.Link) int { return a.Time.Compare(b.Time) })
	return out, err
}

func (db *DB) putLink(txn kvTxn, stream uint64, l *engine.Link) error {
	seq, err := db.eventSeq.Next()
	if err != nil {
		return fmt.Errorf("next link id: %w", err)
	}
	e := newEncoder(48)
	e.string(string(l.Op))
	e.string(l.Alias.String())
	e.uint(uint64(l.Identity))
	e.uint(uint64(l.From))
	e.bool(l.Authenticated)
	if err := txn.Set(streamRecordKey(prefixLink, stream, l.Time, seq), e.buf); err != nil {
		return fmt.Errorf("set link: %w", err)
	}
	return nil
}

func decodeLink(key, val []byte) (engine.Link, error) {
	d, err := newDecoder(val)
	if err != nil {
		return engine.Link{}, err
	}
	l := engine.Link{Op: engine.LinkOp(d.string())}
	alias := d.string()
	l.Identity, l.From = engine.IdentityID(d.uint()), engine.IdentityID(d.uint())
	l.Authenticated = d.bool()
	l.Time = streamRecordTime(key)
	if err := d.err(); err != nil {
		return engine.Link{}, err
	}
	if l.Alias, err = engine.ParseAlias(alias); err != nil {
		return engine.Link{}, errCorrupt
	}
	return l, nil
}

// noteChange adds change-log entries so the merge recomputes ids' vectors.
func (db *DB) noteChange(txn kvTxn, ids ...engine.IdentityID) error {
	seq, err := db.changeSeq.Next()
	if err != nil {
		return fmt.Errorf("next change: %w", err)
	}
	for _, id := range ids {
		if err := txn.Set(changeKey(seq, id), nil); err != nil {
			return fmt.Errorf("set change: %w", err)
		}
	}
	return nil
}

// scanPrefix calls fn with the key and value of every entry under prefix.
func scanPrefix(txn kvTxn, prefix []byte, fn func(k, v []byte) error) error {
	opts := defaultIterOptions
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		k := it.Item().Key()
		if !bytes.HasPrefix(k, prefix) {
			break
		}
		if err := it.Item().Value(func(v []byte) error { return fn(k, v) }); err != nil {
			return err
		}
	}
	return nil
}

// streamKey is the key range of one stream in a per-stream table.
func streamKey(prefix string, stream uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefix), stream)
}

// streamRecordKey is <prefix><stream:8><time:8><seq:8>: a stream's records
// in time order.
func streamRecordKey(prefix string, stream uint64, t time.Time, seq uint64) []byte {
	k := streamKey(prefix, stream)
	k = binary.BigEndian.AppendUint64(k, sortableTime(t))
	return binary.BigEndian.AppendUint64(k, seq)
}

func streamRecordTime(key []byte) time.Time {
	return timeFromSortable(binary.BigEndian.Uint64(key[len(key)-16:]))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
