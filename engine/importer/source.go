package importer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Format is how a file's rows are written.
type Format string

const (
	FormatCSV    Format = "csv"
	FormatTSV    Format = "tsv"
	FormatNDJSON Format = "ndjson"
)

// DetectFormat guesses a format from a file name (.csv, .tsv, .ndjson or
// .jsonl, each optionally with .gz).
func DetectFormat(name string) (Format, error) {
	n := strings.TrimSuffix(strings.ToLower(name), ".gz")
	switch {
	case strings.HasSuffix(n, ".csv"):
		return FormatCSV, nil
	case strings.HasSuffix(n, ".tsv"), strings.HasSuffix(n, ".tab"):
		return FormatTSV, nil
	case strings.HasSuffix(n, ".ndjson"), strings.HasSuffix(n, ".jsonl"), strings.HasSuffix(n, ".json"):
		return FormatNDJSON, nil
	}
	return "", fmt.Errorf("cannot tell the format of %q from its name; pass --format csv, tsv or ndjson", name)
}

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case FormatCSV, FormatTSV, FormatNDJSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("format %q is not csv, tsv or ndjson", s)
}

// content returns a reader of r's text: decompressed when r starts with
// the gzip magic bytes, and without a leading UTF-8 byte order mark.
func content(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("open gzip: %w", err)
		}
		br = bufio.NewReaderSize(zr, 256<<10)
	}
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		br.Discard(3)
	}
	return br, nil
}

// row is one record of the input: its fields by column, and for NDJSON the
// raw line.
type row struct {
	line   int
	fields []string // column values, in header order (CSV/TSV and flattened NDJSON)
	raw    []byte   // the NDJSON line
	err    error    // a malformed row: the reason
}

// rowReader yields the rows of one file.
type rowReader interface {
	header() []string
	next() (row, error) // io.EOF at the end
}

type csvReader struct {
	r    *csv.Reader
	cols []string
}

func newCSVReader(r io.Reader, comma rune) (*csvReader, error) {
	cr := csv.NewReader(r)
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	if comma == '\t' {
		cr.LazyQuotes = true
	}
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty: it needs a header row")
	}
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	cols := make([]string, len(head))
	for i, h := range head {
		cols[i] = strings.TrimSpace(h)
	}
	return &csvReader{r: cr, cols: cols}, nil
}

func (c *csvReader) header() []string { return c.cols }

func (c *csvReader) next() (row, error) {
	rec, err := c.r.Read()
	var pe *csv.ParseError
	switch {
	case errors.As(err, &pe):
		return row{line: pe.Line, err: fmt.Errorf("malformed %s", pe.Err)}, nil
	case err != nil:
		return row{}, err
	}
	line, _ := c.r.FieldPos(0) // only after a good read: FieldPos panics when the last one failed
	switch {
	case len(rec) != len(c.cols):
		return row{line: line, fields: rec, err: fmt.Errorf("has %d columns, the header has %d", len(rec), len(c.cols))}, nil
	}
	return row{line: line, fields: rec}, nil
}

// ndjsonReader yields NDJSON lines, or the elements of a JSON array when
// the file starts with '[' (then a row's "line" is its element number, and a
// syntax error ends the import, since an array cannot be resumed past one).
// With flatten it also spreads each object's scalar values over the columns
// seen in the first object, so --map can name keys as it names CSV columns.
type ndjsonReader struct {
	br      *bufio.Reader
	array   *json.Decoder
	line    int
	flatten bool
	cols    []string
	index   map[string]int
	pending *row
}

func newNDJSONReader(r io.Reader, flatten bool) (*ndjsonReader, error) {
	n := &ndjsonReader{br: bufio.NewReaderSize(r, 256<<10), flatten: flatten, index: map[string]int{}}
	if first, err := peekNonSpace(n.br); err == nil && first == '[' {
		n.array = json.NewDecoder(n.br)
		if _, err := n.array.Token(); err != nil {
			return nil, fmt.Errorf("read JSON array: %w", err)
		}
	}
	if !flatten {
		return n, nil
	}
	// Read ahead to the first object to learn the columns.
	first, err := n.next()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty")
	}
	if err != nil {
		return nil, err
	}
	n.pending = &first
	return n, nil
}

// peekNonSpace returns the first byte that is not white space, unread.
func peekNonSpace(br *bufio.Reader) (byte, error) {
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

func (n *ndjsonReader) header() []string { return n.cols }

func (n *ndjsonReader) next() (row, error) {
	if n.pending != nil {
		r := *n.pending
		n.pending = nil
		return r, nil
	}
	if n.array != nil {
		return n.nextElement()
	}
	for {
		b, err := n.br.ReadBytes('\n')
		if len(b) == 0 && err != nil {
			return row{}, err
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return row{}, err
		}
		n.line++
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		return n.makeRow(b), nil
	}
}

func (n *ndjsonReader) nextElement() (row, error) {
	if !n.array.More() {
		if _, err := n.array.Token(); err != nil {
			return row{}, fmt.Errorf("element %d: %w", n.line+1, err)
		}
		return row{}, io.EOF
	}
	var raw json.RawMessage
	if err := n.array.Decode(&raw); err != nil {
		return row{}, fmt.Errorf("element %d: %w", n.line+1, err)
	}
	n.line++
	return n.makeRow(raw), nil
}

func (n *ndjsonReader) makeRow(b []byte) row {
	r := row{line: n.line, raw: b}
	if n.flatten {
		r.fields, r.err = n.flattenLine(b)
	}
	return r
}

func (n *ndjsonReader) flattenLine(b []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("malformed JSON: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if len(n.cols) == 0 {
		for k := range obj {
			n.index[k] = len(n.cols)
			n.cols = append(n.cols, k)
		}
	}
	fields := make([]string, len(n.cols))
	for k, v := range obj {
		i, ok := n.index[k]
		if !ok {
			continue
		}
		switch v := v.(type) {
		case nil:
		case string:
			fields[i] = v
		case json.Number:
			fields[i] = v.String()
		case bool:
			fields[i] = fmt.Sprint(v)
		default:
			return nil, fmt.Errorf("key %q holds an object or array; --map takes scalar values only", k)
		}
	}
	return fields, nil
}
