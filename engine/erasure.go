package engine

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// ErasureStatus is how far an erasure has come.
type ErasureStatus string

const (
	ErasurePending  ErasureStatus = "pending"  // requested: the identity no longer resolves; its data awaits the erasure job
	ErasureRemoving ErasureStatus = "removing" // the job has counted what it will remove and is removing it
	ErasureDone     ErasureStatus = "done"     // removed from every layer
)

// Erasure is the receipt of a request to erase a person. It names the
// person by nothing but an internal number, so the receipt outlives them
// without identifying them.
type Erasure struct {
	ID          string         `json:"id"`
	Status      ErasureStatus  `json:"status"`
	RequestedAt time.Time      `json:"requested_at"`
	CompletedAt time.Time      `json:"completed_at,omitzero"`
	Held        map[string]int `json:"held"`              // what was held when erasure was requested, per layer
	Removed     map[string]int `json:"removed,omitempty"` // what the job removed, per layer
	// Remains lists the copies of the person the erasure could not reach
	// (backups taken before it, a store's own files awaiting a rewrite):
	// where they are and until when they hold the person.
	Remains  []Remnant  `json:"remains"`
	Identity IdentityID `json:"-"`
}

// Remnant is a kind of copy that still holds an erased person.
type Remnant struct {
	Layer string `json:"layer"` // "backups", "redis_snapshots", "redis_aof"
	// Count is how many copies of the layer hold the person; Copies lists
	// the newest of them (all when there are few).
	Count  int    `json:"count"`
	Copies []Copy `json:"copies,omitempty"`
	Until  string `json:"until"` // until when they hold the person
}

// Copy is one copy of the store: when it was taken and where it went, as
// far as Rapport knows.
type Copy struct {
	At    time.Time `json:"at"`
	Where string    `json:"where,omitempty"`
}

// NewErasureID returns a fresh receipt id, "er_" and 24 hex digits.
func NewErasureID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "er_" + hex.EncodeToString(b[:]), nil
}

// ValidErasureID reports whether s has the form of a receipt id.
func ValidErasureID(s string) bool {
	rest, ok := strings.CutPrefix(s, "er_")
	if !ok || len(rest) != 24 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}
