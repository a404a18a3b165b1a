package store

import (
	"context"

	"rapport/engine"
)

// Counts says how much is held about identity id: events, social
// signals, consent decisions and link records, over all its aliases.
func (db *DB) Counts(ctx context.Context, id engine.IdentityID) (map[string]int, error) {
	var out map[string]int
	err := db.kv.View(func(txn kvTxn) error {
		r, err := getRecord(txn, id)
		if err != nil {
			return err
		}
		out, err = countHeld(txn, &r)
		return err
	})
	return out, err
}

// countHeld counts, per layer, what is held about the person r.
func countHeld(txn kvTxn, r *record) (map[string]int, error) {
	out := map[string]int{"aliases": len(r.Aliases), "events": 0, "social_signals": 0, "consent_records": 0, "link_records": 0, "vectors": 0}
	for _, stream := range r.streams {
		err := scanPrefix(txn, eventPrefix(stream), func(k, v []byte) error {
			var ref eventRef
			copy(ref[:], k[len(prefixEvent):])
			ev, err := decodeEvent(ref, v)
			if ev.IsSocialSignal() {
				out["social_signals"]++
			} else {
				out["events"]++
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		for table, name := range map[string]string{prefixConsent: "consent_records", prefixLink: "link_records"} {
			if err := scanPrefix(txn, streamKey(table, stream), func(k, v []byte) error { out[name]++; return nil }); err != nil {
				return nil, err
			}
		}
	}
	if _, err := txn.Get(vectorKey(r.ID)); err == nil {
		out["vectors"] = 1
	}
	refs, err := countReferences(txn, r.Aliases, r.streams)
	if err != nil {
		return nil, err
	}
	out[LayerReferences] = refs
	out["preferences"], out["memberships"] = 0, 0
	for _, stream := range r.streams {
		if _, err := txn.Get(streamKey(prefixPreferences, stream)); err == nil {
			out["preferences"]++
		}
		if err := scanPrefix(txn, streamKey(prefixOrgMember, stream), func(k, v []byte) error { out["memberships"]++; return nil }); err != nil {
			return nil, err
		}
	}
	return out, nil
}
