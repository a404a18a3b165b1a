package api

import (
	"fmt"
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

// servingRoutes are the routes about a person that only serve lists to
// them: a browser may call them for any anonymous alias (its own cookie),
// even one since linked to a known person, since what they return is what
// that device is shown anyway. Every other route about a person reads or
// changes the person's record.
var servingRoutes = map[string]bool{
	"GET /v1/identities/:alias/recommendations":              true,
	"GET /v1/identities/:alias/recommendations/:rid/explain": true,
	"GET /v1/identities/:alias/buy-again":                    true,
}

// actsForPeople reports whether a key may act for a person only with that
// person's token: a browser key always (anonymous people excepted), and
// storefront and portal keys when the server requires tokens.
func (s *Server) actsForPeople(k *engine.APIKey) bool {
	return k.Role == engine.RoleBrowser || s.RequireUserToken && (k.Role == engine.RoleStorefront || k.Role == engine.RolePortal)
}

// checkUser enforces the end-user token of a request. With a token, a route
// about a person (:alias) answers only for that person — or, through a key
// scoped to their organisation, for a member whose role reads other members
// (admin, approver) — and a route about an organisation only for its
// members. Without one, a key that acts for people (actsForPeople) reaches
// only anonymous people: any anonymous alias for the serving routes, and
// otherwise an alias whose person has no known alias; a browser key reads
// no organisation. It answers and returns false when the request may not proceed.
func (s *Server) checkUser(c *gin.Context, rt route, k *engine.APIKey) bool {
	aboutPerson, aboutOrg := strings.Contains(rt.path, ":alias"), strings.Contains(rt.path, ":org")
	raw := strings.TrimSpace(c.GetHeader(UserTokenHeader))
	signedIn := raw != "" && s.UserTokens != nil
	if !signedIn && !s.actsForPeople(k) {
		return true
	}
	var a engine.Alias
	if aboutPerson {
		var err error
		if a, err = pathAlias(c); err != nil {
			s.fail(c, err)
			return false
		}
	}
	if !signedIn {
		if aboutOrg && k.Role == engine.RoleBrowser {
			s.fail(c, engine.Errorf(engine.CodeUnauthorized, "a %s key reads an organisation only with a member's token in %s", k.Role, UserTokenHeader))
			return false
		}
		if aboutPerson {
			if err := s.anonymous(c, a, servingRoutes[rt.method+" "+rt.path]); err != nil {
				s.fail(c, err)
				return false
			}
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
		// A token that names its organisation acts for that one only.
		if claims.Org != "" && engine.OrgID(c.Param("org")) != claims.Org {
			return forbid()
		}
		if _, err := s.Orgs.MemberRole(ctx, engine.OrgID(c.Param("org")), sub); err != nil {
			return forbid()
		}
	}
	if !aboutPerson {
		return true
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

// anonymous answers nil when a key acting for people may reach alias a
// without a token: a must be an anonymous alias and, unless only lists are
// served (servingOnly), its person must have no known alias, so that a
// cookie value never opens a signed-in person's record.
func (s *Server) anonymous(c *gin.Context, a engine.Alias, servingOnly bool) error {
	need := engine.Errorf(engine.CodeUnauthorized, "acting for %s needs the signed-in person's token in %s", a.Kind, UserTokenHeader)
	if a.Kind != engine.KindAnon {
		return need
	}
	if servingOnly {
		return nil
	}
	p, _, err := s.People.ConsentsOf(c.Request.Context(), a)
	switch {
	case engine.ErrorCode(err) == engine.CodeNotFound:
		return nil
	case err != nil:
		return err
	case p.Stage != engine.StageAnonymous:
		return need
	}
	return nil
}

// checkEventAliases applies checkUser's rule to the aliases in the body of
// an event batch: a key that acts for people posts events for anonymous
// aliases, and for the person its token names; any other alias is refused
// with the index of its first event.
func (s *Server) checkEventAliases(c *gin.Context, events []engine.Event) error {
	k, _ := c.Get(ctxKey)
	key, ok := k.(engine.APIKey)
	if !ok || !s.actsForPeople(&key) {
		return nil
	}
	ctx := c.Request.Context()
	var subID engine.IdentityID
	sub, signedIn := c.Get(ctxUser)
	if signedIn {
		id, err := s.Events.ResolveAlias(ctx, sub.(engine.Alias))
		if err != nil && engine.ErrorCode(err) != engine.CodeNotFound {
			return err
		}
		subID = id
	}
	checked := map[engine.Alias]bool{}
	for i, ev := range events {
		if ev.Alias.Kind == engine.KindAnon || checked[ev.Alias] {
			continue
		}
		if signedIn && ev.Alias == sub.(engine.Alias) {
			checked[ev.Alias] = true
			continue
		}
		if signedIn && subID != 0 {
			id, err := s.Events.ResolveAlias(ctx, ev.Alias)
			if err != nil && engine.ErrorCode(err) != engine.CodeNotFound {
				return err
			}
			if err == nil && id == subID {
				checked[ev.Alias] = true
				continue
			}
		}
		why := "is not anonymous; events for a known person need that person's token in " + UserTokenHeader
		if signedIn {
			why = "is not an alias of the person the user token names"
		}
		return &engine.Error{Code: engine.CodeForbidden, Message: fmt.Sprintf("event %d: alias %s", i, why),
			Details: []engine.FieldError{{Index: i, Field: "alias", Reason: why}}}
	}
	return nil
}

// actingOrg returns the one organisation a request acts for about person a,
// and "" for none: a key scoped to an organisation, or a member's token
// that names one (its org claim), acts for it, whatever the query says or
// whatever else the person belongs to; otherwise the caller names it with
// ?org= (want), and the person must be a member. No request mixes two
// organisations' data, and none picks one for the caller.
func (s *Server) actingOrg(c *gin.Context, a engine.Alias, want string) (engine.OrgID, error) {
	k, _ := c.Get(ctxKey)
	key, _ := k.(engine.APIKey)
	org := engine.OrgID(want)
	for _, named := range []engine.OrgID{key.Org, tokenOrg(c)} {
		if named == "" {
			continue
		}
		if org != "" && org != named {
			return "", engine.Errorf(engine.CodeNotFound, "no organisation %s", org)
		}
		org = named
	}
	if org == "" {
		return "", nil
	}
	if _, err := engine.ParseOrgID(string(org)); err != nil {
		return "", fieldError("org", err.Error())
	}
	if _, err := s.Orgs.MemberRole(c.Request.Context(), org, a); err != nil {
		if engine.ErrorCode(err) == engine.CodeNotFound {
			err = engine.Errorf(engine.CodeNotFound, "%s is not a member of %s", a, org)
		}
		return "", err
	}
	if sub, signedIn := c.Get(ctxUser); signedIn && sub.(engine.Alias) != a {
		if _, err := s.Orgs.MemberRole(c.Request.Context(), org, sub.(engine.Alias)); err != nil {
			return "", engine.Errorf(engine.CodeNotFound, "no organisation %s", org)
		}
	}
	return org, nil
}

// checkLinkProof decides whether a request may link alias other to the
// person at names. A trusted call (a server key without a user token) may
// link anything the store allows. A person's token proves only what it
// names: its subject, the e-mail address of a verified-email claim, and an
// anonymous alias the device presents whose history is anonymous or
// already theirs; a browser key without a token
// joins anonymous aliases only. Anything else — an e-mail or customer id
// nobody has used yet included — would let one person claim another's
// future history, so it is refused.
func (s *Server) checkLinkProof(c *gin.Context, at, other engine.Alias) error {
	k, _ := c.Get(ctxKey)
	key, _ := k.(engine.APIKey)
	v, signedIn := c.Get(ctxUser)
	if !signedIn && !s.actsForPeople(&key) {
		return nil
	}
	refuse := func(why string) error {
		return &engine.Error{Code: engine.CodeForbidden, Message: "alias " + why,
			Details: []engine.FieldError{{Index: -1, Field: "alias", Reason: why}}}
	}
	if signedIn && other == v.(engine.Alias) {
		return nil
	}
	if cl, ok := c.Get(ctxClaims); ok && cl.(UserClaims).Email != "" && other.Kind == engine.KindEmail {
		if verified, err := engine.ParseAlias(engine.KindEmail + ":" + cl.(UserClaims).Email); err == nil && verified == other {
			return nil // the address the identity provider verified
		}
	}
	if other.Kind != engine.KindAnon {
		if signedIn {
			return refuse("is not proven by the user token (only its subject, or an anonymous alias of this device, may be linked on a person's behalf); linking it needs a trusted call")
		}
		return refuse("may be linked only with the person's token in " + UserTokenHeader)
	}
	ctx := c.Request.Context()
	p, _, err := s.People.ConsentsOf(ctx, other)
	switch {
	case engine.ErrorCode(err) == engine.CodeNotFound:
		return nil
	case err != nil:
		return err
	case p.Stage == engine.StageAnonymous:
		return nil
	}
	if mine, _, err := s.People.ConsentsOf(ctx, at); err == nil && mine.ID == p.ID {
		return nil
	}
	return refuse("belongs to another known person; linking it needs a trusted call (a server key without a user token)")
}

// tokenOrg returns the organisation the request's user token names (its
// org claim), or "".
func tokenOrg(c *gin.Context) engine.OrgID {
	if cl, ok := c.Get(ctxClaims); ok {
		return cl.(UserClaims).Org
	}
	return ""
}
