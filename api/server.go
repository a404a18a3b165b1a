// Package api serves Rapport's HTTP API with Gin: routes, authentication by
// API key, request parsing, the error-to-status table and the OpenAPI
// document. Handlers parse, call a small interface declared here, and render.
package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

// EventStore stores and lists events.
type EventStore interface {
	AppendEvents(ctx context.Context, events []engine.Event) (engine.IngestResult, error)
	Events(ctx context.Context, id engine.IdentityID, cursor string, limit int) ([]engine.Event, string, error)
	ResolveAlias(ctx context.Context, a engine.Alias) (engine.IdentityID, error)
}

// ItemStore stores and reads the catalog.
type ItemStore interface {
	PutItems(ctx context.Context, items []engine.Item) error
	Item(ctx context.Context, id string) (engine.Item, error)
}

// KeyStore stores API keys.
type KeyStore interface {
	CreateKey(ctx context.Context, k engine.APIKey) error
	Keys(ctx context.Context) ([]engine.APIKey, error)
	RevokeKey(ctx context.Context, id string, now time.Time) (engine.APIKey, error)
	KeyByHash(ctx context.Context, h engine.KeyHash) (engine.APIKey, error)
}

// Jobs lists and starts scheduled jobs.
type Jobs interface {
	List(ctx context.Context, recent int) ([]engine.JobStatus, error)
	Trigger(name string) (engine.JobRun, error)
}

// Models lists model versions.
type Models interface {
	Versions(ctx context.Context) ([]engine.ModelVersion, error)
	// Promote makes a version serve now (promoting a candidate, or going
	// back to an earlier version).
	Promote(ctx context.Context, id string) (engine.ModelVersion, error)
}

// Backups writes a consistent snapshot of the store.
type Backups interface {
	Backup(ctx context.Context, w io.Writer) (uint64, error)
}

// Pinger reports whether a dependency can serve.
type Pinger interface {
	Ping(ctx context.Context) error
}

// DefaultMaxBodyBytes is the default request body limit: a full batch
// (MaxBatch records) of events of up to about 400 bytes each. The server
// sizes its store for the largest body it accepts (store.ForLargestWrite),
// and that size is most of what it holds under writes.
const DefaultMaxBodyBytes = 4 << 20

// Server is the HTTP API. Set the exported fields, then call Handler.
type Server struct {
	Events      EventStore
	Items       ItemStore
	Keys        KeyStore
	Health      Pinger
	Jobs        Jobs
	Models      Models
	Recommender Recommender
	People      People
	Consent     Consent
	Privacy     Privacy
	Orgs        Orgs
	Backups     Backups
	// Dashboard serves the data team's dashboard at /ui.
	Dashboard bool
	// Experiments, if set, serves the experiment routes and attributes
	// feedback events.
	Experiments Experiments
	// Metrics, if set, counts requests and events, and is served at
	// /metrics unless MetricsElsewhere (then the caller serves
	// Metrics.Handler on a listener of its own).
	Metrics          *Metrics
	MetricsElsewhere bool
	// ServingVersion names the model version serving now ("" if none).
	ServingVersion func() string
	// Logger receives the access log and errors; Handler wraps it so that
	// it never writes an alias or e-mail address (engine.RedactHandler).
	Logger *slog.Logger
	// AccessLogSample is the share of requests answered below 400 in less
	// than SlowRequest that the access log records: 0 (the default) none,
	// 1 all. 5xx and slow requests are always logged, 4xx up to ten lines
	// a second.
	AccessLogSample float64
	// SlowRequest is the time past which a request is always logged;
	// DefaultSlowRequest if zero.
	SlowRequest time.Duration
	// MaxBodyBytes limits every request body; DefaultMaxBodyBytes if zero.
	MaxBodyBytes int64
	// MaxInflightBytes bounds the request bodies all requests hold at
	// once; past it a request is answered 503 with Retry-After.
	// DefaultMaxInflightBytes if zero; never below MaxBodyBytes.
	MaxInflightBytes int64
	// Version is reported by /healthz and the OpenAPI document.
	Version string
	// CORSOrigins lists the browser origins allowed to call the API
	// ("*" for any); empty: no cross-origin access.
	CORSOrigins []string
	// KeyCacheTTL is how long an authenticated key is trusted without
	// reading it again (0: read it on every request); a key revoked on
	// another replica keeps working here for at most this long.
	KeyCacheTTL time.Duration
	// RateLimit is every key's rate limit in requests per second, unless
	// the key has its own; 0: none.
	RateLimit float64
	// UnknownKeyRate is how many failed authentications (unknown or
	// revoked API keys) a second each client address may make, bursts of
	// four times that; over it, every call from the address is 429 until
	// the bucket refills. 0: DefaultUnknownKeyRate; negative: no limit.
	UnknownKeyRate float64
	// TrustedProxies lists the addresses or CIDR blocks of reverse proxies
	// whose X-Forwarded-For / X-Real-IP name the client address; empty:
	// none, the client address is the connection's, whatever the headers say.
	TrustedProxies []string
	// BrowserRate is the rate limit of a browser key per client address,
	// in requests per second, unless the key has its own: 0 for
	// DefaultBrowserRate, below 0 for none.
	BrowserRate float64
	// UserTokens verifies signed-in people's tokens; nil: none are taken.
	UserTokens *UserTokens
	// RequireUserToken makes storefront and portal calls about a person
	// carry that person's token.
	RequireUserToken bool

	draining     atomic.Bool
	limits       limiters // per API key
	failures     limiters // failed authentications per client address
	keys         keyCache
	clientErrors lineBudget
	inflight     byteBudget
}

