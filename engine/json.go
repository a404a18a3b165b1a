package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DecodeObject decodes one JSON object into v, rejecting unknown fields and
// trailing data. The error it returns is a FieldError (Index -1) naming the
// offending field where JSON tells which.
func DecodeObject(data []byte, v any) *FieldError {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonFieldError(err)
	}
	if dec.More() {
		return &FieldError{Index: -1, Reason: "unexpected data after the JSON object"}
	}
	return nil
}

// jsonFieldError turns an encoding/json error into a FieldError.
func jsonFieldError(err error) *FieldError {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return &FieldError{Index: -1, Reason: fmt.Sprintf("must be a JSON object, not %s", typeErr.Value)}
		}
		return &FieldError{Index: -1, Field: typeErr.Field, Reason: fmt.Sprintf("must be %s, not %s", jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return &FieldError{Index: -1, Reason: fmt.Sprintf("malformed JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: "))}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &FieldError{Index: -1, Field: name, Reason: "is not a known field"}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &FieldError{Index: -1, Reason: "malformed JSON: unexpected end of input"}
	default:
		return &FieldError{Index: -1, Reason: "malformed JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "float64", "float32", "int", "int64", "uint64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	}
	return kind
}

// marshal encodes v as JSON without escaping <, > and & (the API is not
// embedded in HTML, and "Home > Kitchen" should read as written).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
