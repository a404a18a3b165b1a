package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"rapport/engine"
	"rapport/engine/recommend"
)

// Privacy is what export and erasure read and do.
type Privacy interface {
	IdentityEvents(ctx context.Context, id engine.IdentityID) (engine.Identity, []engine.Event, error)
	Vector(ctx context.Context, id engine.IdentityID) (engine.FeatureVector, error)
	RequestErasure(ctx context.Context, a engine.Alias) (engine.Erasure, error)
	Erasure(ctx context.Context, id string) (engine.Erasure, error)
}

// exportIdentity returns everything held about a person as one document.
func (s *Server) exportIdentity(c *gin.Context) {
	p, history, ok := s.pathPerson(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	now := time.Now().UTC()
	links, err := s.People.Links(ctx, p.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	_, events, err := s.Privacy.IdentityEvents(ctx, p.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	var own, social []engine.Event
	for _, ev := range events {
		if ev.IsSocialSignal() {
			social = append(social, ev)
		} else {
			own = append(own, ev)
		}
	}
	prefs, _, err := s.People.Preferences(ctx, p.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	prefs.Validate() // empty lists rather than null for a person who set none
	var vector *engine.FeatureVector
	if v, err := s.Privacy.Vector(ctx, p.ID); err == nil {
		vector = &v
	} else if engine.ErrorCode(err) != engine.CodeNotFound {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	c.Header("Content-Disposition", `attachment; filename="rapport-export.json"`)
	c.PureJSON(http.StatusOK, gin.H{
		"exported_at": now,
		"identity":    toIdentityJSON(p),
		"consents": gin.H{
			"effective": toConsentJSON(s.Consent.Effective(&p, history, now)),
			"history":   toConsentJSON(history),
		},
		"links":                  toLinkJSON(links),
		"events":                 nonNil(own),
		"social_signals":         nonNil(social),
		"preferences":            prefs,
		"recent_recommendations": s.recent(p.ID),
		"feature_vector":         vector,
	})
}

// recent lists the recommendations served to id that serving holds.
func (s *Server) recent(id engine.IdentityID) []recommend.Served {
	if s.Recommender == nil {
		return []recommend.Served{}
	}
	return s.Recommender.Recent(id)
}

func nonNil(evs []engine.Event) []engine.Event {
	if evs == nil {
		return []engine.Event{}
	}
	return evs
}

// deleteIdentity requests erasure: 202 with the receipt; the person stops
// resolving at once and the erasure job removes the rest.
func (s *Server) deleteIdentity(c *gin.Context) {
	a, err := pathAlias(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	receipt, err := s.Privacy.RequestErasure(c.Request.Context(), a)
	if err != nil {
		s.fail(c, err)
		return
	}
	if s.Recommender != nil {
		s.Recommender.Erase(receipt.Identity)
	}
	c.Header("Location", "/v1/erasures/"+receipt.ID)
	c.PureJSON(http.StatusAccepted, receipt)
}

func (s *Server) getErasure(c *gin.Context) {
	id := c.Param("id")
	if !engine.ValidErasureID(id) {
		s.fail(c, fieldError("id", "must be an erasure receipt id such as er_0123456789abcdef01234567"))
		return
	}
	receipt, err := s.Privacy.Erasure(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, receipt)
}
