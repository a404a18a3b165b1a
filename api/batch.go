package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"rapport/engine"
)

// MaxBatch is the most records one write request may carry.
const MaxBatch = 10_000

// readBatch splits a request body into records: a JSON array of objects, or
// a stream of objects (NDJSON, one a line; blank lines and pretty-printed
// objects work too). It does not decode the records; a record that is not
// an object is left for its parser to reject.
func readBatch(body io.Reader, what string) ([]json.RawMessage, error) {
	br := bufio.NewReaderSize(body, 64<<10)
	first, err := firstNonSpace(br)
	if errors.Is(err, io.EOF) {
		return nil, engine.Errorf(engine.CodeInvalid, "the body is empty; send a JSON array of %s or NDJSON", what)
	}
	if err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	if first == '[' {
		raws, err = readArray(br, what)
	} else {
		raws, err = readStream(br, what)
	}
	if err != nil {
		return nil, err
	}
	if len(raws) == 0 {
		return nil, engine.Errorf(engine.CodeInvalid, "the batch holds no %s", what)
	}
	return raws, nil
}

func firstNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			return b, br.UnreadByte()
		}
	}
}

func tooMany(what string) error {
	return engine.Errorf(engine.CodeTooLarge, "a batch may hold at most %d %s; split it", MaxBatch, what)
}

func readArray(r io.Reader, what string) ([]json.RawMessage, error) {
	dec := json.NewDecoder(r)
	if _, err := dec.Token(); err != nil {
		return nil, bodySyntax(err, -1)
	}
	var raws []json.RawMessage
	for dec.More() {
		if len(raws) == MaxBatch {
			return nil, tooMany(what)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, bodySyntax(err, len(raws))
		}
		raws = append(raws, raw)
	}
	if _, err := dec.Token(); err != nil {
		return nil, bodySyntax(err, len(raws))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, engine.Errorf(engine.CodeInvalid, "unexpected data after the JSON array")
	}
	return raws, nil
}

func readStream(r io.Reader, what string) ([]json.RawMessage, error) {
	dec := json.NewDecoder(r)
	var raws []json.RawMessage
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return raws, nil
		}
		if err != nil {
			return nil, bodySyntax(err, len(raws))
		}
		if len(raws) == MaxBatch {
			return nil, tooMany(what)
		}
		raws = append(raws, raw)
	}
}

// bodySyntax turns a JSON error in the body itself into a 400 that says
// where, passing through body-size errors and the application errors of
// reading it (the in-flight budget).
func bodySyntax(err error, index int) error {
	var mbe *http.MaxBytesError
	var ae *engine.Error
	if errors.As(err, &mbe) || errors.As(err, &ae) {
		return err
	}
	msg := "malformed JSON"
	var se *json.SyntaxError
	if errors.As(err, &se) {
		msg = fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)
	} else if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		msg = "malformed JSON: the body ends in the middle of a value"
	}
	e := engine.Errorf(engine.CodeInvalid, "%s; nothing was stored", msg)
	if index >= 0 {
		e.Details = []engine.FieldError{{Index: index, Reason: msg}}
	}
	return e
}

// parseBatch parses every record; if any is invalid it returns an error
// listing all problems, each with its record's index.
func parseBatch[T any](raws []json.RawMessage, what string, parse func([]byte) (T, []engine.FieldError)) ([]T, error) {
	out := make([]T, len(raws))
	var errs []engine.FieldError
	invalid := 0
	for i, raw := range raws {
		v, fes := parse(raw)
		if len(fes) > 0 {
			invalid++
			for _, fe := range fes {
				fe.Index = i
				errs = append(errs, fe)
			}
		}
		out[i] = v
	}
	if invalid > 0 {
		return nil, &engine.Error{
			Code:    engine.CodeInvalid,
			Message: fmt.Sprintf("%d of %d %s are invalid (first: #%d %s); nothing was stored", invalid, len(raws), what, errs[0].Index, errs[0]),
			Details: errs,
		}
	}
	return out, nil
}
