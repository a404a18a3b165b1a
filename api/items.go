package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

func (s *Server) putItems(c *gin.Context) {
	raws, err := readBatch(c.Request.Body, "items")
	if err != nil {
		s.fail(c, err)
		return
	}
	items, err := parseBatch(raws, "items", engine.ParseItem)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.Items.PutItems(c.Request.Context(), items); err != nil {
		s.fail(c, err)
		return
	}
	if s.Recommender != nil {
		if err := s.Recommender.ObserveItems(c.Request.Context(), items); err != nil {
			s.Logger.Error("refresh serving catalog after upsert", "request_id", c.GetString(ctxRequestID), "err", err)
		}
	}
	c.PureJSON(http.StatusOK, gin.H{"upserted": len(items)})
}

func (s *Server) getItem(c *gin.Context) {
	it, err := s.Items.Item(c.Request.Context(), c.Param("item"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, it)
}
