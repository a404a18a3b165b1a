package api

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
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

// logRequests writes one structured line per request. It never logs
// headers, so secrets in Authorization stay out of the logs.
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	if s.Metrics != nil {
		s.Metrics.observe(c, start)
	}
	status := c.Writer.Status()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	} else if status >= 400 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("request_id", c.GetString(ctxRequestID)),
		slog.String("method", c.Request.Method),
		slog.String("route", c.FullPath()),
		slog.Int("status", status),
		slog.Float64("ms", float64(time.Since(start).Microseconds())/1000),
		slog.Int("bytes", c.Writer.Size()),
	}
	if k, ok := c.Get(ctxKey); ok {
		attrs = append(attrs, slog.String("key_id", k.(engine.APIKey).ID))
	}
	if err, ok := c.Get(ctxError); ok && status < 500 {
		attrs = append(attrs, slog.String("reason", engine.ErrorMessage(err.(error))))
	}
	s.Logger.LogAttrs(c.Request.Context(), level, "request", attrs...)
}

func (s *Server) recovered(c *gin.Context, v any) {
	s.Logger.Error("panic serving request", "request_id", c.GetString(ctxRequestID), "route", c.FullPath(), "panic", v, "stack", string(debug.Stack()))
	s.fail(c, engine.Errorf(engine.CodeInternal, "internal error"))
}

func (s *Server) limitBody(c *gin.Context) {
	if c.Request.ContentLength > s.MaxBodyBytes {
		s.fail(c, engine.Errorf(engine.CodeTooLarge, "request body of %d bytes exceeds the limit of %d bytes", c.Request.ContentLength, s.MaxBodyBytes))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.MaxBodyBytes)
	c.Next()
}

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
