package api

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

// People is the identity graph and the consents recorded against it.
type People interface {
	Counts(ctx context.Context, id engine.IdentityID) (map[string]int, error)
	ConsentsOf(ctx context.Context, a engine.Alias) (engine.Identity, []engine.Consent, error)
	Link(ctx context.Context, at, other engine.Alias, authenticated bool) (engine.LinkResult, error)
	Unlink(ctx context.Context, at, other engine.Alias) (kept, split engine.Identity, err error)
	Links(ctx context.Context, id engine.IdentityID) ([]engine.Link, error)
	PutConsent(ctx context.Context, a engine.Alias, c engine.Consent) (engine.Identity, error)
	Consents(ctx context.Context, id engine.IdentityID) (engine.Identity, []engine.Consent, error)
	PutPreferences(ctx context.Context, a engine.Alias, p engine.Preferences, now time.Time) (engine.Identity, error)
	Preferences(ctx context.Context, id engine.IdentityID) (engine.Preferences, bool, error)
}

// Consent is the consent gate as the API uses it.
type Consent interface {
	// Effective returns the consent in force for every purpose.
	Effective(p *engine.Identity, history []engine.Consent, now time.Time) []engine.Consent
	// Admit returns the events of a batch that may be stored and how many
	// social signals it left out for want of consent.
	Admit(ctx context.Context, events []engine.Event, now time.Time) ([]engine.Event, int, error)
	// Enforce applies an identity's consents now (purging what may no
	// longer be kept) and returns how many social signals it purged.
	Enforce(ctx context.Context, id engine.IdentityID, now time.Time) (int, error)
	// MayLink refuses a link that a cross_device withdrawal forbids.
	MayLink(ctx context.Context, at, other engine.Alias, now time.Time) error
}

type identityJSON struct {
	Stage         engine.Stage `json:"stage"`
	Region        string       `json:"region,omitempty"`
	Aliases       []string     `json:"aliases"`
	Authenticated []string     `json:"authenticated,omitempty"`
	CreatedAt     time.Time    `json:"created_at"`
	UpdatedAt     time.Time    `json:"updated_at"`
}

