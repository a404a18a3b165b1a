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
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"rapport/api"
	"rapport/engine"
	"rapport/engine/model"
	"rapport/engine/recommend"
	"rapport/features"
	"rapport/jobs"
	"rapport/store"
)

// Server is a running rapport serve: the store, the API and the listener.
// Tests start it on 127.0.0.1:0 and read Addr.
type Server struct {
	Addr     string // listen address; after Open, the bound address
	DataDir  string
	StoreURL string // redis://…: the store is in Redis, shared with other replicas
	// LeaseTTL is how long a replica's job leases last without renewal
	// (a shared store only); 0: 10 s.
	LeaseTTL     time.Duration
	MaxBodyBytes int64
	// MaxInflightBytes bounds the request bodies held at once (0: the
	// API's default).
	MaxInflightBytes int64
	Logger           *slog.Logger
	// AccessLogSample and SlowRequest shape the access log (see
	// api.Server).
	AccessLogSample float64
	SlowRequest     time.Duration
	// ModelSettings changes the training configuration (the tuned one,
	// else the defaults); nil leaves it.
	ModelSettings func(*model.RankerConfig)
	// MetricsAddr, if set, serves /metrics on a listener of its own
	// instead of the API's.
	MetricsAddr string
	// PromoteMargin is how much worse a new version may score held out
	// than the serving one and still serve.
	PromoteMargin float64
	Schedules     Schedules
	Retention     map[engine.EventType]time.Duration // time to live per event type; nil: keep everything
	Rules         *recommend.Rules                   // business rules; nil for none
	CORSOrigins   []string
	RateLimit     float64 // per key, requests per second (0: none), unless the key has its own
	// UnknownKeyRate is api.Server.UnknownKeyRate: failed authentications
	// a second per client address (0: the default; negative: no limit).
	UnknownKeyRate float64
	// BrowserRate is api.Server.BrowserRate: requests a second per client
	// address with a browser key (0: the default; negative: no limit).
	BrowserRate float64
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client address; empty: none.
	TrustedProxies []string
	// UserTokens verifies signed-in people's JWTs; nil: none are taken.
	UserTokens       *api.UserTokens
	RequireUserToken bool
	// CacheIdentities bounds the identities whose serving state and lists
	// are kept in memory (0: the service's default).
	CacheIdentities int
	// CacheBytes bounds the memory those identities' state and lists hold
	// (0: the service's default).
	CacheBytes int64
	// ConsentPolicy is the regional default for people who have not
	// decided; nil: engine.DefaultConsentPolicy.
	ConsentPolicy *engine.ConsentPolicy

	db  *store.DB
	api *api.Server
	// stopBackground ends the loops beside the API (storing experiment
	// impressions, following other replicas); background waits for them.
	stopBackground context.CancelFunc
	background     sync.WaitGroup
	jobs           *jobs.Scheduler
	http           *http.Server
	ln             net.Listener
	done           chan error
}

