package api

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

// Keys of values kept in the gin.Context during a request.
const (
	ctxRequestID = "rapport.request_id"
	ctxKey       = "rapport.key"
	ctxError     = "rapport.error"
	ctxUser      = "rapport.user"   // the alias a verified user token names
	ctxClaims    = "rapport.claims" // the UserClaims of a verified user token
)

// requestID takes a well-formed X-Request-ID from the caller or makes one,
// and echoes it on every response.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !validRequestID(id) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set(ctxRequestID, id)
	c.Header("X-Request-ID", id)
	c.Next()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			return false
		}
	}
	return true
}

// logRequests writes the access log: a line for every 5xx (error) and every
// request slower than SlowRequest (warn), 4xx lines (warn) up to
// maxClientErrorLines a second, and of the rest the share AccessLogSample
// (info). A flood of requests cannot fill the disk with lines unless asked
// to. It never logs headers, so secrets in Authorization stay out of the
// logs, and the Logger it writes to redacts aliases and addresses (see
// Handler), so the reason of a 404 about a person does not name them.
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	took := time.Since(start)
	if s.Metrics != nil {
		s.Metrics.observe(c, start)
	}
	status := c.Writer.Status()
	level := slog.LevelInfo
	var suppressed int64
	switch {
	case status >= 500:
		level = slog.LevelError
	case took >= s.SlowRequest:
		level = slog.LevelWarn
	case status >= 400:
		level = slog.LevelWarn
		var ok bool
		if ok, suppressed = s.clientErrors.allow(start); !ok {
			return
		}
	case s.AccessLogSample <= 0 || s.AccessLogSample < 1 && mrand.Float64() >= s.AccessLogSample:
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", c.GetString(ctxRequestID)),
		slog.String("method", c.Request.Method),
		slog.String("route", c.FullPath()),
		slog.Int("status", status),
		slog.Float64("ms", float64(took.Microseconds())/1000),
		slog.Int("bytes", c.Writer.Size()),
	}
	if k, ok := c.Get(ctxKey); ok {
		attrs = append(attrs, slog.String("key_id", k.(engine.APIKey).ID))
	}
	if err, ok := c.Get(ctxError); ok && status < 500 {
		attrs = append(attrs, slog.String("reason", engine.ErrorMessage(err.(error))))
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int64("client_errors_not_logged", suppressed))
	}
	s.Logger.LogAttrs(c.Request.Context(), level, "request", attrs...)
}

// maxClientErrorLines caps the 4xx lines of the access log per second.
const maxClientErrorLines = 10

// lineBudget lets through up to maxClientErrorLines lines a second and
// counts the rest, for the next line let through to report.
type lineBudget struct {
	mu         sync.Mutex
	second     int64
	n          int
	suppressed int64
}

// allow reports whether a line at now may be written and, if so, how many
// were not since the last one that was.
func (b *lineBudget) allow(now time.Time) (bool, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if sec := now.Unix(); sec != b.second {
		b.second, b.n = sec, 0
	}
	if b.n >= maxClientErrorLines {
		b.suppressed++
		return false, 0
	}
	b.n++
	n := b.suppressed
	b.suppressed = 0
	return true, n
}

func (s *Server) recovered(c *gin.Context, v any) {
	s.Logger.Error("panic serving request", "request_id", c.GetString(ctxRequestID), "route", c.FullPath(), "panic", v, "stack", string(debug.Stack()))
	s.fail(c, engine.Errorf(engine.CodeInternal, "internal error"))
}

