package store

import (
	"encoding/binary"
	"time"

	"rapport/engine"
)

// Table prefixes; the package doc describes each.
const (
	prefixAlias    = "a/"
	prefixIdentity = "p/"
	prefixEvent    = "e/"
	prefixDedup    = "d/"
	prefixItem     = "i/"
	prefixKey      = "k/"
	prefixKeyHash  = "h/"
	prefixVector   = "f/"
	prefixChange   = "q/"
	prefixVersion  = "v/"
	prefixArtefact = "w/"
	prefixRun      = "r/"
)

func aliasKey(a engine.Alias) []byte { return []byte(prefixAlias + a.String()) }

func identityKey(id engine.IdentityID) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixIdentity), uint64(id))
}

// eventRef is the part of an event key after the prefix: identity, time, id.
type eventRef [24]byte

func newEventRef(id engine.IdentityID, t time.Time, eventID uint64) eventRef {
	var r eventRef
	binary.BigEndian.PutUint64(r[0:], uint64(id))
	binary.BigEndian.PutUint64(r[8:], sortableTime(t))
	binary.BigEndian.PutUint64(r[16:], eventID)
	return r
}

func (r eventRef) key() []byte { return append([]byte(prefixEvent), r[:]...) }

func (r eventRef) time() time.Time { return timeFromSortable(binary.BigEndian.Uint64(r[8:])) }

func eventPrefix(id engine.IdentityID) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixEvent), uint64(id))
}

func dedupKey(clientID string) []byte { return []byte(prefixDedup + clientID) }

func itemKey(id string) []byte { return []byte(prefixItem + id) }

func apiKeyKey(id string) []byte { return []byte(prefixKey + id) }

func keyHashKey(h engine.KeyHash) []byte { return append([]byte(prefixKeyHash), h[:]...) }

func idValue(id engine.IdentityID) []byte {
	return binary.BigEndian.AppendUint64([]byte{formatV1}, uint64(id))
}

func parseIDValue(v []byte) (engine.IdentityID, error) {
	if len(v) != 9 || v[0] != formatV1 {
		return 0, errCorrupt
	}
	return engine.IdentityID(binary.BigEndian.Uint64(v[1:])), nil
}
