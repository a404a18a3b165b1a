package api

import (
	"slices"
	"strings"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
)

// corsHeaders are the request headers a browser page may send: the API key,
// the signed-in person's token, and what conditional and traced requests
// carry.
var corsHeaders = []string{"Authorization", UserTokenHeader, "Content-Type", "X-Request-ID", "If-None-Match"}

// cors answers browsers calling from CORSOrigins with
// github.com/gin-contrib/cors: it allows an allowed Origin (all of them,
// as "*", when CORSOrigins holds "*"), answers preflight requests itself
// (204) and never allows credentials — keys travel in the Authorization
// header and tokens in X-User-Token, not in cookies, so a page cannot ride
// on a visitor's cookies. A request from another origin goes on without
// CORS headers (the library would answer it 403 without a body), so the
// browser refuses the answer to the page, and other clients sending
// Origin are served as before. nil when no origin is allowed.
func (s *Server) cors() gin.HandlerFunc {
	if len(s.CORSOrigins) == 0 {
		return nil
	}
	cfg := cors.Config{
		AllowMethods:     []string{"GET", "POST", "PUT", "DELETE"},
		AllowHeaders:     corsHeaders,
		ExposeHeaders:    []string{"X-Request-ID", "ETag", "Retry-After"},
		AllowCredentials: false,
		MaxAge:           10 * time.Minute,
	}
	if slices.Contains(s.CORSOrigins, "*") {
		cfg.AllowAllOrigins = true
	} else {
		cfg.AllowOriginFunc = s.originAllowed
	}
	allow := cors.New(cfg)
	return func(c *gin.Context) {
		if origin := c.GetHeader("Origin"); origin != "" && !s.originAllowed(origin) {
			c.Next()
			return
		}
		allow(c)
	}
}

func (s *Server) originAllowed(origin string) bool {
	return slices.Contains(s.CORSOrigins, "*") || slices.ContainsFunc(s.CORSOrigins, func(o string) bool { return strings.EqualFold(o, origin) })
}
