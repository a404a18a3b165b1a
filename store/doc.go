// Package store keeps Rapport's data in Badger, an embedded key-value store.
//
// Badger is guarded against a full disk and a data directory that stops
// taking files (disk.go): writes are refused with CodeInsufficientStorage
// or CodeUnavailable before Badger could crash on them, and resume by
// themselves when the fault clears.
//
// # Key schema
//
// Every key starts with a two-byte prefix naming its table. Integers in keys
// are big-endian so that keys sort in numeric order. The layout is version
// 4 (m/schema); Open brings a directory in layout 2 or 3 up to date in
// place (migrate.go: event ids unique per alias from 3, the t/ index of
// person targets from 4) and refuses one in any other.
//
// A person is an identity with aliases, and every alias has a stream: a
// number under which everything that arrived under that alias is kept —
// its events (and the ids they were sent with), consents, links and
// preferences. Linking re-points aliases and merging re-points another
// identity's aliases; no record moves, so an unlink gives an alias back
// exactly its own history, and erasure drops a stream's key ranges whole. An alias's text is stored only in its alias
// key, in s/, and in values under its own stream; identity records hold
// stream numbers, so no old version of another record names an erased
// alias. The one exception is a social signal whose target is another
// person's alias (a follow of a friend): t/ indexes it by that alias, and
// erasing the person drops it. Identity and stream numbers share one sequence.
//
//	a/<alias text>\x00                       → <identity:8><stream:8>       alias → identity (identity 0: erasure requested)
//	s/<stream:8>                             → alias text                   the alias a stream belongs to
//	p/<identity:8>                           → identity record              stage, region, streams, logins, erasure receipt
//	e/<stream:8><time:8><event id:8>         → event record                 events per alias, in time order
//	c/<stream:8><time:8><seq:8>              → consent decision             per alias, in time order
//	l/<stream:8><time:8><seq:8>              → link record                  link, merge, unlink of that alias
//	u/<stream:8>                             → preferences                  set under that alias
//	d/<stream:8><client id>                  → <stream:8><time:8><event id:8>   idempotency index: an event id is unique per alias
//	t/<target alias text>\x00<event ref:24>  → (empty)                      social signals naming a person, by that person's alias
//	f/<identity:8>                           → feature vector
//	q/<seq:8><identity:8>                    → (empty)                      change log: identities the merge must recompute
//	x/<receipt id>                           → erasure receipt              status, held and removed counts, identity number
//	i/<item id>                              → item record                  catalog
//	k/<key id>                               → API key record               (hash, role, name, times)
//	h/<sha-256 of secret:32>                 → key id                       authentication lookup
//	v/<version id>, w/<version id><chunk>    → model versions and artefacts (models know people by number)
//	r/<job>/<start time:8>...                → job run record
//	m/<name>                                 → schema version, sequences, serving history
//	m/setting/<name>                         → a stored setting (the tuned training configuration)
//	n/e/<name>                               → A/B experiment
//	n/c/<name>\x00<variant>\x00<kind>         → count:8       impressions, clicks, add_to_carts, conversions
//	n/f/<recommendation id>\x00<kind>         → (empty)       feedback already counted for that list
//
// Alias keys end in a zero byte, which no alias contains, so that no alias
// key is a prefix of another's and erasure can drop one by prefix.
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
// # Erasure
//
// Deleting a key in Badger leaves its old versions in the LSM tree until a
// compaction happens to discard them. Erasure instead drops the person's
// key ranges with DropPrefix, which flushes the memtable and rewrites every
// table holding them without them, so that no file keeps a trace.
//
// Badger takes an exclusive lock on its directory, so one process at a time
// may open a data directory; Open reports ErrLocked when another holds it.
package store
