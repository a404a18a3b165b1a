package store

import (
	"errors"
	"fmt"
	"slices"

	"rapport/engine"
)

// A social signal may name another person as its target (a follow of a
// friend): alias text kept in someone else's stream, where erasing that
// person by their own streams would never look. t/ indexes such signals
// by the alias they name, so that erasure finds them without scanning
// every event:
//
//	t/<target alias text>\x00<event ref:24> → (empty)
//
// An entry is written with its event. Erasing the person the alias
// belongs to drops the events the entries name, and the entries. An entry
// whose event is gone (retention, a consent purge) is harmless: erasure
// drops that key too, which also clears its old versions from the files.

// LayerReferences is the receipt layer counting other people's signals
// that named the erased person (follows, friends) and were removed.
const LayerReferences = "references_held_by_others"

func referencePrefix(a engine.Alias) []byte { return []byte(prefixReference + a.String() + "\x00") }

func referenceKey(target engine.Alias, ref eventRef) []byte {
	return append(referencePrefix(target), ref[:]...)
}

// setReference indexes the event ev, stored under ref, when its target is
// a person.
func setReference(set func(k, v []byte) error, ev *engine.Event, ref eventRef) error {
	if ev.Target == "" {
		return nil
	}
	a, ok := engine.PersonTarget(ev.Target)
	if !ok {
		return nil
	}
	if err := set(referenceKey(a, ref), nil); err != nil {
		return fmt.Errorf("set reference: %w", err)
	}
	return nil
}

// reference is one index entry naming an alias: the event it points at,
// and that event when it is stored and still names the alias.
type reference struct {
	ref eventRef
	ev  *engine.Event
}

func (r reference) live() bool { return r.ev != nil }

// referencesTo returns the index entries naming alias a.
func referencesTo(txn kvTxn, a engine.Alias) ([]reference, error) {
	prefix := referencePrefix(a)
	var out []reference
	err := scanPrefix(txn, prefix, func(k, v []byte) error {
		var r reference
		if len(k) != len(prefix)+len(r.ref) {
			return errCorrupt
		}
		copy(r.ref[:], k[len(prefix):])
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan references: %w", err)
	}
	for i := range out {
		item, err := txn.Get(out[i].ref.key())
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ev, err := itemEvent(item)
		if err != nil {
			return nil, err
		}
		if ev.Target == a.String() {
			out[i].ev = &ev
		}
	}
	return out, nil
}

// countReferences counts the live signals of other people (streams not in
// own) that name one of aliases.
func countReferences(txn kvTxn, aliases []engine.Alias, own []uint64) (int, error) {
	n := 0
	for _, a := range aliases {
		refs, err := referencesTo(txn, a)
		if err != nil {
			return 0, err
		}
		for _, r := range refs {
			if r.live() && !slices.Contains(own, r.ref.stream()) {
				n++
			}
		}
	}
	return n, nil
}
