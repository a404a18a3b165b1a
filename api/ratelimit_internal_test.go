package api

import (
	"strconv"
	"testing"
	"time"
)

// TestLimitersStayBounded: names made up faster than their buckets refill
// cannot grow the map past maxLimiters, and buckets that are full again
// (idle) are the first to go.
func TestLimitersStayBounded(t *testing.T) {
	var busy limiters
	now := time.Now()
	for i := 0; i < 3*maxLimiters; i++ {
		busy.take("addr-"+strconv.Itoa(i), 1, 4, now)
		if len(busy.m) > maxLimiters {
			t.Fatalf("%d buckets after %d names", len(busy.m), i+1)
		}
	}

	var idle limiters
	for i := 0; i < maxLimiters; i++ {
		idle.take("addr-"+strconv.Itoa(i), 1, 4, now)
	}
	idle.take("later", 1, 4, now.Add(time.Minute)) // every other bucket is full again
	if _, ok := idle.m["later"]; !ok || len(idle.m) != 1 {
		t.Fatalf("%d buckets after the idle ones were dropped (the new one kept: %v)", len(idle.m), ok)
	}
}
