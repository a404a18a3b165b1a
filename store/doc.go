// Package store keeps Rapport's data in Badger, an embedded key-value store.
//
// # Key schema
//
// Every key starts with a two-byte prefix naming its table. Integers in keys
// are big-endian so that keys sort in numeric order.
//
//	a/<alias text>                           → identity id               alias → identity
//	p/<identity id:8>                        → identity record           one per person
//	e/<identity id:8><time:8><event id:8>    → event record              events per identity, in time order
//	d/<client id>                            → <identity id:8><time:8><event id:8>   idempotency index
//	i/<item id>                              → item record               catalog
//	k/<key id>                               → API key record            (hash, role, name, times)
//	h/<sha-256 of secret:32>                 → key id                    authentication lookup
//	m/<name>                                 → internal counters (Badger sequences)
//
// <time:8> is Unix nanoseconds with the sign bit flipped, so times before and
// after 1970 both sort correctly. An event id is drawn from a sequence, or,
// for imported rows, derived from the row itself so that importing the same
// file twice rewrites the same keys instead of duplicating events.
//
// # Values
//
// Every value starts with a format version byte (currently 1), followed by
// the record's fields in a fixed order: strings and maps as uvarint-length
// prefixed bytes, numbers as fixed 8-byte IEEE 754 or varints. A reader that
// meets a version it does not know returns an error rather than guessing.
//
// # Durability
//
// The server opens the store with synchronous writes: a call that returns
// without error has been fsynced, so an acknowledged write survives kill -9.
// Bulk loads (Loader) write asynchronously and fsync once in Close.
//
// Badger takes an exclusive lock on its directory, so one process at a time
// may open a data directory; Open reports ErrLocked when another holds it.
package store
