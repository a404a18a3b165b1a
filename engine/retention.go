package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseRetention reads time-to-live settings per event type, written
// "view=90d,add_to_cart=180d": a type, "=", and a positive duration in days
// (d) or in Go's units (h, m, s). An empty string keeps everything.
func ParseRetention(s string) (map[EventType]time.Duration, error) {
	out := map[EventType]time.Duration{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%q must be type=duration, such as view=90d", part)
		}
		t := EventType(strings.TrimSpace(name))
		if !t.Valid() {
			return nil, fmt.Errorf("%q is not an event type (one of %s)", name, joinTypes())
		}
		if _, dup := out[t]; dup {
			return nil, fmt.Errorf("%s is given twice", t)
		}
		value = strings.TrimSpace(value)
		var d time.Duration
		if days, ok := strings.CutSuffix(value, "d"); ok {
			n, err := strconv.Atoi(days)
			if err != nil || n <= 0 || n > 100*365 {
				return nil, fmt.Errorf("%s: %q is not a number of days from 1 to 36500", t, value)
			}
			d = time.Duration(n) * 24 * time.Hour
		} else {
			var err error
			if d, err = time.ParseDuration(value); err != nil || d <= 0 {
				return nil, fmt.Errorf("%s: %q is not a positive duration such as 90d or 36h", t, value)
			}
		}
		out[t] = d
	}
	return out, nil
}
