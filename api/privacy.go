package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"rapport/engine"
	"rapport/engine/recommend"
)

// Privacy is what export and erasure read and do.
type Privacy interface {
	Vector(ctx context.Context, id engine.IdentityID) (engine.FeatureVector, error)
	RequestErasure(ctx context.Context, a engine.Alias) (engine.Erasure, error)
	Erasure(ctx context.Context, id string) (engine.Erasure, error)
}

// exportPage is how many events the export reads from the store at once.
const exportPage = 1000

// exportIdentity returns everything held about a person as one document.
// The events and social signals, which may be hundreds of thousands, are
// streamed page by page from the store, newest first, so the export holds
// one page in memory however much a person did. Everything else, and the
// first page, is read before the status is sent, so a failure there is an
// error response; a store failure later cuts the document short (invalid
// JSON, never a shorter valid one) and is logged.
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
	first, next, err := s.Events.Events(ctx, p.ID, "", exportPage)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	c.Header("Content-Disposition", `attachment; filename="rapport-export.json"`)
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Status(http.StatusOK)
	w := &exportWriter{w: bufio.NewWriterSize(c.Writer, 64<<10)}
	// The members in the order encoding/json gives a map's keys, as the
	// document had when it was built whole.
	w.raw(`{"consents":`)
	w.value(gin.H{"effective": toConsentJSON(s.Consent.Effective(&p, history, now)), "history": toConsentJSON(history)})
	w.raw(`,"events":`)
	w.events(ctx, s.Events, p.ID, first, next, func(ev *engine.Event) bool { return !ev.IsSocialSignal() })
	w.raw(`,"exported_at":`)
	w.value(now)
	w.raw(`,"feature_vector":`)
	w.value(vector)
	w.raw(`,"identity":`)
	w.value(toIdentityJSON(p))
	w.raw(`,"links":`)
	w.value(toLinkJSON(links))
	w.raw(`,"preferences":`)
	w.value(prefs)
	w.raw(`,"recent_recommendations":`)
	w.value(s.recent(p.ID))
	w.raw(`,"social_signals":`)
	w.events(ctx, s.Events, p.ID, first, next, func(ev *engine.Event) bool { return ev.IsSocialSignal() })
	w.raw("}")
	if w.err == nil {
		w.err = w.w.Flush()
	}
	if w.err != nil && ctx.Err() == nil {
		s.Logger.Error("export cut short", "request_id", c.GetString(ctxRequestID), "identity", p.ID, "err", w.err)
	}
}

// exportWriter writes a JSON document piece by piece, keeping the first
// error and writing nothing after it.
type exportWriter struct {
	w   *bufio.Writer
	err error
}

func (w *exportWriter) raw(s string) {
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
}

// value writes v as JSON without escaping <, > and & (as PureJSON does).
func (w *exportWriter) value(v any) {
	if w.err != nil {
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if w.err = enc.Encode(v); w.err == nil {
		_, w.err = w.w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
}

// events writes, as a JSON array, the person's events that keep selects,
// newest first: the page already read, then the pages after it.
func (w *exportWriter) events(ctx context.Context, store EventStore, id engine.IdentityID, page []engine.Event, next string, keep func(*engine.Event) bool) {
	w.raw("[")
	n := 0
	for w.err == nil {
		for i := range page {
			if !keep(&page[i]) {
				continue
			}
			if n > 0 {
				w.raw(",")
			}
			w.value(page[i])
			n++
		}
		if next == "" || w.err != nil {
			break
		}
		page, next, w.err = store.Events(ctx, id, next, exportPage)
	}
	w.raw("]")
}

// recent lists the recommendations served to id that serving holds.
func (s *Server) recent(id engine.IdentityID) []recommend.Served {
	if s.Recommender == nil {
		return []recommend.Served{}
	}
	return s.Recommender.Recent(id)
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
