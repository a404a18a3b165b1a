// Command rss drives a running rapport serve with concurrent maximum-size
// batches and samples its RSS. Loopback only, bounded by -duration.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func rss(pid int, field string) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, field+":")), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

func main() {
	url := flag.String("url", "http://127.0.0.1:18080", "")
	key := flag.String("key", "", "")
	pid := flag.Int("pid", 0, "")
	clients := flag.Int("clients", 16, "")
	dur := flag.Duration("duration", 30*time.Second, "")
	size := flag.Int("bytes", 0, "approximate body size (0: 10,000 events of ~1.6 KB)")
	pprofURL := flag.String("pprof", "", "base URL of the server's pprof; heap profiles are saved at the RSS peak")
	out := flag.String("out", "", "prefix for saved profiles")
	flag.Parse()
	idle := rss(*pid, "VmRSS")
	fmt.Printf("idle: anon %.0f MB, file %.0f MB\n", float64(rss(*pid, "RssAnon"))/1e6, float64(rss(*pid, "RssFile"))/1e6)
	var peakAnon, peakFile atomic.Int64
	var lastProf time.Time
	bodies := make([][]byte, *clients)
	pad := strings.Repeat("p", 1000)
	padB := pad[:560]
	if *size > 0 {
		n := *size/10000 - 95
		pad, padB = strings.Repeat("p", n/2), strings.Repeat("p", n-n/2)
	}
	for c := range bodies {
		var b bytes.Buffer
		for i := 0; i < 10000; i++ {
			fmt.Fprintf(&b, `{"alias":"customer:%d","type":"view","item":"SKU-%d","attributes":{"a":"%s","b":"%s"}}`+"\n", c*100000+i, i%5000, pad, padB)
		}
		bodies[c] = b.Bytes()
	}
	fmt.Printf("batch: %d events, %.1f MiB\n", 10000, float64(len(bodies[0]))/(1<<20))
	var ok, busy, other atomic.Int64
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if r := rss(*pid, "VmRSS"); r > peak.Load() {
					peak.Store(r)
					if *pprofURL != "" && time.Since(lastProf) > 3*time.Second {
						lastProf = time.Now()
						go func(r int64) {
							resp, err := http.Get(*pprofURL + "/debug/pprof/heap")
							if err == nil {
								b, _ := io.ReadAll(resp.Body)
								resp.Body.Close()
								os.WriteFile(*out+"heap.pb.gz", b, 0o644)
							}
							resp, err = http.Get(*pprofURL + "/debug/pprof/heap?debug=1")
							if err == nil {
								b, _ := io.ReadAll(resp.Body)
								resp.Body.Close()
								os.WriteFile(*out+"heap.txt", b, 0o644)
							}
							smaps, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", *pid))
							os.WriteFile(*out+"smaps.txt", smaps, 0o644)
							fmt.Printf("profile at RSS %.0f MB\n", float64(r)/1e6)
						}(r)
					}
				}
				if r := rss(*pid, "RssAnon"); r > peakAnon.Load() {
					peakAnon.Store(r)
				}
				if r := rss(*pid, "RssFile"); r > peakFile.Load() {
					peakFile.Store(r)
				}
			}
		}
	}()
	deadline := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("POST", *url+"/v1/events", bytes.NewReader(bodies[c]))
				req.Header.Set("Authorization", "Bearer "+*key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					other.Add(1)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 503:
					busy.Add(1)
					time.Sleep(time.Second)
				default:
					other.Add(1)
				}
			}
		}(c)
	}
	wg.Wait()
	close(stop)
	fmt.Printf("idle RSS %.0f MB, peak RSS under load %.0f MB (+%.0f MB), VmHWM %.0f MB; batches: %d stored, %d answered 503, %d other\n",
		float64(idle)/1e6, float64(peak.Load())/1e6, float64(peak.Load()-idle)/1e6, float64(rss(*pid, "VmHWM"))/1e6, ok.Load(), busy.Load(), other.Load())
	fmt.Printf("peak anon %.0f MB, peak file %.0f MB\n", float64(peakAnon.Load())/1e6, float64(peakFile.Load())/1e6)
}
