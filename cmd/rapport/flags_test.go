package main

import (
	"runtime/debug"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1GiB", 1 << 30, true},
		{"900MiB", 900 << 20, true},
		{"1.5GB", 1_500_000_000, true},
		{"512", 512, true},
		{"64 KiB", 64 << 10, true},
		{"lots", 0, false},
		{"-1GiB", 0, false},
	} {
		got, err := parseBytes(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d (ok %t)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestAutoMemoryLimit: --memory-limit auto (the default) sets a soft limit
// of at least 512 MiB, twice what the process holds, where Go has none.
func TestAutoMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	got := setAutoMemoryLimit()
	if got < minAutoMemoryLimit || debug.SetMemoryLimit(-1) != got {
		t.Fatalf("limit %d (runtime: %d), want at least %d and set", got, debug.SetMemoryLimit(-1), minAutoMemoryLimit)
	}
}
