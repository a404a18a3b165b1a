package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"rapport/engine"
)

// A person's preferences are kept under the stream of the alias they were
// set under, like everything else of theirs; a new document replaces the
// person's documents under all their aliases. After a merge an identity
// may hold two until the next one is set; reads merge them.

func encodePreferences(p *engine.Preferences) []byte {
	e := newEncoder(128)
	for _, l := range [][]string{p.FavouriteCategories, p.FavouriteBrands, p.ExcludedCategories, p.ExcludedBrands} {
		e.uint(uint64(len(l)))
		for _, s := range l {
			e.string(s)
		}
	}
	e.attrs(p.Sizes)
	comm := map[string]string{}
	for k, v := range p.Communication {
		comm[k] = map[bool]string{true: "1", false: "0"}[v]
	}
	e.attrs(comm)
	e.time(p.UpdatedAt)
	return e.buf
}

func decodePreferences(val []byte) (engine.Preferences, error) {
	d, err := newDecoder(val)
	if err != nil {
		return engine.Preferences{}, err
	}
	var p engine.Preferences
	for _, l := range []*[]string{&p.FavouriteCategories, &p.FavouriteBrands, &p.ExcludedCategories, &p.ExcludedBrands} {
		*l = []string{}
		for n := d.count(); n > 0 && !d.bad; n-- {
			*l = append(*l, d.string())
		}
	}
	p.Sizes = d.attrs()
	p.Communication = map[string]bool{}
	for k, v := range d.attrs() {
		p.Communication[k] = v == "1"
	}
	p.UpdatedAt = d.time()
	if p.Sizes == nil {
		p.Sizes = map[string]string{}
	}
	return p, d.err()
}

// PutPreferences sets the preferences of the person alias a names, as of
// now, and returns the identity.
func (db *DB) PutPreferences(ctx context.Context, a engine.Alias, p engine.Preferences, now time.Time) (engine.Identity, error) {
	p.UpdatedAt = now.UTC()
	var out engine.Identity
	err := db.update(ctx, func(txn kvTxn) error {
		e, r, err := resolveRecord(txn, a)
		if err != nil {
			return err
		}
		for _, s := range r.streams {
			if s == e.stream {
				continue
			}
			if err := txn.Delete(streamKey(prefixPreferences, s)); err != nil {
				return fmt.Errorf("delete preferences: %w", err)
			}
		}
		if err := txn.Set(streamKey(prefixPreferences, e.stream), encodePreferences(&p)); err != nil {
			return fmt.Errorf("set preferences: %w", err)
		}
		out = r.Identity
		return db.noteChange(txn, r.ID)
	})
	return out, err
}

// Preferences returns identity id's preferences; ok is false when the
// person has set none.
func (db *DB) Preferences(ctx context.Context, id engine.IdentityID) (p engine.Preferences, ok bool, err error) {
	err = db.kv.View(func(txn kvTxn) error {
		r, err := getRecord(txn, id)
		if err != nil {
			return err
		}
		p, ok, err = readPreferences(txn, r.streams)
		return err
	})
	return p, ok, err
}

func readPreferences(txn kvTxn, streams []uint64) (engine.Preferences, bool, error) {
	var out engine.Preferences
	found := false
	for _, s := range streams {
		item, err := txn.Get(streamKey(prefixPreferences, s))
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return out, false, err
		}
		var p engine.Preferences
		if err := item.Value(func(v []byte) (err error) { p, err = decodePreferences(v); return err }); err != nil {
			return out, false, err
		}
		if found {
			out = engine.MergePreferences(out, p)
		} else {
			out, found = p, true
		}
	}
	return out, found, nil
}
