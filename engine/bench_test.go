package engine_test

import (
	"testing"
	"time"

	"rapport/engine"
)

// BenchmarkParseEvent decodes and validates one typical purchase event, the
// per-record cost of ingest.
func BenchmarkParseEvent(b *testing.B) {
	body := []byte(`{"id":"ord-1001-3","alias":"customer:17850","type":"purchase","item":"85123A","quantity":6,"price":2.55,"currency":"GBP","timestamp":"2024-05-01T12:00:00Z","source":"web","region":"United Kingdom","attributes":{"invoice":"536365","channel":"online"}}`)
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := engine.ParseEvent(body, now); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
