package api

import (
	"io"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

// decodeBody decodes a single JSON object body into v, strictly.
func decodeBody(c *gin.Context, v any) error {
	data, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return err
	}
	if fe := engine.DecodeObject(data, v); fe != nil {
		return &engine.Error{Code: engine.CodeInvalid, Message: "invalid body: " + fe.String(), Details: []engine.FieldError{*fe}}
	}
	return nil
}