func toIdentityJSON(p engine.Identity) identityJSON {
	j := identityJSON{Stage: p.Stage, Region: p.Region, Aliases: aliasTexts(p.Aliases), CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	if len(p.Authenticated) > 0 {
		j.Authenticated = aliasTexts(p.Authenticated)
	}
	return j
}

func aliasTexts(as []engine.Alias) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// linkJSON is a link record with the alias it concerns.
type linkJSON struct {
	engine.Link
	Alias string `json:"alias"`
}

func toLinkJSON(links []engine.Link) []linkJSON {
	out := make([]linkJSON, len(links))
	for i, l := range links {
		out[i] = linkJSON{Link: l, Alias: l.Alias.String()}
	}
	return out
}

// consentJSON is a consent decision with the alias it was given under.
type consentJSON struct {
	engine.Consent
	Alias string `json:"alias,omitempty"`
}

func toConsentJSON(cs []engine.Consent) []consentJSON {
	out := make([]consentJSON, len(cs))
	for i, c := range cs {
		out[i] = consentJSON{Consent: c}
		if !c.Alias.IsZero() {
			out[i].Alias = c.Alias.String()
		}
	}
	return out
}

func (s *Server) getIdentity(c *gin.Context) {
	p, history, ok := s.pathPerson(c)
	if !ok {
		return
	}
	counts, err := s.People.Counts(c.Request.Context(), p.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	c.PureJSON(http.StatusOK, gin.H{
		"identity": toIdentityJSON(p), "consents": toConsentJSON(s.Consent.Effective(&p, history, time.Now().UTC())), "counts": counts,
	})
}

type linkRequest struct {
	Alias         string `json:"alias"`
	Authenticated bool   `json:"authenticated"`
}

func (s *Server) postLink(c *gin.Context) {
	at, err := pathAlias(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req linkRequest
	if err := decodeBody(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	other, err := engine.ParseAlias(strings.TrimSpace(req.Alias))
	if err != nil {
		s.fail(c, fieldError("alias", err.Error()))
		return
	}
	ctx := c.Request.Context()
	if err := s.Consent.MayLink(ctx, at, other, time.Now().UTC()); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.checkLinkProof(c, at, other); err != nil {
		s.fail(c, err)
		return
	}
	res, err := s.People.Link(ctx, at, other, req.Authenticated)
	if err != nil {
		s.fail(c, err)
		return
	}
	// What came in under the other alias now answers to this person's
	// consent: signals it does not permit are purged before the response.
	_, err = s.Consent.Enforce(ctx, res.Identity.ID, time.Now().UTC())
	s.forget(res.Identity.ID, res.Merged)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"identity": toIdentityJSON(res.Identity), "merged": res.Merged != 0, "joined": res.Joined})
}

func (s *Server) deleteLink(c *gin.Context) {
	at, err := pathAlias(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	other, err := engine.ParseAlias(strings.TrimSpace(c.Param("other")))
	if err != nil {
		s.fail(c, fieldError("other", "alias in the path "+err.Error()))
		return
	}
	ctx := c.Request.Context()
	kept, split, err := s.People.Unlink(ctx, at, other)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.forget(kept.ID, split.ID)
	c.PureJSON(http.StatusOK, gin.H{"kept": toIdentityJSON(kept), "split": toIdentityJSON(split)})
}

func (s *Server) listLinks(c *gin.Context) {
	_, id, ok := s.pathIdentity(c)
	if !ok {
		return
	}
	links, err := s.People.Links(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	c.PureJSON(http.StatusOK, gin.H{"links": toLinkJSON(links)})
}

func (s *Server) putConsent(c *gin.Context) {
	a, err := pathAlias(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	purpose, err := engine.ParsePurpose(c.Param("purpose"))
	if err != nil {
		s.fail(c, fieldError("purpose", err.Error()))
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.fail(c, err)
		return
	}
	now := time.Now().UTC()
	consent, errs := engine.ParseConsent(body, purpose, now)
	if len(errs) > 0 {
		s.fail(c, invalid(errs))
		return
	}
	ctx := c.Request.Context()
	p, err := s.People.PutConsent(ctx, a, consent)
	if err != nil {
		s.fail(c, err)
		return
	}
	// The decision is stored; now make it bite. A failure here is logged
	// and reported, and the next Enforce (or the merge) finishes the job.
	purged, err := s.Consent.Enforce(ctx, p.ID, now)
	s.forget(p.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	_, history, err := s.People.Consents(ctx, p.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	consent.Alias = a
	c.PureJSON(http.StatusOK, gin.H{
		"consent": toConsentJSON([]engine.Consent{consent})[0], "effective": toConsentJSON(s.Consent.Effective(&p, history, now)),
		"purged_social_signals": purged,
	})
}

func (s *Server) listConsents(c *gin.Context) {
	p, history, ok := s.pathPerson(c)
	if !ok {
		return
	}
	c.Header("Cache-Control", "private, no-store")
	c.PureJSON(http.StatusOK, gin.H{"effective": toConsentJSON(s.Consent.Effective(&p, history, time.Now().UTC())), "history": toConsentJSON(history)})
}

func (s *Server) putPreferences(c *gin.Context) {
	a, err := pathAlias(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.fail(c, err)
		return
	}
	p, errs := engine.ParsePreferences(body)
	if len(errs) > 0 {
		s.fail(c, invalid(errs))
		return
	}
	ctx := c.Request.Context()
	now := time.Now().UTC()
	who, err := s.People.PutPreferences(ctx, a, p, now)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.forget(who.ID)
	p.UpdatedAt = now
	c.PureJSON(http.StatusOK, p)
}

func (s *Server) getPreferences(c *gin.Context) {
	_, id, ok := s.pathIdentity(c)
	if !ok {
		return
	}
	p, _, err := s.People.Preferences(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	p.Validate() // empty lists and maps, not null, for a person who set none
	c.Header("Cache-Control", "private, no-store")
	c.PureJSON(http.StatusOK, p)
}

// forget drops the serving state of identities whose data just changed
// shape (a link, an unlink, a consent), so the next request rebuilds it.
func (s *Server) forget(ids ...engine.IdentityID) {
	if s.Recommender != nil {
		s.Recommender.Forget(ids...)
	}
}

// pathIdentity resolves the :alias path parameter to its identity; on
// failure it has answered the request and ok is false.
func (s *Server) pathIdentity(c *gin.Context) (a engine.Alias, id engine.IdentityID, ok bool) {
	a, err := pathAlias(c)
	if err == nil {
		id, err = s.Events.ResolveAlias(c.Request.Context(), a)
	}
	if err != nil {
		s.fail(c, err)
		return a, 0, false
	}
	return a, id, true
}

// pathPerson reads the person the :alias path parameter names, with
// their consent history; on failure it has answered and ok is false.
func (s *Server) pathPerson(c *gin.Context) (p engine.Identity, history []engine.Consent, ok bool) {
	_, id, ok := s.pathIdentity(c)
	if !ok {
		return p, nil, false
	}
	p, history, err := s.People.Consents(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return p, nil, false
	}
	return p, history, true
}

// invalid is the 400 for a list of field problems.
func invalid(errs []engine.FieldError) error {
	return &engine.Error{Code: engine.CodeInvalid, Message: errs[0].String(), Details: errs}
}

func fieldError(field, reason string) error {
	return &engine.Error{Code: engine.CodeInvalid, Message: field + " " + reason,
		Details: []engine.FieldError{{Index: -1, Field: field, Reason: reason}}}
}
