package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"rapport/engine"
)

// aliasEntry is the value of an alias key: the identity the alias belongs
// to and the stream its events, consents and links are kept in. A stream
// belongs to one alias for good, so linking and unlinking move no data, and
// erasing an alias drops its streams' key ranges whole. Identity 0 marks an
// alias whose identity is being erased: it resolves to nothing.
type aliasEntry struct {
	identity engine.IdentityID
	stream   uint64
}

func (e aliasEntry) encode() []byte {
	b := binary.BigEndian.AppendUint64([]byte{formatV1}, uint64(e.identity))
	return binary.BigEndian.AppendUint64(b, e.stream)
}

func parseAliasEntry(v []byte) (aliasEntry, error) {
	if len(v) != 17 || v[0] != formatV1 {
		return aliasEntry{}, errCorrupt
	}
	return aliasEntry{engine.IdentityID(binary.BigEndian.Uint64(v[1:])), binary.BigEndian.Uint64(v[9:])}, nil
}

// record is an identity as stored: the person, the stream of each alias
// (parallel to Aliases), and the erasure receipt once erasure is requested.
type record struct {
	engine.Identity
	streams []uint64
	erasure string
}

func (r *record) streamOf(a engine.Alias) (uint64, bool) {
	if i := slices.Index(r.Aliases, a); i >= 0 {
		return r.streams[i], true
	}
	return 0, false
}

func (r *record) add(a engine.Alias, stream uint64) {
	r.Aliases = append(r.Aliases, a)
	r.streams = append(r.streams, stream)
}

func (r *record) remove(a engine.Alias) {
	if i := slices.Index(r.Aliases, a); i >= 0 {
		r.Aliases = slices.Delete(r.Aliases, i, i+1)
		r.streams = slices.Delete(r.streams, i, i+1)
	}
	if i := slices.Index(r.Authenticated, a); i >= 0 {
		r.Authenticated = slices.Delete(r.Authenticated, i, i+1)
	}
}

// encodeRecord writes an identity's streams, never its alias text: that
// lives only in keys and values under the alias's own stream (and in its
// alias key), so that erasing an alias leaves no old version of another
// record that still names it.
func encodeRecord(r *record) []byte {
	e := newEncoder(64)
	e.string(string(r.Stage))
	e.string(r.Region)
	e.time(r.CreatedAt)
	e.time(r.UpdatedAt)
	e.uint(uint64(len(r.streams)))
	for i, s := range r.streams {
		e.uint(s)
		e.bool(slices.Contains(r.Authenticated, r.Aliases[i]))
	}
	e.string(r.erasure)
	return e.buf
}

// decodeRecord reads a record; its aliases are filled in by fillAliases,
// with auth marking the streams the person logged in with.
func decodeRecord(id engine.IdentityID, val []byte) (r record, auth []bool, err error) {
	d, err := newDecoder(val)
	if err != nil {
		return record{}, nil, err
	}
	r = record{Identity: engine.Identity{ID: id, Stage: engine.Stage(d.string()), Region: d.string(), CreatedAt: d.time(), UpdatedAt: d.time()}}
	for n := d.count(); n > 0 && !d.bad; n-- {
		r.streams = append(r.streams, d.uint())
		auth = append(auth, d.bool())
	}
	r.erasure = d.string()
	return r, auth, d.err()
}

// fillAliases reads the alias of each of r's streams.
func fillAliases(txn kvTxn, r *record, auth []bool) error {
	r.Aliases = make([]engine.Alias, len(r.streams))
	for i, s := range r.streams {
		item, err := txn.Get(streamAliasKey(s))
		if err != nil {
			return fmt.Errorf("get alias of stream %d: %w", s, err)
		}
		err = item.Value(func(v []byte) error {
			d, err := newDecoder(v)
			if err != nil {
				return err
			}
			a, err := engine.ParseAlias(d.string())
			if err != nil {
				return errCorrupt
			}
			r.Aliases[i] = a
			return d.err()
		})
		if err != nil {
			return err
		}
		if auth[i] {
			r.Authenticated = append(r.Authenticated, r.Aliases[i])
		}
	}
	return nil
}

