package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[engine.Code]int{
	engine.CodeInvalid:             http.StatusBadRequest,
	engine.CodeUnauthorized:        http.StatusUnauthorized,
	engine.CodeForbidden:           http.StatusForbidden,
	engine.CodeNoConsent:           http.StatusForbidden,
	engine.CodeNotFound:            http.StatusNotFound,
	engine.CodeConflict:            http.StatusConflict,
	engine.CodeTooLarge:            http.StatusRequestEntityTooLarge,
	engine.CodeRateLimited:         http.StatusTooManyRequests,
	engine.CodeUnavailable:         http.StatusServiceUnavailable,
	engine.CodeInsufficientStorage: http.StatusInsufficientStorage,
	engine.CodeInternal:            http.StatusInternalServerError,
}

// statusClientClosed is logged for requests the client abandoned (nginx's 499).
const statusClientClosed = 499

// maxDetails caps the field errors listed in one response.
const maxDetails = 1000

type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code    engine.Code         `json:"code"`
	Message string              `json:"message"`
	Details []engine.FieldError `json:"details,omitempty"`
}

// fail renders err as {"error":{...}} with the status its code maps to. An
// error without a code is logged and shown to the caller as "internal error".
func (s *Server) fail(c *gin.Context, err error) {
	if errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil {
		// The client went away; nothing was stored and nobody reads a reply.
		c.Set(ctxError, err)
		c.AbortWithStatus(statusClientClosed)
		return
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = engine.Errorf(engine.CodeTooLarge, "request body exceeds the limit of %d bytes", mbe.Limit)
	}
	code := engine.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if code == engine.CodeInternal {
		s.Logger.LogAttrs(c.Request.Context(), slog.LevelError, "internal error",
			slog.String("request_id", c.GetString(ctxRequestID)), slog.String("route", c.FullPath()), slog.Any("err", err))
	}
	details := engine.ErrorDetails(err)
	if len(details) > maxDetails {
		details = details[:maxDetails]
	}
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="rapport"`)
	}
	c.Set(ctxError, err)
	c.Abort()
	c.PureJSON(status, errorBody{Error: errorJSON{Code: code, Message: engine.ErrorMessage(err), Details: details}})
}
