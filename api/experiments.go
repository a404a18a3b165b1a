package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

// Experiments keeps A/B experiments: their designs, and the counts
// serving and feedback add to them.
type Experiments interface {
	PutExperiment(ctx context.Context, e engine.Experiment) (created bool, err error)
	Experiment(ctx context.Context, name string) (engine.Experiment, map[string]engine.VariantCounts, error)
	Experiments(ctx context.Context) ([]engine.Experiment, error)
	// Feedback attributes stored events that name a recommendation served
	// in an experiment.
	Feedback(ctx context.Context, events []engine.Event) error
}

type experimentRequest struct {
	Placement string           `json:"placement"`
	Variants  []engine.Variant `json:"variants"`
	Start     *time.Time       `json:"start"`
	Stop      *time.Time       `json:"stop"`
}

type experimentReport struct {
	engine.Experiment
	Active   bool                   `json:"active"`
	Variants []engine.VariantReport `json:"variants"`
	Control  string                 `json:"control"`
	Note     string                 `json:"note"`
}

const reportNote = "impressions are lists served; click_through and conversion are the shares of lists with at least one click or purchase naming them; intervals are 95% (Wilson for rates, Newcombe for differences against the control, the first variant)"

func (s *Server) putExperiment(c *gin.Context) {
	var req experimentRequest
	if err := decodeBody(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	e := engine.Experiment{Name: c.Param("name"), Placement: req.Placement, Variants: req.Variants, Start: time.Now().UTC().Truncate(time.Second)}
	if req.Start != nil {
		e.Start = req.Start.UTC()
	}
	if req.Stop != nil {
		e.Stop = req.Stop.UTC()
	}
	if errs := e.Validate(); len(errs) > 0 {
		s.fail(c, &engine.Error{Code: engine.CodeInvalid, Message: errs[0].String(), Details: errs})
		return
	}
	created, err := s.Experiments.PutExperiment(c.Request.Context(), e)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.reportExperiment(c, e.Name, map[bool]int{true: http.StatusCreated, false: http.StatusOK}[created])
}

func (s *Server) getExperiment(c *gin.Context) {
	s.reportExperiment(c, c.Param("name"), http.StatusOK)
}

func (s *Server) reportExperiment(c *gin.Context, name string, status int) {
	e, counts, err := s.Experiments.Experiment(c.Request.Context(), name)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.noSharedCache(c)
	c.PureJSON(status, experimentReport{Experiment: e, Active: e.Active(time.Now()), Variants: e.Report(counts), Control: e.Variants[0].Name, Note: reportNote})
}

func (s *Server) listExperiments(c *gin.Context) {
	es, err := s.Experiments.Experiments(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	type item struct {
		engine.Experiment
		Active bool `json:"active"`
	}
	out := []item{}
	for _, e := range es {
		out = append(out, item{e, e.Active(time.Now())})
	}
	c.PureJSON(http.StatusOK, gin.H{"experiments": out})
}
