package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// cors answers browsers calling from the allowed origins: it echoes an
// allowed Origin, answers preflight requests itself (204), and never
// allows credentials — keys travel in the Authorization header, not in
// cookies, so a page cannot ride on a visitor's cookies.
func (s *Server) cors(c *gin.Context) {
	origin := c.GetHeader("Origin")
	if origin == "" || !s.originAllowed(origin) {
		c.Next()
		return
	}
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "X-Request-ID, ETag, Retry-After")
	if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID, If-None-Match, "+UserTokenHeader)
		h.Set("Access-Control-Max-Age", "600")
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}

func (s *Server) originAllowed(origin string) bool {
	return slices.Contains(s.CORSOrigins, "*") || slices.ContainsFunc(s.CORSOrigins, func(o string) bool { return strings.EqualFold(o, origin) })
}
