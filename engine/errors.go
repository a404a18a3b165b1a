package engine

import (
	"errors"
	"fmt"
)

// Code classifies an application error. The api package maps each code to
// exactly one HTTP status; anything without a code is an internal error.
type Code string

const (
	CodeInvalid      Code = "invalid"
	CodeUnauthorized Code = "unauthorized"
	CodeForbidden    Code = "forbidden"
	CodeNotFound     Code = "not_found"
	CodeConflict     Code = "conflict"
	CodeTooLarge     Code = "too_large"
	CodeNoConsent    Code = "no_consent"
	CodeRateLimited  Code = "rate_limited"
	CodeUnavailable  Code = "unavailable"
	// CodeInsufficientStorage: the disk holding the store is full; writes
	// are refused until space is freed, reads go on.
	CodeInsufficientStorage Code = "insufficient_storage"
	CodeInternal            Code = "internal"
)

// Error is an application error whose Message is safe to show to a caller.
// Details lists per-field problems when the error is about a batch or a body.
type Error struct {
	Code    Code
	Message string
	Details []FieldError
	Err     error
}

// FieldError names one invalid field. Index is the position of the record in
// its batch (or -1 when the error is not about a batch element).
type FieldError struct {
	Index  int    `json:"index"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (fe FieldError) String() string {
	if fe.Field == "" {
		return fe.Reason
	}
	return fe.Field + ": " + fe.Reason
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an application error with a formatted, caller-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first application error in err's chain,
// CodeInternal for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the caller-safe message of err: the application
// error's message, or "internal error" for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorDetails returns the field errors of an application error, if any.
func ErrorDetails(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Details
	}
	return nil
}