// DefaultSlowRequest is the default SlowRequest.
const DefaultSlowRequest = time.Second

// Drain makes /readyz answer 503 so load balancers stop sending traffic
// before shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

// Handler builds the Gin engine with every route in the route table.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	s.Logger = slog.New(engine.RedactHandler(s.Logger.Handler(), nil))
	if s.SlowRequest == 0 {
		s.SlowRequest = DefaultSlowRequest
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.MaxInflightBytes == 0 {
		s.MaxInflightBytes = DefaultMaxInflightBytes
	}
	s.MaxInflightBytes = max(s.MaxInflightBytes, s.MaxBodyBytes)
	s.keys.ttl = s.KeyCacheTTL
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.ContextWithFallback = true
	// Gin trusts every proxy unless told otherwise, so that anyone could
	// pick their client address with X-Forwarded-For.
	if err := g.SetTrustedProxies(s.TrustedProxies); err != nil {
		s.Logger.Error("trusted proxies: trusting none", "err", err)
		_ = g.SetTrustedProxies(nil)
	}
	g.Use(s.requestID, s.logRequests, gin.CustomRecovery(s.recovered))
	if cors := s.cors(); cors != nil {
		g.Use(cors)
	}
	g.Use(s.limitBody)
	for _, rt := range s.routes() {
		handlers := []gin.HandlerFunc{}
		if rt.roles != nil {
			handlers = append(handlers, s.authorize(rt))
		}
		g.Handle(rt.method, rt.path, append(handlers, rt.handler)...)
	}
	if s.Metrics != nil && !s.MetricsElsewhere {
		g.GET("/metrics", gin.WrapH(s.Metrics.Handler()))
	}
	if s.Dashboard {
		s.dashboard(g)
	}
	g.NoRoute(func(c *gin.Context) {
		s.fail(c, engine.Errorf(engine.CodeNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
	})
	return g
}

// route is one row of the route table: the single source for routing,
// authorization and the OpenAPI document.
type route struct {
	method  string
	path    string        // Gin syntax: /v1/items/:item
	roles   []engine.Role // nil: no key needed
	summary string
	handler gin.HandlerFunc
	doc     opDoc
}

func (s *Server) routes() []route {
	// browser keys are publishable: checkUser keeps them to anonymous
	// people and to the person whose token they carry.
	all := []engine.Role{engine.RoleBrowser, engine.RoleIngest, engine.RoleStorefront, engine.RolePortal, engine.RoleData, engine.RoleAdmin}
	readers := []engine.Role{engine.RoleBrowser, engine.RoleStorefront, engine.RolePortal, engine.RoleData, engine.RoleAdmin}
	feeders := []engine.Role{engine.RoleIngest, engine.RoleData, engine.RoleAdmin}
	data := []engine.Role{engine.RoleData, engine.RoleAdmin}
	admin := []engine.Role{engine.RoleAdmin}
	portalAndUp := []engine.Role{engine.RoleBrowser, engine.RolePortal, engine.RoleData, engine.RoleAdmin}
	// privacy requests come from the person (through a browser key with
	// their token, or the storefront's backend), or from the privacy officer.
	privacy := []engine.Role{engine.RoleBrowser, engine.RoleStorefront, engine.RoleData, engine.RoleAdmin}
	return []route{
		{"GET", "/healthz", nil, "Liveness: the process is up.", s.healthz, opDoc{response: "Health"}},
		{"GET", "/readyz", nil, "Readiness: the store answers, its data directory can be written (503 with the reason if not, and whether a restart is needed), and the server is not draining.", s.readyz, opDoc{response: "Health"}},
		{"GET", "/openapi.json", nil, "This OpenAPI 3 document.", s.openAPI, opDoc{}},
		{"POST", "/v1/events", all, "Ingest a batch of up to 10,000 events (JSON array or NDJSON); all or nothing.", s.postEvents, opDoc{request: "EventBatch", response: "IngestResult"}},
		{"GET", "/v1/identities/:alias/events", data, "List an identity's events, newest first.", s.listEvents, opDoc{query: []param{{"limit", "integer", "page size, 1 to 1000 (default 100)"}, {"cursor", "string", "next_cursor from the previous page"}}, response: "EventPage"}},
		{"GET", "/v1/identities/:alias", readers, "A person: stage, region, aliases, the consent in force per purpose, and how much is held.", s.getIdentity, opDoc{response: "IdentityDetails"}},
		{"POST", "/v1/identities/:alias/links", all, "Link another alias to this person; an alias with its own history merges it in at once (409 on a second customer or email alias).", s.postLink, opDoc{request: "LinkRequest", response: "LinkResult"}},
		{"GET", "/v1/identities/:alias/links", data, "The link history of a person: every link, merge and unlink of its aliases.", s.listLinks, opDoc{response: "LinkList"}},
		{"DELETE", "/v1/identities/:alias/links/:other", data, "Undo a link exactly: the other alias leaves with the history that arrived under it.", s.deleteLink, opDoc{response: "UnlinkResult"}},
		{"GET", "/v1/identities/:alias/export", privacy, "Everything held about a person as one JSON document: aliases, consents with history, links, events, social signals, feature vector with provenance.", s.exportIdentity, opDoc{response: "Export"}},
		{"DELETE", "/v1/identities/:alias", privacy, "Erase a person: 202 with a receipt; their aliases stop resolving at once and the erasure job removes every layer.", s.deleteIdentity, opDoc{response: "Erasure"}},
		{"GET", "/v1/erasures/:id", privacy, "An erasure receipt: status and, per layer, what was held and what was removed.", s.getErasure, opDoc{response: "Erasure"}},
		{"PUT", "/v1/identities/:alias/preferences", privacy, "Set a person's preferences (the whole document): favourite and excluded categories and brands, sizes, communication channels. Exclusions are hard filters, favourites are boosted.", s.putPreferences, opDoc{request: "Preferences", response: "Preferences"}},
		{"GET", "/v1/identities/:alias/preferences", readers, "A person's preferences (empty lists when they set none).", s.getPreferences, opDoc{response: "Preferences"}},
		{"PUT", "/v1/identities/:alias/consents/:purpose", all, "Record a consent decision (personalization, social_signals, cross_device, analytics); a withdrawal takes effect before the response.", s.putConsent, opDoc{request: "ConsentRequest", response: "ConsentResult"}},
		{"GET", "/v1/identities/:alias/consents", readers, "The consent in force per purpose, and every decision on record.", s.listConsents, opDoc{response: "ConsentList"}},
		{"PUT", "/v1/items", feeders, "Upsert a batch of up to 10,000 catalog items (JSON array or NDJSON); all or nothing.", s.putItems, opDoc{request: "ItemBatch", response: "PutItemsResult"}},
		{"GET", "/v1/items/:item", readers, "Read one catalog item.", s.getItem, opDoc{response: "Item"}},
		{"GET", "/v1/identities/:alias/recommendations", readers, "Ranked, filtered, explained recommendations for a person, known or anonymous.", s.recommendations, opDoc{query: recommendDoc, response: "Recommendations"}},
		{"GET", "/v1/identities/:alias/recommendations/:rid/explain", readers, "The full breakdown of a list served recently: each item's parts, boost and signals, each signal's source and consent.", s.explain, opDoc{response: "Explanation"}},
		{"GET", "/v1/identities/:alias/buy-again", readers, "Items this person is likely to reorder now, with usual quantity and due date.", s.buyAgain, opDoc{query: []param{{"n", "integer", "1 to 100 (default 10)"}}, response: "BuyAgain"}},
		{"GET", "/v1/items/:item/similar", readers, "Items most often bought together with this one.", s.similar, opDoc{query: []param{{"n", "integer", "1 to 100 (default 10)"}, {"include_unavailable", "boolean", "default false"}, {"include", "string", "item: embed catalog records"}}, response: "List"}},
		{"GET", "/v1/popular", readers, "What is trending, in a region and category.", s.popular, opDoc{query: []param{{"n", "integer", "1 to 100 (default 10)"}, {"region", "string", ""}, {"category", "string", ""}, {"include", "string", "item: embed catalog records"}}, response: "List"}},
		{"PUT", "/v1/orgs/:org", data, "Create or rename an organisation (201 when created).", s.putOrg, opDoc{request: "OrgRequest", response: "Org"}},
		{"GET", "/v1/orgs/:org", portalAndUp, "An organisation and its members with their roles; a key scoped to another organisation gets 404.", s.getOrg, opDoc{response: "Org"}},
		{"GET", "/v1/orgs/:org/preferences", portalAndUp, "An organisation's prefilled buying preferences from all its members' orders: per SKU the usual quantity, cadence, next order date and whether it is due; preferred categories and brands; price tier.", s.orgPrefill, opDoc{query: []param{{"n", "integer", "1 to 100 (default 20)"}}, response: "Prefill"}},
		{"GET", "/v1/identities/:alias/preferences/prefill", readers, "A buyer's prefilled order form: their own usual orders blended with their organisation's, explicit preferences first; each entry with confidence and source.", s.prefill, opDoc{query: []param{{"n", "integer", "1 to 100 (default 20)"}, {"org", "string", "the organisation to blend in, of which the buyer is a member (a key scoped to an organisation always uses its own; without either, none)"}}, response: "Prefill"}},
		{"PUT", "/v1/orgs/:org/members/:alias", data, "Add a person to an organisation with a role (admin, buyer, approver, viewer), or change it.", s.putMember, opDoc{request: "MemberRequest", response: "Member"}},
		{"DELETE", "/v1/orgs/:org/members/:alias", data, "Remove a person from an organisation.", s.deleteMember, opDoc{response: "MemberRemoved"}},
		{"GET", "/v1/backup", admin, "A consistent snapshot of the whole store, streamed while serving (rapport restore loads it).", s.backup, opDoc{}},
		{"POST", "/v1/keys", admin, "Create an API key; the secret is in this response only.", s.createKey, opDoc{request: "KeyRequest", response: "CreatedKey"}},
		{"GET", "/v1/keys", admin, "List API keys (never their secrets).", s.listKeys, opDoc{response: "KeyList"}},
		{"DELETE", "/v1/keys/:id", admin, "Revoke an API key at once.", s.revokeKey, opDoc{response: "Key"}},
		{"GET", "/v1/jobs", data, "List scheduled jobs with their next run and recent runs.", s.listJobs, opDoc{query: []param{{"runs", "integer", "recent runs per job, 0 to 100 (default 10)"}}, response: "JobList"}},
		{"POST", "/v1/jobs/:name/runs", data, "Start a run of a job now (merge or train); 409 while one is running.", s.startJob, opDoc{response: "JobRun"}},
		{"GET", "/v1/models", data, "List model versions, newest first, and which one serves.", s.listModels, opDoc{response: "ModelList"}},
		{"POST", "/v1/models/:version/promote", data, "Make a version serve now: a candidate the guardrail held back, or an earlier version (rollback).", s.promoteModel, opDoc{response: "ModelVersion"}},
		{"PUT", "/v1/experiments/:name", data, "Create or change an A/B experiment: variants (a model version, blend settings, or neither: the control) with traffic shares, an optional placement, start and stop. 409 when it overlaps another or changes the variants of a started one.", s.putExperiment, opDoc{request: "ExperimentRequest", response: "ExperimentReport"}},
		{"GET", "/v1/experiments/:name", data, "An experiment's report: per variant impressions, click-through and conversion rates with 95% intervals, and the difference from the control with its interval.", s.getExperiment, opDoc{response: "ExperimentReport"}},
		{"GET", "/v1/experiments", data, "List experiments and whether each is running.", s.listExperiments, opDoc{response: "ExperimentList"}},
	}
}

// RouteRoles returns, for documentation and tests, every /v1 route as
// "METHOD /path" with the roles that may call it.
func (s *Server) RouteRoles() map[string][]engine.Role {
	out := make(map[string][]engine.Role)
	for _, rt := range s.routes() {
		if rt.roles != nil {
			out[rt.method+" "+openAPIPath(rt.path)] = rt.roles
		}
	}
	return out
}

func (s *Server) healthz(c *gin.Context) {
	c.PureJSON(http.StatusOK, gin.H{"status": "ok", "version": s.Version})
}

func (s *Server) readyz(c *gin.Context) {
	if s.draining.Load() {
		s.fail(c, engine.Errorf(engine.CodeUnavailable, "shutting down"))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.Health.Ping(ctx); err != nil {
		s.Logger.Warn("not ready", "err", err)
		reason := "store is not ready"
		if code := engine.ErrorCode(err); code != engine.CodeInternal {
			reason += ": " + engine.ErrorMessage(err) // the data directory's fault, and whether a restart is needed
		}
		s.fail(c, engine.Errorf(engine.CodeUnavailable, "%s", reason))
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"status": "ready", "version": s.Version})
}

// pathAlias parses the :alias path parameter.
func pathAlias(c *gin.Context) (engine.Alias, error) {
	a, err := engine.ParseAlias(strings.TrimSpace(c.Param("alias")))
	if err != nil {
		return engine.Alias{}, &engine.Error{Code: engine.CodeInvalid, Message: "alias in the path " + err.Error(),
			Details: []engine.FieldError{{Index: -1, Field: "alias", Reason: err.Error()}}}
	}
	return a, nil
}
