package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

type keyJSON struct {
	ID        string      `json:"id"`
	Name      string      `json:"name,omitempty"`
	Role      engine.Role `json:"role"`
	CreatedAt time.Time   `json:"created_at"`
	RevokedAt *time.Time  `json:"revoked_at,omitempty"`
	Org       string      `json:"org,omitempty"`
	Rate      float64     `json:"rate,omitempty"`
}

func toKeyJSON(k engine.APIKey) keyJSON {
	j := keyJSON{ID: k.ID, Name: k.Name, Role: k.Role, CreatedAt: k.CreatedAt, Org: string(k.Org), Rate: k.Rate}
	if !k.Active() {
		j.RevokedAt = &k.RevokedAt
	}
	return j
}

type keyRequest struct {
	Role string  `json:"role"`
	Name string  `json:"name"`
	Org  string  `json:"org"`
	Rate float64 `json:"rate"`
}

func (s *Server) createKey(c *gin.Context) {
	var req keyRequest
	if err := decodeBody(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	role, err := engine.ParseRole(req.Role)
	if err != nil {
		s.fail(c, err)
		return
	}
	k, secret, err := engine.NewAPIKey(role, req.Name, time.Now())
	if err == nil {
		err = k.Restrict(req.Org, req.Rate)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.Keys.CreateKey(c.Request.Context(), k); err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusCreated, gin.H{"key": toKeyJSON(k), "secret": secret})
}

func (s *Server) listKeys(c *gin.Context) {
	keys, err := s.Keys.Keys(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]keyJSON, len(keys))
	for i, k := range keys {
		out[i] = toKeyJSON(k)
	}
	c.PureJSON(http.StatusOK, gin.H{"keys": out})
}

func (s *Server) revokeKey(c *gin.Context) {
	k, err := s.Keys.RevokeKey(c.Request.Context(), c.Param("id"), time.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	s.keys.forget(k.ID)
	c.PureJSON(http.StatusOK, toKeyJSON(k))
}
