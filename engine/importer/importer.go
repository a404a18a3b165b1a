// Package importer reads events and catalog items from CSV, TSV or NDJSON
// files (gzip detected), maps columns to fields, validates every row and
// hands the good ones to a Writer. A malformed row is skipped with a reason
// (and written to a rejects file) rather than aborting the import, unless
// Strict is set.
package importer

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"rapport/engine"
)

// Writer receives validated records; store.Loader implements it. AddEvent
// reports false when the event's client id was already stored.
type Writer interface {
	AddEvent(ev *engine.Event, eventID uint64) (bool, error)
	PutItem(it engine.Item) error
}

// MemberWriter is a Writer that also takes organisation memberships, for
// events files with an org column: each row's person is made a member
// (a buyer) of the row's organisation, created if new.
type MemberWriter interface {
	AddMember(org engine.OrgID, a engine.Alias) error
}

// Skip is an error a Writer returns to leave one record out as a rejected
// row (counted under Key, with Reason in the rejects file) rather than stop
// the import: a social signal without consent, a consent for nobody.
type Skip struct{ Key, Reason string }

func (s *Skip) Error() string { return s.Reason }

// skipped turns a Writer's Skip into a rejection.
func skipped(err error) *rejection {
	var s *Skip
	if errors.As(err, &s) {
		return &rejection{key: s.Key, reason: s.Reason}
	}
	return nil
}

// Discard is a Writer that keeps nothing, for dry runs.
var Discard Writer = discard{}

type discard struct{}

func (discard) AddEvent(*engine.Event, uint64) (bool, error) { return true, nil }
func (discard) PutItem(engine.Item) error                    { return nil }

// Options says how to read a file. Zero fields take the defaults noted.
type Options struct {
	Name         string            // file name: format detection and messages
	Format       Format            // "" detects from Name
	Map          map[string]string // field → column; unmapped fields are found by name
	IdentityKind string            // prefix bare identity values with this alias kind
	Type         engine.EventType  // event type when no type column is mapped
	TimeLayout   string            // Go time layout, "unix" or "unix_ms"; default RFC 3339
	Currency     string            // currency when no currency column is mapped
	Source       string            // source when no source column is mapped
	Preset       string            // "online-retail" or ""
	Guests       string            // online-retail: "anon" (default) or "skip"
	Strict       bool              // stop at the first rejected row with an error
	Rejects      io.Writer         // receives rejected rows with their reasons; may be nil
	Progress     func(rows int)    // called every few thousand rows; may be nil
	Now          time.Time         // the clock for "not in the future" checks; default time.Now
}

// Summary accounts for every row read: Rows = Imported + the sum of Skipped.
type Summary struct {
	Rows     int
	Imported int
	Skipped  map[string]int // reason → rows
	Items    int            // catalog items written
	// ItemsSkipped counts catalog entries left out, by reason.
	ItemsSkipped map[string]int
}

// SkippedTotal is the number of rows not imported.
func (s Summary) SkippedTotal() int {
	n := 0
	for _, c := range s.Skipped {
		n += c
	}
	return n
}

// Reasons returns the skip reasons sorted by count, largest first.
func Reasons(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// StrictError is returned in Strict mode for the first rejected row.
type StrictError struct {
	Line   int
	Reason string
}

func (e *StrictError) Error() string {
	return fmt.Sprintf("line %d: %s (--strict stops at the first bad row; nothing was imported)", e.Line, e.Reason)
}

// rejection is a row that will not be imported: a short key for the summary
// and the full reason for the rejects file.
type rejection struct{ key, reason string }

func reject(key, format string, args ...any) *rejection {
	return &rejection{key: key, reason: fmt.Sprintf(format, args...)}
}

// run is the loop both imports share: read rows, convert, count, reject.
type run struct {
	opts    Options
	sum     Summary
	rejects *rejectWriter
}

func newRun(opts Options) *run {
	return &run{opts: opts, sum: Summary{Skipped: map[string]int{}, ItemsSkipped: map[string]int{}}}
}

func (r *run) each(ctx context.Context, rr rowReader, convert func(row) (*rejection, error)) error {
	if r.opts.Rejects != nil {
		r.rejects = newRejectWriter(r.opts.Rejects, rr.header())
	}
	for {
		rw, err := rr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", r.opts.Name, err)
		}
		r.sum.Rows++
		var rej *rejection
		if rw.err != nil {
			rej = &rejection{key: "malformed row", reason: rw.err.Error()}
		} else if rej, err = convert(rw); err != nil {
			return err
		}
		if rej != nil {
			if r.opts.Strict {
				return &StrictError{Line: rw.line, Reason: rej.reason}
			}
			r.sum.Skipped[rej.key]++
			if r.rejects != nil {
				if err := r.rejects.write(rw, rej.reason); err != nil {
					return fmt.Errorf("write rejects: %w", err)
				}
			}
		}
		if r.sum.Rows%16384 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if r.opts.Progress != nil {
				r.opts.Progress(r.sum.Rows)
			}
		}
	}
	if r.rejects != nil {
		if err := r.rejects.flush(); err != nil {
			return fmt.Errorf("write rejects: %w", err)
		}
	}
	if r.opts.Progress != nil {
		r.opts.Progress(r.sum.Rows)
	}
	return nil
}

// open picks the row reader for the options' format.
func open(r io.Reader, opts Options, flattenNDJSON bool) (rowReader, Format, error) {
	format := opts.Format
	if format == "" {
		var err error
		if format, err = DetectFormat(opts.Name); err != nil {
			return nil, "", err
		}
	}
	in, err := content(r)
	if err != nil {
		return nil, "", err
	}
	var rr rowReader
	switch format {
	case FormatCSV:
		rr, err = newCSVReader(in, ',')
	case FormatTSV:
		rr, err = newCSVReader(in, '\t')
	case FormatNDJSON:
		rr, err = newNDJSONReader(in, flattenNDJSON)
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
	return rr, format, err
}

// rejectWriter writes rejected rows: CSV rows with _line and _reason columns
// added, or for NDJSON one {"line","reason","row"} object a line.
type rejectWriter struct {
	w      io.Writer
	cw     *csv.Writer
	header []string
	wrote  bool
}

func newRejectWriter(w io.Writer, header []string) *rejectWriter {
	return &rejectWriter{w: w, header: header}
}

func (rw *rejectWriter) write(r row, reason string) error {
	if r.raw != nil || (r.fields == nil && rw.header == nil) {
		line, err := json.Marshal(map[string]any{"line": r.line, "reason": reason, "row": string(r.raw)})
		if err != nil {
			return err
		}
		_, err = rw.w.Write(append(line, '\n'))
		return err
	}
	if rw.cw == nil {
		rw.cw = csv.NewWriter(rw.w)
	}
	if !rw.wrote {
		rw.wrote = true
		if err := rw.cw.Write(append(append([]string{}, rw.header...), "_line", "_reason")); err != nil {
			return err
		}
	}
	return rw.cw.Write(append(append([]string{}, r.fields...), fmt.Sprint(r.line), reason))
}

func (rw *rejectWriter) flush() error {
	if rw.cw == nil {
		return nil
	}
	rw.cw.Flush()
	return rw.cw.Error()
}

// fieldReject turns the first validation error into a rejection.
func fieldReject(errs []engine.FieldError) *rejection {
	fe := errs[0]
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.String()
	}
	key := "invalid " + fe.Field
	if fe.Field == "" {
		key = "invalid row"
	}
	return &rejection{key: key, reason: strings.Join(parts, "; ")}
}
