package model

import (
	"hash/maphash"
	"strings"
)

// userTable finds the training index of a user key. It holds the keys
// end to end in one string and an open-addressing table of their indices:
// at a million people about 30 MB against 90 MB for a []string and a
// map[string]int32, and nothing for the garbage collector to trace, where
// those are two million small objects it marks on every cycle.
type userTable struct {
	blob  string
	ends  []uint32 // key u is blob[ends[u-1]:ends[u]] (from 0 for u = 0)
	slots []int32  // 1 + index, 0 for empty; the length is a power of two
	seed  maphash.Seed
}

func newUserTable(keys []string) *userTable {
	var b strings.Builder
	n := 0
	for _, a := range keys {
		n += len(a)
	}
	b.Grow(n)
	t := &userTable{ends: make([]uint32, len(keys)), seed: maphash.MakeSeed()}
	for u, a := range keys {
		b.WriteString(a)
		t.ends[u] = uint32(b.Len())
	}
	t.blob = b.String()
	size := 1
	for size < 2*len(keys) {
		size *= 2
	}
	t.slots = make([]int32, size)
	mask := uint64(size - 1)
	for u, a := range keys {
		h := maphash.String(t.seed, a) & mask
		for t.slots[h] != 0 && t.key(int(t.slots[h]-1)) != a {
			h = (h + 1) & mask
		}
		t.slots[h] = int32(u + 1) // a repeated key takes the later index, as a map would

	}
	return t
}

func (t *userTable) key(u int) string {
	start := uint32(0)
	if u > 0 {
		start = t.ends[u-1]
	}
	return t.blob[start:t.ends[u]]
}

// index returns the index of key, or -1.
func (t *userTable) index(key string) int {
	if len(t.slots) == 0 {
		return -1
	}
	mask := uint64(len(t.slots) - 1)
	for h := maphash.String(t.seed, key) & mask; t.slots[h] != 0; h = (h + 1) & mask {
		if u := int(t.slots[h] - 1); t.key(u) == key {
			return u
		}
	}
	return -1
}