// Open opens the store and starts listening; it does not block.
func (s *Server) Open() error {
	opts := s.storeOptions()
	l, err := loadModel(opts)
	if err != nil {
		return err
	}
	db, err := store.Open(opts)
	if err != nil {
		return err
	}
	s.db = db
	policy := engine.DefaultConsentPolicy()
	if s.ConsentPolicy != nil {
		policy = *s.ConsentPolicy
	}
	gate := features.NewGate(policy)
	cfg, err := trainingConfig(context.Background(), db, s.ModelSettings)
	if err != nil {
		db.Close()
		return err
	}
	p := newPipeline(db, cfg, gate, s.Logger)
	p.trainer.Margin = s.PromoteMargin
	if l != nil {
		p.serving.Swap(l)
	}
	owner := replicaName()
	s.jobs = newScheduler(db, s.Logger, owner, s.LeaseTTL)
	p.retention = s.Retention
	if err := p.schedule(s.jobs, s.Schedules); err != nil {
		db.Close()
		return usagef("%v", err)
	}
	svc := &recommend.Service{Store: db, Serving: p.serving, Gate: gate, Rules: s.Rules, CacheSize: s.CacheIdentities, CacheBytes: s.CacheBytes}
	rec := &recommend.Experiments{Service: svc, Store: db, Logger: s.Logger, Load: func(ctx context.Context, id string) (*model.Loaded, error) {
		return loadVersionID(ctx, db, id)
	}}
	var bg context.Context
	bg, s.stopBackground = context.WithCancel(context.Background())
	s.background.Add(1)
	go func() { defer s.background.Done(); rec.Run(bg, time.Second) }()
	var recommender api.Recommender = rec
	p.forget = rec.Forget
	if db.Shared() {
		// Replicas: what this one changes, the others drop from memory.
		r := &replicated{Experiments: rec, name: owner, db: db, logger: s.Logger}
		msgs, _, err := db.Subscribe(bg, changesChannel)
		if err != nil {
			s.stopBackground()
			db.Close()
			return err
		}
		s.background.Add(1)
		go func() { defer s.background.Done(); r.follow(bg, msgs, p.serving) }()
		recommender, p.forget = r, r.Forget
	}
	metrics := api.NewMetrics(func() string { return p.serving.Load().VersionID() }, svc)
	s.jobs.Finished = metrics.JobFinished
	s.api = &api.Server{Events: db, Items: db, Keys: db, Health: db, Jobs: s.jobs, Models: registry{db, p}, Recommender: recommender, Experiments: rec, Dashboard: true, KeyCacheTTL: time.Second,
		People: db, Privacy: db, Orgs: db, Backups: db, Consent: p.enforcer, Metrics: metrics, MetricsElsewhere: s.MetricsAddr != "",
		ServingVersion: func() string { return p.serving.Load().VersionID() },
		Logger:         s.Logger, MaxBodyBytes: s.MaxBodyBytes, MaxInflightBytes: s.MaxInflightBytes, AccessLogSample: s.AccessLogSample, SlowRequest: s.SlowRequest, Version: version, CORSOrigins: s.CORSOrigins, RateLimit: s.RateLimit,
		UnknownKeyRate: s.UnknownKeyRate, TrustedProxies: s.TrustedProxies, BrowserRate: s.BrowserRate,
		UserTokens: s.UserTokens, RequireUserToken: s.RequireUserToken}
	s.http = &http.Server{
		Handler:           s.api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	if s.ln, err = net.Listen("tcp", s.Addr); err != nil {
		s.stopBackground()
		s.background.Wait()
		db.Close()
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	s.Addr = s.ln.Addr().String()
	s.done = make(chan error, 1)
	go func() { s.done <- s.http.Serve(s.ln) }()
	s.jobs.Start()
	return nil
}

// storeOptions are the options the server opens its store with: lean on
// memory, a memtable sized for the largest body it takes, and (on Badger)
// keeping opts.DiskReserve() bytes free.
func (s *Server) storeOptions() store.Options {
	maxBody := s.MaxBodyBytes
	if maxBody == 0 {
		maxBody = api.DefaultMaxBodyBytes
	}
	opts := store.DefaultOptions(s.DataDir).ForLargestWrite(maxBody)
	opts.Logger, opts.Lean, opts.URL = s.Logger, true, s.StoreURL
	return opts
}

// minAutoMemoryLimit is the least soft memory limit --memory-limit auto
// sets: room for the store's memtables and table builds and the request
// bodies in flight under sustained ingest, on top of a small server.
const minAutoMemoryLimit = 512 << 20

// setAutoMemoryLimit sets the Go runtime's soft memory limit to twice the
// memory it holds now (the server open, its model loaded), at least
// minAutoMemoryLimit, and returns it. Without a limit the GC lets the heap
// grow to twice what is live, and under ingest what is live is mostly
// Badger's memtables and table builds, which come and go: 16 concurrent
// maximum-size batches took the heap to twice their peak.
func setAutoMemoryLimit() int64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(sample)
	held := int64(sample[0].Value.Uint64() - sample[1].Value.Uint64())
	limit := max(minAutoMemoryLimit, 2*held)
	debug.SetMemoryLimit(limit)
	return limit
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
	l, err := servingModel(context.Background(), db)
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
	s.stopBackground()
	s.background.Wait()
	return errors.Join(err, s.db.Close())
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [flags]", stderr)
	g := addGlobals(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	maxBody := fs.Int64("max-body", api.DefaultMaxBodyBytes, "largest request body in bytes")
	maxInflight := fs.String("max-inflight-bytes", "16MiB", "request bodies all requests together may hold at once; past it a request gets 503 with Retry-After")
	accessLog := fs.Bool("access-log", false, "log every request (same as --access-log-sample 1)")
	accessSample := fs.Float64("access-log-sample", 0, "share of successful requests to log, 0 to 1 (server errors and slow requests are always logged, client errors up to 10 lines a second)")
	slowRequest := fs.Duration("slow-request", api.DefaultSlowRequest, "requests slower than this are always logged")
	drain := fs.Duration("shutdown-timeout", 15*time.Second, "how long shutdown waits for in-flight requests and jobs")
	schedules := addScheduleFlags(fs)
	retention := fs.String("retention", "", "time to live per event type, e.g. view=90d,add_to_cart=180d (d, h, m or s); types not named are kept")
	rulesFile := fs.String("rules", "", "business rules file (JSON: boosts, pins, diversity; see README)")
	cacheIDs := fs.Int("cache-identities", 100_000, "identities whose serving state and lists stay in memory")
	cacheBytes := fs.String("cache-bytes", "128MiB", "memory those identities' state and lists may hold, as estimated (e.g. 32MiB for a million people visited evenly)")
	cors := fs.String("cors-origins", "", "comma-separated browser origins allowed to call the API (https://shop.example), or *")
	policyFile := addPolicyFlag(fs)
	jwtSecret := fs.String("jwt-secret-file", "", "file holding the identity provider's HS256 shared secret, for end-user tokens")
	jwks := fs.String("jwt-jwks", "", "the identity provider's RS256 public keys (JWKS) for end-user tokens: a file (read again every 10 s) or an https:// URL (every 15 min; http:// only on this machine); both also at once on an unknown kid, at most every 10 s")
	jwtIssuer := fs.String("jwt-issuer", "", "required iss of end-user tokens")
	jwtAudience := fs.String("jwt-audience", "", "required aud of end-user tokens")
	jwtMaxLifetime := fs.Duration("jwt-max-lifetime", api.DefaultMaxTokenLifetime, "longest an end-user token may live (exp - iat, or exp - now without iat); longer ones are refused")
	requireToken := fs.Bool("require-user-token", false, "storefront and portal calls about a person must carry that person's token in X-User-Token")
	rateLimit := fs.Float64("rate-limit", 0, "requests per second each API key may make (bursts of twice that), unless the key has its own --rate; 0: no limit")
	unknownKeyRate := fs.Float64("unknown-key-rate", api.DefaultUnknownKeyRate, "failed authentications (unknown or revoked API keys) a second each client address may make, bursts of four times that; over it every call from the address is 429 until it refills; 0: no limit")
	browserRate := fs.Float64("browser-rate", api.DefaultBrowserRate, "requests a second each client address may make with a browser key (unless the key has its own --rate), bursts of four times that; 0: no limit")
	trustedProxies := fs.String("trusted-proxies", "", "comma-separated addresses or CIDR blocks of reverse proxies whose X-Forwarded-For / X-Real-IP name the client address (for --unknown-key-rate); empty: none, the connection's address counts")
	memLimit := fs.String("memory-limit", "auto", "soft limit on the Go runtime's memory (e.g. 1GiB, 900MiB): the GC works harder near it rather than let the heap double; auto: twice what the server holds once open, at least 512MiB (GOMEMLIMIT, when set, replaces auto); off: none")
	leaseTTL := fs.Duration("lease-ttl", 10*time.Second, "with --store redis://…: how long a replica's job leases last unrenewed (a dead leader's jobs move to another replica within about this long)")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics (Prometheus) on this separate address instead of the API's (e.g. 127.0.0.1:9100)")
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
	inflight, err := parseBytes(*maxInflight)
	if err != nil || inflight < *maxBody {
		return usagef("--max-inflight-bytes %q must be a size such as 64MiB, at least --max-body (%d bytes)", *maxInflight, *maxBody)
	}
	if !(*accessSample >= 0 && *accessSample <= 1) {
		return usagef("--access-log-sample must be between 0 and 1")
	}
	if *accessLog {
		*accessSample = 1
	}
	if *slowRequest <= 0 {
		return usagef("--slow-request must be positive")
	}
	logger, err := g.logger(stderr)
	if err != nil {
		return usagef("%v", err)
	}
	overrides, err := mf.overrides()
	if err != nil {
		return err
	}
	if _, err := g.storeOptions(); err != nil {
		return err
	}
	if *leaseTTL < 300*time.Millisecond || *leaseTTL > 10*time.Minute {
		return usagef("--lease-ttl must be from 300ms to 10m")
	}
	if !(*rateLimit >= 0 && *rateLimit <= engine.MaxRate) {
		return usagef("--rate-limit must be between 0 and %d", engine.MaxRate)
	}
	if !(*unknownKeyRate >= 0 && *unknownKeyRate <= engine.MaxRate) {
		return usagef("--unknown-key-rate must be between 0 and %d", engine.MaxRate)
	}
	if !(*browserRate >= 0 && *browserRate <= engine.MaxRate) {
		return usagef("--browser-rate must be between 0 and %d", engine.MaxRate)
	}
	if *cacheIDs < 1 {
		return usagef("--cache-identities must be positive")
	}
	cacheBudget, err := parseBytes(*cacheBytes)
	if err != nil || cacheBudget < 1 {
		return usagef("--cache-bytes %q is not a size such as 256MiB", *cacheBytes)
	}
	autoLimit := *memLimit == "auto" && os.Getenv("GOMEMLIMIT") == ""
	if *memLimit != "auto" && *memLimit != "off" {
		n, err := parseBytes(*memLimit)
		if err != nil || n <= 0 {
			return usagef("--memory-limit %q is not a size such as 1GiB or 900MiB", *memLimit)
		}
		debug.SetMemoryLimit(n)
	}
	s := &Server{Addr: *addr, DataDir: *g.data, StoreURL: *g.store, LeaseTTL: *leaseTTL, MaxBodyBytes: *maxBody, MaxInflightBytes: inflight, AccessLogSample: *accessSample, SlowRequest: *slowRequest, Logger: logger, ModelSettings: overrides, Schedules: schedules(), CacheIdentities: *cacheIDs, CacheBytes: cacheBudget, RateLimit: *rateLimit, PromoteMargin: *mf.margin, MetricsAddr: *metricsAddr}
	if s.UserTokens, err = userTokens(ctx, *jwtSecret, *jwks, *jwtIssuer, *jwtAudience, *jwtMaxLifetime, logger); err != nil {
		return err
	}
	if *requireToken && s.UserTokens == nil {
		return usagef("--require-user-token needs --jwt-secret-file or --jwt-jwks")
	}
	s.RequireUserToken = *requireToken
	if s.UnknownKeyRate = *unknownKeyRate; s.UnknownKeyRate == 0 {
		s.UnknownKeyRate = -1 // no limit
	}
	if s.BrowserRate = *browserRate; s.BrowserRate == 0 {
		s.BrowserRate = -1 // no limit
	}
	for _, p := range strings.Split(*trustedProxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
				return usagef("--trusted-proxies: %q is not an address or a CIDR block such as 10.0.0.0/8", p)
			}
			s.TrustedProxies = append(s.TrustedProxies, p)
		}
	}
	if s.Retention, err = engine.ParseRetention(*retention); err != nil {
		return usagef("--retention: %v", err)
	}
	for _, o := range strings.Split(*cors, ",") {
		if o = strings.TrimSpace(o); o != "" {
			if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
				return usagef("--cors-origins: %q is not an origin such as https://shop.example", o)
			}
			s.CORSOrigins = append(s.CORSOrigins, strings.TrimSuffix(o, "/"))
		}
	}
	if *policyFile != "" {
		policy, err := loadPolicy(*policyFile)
		if err != nil {
			return err
		}
		s.ConsentPolicy = &policy
	}
	if *rulesFile != "" {
		if s.Rules, err = recommend.LoadRules(*rulesFile); err != nil {
			return usagef("--rules: %v", err)
		}
	}
	if err := s.Open(); err != nil {
		return err
	}
	if autoLimit {
		logger.Info("memory limit", "bytes", setAutoMemoryLimit())
	}
	if *metricsAddr != "" {
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			s.Close(context.Background())
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", s.api.Metrics.Handler())
		go http.Serve(ln, mux)
		defer ln.Close()
		logger.Info("metrics", "addr", ln.Addr().String())
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
	logger.Info("listening", "addr", s.Addr, "store", g.where(), "version", version, "disk_reserve_mib", s.storeOptions().DiskReserve()>>20)
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
