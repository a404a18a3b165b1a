package store

import (
	"context"
	"io"

	"rapport/engine"
)

// kv is the ordered key-value engine under the store: Badger in one
// process by default, Redis when replicas share one store. Everything
// above it — the key schema, the encodings, the transactions' logic — is
// the same on both. Its shape is Badger's: optimistic transactions that
// read their own writes and fail with errConflict at commit when another
// transaction changed what they read, and ordered iteration over keys.
type kv interface {
	View(fn func(txn kvTxn) error) error
	// Update runs fn in a read-write transaction and commits it. With a
	// fence, the commit happens only while that lease is held (else
	// ErrFenced); Badger, one process, has no leases to check.
	Update(fence *Fence, fn func(txn kvTxn) error) error
	// NewWriteBatch starts non-transactional bulk writes (each flush
	// fenced like Update).
	NewWriteBatch(fence *Fence) kvBatch
	// Sequence leases blocks of numbers from a persistent counter.
	Sequence(key []byte, lease uint64) (kvSequence, error)
	// DropPrefix deletes every key under the prefixes.
	DropPrefix(prefixes ...[]byte) error
	// Backup writes a consistent snapshot; Restore (Badger only) reads it.
	Backup(w io.Writer) (uint64, error)
	// Scrub, after an erasure has dropped keys, has the engine rewrite its
	// own files that may still hold them, and returns the copies it could
	// not reach. Badger needs nothing: DropPrefix rewrote its files. Redis
	// rewrites its append-only file.
	Scrub(ctx context.Context) []engine.Remnant
	Sync() error
	IsClosed() bool
	Close() error
}

type kvTxn interface {
	// Get returns errNotFound for a missing key.
	Get(key []byte) (kvItem, error)
	Set(key, val []byte) error
	Delete(key []byte) error
	NewIterator(opts iterOptions) kvIterator
}

type kvItem interface {
	Key() []byte
	KeyCopy(dst []byte) []byte
	Value(fn func(val []byte) error) error
	ValueCopy(dst []byte) ([]byte, error)
}

type kvIterator interface {
	Seek(key []byte)
	Rewind()
	Valid() bool
	ValidForPrefix(prefix []byte) bool
	Next()
	Item() kvItem
	Close()
}

// iterOptions are Badger's iterator options that the store uses.
type iterOptions struct {
	Prefix         []byte
	Reverse        bool
	PrefetchValues bool
	PrefetchSize   int
}

var defaultIterOptions = iterOptions{PrefetchValues: true, PrefetchSize: 100}

type kvBatch interface {
	Set(key, val []byte) error
	Delete(key []byte) error
	Flush() error
	Cancel()
}

type kvSequence interface {
	Next() (uint64, error)
	Release() error
}
