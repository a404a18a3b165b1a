package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"strings"
	"time"

	"rapport/api"
	"rapport/engine/model"
	"rapport/engine/recommend"
	"rapport/jobs"
	"rapport/store"
)

// Server is a running rapport serve: the store, the API and the listener.
// Tests start it on 127.0.0.1:0 and read Addr.
type Server struct {
	Addr          string // listen address; after Open, the bound address
	DataDir       string
	MaxBodyBytes  int64
	Logger        *slog.Logger
	Model         model.RankerConfig
	MergeSchedule string // cron spec or "off"
	TrainSchedule string
	Rules         *recommend.Rules // business rules; nil for none
	CORSOrigins   []string
	// CacheIdentities bounds the identities whose serving state and lists
	// are kept in memory (0: the service's default).
	CacheIdentities int
	// CacheBytes bounds the memory those identities' state and lists hold
	// (0: the service's default).
	CacheBytes int64

	db   *store.DB
	api  *api.Server
	jobs *jobs.Scheduler
	http *http.Server
	ln   net.Listener
	done chan error
}

// Open opens the store and starts listening; it does not block.
func (s *Server) Open() error {
	opts := store.DefaultOptions(s.DataDir)
	opts.Logger, opts.Lean = s.Logger, true
	l, err := loadModel(opts)
	if err != nil {
		return err
	}
	db, err := store.Open(opts)
	if err != nil {
		return err
	}
	s.db = db
	p := newPipeline(db, s.Model, s.Logger)
	if l != nil {
		p.serving.Swap(l)
	}
	s.jobs = jobs.New(db, s.Logger)
	if err := p.schedule(s.jobs, s.MergeSchedule, s.TrainSchedule); err != nil {
		db.Close()
		return usagef("%v", err)
	}
	rec := &recommend.Service{Store: db, Serving: p.serving, Rules: s.Rules, CacheSize: s.CacheIdentities, CacheBytes: s.CacheBytes}
	s.api = &api.Server{Events: db, Items: db, Keys: db, Health: db, Jobs: s.jobs, Models: db, Recommender: rec,
		ServingVersion: func() string { return p.serving.Load().VersionID() },
		Logger:         s.Logger, MaxBodyBytes: s.MaxBodyBytes, Version: version, CORSOrigins: s.CORSOrigins}
	s.http = &http.Server{
		Handler:           s.api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	if s.ln, err = net.Listen("tcp", s.Addr); err != nil {
		db.Close()
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	s.Addr = s.ln.Addr().String()
	s.done = make(chan error, 1)
	go func() { s.done <- s.http.Serve(s.ln) }()
	s.jobs.Start()
	return nil
}

// loadModel loads the newest promoted model version (nil if none) in a
// store opened only for that. Badger reads the artefact through a memory
// map of its value log, and the pages read stay resident for as long as
// the map does: hundreds of MB at catalog scale, read once. Closing the
// store unmaps them, so the server's RSS is what serving uses.
func loadModel(opts store.Options) (*model.Loaded, error) {
	db, err := store.Open(opts)
	if err != nil {
		return nil, err
	}
	l, err := newestPromoted(context.Background(), db)
	return l, errors.Join(err, db.Close())
}

// Close stops accepting requests, lets in-flight ones finish (up to the
// context's deadline), then closes the store.
func (s *Server) Close(ctx context.Context) error {
	s.api.Drain()
	err := s.jobs.Stop(ctx) // cancels running jobs and waits for them
	err = errors.Join(err, s.http.Shutdown(ctx))
	if err != nil {
		s.http.Close()
	}
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(err, s.db.Close())
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [flags]", stderr)
	g := addGlobals(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	maxBody := fs.Int64("max-body", api.DefaultMaxBodyBytes, "largest request body in bytes")
	drain := fs.Duration("shutdown-timeout", 15*time.Second, "how long shutdown waits for in-flight requests and jobs")
	mergeSpec, trainSpec := addScheduleFlags(fs)
	rulesFile := fs.String("rules", "", "business rules file (JSON: boosts, pins, diversity; see README)")
	cacheIDs := fs.Int("cache-identities", 100_000, "identities whose serving state and lists stay in memory")
	cacheBytes := fs.String("cache-bytes", "32MiB", "memory those identities' state and lists may hold, as estimated (e.g. 128MiB)")
	cors := fs.String("cors-origins", "", "comma-separated browser origins allowed to call the API (https://shop.example), or *")
	memLimit := fs.String("memory-limit", "", "soft limit on the Go runtime's memory (e.g. 1GiB, 900MiB): the GC works harder near it rather than let the heap double; empty: Go's default (GOMEMLIMIT, else none)")
	pprofAddr := fs.String("pprof", "", "serve Go's pprof profiles on this separate address (e.g. 127.0.0.1:6060); off when empty")
	mf := addModelFlags(fs)
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("serve takes no arguments, got %q", rest)
	}
	if *maxBody < 1024 {
		return usagef("--max-body must be at least 1024 bytes")
	}
	logger, err := g.logger(stderr)
	if err != nil {
		return usagef("%v", err)
	}
	cfg, err := mf.config()
	if err != nil {
		return err
	}
	if *cacheIDs < 1 {
		return usagef("--cache-identities must be positive")
	}
	cacheBudget, err := parseBytes(*cacheBytes)
	if err != nil || cacheBudget < 1 {
		return usagef("--cache-bytes %q is not a size such as 256MiB", *cacheBytes)
	}
	if *memLimit != "" {
		n, err := parseBytes(*memLimit)
		if err != nil || n <= 0 {
			return usagef("--memory-limit %q is not a size such as 1GiB or 900MiB", *memLimit)
		}
		debug.SetMemoryLimit(n)
	}
	s := &Server{Addr: *addr, DataDir: *g.data, MaxBodyBytes: *maxBody, Logger: logger, Model: cfg, MergeSchedule: *mergeSpec, TrainSchedule: *trainSpec, CacheIdentities: *cacheIDs, CacheBytes: cacheBudget}
	for _, o := range strings.Split(*cors, ",") {
		if o = strings.TrimSpace(o); o != "" {
			if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
				return usagef("--cors-origins: %q is not an origin such as https://shop.example", o)
			}
			s.CORSOrigins = append(s.CORSOrigins, strings.TrimSuffix(o, "/"))
		}
	}
	if *rulesFile != "" {
		if s.Rules, err = recommend.LoadRules(*rulesFile); err != nil {
			return usagef("--rules: %v", err)
		}
	}
	if err := s.Open(); err != nil {
		return err
	}
	if *pprofAddr != "" {
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			s.Close(context.Background())
			return fmt.Errorf("--pprof: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go http.Serve(ln, mux)
		defer ln.Close()
		logger.Info("pprof", "addr", ln.Addr().String())
	}
	logger.Info("listening", "addr", s.Addr, "data", *g.data, "version", version)
	fmt.Fprintf(stdout, "rapport: listening on http://%s\n", s.Addr)
	select {
	case <-ctx.Done():
	case err := <-s.done:
		s.done <- err
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	return s.Close(sctx)
}
