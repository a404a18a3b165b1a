package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

func (s *Server) postEvents(c *gin.Context) {
	raws, err := readBatch(c.Request.Body, "events")
	if err != nil {
		s.fail(c, err)
		return
	}
	now := time.Now().UTC()
	events, err := parseBatch(raws, "events", func(b []byte) (engine.Event, []engine.FieldError) { return engine.ParseEvent(b, now) })
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.checkEventAliases(c, events); err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	dropped := 0
	if s.Consent != nil {
		if events, dropped, err = s.Consent.Admit(ctx, events, now); err != nil {
			s.fail(c, err)
			return
		}
	}
	res, err := s.Events.AppendEvents(ctx, events)
	if err != nil {
		s.fail(c, err)
		return
	}
	res.Dropped = dropped
	if s.Metrics != nil {
		s.Metrics.ingested(res)
	}
	// The events are stored; bring serving up to date before answering, so
	// the next recommendation reflects them. A failure here leaves serving
	// to catch up from the store on its next read, so it is logged, not
	// returned: the caller must not resend stored events.
	if s.Recommender != nil {
		if err := s.Recommender.Observe(c.Request.Context(), events); err != nil {
			s.Logger.Error("refresh serving state after ingest", "request_id", c.GetString(ctxRequestID), "err", err)
		}
	}
	// Feedback on recommendations served in experiments; like serving
	// state, the counts follow the stored events, so a failure is logged.
	// Retried batches are attributed again, and count once.
	if s.Experiments != nil {
		if err := s.Experiments.Feedback(ctx, events); err != nil {
			s.Logger.Error("attribute experiment feedback", "request_id", c.GetString(ctxRequestID), "err", err)
		}
	}
	c.PureJSON(http.StatusOK, res)
}

type eventPage struct {
	Alias      string         `json:"alias"`
	Events     []engine.Event `json:"events"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

func (s *Server) listEvents(c *gin.Context) {
	alias, err := pathAlias(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	limit, err := intQuery(c, "limit", 100, 1, 1000)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	id, err := s.Events.ResolveAlias(ctx, alias)
	if err != nil {
		s.fail(c, err)
		return
	}
	events, next, err := s.Events.Events(ctx, id, c.Query("cursor"), limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	if events == nil {
		events = []engine.Event{}
	}
	c.PureJSON(http.StatusOK, eventPage{Alias: alias.String(), Events: events, NextCursor: next})
}

// intQuery reads an optional integer query parameter within [min, max].
func intQuery(c *gin.Context, name string, def, min, max int) (int, error) {
	v, ok := c.GetQuery(name)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, &engine.Error{Code: engine.CodeInvalid, Message: name + " must be an integer from " + strconv.Itoa(min) + " to " + strconv.Itoa(max),
			Details: []engine.FieldError{{Index: -1, Field: name, Reason: "must be an integer from " + strconv.Itoa(min) + " to " + strconv.Itoa(max)}}}
	}
	return n, nil
}
