package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	"rapport/engine"
)

// Job runs live at r/<job>/<start time:8><run id>, so a job's runs sort by
// start and the newest are a reverse scan away.

func runKey(r *engine.JobRun) []byte {
	k := binary.BigEndian.AppendUint64([]byte(prefixRun+r.Job+"/"), sortableTime(r.StartedAt))
	return append(k, r.ID...)
}

func encodeRun(r *engine.JobRun) []byte {
	e := newEncoder(128)
	e.string(r.ID)
	e.string(r.Job)
	e.string(r.Trigger)
	e.time(r.StartedAt)
	e.time(r.EndedAt)
	e.string(r.Status)
	keys := make([]string, 0, len(r.Counts))
	for k := range r.Counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.uint(uint64(len(keys)))
	for _, k := range keys {
		e.string(k)
		e.uint(uint64(r.Counts[k]))
	}
	e.string(r.Error)
	return e.buf
}

func decodeRun(val []byte) (engine.JobRun, error) {
	d, err := newDecoder(val)
	if err != nil {
		return engine.JobRun{}, err
	}
	r := engine.JobRun{ID: d.string(), Job: d.string(), Trigger: d.string(), StartedAt: d.time(), EndedAt: d.time(), Status: d.string()}
	if n := d.count(); n > 0 {
		r.Counts = make(map[string]int, n)
		for ; n > 0; n-- {
			k := d.string()
			r.Counts[k] = int(d.uint())
		}
	}
	r.Error = d.string()
	return r, d.err()
}

// PutRun stores (or updates) a job run.
func (db *DB) PutRun(ctx context.Context, r engine.JobRun) error {
	return db.update(ctx, func(txn kvTxn) error { return txn.Set(runKey(&r), encodeRun(&r)) })
}

// Runs returns up to limit runs of a job, newest first.
func (db *DB) Runs(ctx context.Context, job string, limit int) ([]engine.JobRun, error) {
	var out []engine.JobRun
	prefix := []byte(prefixRun + job + "/")
	err := db.kv.View(func(txn kvTxn) error {
		opts := defaultIterOptions
		opts.Prefix, opts.Reverse = prefix, true
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(append(append([]byte{}, prefix...), 0xff)); it.Valid() && len(out) < limit; it.Next() {
			err := it.Item().Value(func(val []byte) error {
				r, err := decodeRun(val)
				out = append(out, r)
				return err
			})
			if err != nil {
				return fmt.Errorf("decode run: %w", err)
			}
		}
		return nil
	})
	return out, err
}