// streamAliasKey names the alias a stream belongs to.
func streamAliasKey(stream uint64) []byte { return streamKey(prefixStream, stream) }

func setStreamAlias(set func(k, v []byte) error, stream uint64, a engine.Alias) error {
	e := newEncoder(len(a.Kind) + len(a.Value) + 2)
	e.string(a.String())
	if err := set(streamAliasKey(stream), e.buf); err != nil {
		return fmt.Errorf("set stream alias: %w", err)
	}
	return nil
}

// ResolveAlias returns the identity an alias belongs to, or an error with
// code not_found.
func (db *DB) ResolveAlias(ctx context.Context, a engine.Alias) (engine.IdentityID, error) {
	var e aliasEntry
	err := db.kv.View(func(txn kvTxn) (err error) {
		e, err = lookupAlias(txn, a)
		return err
	})
	return e.identity, err
}

// Identity returns the person an alias belongs to (not_found if none).
func (db *DB) Identity(ctx context.Context, a engine.Alias) (engine.Identity, error) {
	var r record
	err := db.kv.View(func(txn kvTxn) (err error) {
		_, r, err = resolveRecord(txn, a)
		return err
	})
	return r.Identity, err
}

func noIdentity(a engine.Alias) error {
	return engine.Errorf(engine.CodeNotFound, "no identity has the alias %s", a)
}

func lookupAlias(txn kvTxn, a engine.Alias) (aliasEntry, error) {
	item, err := txn.Get(aliasKey(a))
	if errors.Is(err, errNotFound) {
		return aliasEntry{}, noIdentity(a)
	}
	if err != nil {
		return aliasEntry{}, fmt.Errorf("get alias: %w", err)
	}
	var e aliasEntry
	err = item.Value(func(v []byte) error {
		e, err = parseAliasEntry(v)
		return err
	})
	if err == nil && e.identity == 0 {
		return aliasEntry{}, noIdentity(a)
	}
	return e, err
}

// resolveRecord reads the entry of alias a and the live identity it names.
func resolveRecord(txn kvTxn, a engine.Alias) (aliasEntry, record, error) {
	e, err := lookupAlias(txn, a)
	if err != nil {
		return aliasEntry{}, record{}, err
	}
	r, err := getRecord(txn, e.identity)
	return e, r, err
}

// getRecord reads a live identity: not_found if there is none, or if its
// erasure has been requested.
func getRecord(txn kvTxn, id engine.IdentityID) (record, error) {
	r, err := getAnyRecord(txn, id)
	if err == nil && r.erasure != "" {
		return record{}, engine.Errorf(engine.CodeNotFound, "identity %d is being erased", id)
	}
	return r, err
}

// getAnyRecord reads an identity record, erased or not.
func getAnyRecord(txn kvTxn, id engine.IdentityID) (record, error) {
	item, err := txn.Get(identityKey(id))
	if errors.Is(err, errNotFound) {
		return record{}, engine.Errorf(engine.CodeNotFound, "no identity %d", id)
	}
	if err != nil {
		return record{}, fmt.Errorf("get identity %d: %w", id, err)
	}
	var r record
	var auth []bool
	err = item.Value(func(v []byte) error {
		r, auth, err = decodeRecord(id, v)
		return err
	})
	if err != nil {
		return record{}, err
	}
	return r, fillAliases(txn, &r, auth)
}

func putRecord(txn kvTxn, r *record) error {
	if err := txn.Set(identityKey(r.ID), encodeRecord(r)); err != nil {
		return fmt.Errorf("set identity: %w", err)
	}
	return nil
}

