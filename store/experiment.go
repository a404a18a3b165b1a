package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"time"

	"rapport/engine"
)

// Experiment keys:
//
//	n/e/<name>                               → experiment (JSON)
//	n/c/<name>\x00<variant>\x00<kind>        → count:8
//	n/f/<recommendation id>\x00<kind>        → (empty) feedback already counted
const (
	prefixExperiment     = "n/e/"
	prefixExperimentStat = "n/c/"
	prefixFeedback       = "n/f/"
)

// Counter kinds besides the feedback kinds.
const impressions = "impressions"

func experimentKey(name string) []byte { return []byte(prefixExperiment + name) }

func statKey(exp, variant, kind string) []byte {
	return []byte(prefixExperimentStat + exp + "\x00" + variant + "\x00" + kind)
}

// PutExperiment creates or updates an experiment. It is refused (conflict)
// when it would overlap another experiment in time and placement, or when
// it changes the variants of an experiment that has started: its figures
// would mix two designs. It returns whether it was new.
func (db *DB) PutExperiment(ctx context.Context, e engine.Experiment) (bool, error) {
	if errs := e.Validate(); len(errs) > 0 {
		return false, &engine.Error{Code: engine.CodeInvalid, Message: errs[0].String(), Details: errs}
	}
	created := false
	err := db.update(ctx, func(txn kvTxn) error {
		now := time.Now().UTC()
		all, err := experiments(txn)
		if err != nil {
			return err
		}
		created = true
		e.CreatedAt = now
		for _, o := range all {
			if o.Name == e.Name {
				created, e.CreatedAt = false, o.CreatedAt
				if !now.Before(o.Start) && !reflect.DeepEqual(o.Variants, e.Variants) {
					return engine.Errorf(engine.CodeConflict, "experiment %q has started; its variants cannot change (stop it and start another)", e.Name)
				}
				continue
			}
			if e.Overlaps(&o) {
				return engine.Errorf(engine.CodeConflict, "experiment %q overlaps %q (placement %q) in time; one request can be in one experiment only", e.Name, o.Name, o.Placement)
			}
		}
		e.UpdatedAt = now
		raw, err := json.Marshal(e)
		if err != nil {
			return err
		}
		enc := newEncoder(len(raw) + 4)
		enc.string(string(raw))
		return txn.Set(experimentKey(e.Name), enc.buf)
	})
	return created, err
}

func decodeExperiment(val []byte) (engine.Experiment, error) {
	var e engine.Experiment
	d, err := newDecoder(val)
	if err != nil {
		return e, err
	}
	raw := d.string()
	if err := d.err(); err != nil {
		return e, err
	}
	return e, json.Unmarshal([]byte(raw), &e)
}

func experiments(txn kvTxn) ([]engine.Experiment, error) {
	var out []engine.Experiment
	it := txn.NewIterator(iterOptions{Prefix: []byte(prefixExperiment), PrefetchValues: true})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		var e engine.Experiment
		err := it.Item().Value(func(val []byte) (err error) {
			e, err = decodeExperiment(val)
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Experiments lists every experiment by name.
func (db *DB) Experiments(ctx context.Context) ([]engine.Experiment, error) {
	var out []engine.Experiment
	err := db.kv.View(func(txn kvTxn) (err error) {
		out, err = experiments(txn)
		return err
	})
	return out, err
}

// Experiment returns one experiment and its counts per variant.
func (db *DB) Experiment(ctx context.Context, name string) (engine.Experiment, map[string]engine.VariantCounts, error) {
	var e engine.Experiment
	counts := map[string]engine.VariantCounts{}
	err := db.kv.View(func(txn kvTxn) error {
		item, err := txn.Get(experimentKey(name))
		if errors.Is(err, errNotFound) {
			return engine.Errorf(engine.CodeNotFound, "no experiment %q", name)
		}
		if err != nil {
			return err
		}
		if err := item.Value(func(val []byte) (err error) {
			e, err = decodeExperiment(val)
			return err
		}); err != nil {
			return err
		}
		prefix := []byte(prefixExperimentStat + name + "\x00")
		it := txn.NewIterator(iterOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			parts := bytes.Split(bytes.TrimPrefix(it.Item().Key(), prefix), []byte{0})
			if len(parts) != 2 {
				continue
			}
			var n int64
			if err := it.Item().Value(func(val []byte) error { n = counter(val); return nil }); err != nil {
				return err
			}
			c := counts[string(parts[0])]
			switch string(parts[1]) {
			case impressions:
				c.Impressions = n
			case engine.FeedbackClick:
				c.Clicks = n
			case engine.FeedbackAddToCart:
				c.AddToCarts = n
			case engine.FeedbackConversion:
				c.Conversions = n
			}
			counts[string(parts[0])] = c
		}
		return nil
	})
	return e, counts, err
}

func counter(val []byte) int64 {
	if len(val) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(val))
}

func addCounter(txn kvTxn, key []byte, delta int64) error {
	var n int64
	item, err := txn.Get(key)
	switch {
	case err == nil:
		if err := item.Value(func(val []byte) error { n = counter(val); return nil }); err != nil {
			return err
		}
	case !errors.Is(err, errNotFound):
		return err
	}
	return txn.Set(key, binary.BigEndian.AppendUint64(nil, uint64(n+delta)))
}

// AddImpressions adds served lists to variants' counts.
func (db *DB) AddImpressions(ctx context.Context, served map[engine.VariantKey]int64) error {
	if len(served) == 0 {
		return nil
	}
	return db.update(ctx, func(txn kvTxn) error {
		for k, n := range served {
			if err := addCounter(txn, statKey(k.Experiment, k.Variant, impressions), n); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddFeedback counts feedback, once per list and kind however often it is
// sent (so a retried batch counts once). It returns how many were new.
func (db *DB) AddFeedback(ctx context.Context, fs []engine.Feedback) (int, error) {
	if len(fs) == 0 {
		return 0, nil
	}
	added := 0
	err := db.update(ctx, func(txn kvTxn) error {
		added = 0
		for _, f := range fs {
			mark := []byte(prefixFeedback + f.RecommendationID + "\x00" + f.Kind)
			_, err := txn.Get(mark)
			if err == nil {
				continue
			}
			if !errors.Is(err, errNotFound) {
				return err
			}
			if err := txn.Set(mark, nil); err != nil {
				return err
			}
			if err := addCounter(txn, statKey(f.Experiment, f.Variant, f.Kind), 1); err != nil {
				return err
			}
			added++
		}
		return nil
	})
	return added, err
}
