package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

// Orgs keeps organisations and their members.
type Orgs interface {
	PutOrg(ctx context.Context, id engine.OrgID, name string) (engine.Org, bool, error)
	Org(ctx context.Context, id engine.OrgID) (engine.Org, error)
	PutMember(ctx context.Context, org engine.OrgID, a engine.Alias, role engine.OrgRole) (engine.Member, error)
	DeleteMember(ctx context.Context, org engine.OrgID, a engine.Alias) error
	MemberRole(ctx context.Context, org engine.OrgID, a engine.Alias) (engine.OrgRole, error)
}

func pathOrg(c *gin.Context) (engine.OrgID, error) {
	id, err := engine.ParseOrgID(c.Param("org"))
	if err != nil {
		return "", fieldError("org", err.Error())
	}
	return id, nil
}

// pathMember parses the :org and :alias path parameters.
func pathMember(c *gin.Context) (engine.OrgID, engine.Alias, error) {
	org, err := pathOrg(c)
	if err != nil {
		return "", engine.Alias{}, err
	}
	a, err := pathAlias(c)
	return org, a, err
}

type orgJSON struct {
	engine.Org
	Members []memberJSON `json:"members"`
}

type memberJSON struct {
	engine.Member
	Alias string `json:"alias"`
}

func toOrgJSON(o engine.Org) orgJSON {
	j := orgJSON{Org: o, Members: make([]memberJSON, len(o.Members))}
	for i, m := range o.Members {
		j.Members[i] = memberJSON{Member: m, Alias: m.Alias.String()}
	}
	return j
}

func (s *Server) putOrg(c *gin.Context) {
	id, err := pathOrg(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeBody(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if err := engine.CheckOrgName(req.Name); err != nil {
		s.fail(c, fieldError("name", strings.TrimPrefix(err.Error(), "name ")))
		return
	}
	o, created, err := s.Orgs.PutOrg(c.Request.Context(), id, req.Name)
	if err != nil {
		s.fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.PureJSON(status, toOrgJSON(o))
}

func (s *Server) getOrg(c *gin.Context) {
	id, err := pathOrg(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	o, err := s.Orgs.Org(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	c.PureJSON(http.StatusOK, toOrgJSON(o))
}

func (s *Server) putMember(c *gin.Context) {
	org, a, err := pathMember(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req struct {
		Role string `json:"role"`
	}
	if err := decodeBody(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	role, err := engine.ParseOrgRole(req.Role)
	if err != nil {
		s.fail(c, fieldError("role", err.Error()))
		return
	}
	m, err := s.Orgs.PutMember(c.Request.Context(), org, a, role)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, memberJSON{Member: m, Alias: m.Alias.String()})
}

func (s *Server) deleteMember(c *gin.Context) {
	org, a, err := pathMember(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.Orgs.DeleteMember(c.Request.Context(), org, a); err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"org": org, "removed": a.String(), "at": time.Now().UTC()})
}

// members returns the aliases of an organisation's members.
func members(o engine.Org) []engine.Alias {
	out := make([]engine.Alias, len(o.Members))
	for i, m := range o.Members {
		out[i] = m.Alias
	}
	return out
}

// prefill answers a buyer's prefilled order form, blended with the one
// organisation the request acts for (actingOrg), if any.
func (s *Server) prefill(c *gin.Context) {
	a, err := pathAlias(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	q := newQuery(c, "n", "org")
	n := q.int("n", 20, 1, 100)
	want := q.string("org", 64)
	if err := q.err(); err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	id, err := s.actingOrg(c, a, want)
	if err != nil {
		s.fail(c, err)
		return
	}
	var org engine.Org
	if id != "" {
		if org, err = s.Orgs.Org(ctx, id); err != nil {
			s.fail(c, err)
			return
		}
	}
	res, err := s.Recommender.Prefill(ctx, a, org.ID, members(org), n)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.noSharedCache(c)
	c.PureJSON(http.StatusOK, res)
}

// orgPrefill answers an organisation's prefilled order form.
func (s *Server) orgPrefill(c *gin.Context) {
	id, err := pathOrg(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	q := newQuery(c, "n")
	n := q.int("n", 20, 1, 100)
	if err := q.err(); err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	o, err := s.Orgs.Org(ctx, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	res, err := s.Recommender.OrgPrefill(ctx, o.ID, members(o), n)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.noSharedCache(c)
	c.PureJSON(http.StatusOK, res)
}
