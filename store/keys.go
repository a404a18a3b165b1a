package store

import (
	"encoding/binary"
	"time"

	"rapport/engine"
)

// Table prefixes; the package doc describes each.
const (
	prefixAlias       = "a/"
	prefixIdentity    = "p/"
	prefixEvent       = "e/"
	prefixDedup       = "d/"
	prefixItem        = "i/"
	prefixKey         = "k/"
	prefixKeyHash     = "h/"
	prefixVector      = "f/"
	prefixChange      = "q/"
	prefixVersion     = "v/"
	prefixArtefact    = "w/"
	prefixRun         = "r/"
	prefixLink        = "l/"
	prefixConsent     = "c/"
	prefixStream      = "s/"
	prefixErasure     = "x/"
	prefixPreferences = "u/"
	prefixOrg         = "g/"
	prefixOrgMember   = "y/"
	prefixReference   = "t/"
)

// aliasKey ends in a zero byte, which no alias contains, so that no alias
// key is a prefix of another's and erasure can drop one by prefix.
func aliasKey(a engine.Alias) []byte { return []byte(prefixAlias + a.String() + "\x00") }

func identityKey(id engine.IdentityID) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixIdentity), uint64(id))
}

// eventRef is the part of an event key after the prefix: stream, time, id.
type eventRef [24]byte

func newEventRef(stream uint64, t time.Time, eventID uint64) eventRef {
	var r eventRef
	binary.BigEndian.PutUint64(r[0:], stream)
	binary.BigEndian.PutUint64(r[8:], sortableTime(t))
	binary.BigEndian.PutUint64(r[16:], eventID)
	return r
}

func (r eventRef) key() []byte { return append([]byte(prefixEvent), r[:]...) }

func (r eventRef) stream() uint64 { return binary.BigEndian.Uint64(r[0:]) }

func (r eventRef) time() time.Time { return timeFromSortable(binary.BigEndian.Uint64(r[8:])) }

// eventPrefix is the key range of one stream's events.
func eventPrefix(stream uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixEvent), stream)
}

// dedupKey is the idempotency key of an event id sent under the alias
// whose stream is stream. An id is unique per alias, not across the
// store, so that nobody can send another person's id first and have the
// real event refused as a duplicate; a client retrying a batch sends it
// under the same alias. The keys follow their stream through links,
// merges and unlinks untouched, and erasure drops them with the stream.
func dedupKey(stream uint64, clientID string) []byte {
	return append(streamKey(prefixDedup, stream), clientID...)
}

func itemKey(id string) []byte { return []byte(prefixItem + id) }

func apiKeyKey(id string) []byte { return []byte(prefixKey + id) }

func keyHashKey(h engine.KeyHash) []byte { return append([]byte(prefixKeyHash), h[:]...) }
