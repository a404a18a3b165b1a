package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"rapport/engine"
	"rapport/jobs"
)

// runBenchServe builds a synthetic shop of a given size (unless --data
// already holds one), trains it, starts the server in this process on a
// loopback port and loads its recommendations endpoint.
func runBenchServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench serve", "bench serve [--items N --customers N] [--data DIR] [flags]", stderr)
	data := fs.String("data", "", "data directory to build (or reuse); default a temporary one, removed afterwards")
	items := fs.Int("items", 2000, "catalog size of the synthetic shop")
	customers := fs.Int("customers", 1500, "registered customers of the synthetic shop")
	lean := fs.Bool("lean", false, "build a lean shop (a few purchases a customer) for catalog-scale runs")
	conc := fs.Int("concurrency", 4, "connections in flight")
	duration := fs.Duration("duration", 10*time.Second, "how long to load")
	n := fs.Int("n", 10, "items per list")
	asJSON := fs.Bool("json", false, "print JSON")
	cacheBytes := fs.String("cache-bytes", "128MiB", "the server's identity cache budget (as serve --cache-bytes)")
	if rest, err := fs.parse(args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("bench serve takes no arguments")
	}
	if *items < 10 || *customers < 10 || *conc < 1 || *conc > 256 || *duration <= 0 || *duration > 10*time.Minute {
		return usagef("--items and --customers at least 10, --concurrency 1 to 256, --duration up to 10m")
	}
	budget, err := parseBytes(*cacheBytes)
	if err != nil || budget < 1 {
		return usagef("--cache-bytes %q is not a size such as 128MiB", *cacheBytes)
	}
	dir := *data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "rapport-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	quiet := io.Discard
	step := func(what string, args ...string) error {
		fmt.Fprintf(stderr, "%s…\n", what)
		if code := run(ctx, args, quiet, stderr); code != 0 {
			return fmt.Errorf("%s failed (exit %d)", what, code)
		}
		return nil
	}
	demoArgs := []string{"demo", "--data", dir, "--if-empty", "--items", strconv.Itoa(*items), "--customers", strconv.Itoa(*customers)}
	if *lean {
		demoArgs = append(demoArgs, "--lean")
	}
	if err := step("building the shop", demoArgs...); err != nil {
		return err
	}
	if err := step("training", "train", "--data", dir, "--if-none"); err != nil {
		return err
	}
	noStore := ""
	g := &globals{data: &dir, store: &noStore}
	db, err := openStore(g, false)
	if err != nil {
		return err
	}
	k, secret, err := engine.NewAPIKey(engine.RoleStorefront, "bench serve", time.Now())
	if err == nil {
		err = db.CreateKey(ctx, k)
	}
	var aliases []string
	catalog := 0
	if err == nil {
		err = db.ScanAliases(ctx, func(a string) error {
			if strings.HasPrefix(a, engine.KindCustomer+":") {
				aliases = append(aliases, a)
			}
			return nil
		})
	}
	if err == nil {
		err = db.ScanItems(ctx, func(engine.Item) error { catalog++; return nil })
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	srv := &Server{Addr: "127.0.0.1:0", DataDir: dir, Logger: slog.New(slog.DiscardHandler), Schedules: Schedules{jobs.Off, jobs.Off, jobs.Off, jobs.Off}, CacheBytes: budget}
	if err := srv.Open(); err != nil {
		return err
	}
	defer srv.Close(context.Background())
	fmt.Fprintf(stderr, "loading %d customers' recommendations for %s…\n", len(aliases), *duration)
	u, _ := url.Parse("http://" + srv.Addr)
	res := loadRecommend(ctx, []*url.URL{u}, secret, aliases, *conc, *duration, *n)
	rss := rssBytes()
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"items": *items, "customers": *customers, "load": res, "rss_bytes": rss})
	}
	fmt.Fprintf(stdout, "shop: %s items, %s customers (data in %s)\n", commas(int64(catalog)), commas(int64(len(aliases))), dir)
	if err := printLoad(stdout, res, *conc); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "process RSS (server and load generator together): %s\n", humanBytes(rss))
	return nil
}

// rssBytes reads this process's resident set size from /proc (0 if unknown).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
