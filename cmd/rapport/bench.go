package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "fresh" {
		return runBenchFresh(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "withdraw" {
		return runBenchWithdraw(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "aliases" {
		return runBenchAliases(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "recommend" {
		return runBenchRecommend(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "serve" {
		return runBenchServe(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "ingest" {
		return usagef("bench needs a target: ingest, recommend, serve, fresh, withdraw or aliases")
	}
	fs := newFlagSet("bench ingest", "bench ingest --url URL --key KEY [flags]", stderr)
	target := fs.String("url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	key := fs.String("key", "", "an API key that may POST /v1/events")
	batch := fs.Int("batch", 500, "events per request")
	conc := fs.Int("concurrency", 4, "requests in flight")
	duration := fs.Duration("duration", 20*time.Second, "how long to send (at most 10m)")
	identities := fs.Int("identities", 100_000, "distinct customer aliases to spread events over")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if rest, err := fs.parse(args[1:]); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("bench ingest takes no arguments")
	}
	u, err := loopbackURL(*target)
	if err != nil {
		return err
	}
	switch {
	case *key == "":
		return usagef("--key is required")
	case *batch < 1 || *batch > 10_000:
		return usagef("--batch must be 1 to 10000")
	case *conc < 1 || *conc > 256:
		return usagef("--concurrency must be 1 to 256")
	case *duration <= 0 || *duration > 10*time.Minute:
		return usagef("--duration must be positive and at most 10m")
	case *identities < 1:
		return usagef("--identities must be positive")
	}
	res, err := benchIngest(ctx, u.JoinPath("/v1/events").String(), *key, *batch, *conc, *duration, *identities)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "sent %s events in %s batches of %d over %.1fs with %d in flight\n", commas(int64(res.Events)), commas(int64(res.Batches)), *batch, res.Seconds, *conc)
	fmt.Fprintf(stdout, "throughput  %s events/s\n", commas(int64(res.EventsPerSecond)))
	fmt.Fprintf(stdout, "batch latency  p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms\n", res.P50ms, res.P95ms, res.P99ms, res.MaxMs)
	if len(res.Errors) > 0 {
		fmt.Fprintf(stdout, "errors  %v\n", res.Errors)
		return fmt.Errorf("%d batches failed", res.Failed)
	}
	return nil
}

// loopbackURL parses a load tool's --url, which must name this machine: a
// load test never targets another host.
func loopbackURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" {
		return nil, usagef("--url %q is not a URL", s)
	}
	if !isLoopback(u.Hostname()) {
		return nil, usagef("--url must point at this machine (127.0.0.0/8, ::1 or localhost): a load test never targets another host")
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type benchResult struct {
	Events          int            `json:"events"`
	Batches         int            `json:"batches"`
	Failed          int            `json:"failed"`
	Errors          map[string]int `json:"errors,omitempty"`
	Seconds         float64        `json:"seconds"`
	EventsPerSecond float64        `json:"events_per_second"`
	P50ms           float64        `json:"p50_ms"`
	P95ms           float64        `json:"p95_ms"`
	P99ms           float64        `json:"p99_ms"`
	MaxMs           float64        `json:"max_ms"`
}

// benchIngest posts generated batches from conc workers until the duration
// ends, and measures each batch's round trip.
func benchIngest(ctx context.Context, endpoint, key string, batch, conc int, d time.Duration, identities int) (benchResult, error) {
	var runID [4]byte
	_, _ = rand.Read(runID[:])
	prefix := hex.EncodeToString(runID[:])
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}, Timeout: time.Minute}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		res       = benchResult{Errors: map[string]int{}}
		wg        sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			var buf bytes.Buffer
			for n := 0; ctx.Err() == nil; n++ {
				buf.Reset()
				writeBatch(&buf, rng, fmt.Sprintf("%s-%d-%d", prefix, w, n), batch, identities)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(buf.Bytes()))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				lat := time.Since(t0)
				if ctx.Err() != nil {
					if resp != nil {
						resp.Body.Close()
					}
					return // cut off by the deadline: not counted
				}
				mu.Lock()
				switch {
				case err != nil:
					res.Failed++
					res.Errors[err.Error()]++
				case resp.StatusCode != http.StatusOK:
					res.Failed++
					res.Errors[resp.Status]++
				default:
					res.Batches++
					res.Events += batch
					latencies = append(latencies, lat)
				}
				mu.Unlock()
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}(w)
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.EventsPerSecond = float64(res.Events) / res.Seconds
	slices.Sort(latencies)
	res.P50ms, res.P95ms, res.P99ms, res.MaxMs = percentile(latencies, 0.5), percentile(latencies, 0.95), percentile(latencies, 0.99), percentile(latencies, 1)
	if len(res.Errors) == 0 {
		res.Errors = nil
	}
	return res, nil
}

var benchTypes = []string{"view", "view", "view", "view", "add_to_cart", "purchase"}

// writeBatch appends a JSON array of n synthetic events with unique ids.
func writeBatch(buf *bytes.Buffer, rng *mrand.Rand, batchID string, n, identities int) {
	now := time.Now().UTC()
	buf.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		b := buf.AvailableBuffer()
		b = append(b, `{"id":"`...)
		b = append(b, batchID...)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","alias":"customer:bench-`...)
		b = strconv.AppendInt(b, int64(rng.IntN(identities)), 10)
		b = append(b, `","type":"`...)
		b = append(b, benchTypes[rng.IntN(len(benchTypes))]...)
		b = append(b, `","item":"SKU-`...)
		b = strconv.AppendInt(b, int64(1+rng.IntN(2000)), 10)
		b = append(b, `","quantity":1,"price":`...)
		b = strconv.AppendFloat(b, float64(100+rng.IntN(9900))/100, 'f', 2, 64)
		b = append(b, `,"currency":"EUR","timestamp":"`...)
		b = now.Add(-time.Duration(rng.IntN(3600))*time.Second).AppendFormat(b, time.RFC3339)
		b = append(b, `","source":"web","region":"UK"}`...)
		buf.Write(b)
	}
	buf.WriteByte(']')
}

// runBenchFresh measures freshness: for an identity, read its list, buy the
// top item, and read again; the item must be gone on that very next read.
// It reports the time from the purchase being accepted to the list that
// no longer shows it.
func runBenchFresh(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	call, aliases, trials, err := parseTrials(ctx, "fresh", "purchases", args, stderr)
	if err != nil {
		return err
	}
	type list struct{ Items []struct{ Item string } }
	var lat []time.Duration
	stale := 0
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := 0; i < trials; i++ {
		a := aliases[rng.IntN(len(aliases))]
		path := "/v1/identities/" + a + "/recommendations"
		var before list
		if err := call("GET", path, nil, &before); err != nil {
			return err
		}
		if len(before.Items) == 0 {
			continue
		}
		bought := before.Items[0].Item
		ev := fmt.Sprintf(`[{"id":"fresh-%d-%d","alias":%q,"type":"purchase","item":%q}]`, time.Now().UnixNano(), i, a, bought)
		var ack map[string]int
		if err := call("POST", "/v1/events", []byte(ev), &ack); err != nil {
			return err
		}
		accepted := time.Now()
		var after list
		if err := call("GET", path, nil, &after); err != nil {
			return err
		}
		lat = append(lat, time.Since(accepted))
		for _, it := range after.Items {
			if it.Item == bought {
				stale++
				break
			}
		}
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return percentile(lat, p) }
	fmt.Fprintf(stdout, "%d purchases: the bought item was gone from the very next list in %d (stale in %d)\n", len(lat), len(lat)-stale, stale)
	fmt.Fprintf(stdout, "accepted → visible  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", q(0.5), q(0.99), q(1))
	if stale > 0 {
		return fmt.Errorf("%d lists still showed an item just bought", stale)
	}
	return nil
}

// parseTrials reads the flags of a bench that runs trials against a live
// server (bench fresh, bench withdraw): the server, a storefront key, the
// aliases to pick from and how many trials.
func parseTrials(ctx context.Context, name, what string, args []string, stderr io.Writer) (call func(method, path string, body []byte, out any) error, aliases []string, trials int, err error) {
	fs := newFlagSet("bench "+name, "bench "+name+" --url URL --key KEY --aliases FILE [--trials 1000]", stderr)
	target := fs.String("url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	key := fs.String("key", "", "a storefront key (or one above it): it posts events and consents and reads recommendations")
	aliasFile := fs.String("aliases", "", "a file of aliases to use, one a line")
	n := fs.Int("trials", 1000, "how many "+what+" (1 to 100000)")
	rest, err := fs.parse(args)
	if err != nil {
		return nil, nil, 0, err
	}
	if len(rest) > 0 {
		return nil, nil, 0, usagef("bench %s takes no arguments", name)
	}
	u, err := loopbackURL(*target)
	if err != nil {
		return nil, nil, 0, err
	}
	if *key == "" || *aliasFile == "" || *n < 1 || *n > 100_000 {
		return nil, nil, 0, usagef("--key and --aliases are required; --trials is 1 to 100000")
	}
	if aliases, err = readAliases(*aliasFile); err != nil {
		return nil, nil, 0, err
	}
	return apiCaller(ctx, u, *key), aliases, *n, nil
}

// apiCaller returns a function that calls the API at u with key and
// decodes a 200 response into out; any other status is an error.
func apiCaller(ctx context.Context, u *url.URL, key string) func(method, path string, body []byte, out any) error {
	client := &http.Client{Timeout: 10 * time.Second}
	return func(method, path string, body []byte, out any) error {
		path, query, _ := strings.Cut(path, "?")
		target := u.JoinPath(path)
		target.RawQuery = query
		req, _ := http.NewRequestWithContext(ctx, method, target.String(), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
}

// runBenchAliases prints every alias in a data dir (of the given kind), one
// a line: the identities a load test spreads its requests over.
func runBenchAliases(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench aliases", "bench aliases [--kind customer]", stderr)
	g := addGlobals(fs)
	kind := fs.String("kind", "", "only aliases of this kind (customer, anon, …)")
	if rest, err := fs.parse(args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("bench aliases takes no arguments")
	}
	db, err := openStore(g, false)
	if err != nil {
		return err
	}
	defer db.Close()
	w := bufio.NewWriter(stdout)
	err = db.ScanAliases(ctx, func(a string) error {
		if *kind == "" || strings.HasPrefix(a, *kind+":") {
			_, err := fmt.Fprintln(w, a)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return w.Flush()
}

// runBenchRecommend loads GET /v1/identities/{alias}/recommendations with
// requests spread uniformly over the aliases in a file, from conc
// connections, and reports requests/s and latency percentiles.
func runBenchRecommend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench recommend", "bench recommend --url URL --key KEY --aliases FILE [flags]", stderr)
	target := fs.String("url", "http://127.0.0.1:8080", "server base URL (loopback only); several, comma-separated, spread the connections over replicas")
	key := fs.String("key", "", "a storefront (or higher) key")
	aliasFile := fs.String("aliases", "", "a file of aliases, one a line (rapport bench aliases)")
	conc := fs.Int("concurrency", 4, "connections in flight (1 to 256)")
	duration := fs.Duration("duration", 10*time.Second, "how long (at most 10m)")
	n := fs.Int("n", 10, "items per list")
	asJSON := fs.Bool("json", false, "print JSON")
	if rest, err := fs.parse(args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("bench recommend takes no arguments")
	}
	var urls []*url.URL
	for _, t := range strings.Split(*target, ",") {
		u, err := loopbackURL(strings.TrimSpace(t))
		if err != nil {
			return err
		}
		urls = append(urls, u)
	}
	switch {
	case *key == "" || *aliasFile == "":
		return usagef("--key and --aliases are required")
	case *conc < 1 || *conc > 256 || *duration <= 0 || *duration > 10*time.Minute || *n < 1 || *n > 100:
		return usagef("--concurrency 1 to 256, --duration up to 10m, --n 1 to 100")
	}
	aliases, err := readAliases(*aliasFile)
	if err != nil {
		return err
	}
	res := loadRecommend(ctx, urls, *key, aliases, *conc, *duration, *n)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	return printLoad(stdout, res, *conc)
}

// loadResult is what a recommendation load run measured.
type loadResult struct {
	Requests          int            `json:"requests"`
	Seconds           float64        `json:"seconds"`
	RequestsPerSecond float64        `json:"requests_per_second"`
	P50ms             float64        `json:"p50_ms"`
	P99ms             float64        `json:"p99_ms"`
	P999ms            float64        `json:"p999_ms"`
	MaxMs             float64        `json:"max_ms"`
	Errors            map[string]int `json:"errors,omitempty"`
}

func printLoad(w io.Writer, r loadResult, conc int) error {
	fmt.Fprintf(w, "%s requests in %.1fs over %d connections: %s requests/s\n", commas(int64(r.Requests)), r.Seconds, conc, commas(int64(r.RequestsPerSecond)))
	fmt.Fprintf(w, "latency  p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms\n", r.P50ms, r.P99ms, r.P999ms, r.MaxMs)
	if len(r.Errors) > 0 {
		return fmt.Errorf("errors: %v", r.Errors)
	}
	return nil
}

// loadRecommend sends recommendation requests spread uniformly over the
// aliases from conc connections for d.
func loadRecommend(ctx context.Context, urls []*url.URL, key string, aliases []string, conc int, d time.Duration, n int) loadResult {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	errs := map[string]int{}
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			u := urls[w%len(urls)] // connections spread evenly over the servers
			rng := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			var mine []time.Duration
			for ctx.Err() == nil {
				a := aliases[rng.IntN(len(aliases))]
				req, _ := http.NewRequestWithContext(ctx, "GET", u.JoinPath("/v1/identities", a, "recommendations").String()+"?n="+strconv.Itoa(n), nil)
				req.Header.Set("Authorization", "Bearer "+key)
				t0 := time.Now()
				resp, err := client.Do(req)
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					mu.Lock()
					errs[err.Error()]++
					mu.Unlock()
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					mu.Lock()
					errs[resp.Status]++
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	slices.Sort(lat)
	q := func(p float64) float64 { return percentile(lat, p) }
	return loadResult{Requests: len(lat), Seconds: secs, RequestsPerSecond: float64(len(lat)) / secs,
		P50ms: q(0.5), P99ms: q(0.99), P999ms: q(0.999), MaxMs: q(1), Errors: errs}
}

// percentile of sorted latencies in milliseconds (0 for none).
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[max(0, int(math.Ceil(p*float64(len(sorted))))-1)].Microseconds()) / 1000
}

// readAliases reads a file of aliases, one a line.
func readAliases(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	aliases := strings.Fields(string(raw))
	if len(aliases) == 0 {
		return nil, usagef("%s holds no aliases", path)
	}
	return aliases, nil
}