// newIdentity draws an id and makes the record for a person first seen
// under alias a, whose stream takes the same number; the caller writes it
// with createWrites.
func (db *DB) newIdentity(a engine.Alias, region string, now time.Time) (record, error) {
	n, err := db.identitySeq.Next()
	if err != nil {
		return record{}, fmt.Errorf("next identity id: %w", err)
	}
	id := engine.IdentityID(n + 1) // 0 is never an identity
	r := record{Identity: engine.Identity{ID: id, Stage: engine.StageFor(a), Region: region, CreatedAt: now, UpdatedAt: now}}
	r.add(a, uint64(id))
	return r, nil
}

// newStream draws the stream number of an alias that joins an identity.
// Streams and identities share one sequence, so a stream split off into an
// identity of its own can take its number.
func (db *DB) newStream() (uint64, error) {
	n, err := db.identitySeq.Next()
	if err != nil {
		return 0, fmt.Errorf("next stream: %w", err)
	}
	return n + 1, nil
}

// create writes a new one-alias identity with set (a transaction's or a
// write batch's).
func create(set func(k, v []byte) error, r *record) error {
	if err := set(aliasKey(r.Aliases[0]), aliasEntry{r.ID, r.streams[0]}.encode()); err != nil {
		return fmt.Errorf("set alias: %w", err)
	}
	if err := setStreamAlias(set, r.streams[0], r.Aliases[0]); err != nil {
		return err
	}
	if err := set(identityKey(r.ID), encodeRecord(r)); err != nil {
		return fmt.Errorf("set identity: %w", err)
	}
	return nil
}

// ScanAliases calls fn with every alias that names an identity.
func (db *DB) ScanAliases(ctx context.Context, fn func(a string) error) error {
	return db.kv.View(func(txn kvTxn) error {
		opts := defaultIterOptions
		opts.Prefix = []byte(prefixAlias)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var e aliasEntry
			err := it.Item().Value(func(v []byte) (err error) {
				e, err = parseAliasEntry(v)
				return err
			})
			if err != nil {
				return err
			}
			if e.identity == 0 {
				continue
			}
			k := it.Item().Key()
			if err := fn(string(k[len(prefixAlias) : len(k)-1])); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
}

// streams maps every stream of a live identity that is not the identity's
// own number to that identity, and every stream of an identity being
// erased to 0: what a full scan of events needs to name their people.
func (db *DB) streams(ctx context.Context) (map[uint64]engine.IdentityID, error) {
	out := map[uint64]engine.IdentityID{}
	err := db.kv.View(func(txn kvTxn) error {
		opts := defaultIterOptions
		opts.Prefix = []byte(prefixIdentity)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := engine.IdentityID(binary.BigEndian.Uint64(it.Item().Key()[len(prefixIdentity):]))
			var r record
			err := it.Item().Value(func(v []byte) (err error) {
				r, _, err = decodeRecord(id, v)
				return err
			})
			if err != nil {
				return err
			}
			for _, s := range r.streams {
				switch {
				case r.erasure != "":
					out[s] = 0
				case s != uint64(id):
					out[s] = id
				}
			}
		}
		return ctx.Err()
	})
	return out, err
}

// FoundingAlias returns the alias that founded the identity a belongs to:
// the one whose stream numbers the identity. An identity keeps its founder
// when aliases join it, so a visitor keeps it from the first event on, as
// they become known and log in. A store that does not know a answers a.
func (db *DB) FoundingAlias(ctx context.Context, a engine.Alias) (string, error) {
	out := a.String()
	err := db.kv.View(func(txn kvTxn) error {
		e, err := lookupAlias(txn, a)
		if engine.ErrorCode(err) == engine.CodeNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		item, err := txn.Get(streamAliasKey(uint64(e.identity)))
		if errors.Is(err, errNotFound) {
			return nil // the founder left (unlinked or erased): the alias itself
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			d, err := newDecoder(v)
			if err != nil {
				return err
			}
			s := d.string()
			if err := d.err(); err != nil {
				return err
			}
			out = s
			return nil
		})
	})
	return out, err
}
