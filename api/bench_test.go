package api_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"rapport/api"
	"rapport/engine"
	"rapport/store"
)

// BenchmarkIngest posts batches of 500 events over real HTTP (loopback) to a
// server on a real, fsyncing Badger store, from parallel clients. The
// events/s metric is the figure to compare with the 30,000 events/s target.
func BenchmarkIngest(b *testing.B) {
	db, err := store.Open(store.DefaultOptions(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	k, secret, _ := engine.NewAPIKey(engine.RoleIngest, "bench", time.Now())
	if err := db.CreateKey(b.Context(), k); err != nil {
		b.Fatal(err)
	}
	s := &api.Server{Events: db, Items: db, Keys: db, Health: db}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	const batch = 500
	var seq atomic.Int64
	b.SetParallelism(2) // 2×GOMAXPROCS clients in flight
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var body bytes.Buffer
		for pb.Next() {
			body.Reset()
			n := seq.Add(1)
			body.WriteByte('[')
			for i := 0; i < batch; i++ {
				if i > 0 {
					body.WriteByte(',')
				}
				fmt.Fprintf(&body, `{"id":"b%d-%d","alias":"customer:%d","type":"view","item":"SKU-%d","price":9.99,"currency":"EUR","region":"UK","source":"web"}`, n, i, (n*batch+int64(i))%50000, i%2000)
			}
			body.WriteByte(']')
			req, _ := http.NewRequest("POST", ts.URL+"/v1/events", bytes.NewReader(body.Bytes()))
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// countingWriter counts the bytes written to it.
type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }

// BenchmarkAccessLogVolume drives requests through the handler in process
// and reports the access log's size per million requests (text format):
// successful requests and a flood of client errors with the defaults, and
// successful requests with --access-log.
func BenchmarkAccessLogVolume(b *testing.B) {
	db, err := store.Open(store.DefaultOptions(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, bc := range []struct {
		name, path string
		sample     float64
	}{
		{"OK", "/healthz", 0},
		{"ClientErrors", "/v1/items/x", 0}, // 401: no key
		{"OKAccessLog", "/healthz", 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var w countingWriter
			s := &api.Server{Events: db, Items: db, Keys: db, Health: db, AccessLogSample: bc.sample,
				Logger: slog.New(slog.NewTextHandler(&w, nil))}
			h := s.Handler()
			req := httptest.NewRequest("GET", bc.path, nil)
			start := time.Now()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(w.n.Load())/float64(b.N)*1e6/1e6, "MB/1M-req")
			b.ReportMetric(float64(b.N)/secs, "req/s")
		})
	}
}
