package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"rapport/engine"
)

// artefactChunk bounds one artefact value, keeping every transaction small.
const artefactChunk = 4 << 20

func encodeVersion(v *engine.ModelVersion) ([]byte, error) {
	hp, err := json.Marshal(v.Hyperparameters)
	if err != nil {
		return nil, err
	}
	metrics, err := json.Marshal(v.Metrics)
	if err != nil {
		return nil, err
	}
	e := newEncoder(256)
	e.time(v.CreatedAt)
	e.string(v.Status)
	e.string(string(hp))
	e.time(v.DataWatermark)
	e.uint(uint64(v.Events))
	e.uint(uint64(v.Identities))
	e.uint(uint64(v.Items))
	e.float(v.TrainSeconds)
	e.string(v.Holdout)
	e.string(string(metrics))
	e.uint(uint64(v.ArtefactBytes))
	e.string(v.Reason)
	return e.buf, nil
}

func decodeVersion(id string, val []byte) (engine.ModelVersion, error) {
	d, err := newDecoder(val)
	if err != nil {
		return engine.ModelVersion{}, err
	}
	v := engine.ModelVersion{ID: id, CreatedAt: d.time(), Status: d.string()}
	hp := d.string()
	v.DataWatermark = d.time()
	v.Events, v.Identities, v.Items = int(d.uint()), int(d.uint()), int(d.uint())
	v.TrainSeconds = d.float()
	v.Holdout = d.string()
	metrics := d.string()
	v.ArtefactBytes = int(d.uint())
	if len(d.buf) > 0 { // versions stored before reasons were recorded have none
		v.Reason = d.string()
	}
	if err := d.err(); err != nil {
		return v, err
	}
	if err := errors.Join(json.Unmarshal([]byte(hp), &v.Hyperparameters), json.Unmarshal([]byte(metrics), &v.Metrics)); err != nil {
		return v, errCorrupt
	}
	return v, nil
}

func versionKey(id string) []byte { return []byte(prefixVersion + id) }

func artefactKey(id string, chunk int) []byte {
	return binary.BigEndian.AppendUint32([]byte(prefixArtefact+id+"/"), uint32(chunk))
}

// NextVersionID returns a new, increasing version id ("v000042").
func (db *DB) NextVersionID(ctx context.Context) (string, error) {
	var n uint64
	err := db.update(ctx, func(txn kvTxn) error {
		n = 0
		item, err := txn.Get([]byte("m/version"))
		if err == nil {
			if err := item.Value(func(v []byte) error {
				if len(v) != 8 {
					return errCorrupt
				}
				n = binary.BigEndian.Uint64(v)
				return nil
			}); err != nil {
				return err
			}
		} else if !errors.Is(err, errNotFound) {
			return err
		}
		n++
		return txn.Set([]byte("m/version"), binary.BigEndian.AppendUint64(nil, n))
	})
	return fmt.Sprintf("v%06d", n), err
}

// SaveVersion stores a version's artefacts, then its record, so a version
// is visible only once everything it needs is on disk.
func (db *DB) SaveVersion(ctx context.Context, v engine.ModelVersion, artefact []byte) error {
	v.ArtefactBytes = len(artefact)
	for chunk := 0; chunk*artefactChunk < len(artefact) || chunk == 0; chunk++ {
		part := artefact[chunk*artefactChunk : min(len(artefact), (chunk+1)*artefactChunk)]
		if err := db.update(ctx, func(txn kvTxn) error { return txn.Set(artefactKey(v.ID, chunk), part) }); err != nil {
			return fmt.Errorf("save artefact: %w", err)
		}
	}
	rec, err := encodeVersion(&v)
	if err != nil {
		return err
	}
	return db.update(ctx, func(txn kvTxn) error { return txn.Set(versionKey(v.ID), rec) })
}

// Versions lists every model version, newest first.
func (db *DB) Versions(ctx context.Context) ([]engine.ModelVersion, error) {
	var out []engine.ModelVersion
	err := db.kv.View(func(txn kvTxn) error {
		opts := defaultIterOptions
		opts.Prefix, opts.Reverse = []byte(prefixVersion), true
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek([]byte(prefixVersion + "\xff")); it.Valid(); it.Next() {
			id := string(it.Item().Key()[len(prefixVersion):])
			err := it.Item().Value(func(val []byte) error {
				v, err := decodeVersion(id, val)
				out = append(out, v)
				return err
			})
			if err != nil {
				return fmt.Errorf("decode version %s: %w", id, err)
			}
		}
		return nil
	})
	return out, err
}

// Artefact returns a version's artefact bytes.
func (db *DB) Artefact(ctx context.Context, id string) ([]byte, error) {
	var out []byte
	err := db.kv.View(func(txn kvTxn) error {
		opts := defaultIterOptions
		opts.Prefix = []byte(prefixArtefact + id + "/")
		it := txn.NewIterator(opts)
		defer it.Close()
		found := false
		for it.Rewind(); it.Valid(); it.Next() {
			found = true
			if err := it.Item().Value(func(v []byte) error { out = append(out, v...); return nil }); err != nil {
				return err
			}
		}
		if !found {
			return engine.Errorf(engine.CodeNotFound, "model version %q has no artefacts", id)
		}
		return nil
	})
	return out, err
}
