package store

import (
	"context"
	"errors"
	"io"

	"github.com/dgraph-io/badger/v4"

	"rapport/engine"
)

// The store's errors are Badger's, so that Badger's own pass straight
// through; the Redis engine returns the same values.
var (
	errNotFound  = badger.ErrKeyNotFound
	errConflict  = badger.ErrConflict
	errTxnTooBig = badger.ErrTxnTooBig
)

// badgerKV is the kv on Badger.
type badgerKV struct{ db *badger.DB }

func (b badgerKV) View(fn func(kvTxn) error) error {
	return closedUnavailable(b.db.View(func(txn *badger.Txn) error { return fn(badgerTxn{t: txn}) }))
}

func (b badgerKV) Update(_ *Fence, fn func(kvTxn) error) error {
	return closedUnavailable(b.db.Update(func(txn *badger.Txn) error { return fn(badgerTxn{t: txn}) }))
}

// closedUnavailable makes Badger's "DB closed" (a call racing shutdown)
// engine.CodeUnavailable, a 503 the caller may retry elsewhere.
func closedUnavailable(err error) error {
	if errors.Is(err, badger.ErrDBClosed) {
		return &engine.Error{Code: engine.CodeUnavailable, Message: "the store is closed (shutting down); retry shortly", Err: err}
	}
	return err
}

func (b badgerKV) NewWriteBatch(*Fence) kvBatch { return b.db.NewWriteBatch() }

func (b badgerKV) Sequence(key []byte, lease uint64) (kvSequence, error) {
	return b.db.GetSequence(key, lease)
}

func (b badgerKV) DropPrefix(prefixes ...[]byte) error    { return b.db.DropPrefix(prefixes...) }
func (b badgerKV) Backup(w io.Writer) (uint64, error)     { return b.db.Backup(w, 0) }
func (b badgerKV) Scrub(context.Context) []engine.Remnant { return nil }
func (b badgerKV) Sync() error                            { return b.db.Sync() }
func (b badgerKV) IsClosed() bool                         { return b.db.IsClosed() }
func (b badgerKV) Close() error                           { return b.db.Close() }

// badgerTxn is a Badger transaction; with bytes set, it adds up there
// the bytes its writes will put in Badger's log.
type badgerTxn struct {
	t     *badger.Txn
	bytes *int64
}

func (t badgerTxn) Get(key []byte) (kvItem, error) {
	item, err := t.t.Get(key)
	if err != nil {
		return nil, err
	}
	return item, nil
}

func (t badgerTxn) Set(key, val []byte) error {
	if t.bytes != nil {
		*t.bytes += int64(len(key) + len(val) + entryOverhead)
	}
	return t.t.Set(key, val)
}

func (t badgerTxn) Delete(key []byte) error {
	if t.bytes != nil {
		*t.bytes += int64(len(key) + entryOverhead)
	}
	return t.t.Delete(key)
}

func (t badgerTxn) NewIterator(o iterOptions) kvIterator {
	bo := badger.DefaultIteratorOptions
	bo.Prefix, bo.Reverse, bo.PrefetchValues = o.Prefix, o.Reverse, o.PrefetchValues
	if o.PrefetchSize > 0 {
		bo.PrefetchSize = o.PrefetchSize
	}
	return badgerIterator{t.t.NewIterator(bo)}
}

type badgerIterator struct{ *badger.Iterator }

func (it badgerIterator) Item() kvItem { return it.Iterator.Item() }
