package api

import (
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

// scope is what an organisation-scoped key may reach through a route.
type scope int

const (
	scopeNone     scope = iota // nothing: a scoped key gets 403
	scopeCatalog               // the shared catalog: anyone
	scopeOrg                   // the :org in the path: only the key's own
	scopeIdentity              // the :alias in the path: only members of the key's organisation
)

// orgScopes is the route table's column for organisation-scoped keys:
// routes not named here are closed to them. A foreign organisation or a
// person outside the key's organisation is answered 404, as if absent, so
// that a scoped key learns nothing of what lies outside it.
var orgScopes = map[string]scope{
	"GET /v1/items/:item":                                    scopeCatalog,
	"GET /v1/items/:item/similar":                            scopeCatalog,
	"GET /v1/popular":                                        scopeCatalog,
	"GET /v1/orgs/:org":                                      scopeOrg,
	"GET /v1/orgs/:org/preferences":                          scopeOrg,
	"GET /v1/identities/:alias/preferences/prefill":          scopeIdentity,
	"GET /v1/identities/:alias":                              scopeIdentity,
	"GET /v1/identities/:alias/recommendations":              scopeIdentity,
	"GET /v1/identities/:alias/recommendations/:rid/explain": scopeIdentity,
	"GET /v1/identities/:alias/buy-again":                    scopeIdentity,
	"GET /v1/identities/:alias/preferences":                  scopeIdentity,
}

// RouteScopes returns, for documentation and tests, what an
// organisation-scoped key reaches through every /v1 route ("METHOD
// /path"): "catalog", "org", "identity", or "" for nothing.
func (s *Server) RouteScopes() map[string]string {
	names := map[scope]string{scopeNone: "", scopeCatalog: "catalog", scopeOrg: "org", scopeIdentity: "identity"}
	out := map[string]string{}
	for _, rt := range s.routes() {
		if rt.roles != nil {
			out[rt.method+" "+openAPIPath(rt.path)] = names[orgScopes[rt.method+" "+rt.path]]
		}
	}
	return out
}

// checkScope enforces a key's organisation scope on one request; it
// answers and returns false when the key may not proceed.
func (s *Server) checkScope(c *gin.Context, rt route, k *engine.APIKey) bool {
	if k.Org == "" {
		return true
	}
	switch orgScopes[rt.method+" "+rt.path] {
	case scopeCatalog:
		return true
	case scopeOrg:
		if c.Param("org") == string(k.Org) {
			return true
		}
		s.fail(c, engine.Errorf(engine.CodeNotFound, "no organisation %s", c.Param("org")))
		return false
	case scopeIdentity:
		a, err := pathAlias(c)
		if err != nil {
			s.fail(c, err)
			return false
		}
		if _, err := s.Orgs.MemberRole(c.Request.Context(), k.Org, a); err != nil {
			if engine.ErrorCode(err) == engine.CodeNotFound {
				err = engine.Errorf(engine.CodeNotFound, "no identity has the alias %s", a)
			}
			s.fail(c, err)
			return false
		}
		return true
	}
	s.fail(c, engine.Errorf(engine.CodeForbidden, "a key scoped to organisation %s may not call %s %s", k.Org, rt.method, openAPIPath(rt.path)))
	return false
}

// checkUser enforces the end-user token of a request, if the server takes
// them: with a token, a route about a person (:alias) answers only for
// that person — or, through a key scoped to their organisation, for a
// member whose role reads other members (admin, approver) — and a route
// about an organisation only for its members; without one, RequireUserToken
// refuses storefront and portal calls about a person. It answers and
// returns false when the request may not proceed.
func (s *Server) checkUser(c *gin.Context, rt route, k *engine.APIKey) bool {
	if s.UserTokens == nil {
		return true
	}
	aboutPerson, aboutOrg := strings.Contains(rt.path, ":alias"), strings.Contains(rt.path, ":org")
	raw := strings.TrimSpace(c.GetHeader(UserTokenHeader))
	if raw == "" {
		if s.RequireUserToken && aboutPerson && (k.Role == engine.RoleStorefront || k.Role == engine.RolePortal) {
			s.fail(c, engine.Errorf(engine.CodeUnauthorized, "a %s key must send the signed-in person's token in %s", k.Role, UserTokenHeader))
			return false
		}
		return true
	}
	claims, err := s.UserTokens.Verify(raw, time.Now())
	if err != nil {
		s.fail(c, err)
		return false
	}
	sub := claims.Subject
	c.Set(ctxUser, sub)
	c.Set(ctxClaims, claims)
	ctx := c.Request.Context()
	forbid := func() bool {
		s.fail(c, engine.Errorf(engine.CodeForbidden, "the user token is for someone who may not read this"))
		return false
	}
	if aboutOrg {
		if _, err := s.Orgs.MemberRole(ctx, engine.OrgID(c.Param("org")), sub); err != nil {
			return forbid()
		}
	}
	if !aboutPerson {
		return true
	}
	a, err := pathAlias(c)
	if err != nil {
		s.fail(c, err)
		return false
	}
	if a == sub {
		return true
	}
	subID, err1 := s.Events.ResolveAlias(ctx, sub)
	id, err2 := s.Events.ResolveAlias(ctx, a)
	if err1 == nil && err2 == nil && subID == id {
		return true // another alias of the same person
	}
	if k.Org != "" && err1 == nil && err2 == nil {
		role, err := s.Orgs.MemberRole(ctx, k.Org, sub)
		if err == nil && role.ReadsMembers() && !aboutOrg {
			if _, err := s.Orgs.MemberRole(ctx, k.Org, a); err == nil {
				return true
			}
		}
	}
	return forbid()
}
