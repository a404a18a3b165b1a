package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

func (s *Server) listJobs(c *gin.Context) {
	limit, err := intQuery(c, "runs", 10, 0, 100)
	if err != nil {
		s.fail(c, err)
		return
	}
	jobs, err := s.Jobs.List(c.Request.Context(), limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := gin.H{"jobs": jobs}
	if l, ok := s.Jobs.(interface{ Leadership() (string, bool) }); ok {
		// Which replica answered, and whether it runs the schedule.
		out["replica"], out["leader"] = l.Leadership()
	}
	c.PureJSON(http.StatusOK, out)
}

func (s *Server) startJob(c *gin.Context) {
	run, err := s.Jobs.Trigger(c.Param("name"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/v1/jobs")
	c.PureJSON(http.StatusAccepted, run)
}

type modelList struct {
	Serving  string                `json:"serving"`
	Versions []engine.ModelVersion `json:"versions"`
}

func (s *Server) listModels(c *gin.Context) {
	vs, err := s.Models.Versions(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	if vs == nil {
		vs = []engine.ModelVersion{}
	}
	serving := ""
	if s.ServingVersion != nil {
		serving = s.ServingVersion()
	}
	c.PureJSON(http.StatusOK, modelList{Serving: serving, Versions: vs})
}

// promoteModel makes a version serve now: a candidate the guardrail held
// back, or an earlier version to roll back to.
func (s *Server) promoteModel(c *gin.Context) {
	id := c.Param("version")
	if id == "" || len(id) > 32 || strings.ContainsAny(id, "/ ") {
		s.fail(c, fieldError("version", "must be a model version id such as v000003"))
		return
	}
	v, err := s.Models.Promote(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, v)
}

// backup streams a consistent snapshot of the whole store: what
// `rapport backup --url` saves while the server keeps serving.
func (s *Server) backup(c *gin.Context) {
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Disposition", `attachment; filename="rapport.backup"`)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if _, err := s.Backups.Backup(c.Request.Context(), c.Writer); err != nil {
		// The status line is out; a broken stream is how the client learns.
		s.Logger.Error("backup", "request_id", c.GetString(ctxRequestID), "err", err)
		c.Abort()
	}
}
