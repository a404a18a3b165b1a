package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DecodeObject decodes one JSON object into v, rejecting unknown fields,
// a name given twice in one object (at any depth: encoding/json would keep
// the last, so two readers of one body could disagree on what it says) and
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
	if path, ok := duplicateName(data[:dec.InputOffset()]); ok {
		return &FieldError{Index: -1, Field: path, Reason: "is given more than once in the same object"}
	}
	return nil
}

// duplicateName reports the path (a.b[2].c) of the first member name that
// appears twice in one object of data, which must be valid JSON. Names are
// compared after unescaping, so "a" and "\u0061" are the same name. It
// reads data once and, for objects of up to 16 members, allocates nothing.
func duplicateName(data []byte) (string, bool) {
	var frameBuf [8]jsonFrame
	var nameBuf [32][]byte
	frames, names := frameBuf[:0], nameBuf[:0]
	expectName := false
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			frames = append(frames, jsonFrame{object: true, firstName: len(names)})
			expectName = true
		case '[':
			frames = append(frames, jsonFrame{})
		case '}', ']':
			if f := frames[len(frames)-1]; f.object {
				names = names[:f.firstName]
			}
			frames = frames[:len(frames)-1]
			expectName = false
		case ',':
			if f := &frames[len(frames)-1]; f.object {
				expectName = true
			} else {
				f.index++
			}
		case '"':
			end := stringEnd(data, i)
			if expectName {
				expectName = false
				name := data[i+1 : end]
				if bytes.IndexByte(name, '\\') >= 0 {
					var s string
					_ = json.Unmarshal(data[i:end+1], &s)
					name = []byte(s)
				}
				f := &frames[len(frames)-1]
				if f.seenName(names[f.firstName:], name) {
					return namePath(frames, name), true
				}
				f.name = name
				names = append(names, name)
			}
			i = end
		}
	}
	return "", false
}

// jsonFrame is one open object or array in duplicateName's walk.
type jsonFrame struct {
	object    bool
	firstName int    // objects: index of the first member name in the walk's list
	name      []byte // objects: the latest member name
	index     int    // arrays: the element being read
	seen      map[string]struct{}
}

// seenName reports whether name is among the object's earlier member
// names; past 16 of them it looks them up in a map, so an object of a
// million members costs a million lookups, not a trillion comparisons.
func (f *jsonFrame) seenName(earlier [][]byte, name []byte) bool {
	if f.seen == nil && len(earlier) < 16 {
		for _, n := range earlier {
			if bytes.Equal(n, name) {
				return true
			}
		}
		return false
	}
	if f.seen == nil {
		f.seen = make(map[string]struct{}, 2*len(earlier))
		for _, n := range earlier {
			f.seen[string(n)] = struct{}{}
		}
	}
	if _, ok := f.seen[string(name)]; ok {
		return true
	}
	f.seen[string(name)] = struct{}{}
	return false
}

// stringEnd returns the index of the quote that closes the string opening
// at data[start].
func stringEnd(data []byte, start int) int {
	for i := start + 1; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(data) - 1
}

// namePath spells where name sits: the member names and element indexes
// leading to its object, then name itself.
func namePath(frames []jsonFrame, name []byte) string {
	var b strings.Builder
	for _, f := range frames[:len(frames)-1] {
		switch {
		case f.object && b.Len() > 0:
			b.WriteByte('.')
			b.Write(f.name)
		case f.object:
			b.Write(f.name)
		default:
			fmt.Fprintf(&b, "[%d]", f.index)
		}
	}
	if b.Len() > 0 {
		b.WriteByte('.')
	}
	b.Write(name)
	return b.String()
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