// limitBody refuses a body over MaxBodyBytes (413) and holds every body to
// the global budget of MaxInflightBytes: a body's declared length is
// reserved before it is read, a chunked body's bytes as they are read, and
// released when the request ends. Over the budget the request gets 503
// unavailable with Retry-After, and nothing it sent is stored.
func (s *Server) limitBody(c *gin.Context) {
	n := c.Request.ContentLength
	if n > s.MaxBodyBytes {
		s.fail(c, engine.Errorf(engine.CodeTooLarge, "request body of %d bytes exceeds the limit of %d bytes", n, s.MaxBodyBytes))
		return
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, s.MaxBodyBytes)
	switch {
	case n > 0:
		if !s.inflight.reserve(n, s.MaxInflightBytes) {
			s.overBudget(c)
			return
		}
		defer s.inflight.release(n)
	case n < 0: // chunked: reserve as it arrives
		r := &budgetReader{r: body, s: s, c: c}
		defer func() { s.inflight.release(r.held) }()
		body = r
	}
	c.Request.Body = body
	c.Next()
}

// DefaultMaxInflightBytes is the default MaxInflightBytes.
const DefaultMaxInflightBytes = 16 << 20

// retryAfterBusy is the Retry-After, in seconds, of a request turned away
// for the in-flight budget.
const retryAfterBusy = "1"

func (s *Server) overBudget(c *gin.Context) {
	c.Header("Retry-After", retryAfterBusy)
	s.fail(c, errOverBudget(s.MaxInflightBytes))
}

func errOverBudget(limit int64) error {
	return engine.Errorf(engine.CodeUnavailable, "the server is busy: the request bodies it is reading already reach its limit of %d bytes in flight (--max-inflight-bytes); retry after the Retry-After seconds", limit)
}

// byteBudget counts the request bytes held now.
type byteBudget struct{ used atomic.Int64 }

// reserve takes n bytes if that keeps the total within max.
func (b *byteBudget) reserve(n, max int64) bool {
	for {
		cur := b.used.Load()
		if cur+n > max {
			return false
		}
		if b.used.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

func (b *byteBudget) release(n int64) { b.used.Add(-n) }

// budgetReader reserves a chunked body's bytes as they are read; past the
// budget its Read fails with a CodeUnavailable error (and sets Retry-After).
type budgetReader struct {
	r    io.ReadCloser
	s    *Server
	c    *gin.Context
	held int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		if !b.s.inflight.reserve(int64(n), b.s.MaxInflightBytes) {
			b.c.Header("Retry-After", retryAfterBusy)
			return 0, errOverBudget(b.s.MaxInflightBytes)
		}
		b.held += int64(n)
	}
	return n, err
}

func (b *budgetReader) Close() error { return b.r.Close() }

// authorize checks the bearer key and that its role may call rt.
func (s *Server) authorize(rt route) gin.HandlerFunc {
	allowed := make([]string, len(rt.roles))
	for i, r := range rt.roles {
		allowed[i] = string(r)
	}
	return func(c *gin.Context) {
		scheme, secret, _ := strings.Cut(c.GetHeader("Authorization"), " ")
		secret = strings.TrimSpace(secret)
		if !strings.EqualFold(scheme, "Bearer") || secret == "" {
			s.fail(c, engine.Errorf(engine.CodeUnauthorized, "missing API key: send the header Authorization: Bearer <key>"))
			return
		}
		addr := clientAddress(c)
		if s.tooManyFailures(c, addr) {
			return
		}
		k, err := s.keys.get(c.Request.Context(), s.Keys, engine.HashSecret(secret))
		switch {
		case engine.ErrorCode(err) == engine.CodeNotFound:
			s.authFailed(addr)
			s.fail(c, engine.Errorf(engine.CodeUnauthorized, "unknown API key"))
			return
		case err != nil:
			s.fail(c, err)
			return
		case !k.Active():
			s.authFailed(addr)
			s.fail(c, engine.Errorf(engine.CodeUnauthorized, "this API key was revoked"))
			return
		}
		c.Set(ctxKey, k)
		if !s.rateLimit(c, &k) {
			return
		}
		if !slices.Contains(rt.roles, k.Role) {
			s.fail(c, engine.Errorf(engine.CodeForbidden, "a %s key may not call %s %s (allowed: %s)", k.Role, rt.method, openAPIPath(rt.path), strings.Join(allowed, ", ")))
			return
		}
		if !s.checkScope(c, rt, &k) || !s.checkUser(c, rt, &k) {
			return
		}
		c.Next()
	}
}
