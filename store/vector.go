package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"rapport/engine"
)

func encodeVector(v *engine.FeatureVector) []byte {
	e := newEncoder(512)
	e.time(v.ComputedAt)
	e.uint(uint64(len(v.Sources)))
	for _, s := range v.Sources {
		e.string(s)
	}
	e.string(v.ModelVersion)
	for _, list := range [][]engine.Affinity{v.Items, v.Categories, v.Brands} {
		e.uint(uint64(len(list)))
		for _, a := range list {
			e.string(a.Key)
			e.float(a.Score)
		}
	}
	e.uint(uint64(v.Events))
	e.time(v.LastEventAt)
	e.uint(uint64(v.Purchases))
	e.uint(uint64(v.Orders))
	for _, f := range []float64{v.RecencyDays, v.FrequencyDays, v.Monetary} {
		e.float(f)
	}
	e.string(v.Currency)
	for _, f := range []float64{v.PriceP25, v.PriceP50, v.PriceP75} {
		e.float(f)
	}
	e.string(v.PriceBand)
	e.float(v.TypicalQty)
	e.uint(uint64(len(v.Factors)))
	for _, f := range v.Factors {
		e.float(f)
	}
	e.uint(uint64(len(v.Social)))
	for _, a := range v.Social {
		e.string(a.Key)
		e.float(a.Score)
	}
	e.uint(uint64(len(v.Provenance)))
	for _, p := range v.Provenance {
		e.string(p.Source)
		e.uint(uint64(p.Signals))
		e.bool(p.Consent != nil)
		if c := p.Consent; c != nil {
			e.string(string(c.Purpose))
			e.bool(c.Granted)
			e.string(c.Source)
			e.time(c.Time)
			e.time(c.Expires)
			e.string(c.PolicyVersion)
			e.bool(c.Default)
		}
	}
	return e.buf
}

func decodeVector(id engine.IdentityID, val []byte) (engine.FeatureVector, error) {
	d, err := newDecoder(val)
	if err != nil {
		return engine.FeatureVector{}, err
	}
	v := engine.FeatureVector{Identity: id, ComputedAt: d.time()}
	for n := d.count(); n > 0; n-- {
		v.Sources = append(v.Sources, d.string())
	}
	v.ModelVersion = d.string()
	for _, list := range []*[]engine.Affinity{&v.Items, &v.Categories, &v.Brands} {
		for n := d.count(); n > 0; n-- {
			*list = append(*list, engine.Affinity{Key: d.string(), Score: d.float()})
		}
	}
	v.Events = int(d.uint())
	v.LastEventAt = d.time()
	v.Purchases, v.Orders = int(d.uint()), int(d.uint())
	v.RecencyDays, v.FrequencyDays, v.Monetary = d.float(), d.float(), d.float()
	v.Currency = d.string()
	v.PriceP25, v.PriceP50, v.PriceP75 = d.float(), d.float(), d.float()
	v.PriceBand = d.string()
	v.TypicalQty = d.float()
	if n := d.count(); n > 0 {
		v.Factors = make([]float64, n)
		for i := range v.Factors {
			v.Factors[i] = d.float()
		}
	}
	for n := d.count(); n > 0; n-- {
		v.Social = append(v.Social, engine.Affinity{Key: d.string(), Score: d.float()})
	}
	for n := d.count(); n > 0; n-- {
		p := engine.Provenance{Source: d.string(), Signals: int(d.uint())}
		if d.bool() {
			p.Consent = &engine.Consent{Purpose: engine.Purpose(d.string()), Granted: d.bool(), Source: d.string(),
				Time: d.time(), Expires: d.time(), PolicyVersion: d.string(), Default: d.bool()}
		}
		v.Provenance = append(v.Provenance, p)
	}
	return v, d.err()
}

func vectorKey(id engine.IdentityID) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixVector), uint64(id))
}

// PutVectors stores feature vectors, replacing earlier ones.
func (db *DB) PutVectors(ctx context.Context, vs []engine.FeatureVector) error {
	wb := db.kv.NewWriteBatch(fenceOf(ctx))
	defer wb.Cancel()
	for i := range vs {
		if err := wb.Set(vectorKey(vs[i].Identity), encodeVector(&vs[i])); err != nil {
			return fmt.Errorf("put vector: %w", err)
		}
	}
	return wb.Flush()
}

// UpdateVectors calls fn on every stored feature vector and stores those
// it reports it changed. Each batch of vectors is read and written in one
// transaction, so a vector erased or rewritten meanwhile is never replaced
// by a stale copy (the batch is retried on the new state). It returns the
// number of vectors changed.
func (db *DB) UpdateVectors(ctx context.Context, fn func(v *engine.FeatureVector) bool) (int, error) {
	ids, err := db.idsUnder(ctx, prefixVector)
	if err != nil {
		return 0, fmt.Errorf("list vectors: %w", err)
	}
	const batch = 256
	changed := 0
	for start := 0; start < len(ids); start += batch {
		n := 0
		err := db.update(ctx, func(txn kvTxn) error {
			n = 0
			for _, id := range ids[start:min(start+batch, len(ids))] {
				item, err := txn.Get(vectorKey(id))
				if errors.Is(err, errNotFound) {
					continue // erased since the listing
				}
				if err != nil {
					return err
				}
				var v engine.FeatureVector
				if err := item.Value(func(val []byte) (err error) {
					v, err = decodeVector(id, val)
					return err
				}); err != nil {
					return fmt.Errorf("vector of identity %d: %w", id, err)
				}
				if !fn(&v) {
					continue
				}
				if err := txn.Set(vectorKey(id), encodeVector(&v)); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return changed, fmt.Errorf("update vectors: %w", err)
		}
		changed += n
	}
	return changed, nil
}

// Vector returns an identity's feature vector (not_found before its first merge).
func (db *DB) Vector(ctx context.Context, id engine.IdentityID) (engine.FeatureVector, error) {
	var v engine.FeatureVector
	err := db.kv.View(func(txn kvTxn) error {
		item, err := txn.Get(vectorKey(id))
		if errors.Is(err, errNotFound) {
			return engine.Errorf(engine.CodeNotFound, "identity %d has no feature vector yet", id)
		}
		if err != nil {
			return err
		}
		return item.Value(func(val []byte) (err error) {
			v, err = decodeVector(id, val)
			return err
		})
	})
	return v, err
}

// count reads a length that must not exceed what is left in the value.
func (d *decoder) count() int {
	n := d.uint()
	if n > uint64(len(d.buf)) {
		d.bad = true
		return 0
	}
	return int(n)
}
