package api_test

import (
	"bytes"
	"fmt"
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
