package importer

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"rapport/engine"
)

// Events imports events from r. Rows are validated like events sent to the
// API. Catalog columns (title, category, brand), where mapped, also fill the
// catalog: each item takes the last non-empty value seen and the last
// positive price. Importing the same file twice writes the same keys again:
// every event's id derives from its row (its client id, or its content and
// how often that content appeared before), so nothing is duplicated.
func Events(ctx context.Context, r io.Reader, w Writer, opts Options) (Summary, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	p, err := presetFor(&opts)
	if err != nil {
		return Summary{}, err
	}
	rawNDJSON := len(opts.Map) == 0 && (opts.Format == FormatNDJSON || opts.Format == "" && isNDJSONName(opts.Name))
	rr, _, err := open(r, opts, !rawNDJSON)
	if err != nil {
		return Summary{}, err
	}
	im := &eventImport{run: newRun(opts), w: w, preset: p, ids: rowIDs{}, catalog: map[string]*engine.Item{}}
	if rawNDJSON {
		err = im.each(ctx, rr, im.rawRow)
	} else {
		if im.cols, err = resolveColumns(rr.header(), opts.Map, EventFields); err != nil {
			return Summary{}, err
		}
		if err := im.checkColumns(); err != nil {
			return Summary{}, err
		}
		im.catalogCols = im.cols.has(fTitle) || im.cols.has(fCategory) || im.cols.has(fBrand)
		im.header = map[string]int{}
		for i, h := range rr.header() {
			im.header[h] = i
		}
		err = im.each(ctx, rr, im.mappedRow)
	}
	if err != nil {
		return im.sum, err
	}
	return im.sum, im.writeCatalog()
}

func isNDJSONName(name string) bool {
	f, err := DetectFormat(name)
	return err == nil && f == FormatNDJSON
}

type eventImport struct {
	*run
	w           Writer
	cols        columns
	preset      *preset
	ids         rowIDs
	catalog     map[string]*engine.Item
	catalogCols bool
	header      map[string]int  // column name → index, for presets
	members     map[string]bool // org and alias pairs recorded
}

func (im *eventImport) checkColumns() error {
	switch {
	case !im.cols.has(fIdentity):
		return fmt.Errorf("no identity column: pass --map identity=COLUMN")
	case !im.cols.has(fTime):
		return fmt.Errorf("no time column: pass --map time=COLUMN (and --time-layout if it is not RFC 3339)")
	case !im.cols.has(fType) && im.opts.Type == "":
		return fmt.Errorf("no type column: pass --map type=COLUMN or --type TYPE")
	case im.opts.Type != "" && !im.opts.Type.Valid():
		return fmt.Errorf("--type %q is not an event type", im.opts.Type)
	}
	return nil
}

// rawRow imports an NDJSON line in the API's event format.
func (im *eventImport) rawRow(r row) (*rejection, error) {
	ev, errs := engine.ParseEvent(r.raw, im.opts.Now)
	if len(errs) > 0 {
		return fieldReject(errs), nil
	}
	return im.add(&ev, im.rowID(ev.ClientID, fnvField(fnvOffset, r.raw)))
}

// mappedRow imports a CSV/TSV row or a flattened NDJSON object via columns.
func (im *eventImport) mappedRow(r row) (*rejection, error) {
	ev, rej := im.convert(r.fields)
	if rej != nil {
		return rej, nil
	}
	if errs := ev.Validate(im.opts.Now); len(errs) > 0 {
		return fieldReject(errs), nil
	}
	var org engine.OrgID
	if v := im.cols.get(r.fields, fOrg); v != "" {
		id, err := engine.ParseOrgID(v)
		if err != nil {
			return reject("invalid org", "org %v", err), nil
		}
		org = id
	}
	rej, err := im.add(&ev, im.rowID(ev.ClientID, rowHash(r.fields)))
	if rej == nil && err == nil && im.catalogCols {
		im.remember(&ev, r.fields)
	}
	if rej == nil && err == nil && org != "" {
		err = im.member(org, ev.Alias)
	}
	return rej, err
}

// member records that a row's person belongs to org, once per pair.
func (im *eventImport) member(org engine.OrgID, a engine.Alias) error {
	mw, ok := im.w.(MemberWriter)
	if !ok {
		return fmt.Errorf("this import cannot record organisations")
	}
	key := string(org) + "\x00" + a.String()
	if im.members[key] {
		return nil
	}
	if im.members == nil {
		im.members = map[string]bool{}
	}
	im.members[key] = true
	if err := mw.AddMember(org, a); err != nil {
		return fmt.Errorf("write membership: %w", err)
	}
	return nil
}

func (im *eventImport) add(ev *engine.Event, id uint64) (*rejection, error) {
	ok, err := im.w.AddEvent(ev, id)
	if rej := skipped(err); rej != nil {
		return rej, nil
	}
	if err != nil {
		return nil, fmt.Errorf("write event: %w", err)
	}
	if !ok {
		return reject("duplicate id", "an event with id %q is already stored", ev.ClientID), nil
	}
	im.sum.Imported++
	return nil, nil
}

// convert builds an event from mapped columns, applying defaults and the
// preset. Validation is left to the caller.
func (im *eventImport) convert(f []string) (engine.Event, *rejection) {
	c, o := im.cols, im.opts
	ev := engine.Event{
		ClientID: c.get(f, fID), Item: c.get(f, fItem), Target: c.get(f, fTarget),
		Type: o.Type, Currency: o.Currency, Source: o.Source, Region: c.get(f, fRegion), Quantity: 1,
	}
	if c.has(fType) {
		ev.Type = engine.EventType(strings.ToLower(c.get(f, fType)))
	}
	if c.has(fCurrency) {
		if v := c.get(f, fCurrency); v != "" {
			ev.Currency = strings.ToUpper(v)
		}
	}
	if c.has(fSource) {
		if v := c.get(f, fSource); v != "" {
			ev.Source = v
		}
	}
	var err error
	if ev.Time, err = parseTime(c.get(f, fTime), o.TimeLayout); err != nil {
		return ev, reject("invalid time", "time %v", err)
	}
	for _, num := range []struct {
		field field
		dst   *float64
	}{{fQuantity, &ev.Quantity}, {fPrice, &ev.Price}, {fWeight, &ev.Weight}} {
		v := c.get(f, num.field)
		if v == "" {
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return ev, reject("invalid "+num.field.String(), "%s %q is not a number", num.field, v)
		}
		*num.dst = x
	}
	// A purchase with a negative quantity is a return of that many.
	if ev.Quantity < 0 && ev.Type == engine.EventPurchase {
		ev.Type, ev.Quantity = engine.EventReturn, -ev.Quantity
	}
	identity := c.get(f, fIdentity)
	if im.preset != nil {
		col := func(name string) string {
			if i, ok := im.header[name]; ok && i < len(f) {
				return strings.TrimSpace(f[i])
			}
			return ""
		}
		if rej := im.preset.adjust(col, &ev, &identity); rej != nil {
			return ev, rej
		}
	}
	if identity == "" {
		return ev, reject("no identity", "the identity column is empty")
	}
	if o.IdentityKind != "" && !strings.Contains(identity, ":") {
		identity = o.IdentityKind + ":" + identity
	}
	if ev.Alias, err = engine.ParseAlias(identity); err != nil {
		return ev, reject("invalid identity", "identity %q: %v", identity, err)
	}
	// A friend is another person: their alias, normalised like the
	// identity's, is the signal's target.
	if friend := c.get(f, fFriend); friend != "" {
		if ev.Target != "" {
			return ev, reject("friend and target", "a signal is about a person (friend) or a thing (target), not both")
		}
		if o.IdentityKind != "" && !strings.Contains(friend, ":") {
			friend = o.IdentityKind + ":" + friend
		}
		a, err := engine.ParseAlias(friend)
		if err != nil {
			return ev, reject("invalid friend", "friend %q: %v", friend, err)
		}
		if a == ev.Alias {
			return ev, reject("invalid friend", "a person cannot be their own friend")
		}
		ev.Target = a.String()
	}
	return ev, nil
}

// parseTime reads a time by layout: a Go layout, "unix" (seconds, maybe
// fractional) or "unix_ms"; RFC 3339 when layout is empty.
func parseTime(v, layout string) (time.Time, error) {
	if v == "" {
		return time.Time{}, fmt.Errorf("is empty")
	}
	switch layout {
	case "unix":
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1e11 {
			return time.Time{}, fmt.Errorf("%q is not a Unix time in seconds", v)
		}
		sec, frac := math.Modf(x)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	case "unix_ms":
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil || x > 1e14 || x < -1e14 {
			return time.Time{}, fmt.Errorf("%q is not a Unix time in milliseconds", v)
		}
		return time.UnixMilli(x).UTC(), nil
	case "":
		layout = time.RFC3339Nano
	}
	t, err := time.Parse(layout, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q does not match the layout %q", v, layout)
	}
	return t.UTC(), nil
}

// rowID derives an event id: from the client id when there is one, else
// from the row's content hash.
func (im *eventImport) rowID(clientID string, content uint64) uint64 {
	if clientID != "" {
		return fnvAdd(fnvAdd(fnvOffset, "id\x00"), clientID)
	}
	return im.ids.next(content)
}

// rowIDs numbers rows by content: a row's id is the hash of its content
// (rowHash, or fnvField over an NDJSON line) and the number of identical
// rows before it, so importing the same file again writes the same keys.
type rowIDs map[uint64]uint32

func (ids rowIDs) next(content uint64) uint64 {
	n := ids[content]
	ids[content] = n + 1
	return fnvAdd(content, string([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}))
}

// FNV-1a, 64 bits. Event ids depend on it: changing how a row hashes would
// make a re-import of the same file write its events again under new keys.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvAdd[T string | []byte](h uint64, b T) uint64 {
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= fnvPrime
	}
	return h
}

// rowHash is the content hash of a row's fields.
func rowHash(fields []string) uint64 {
	h := uint64(fnvOffset)
	for _, f := range fields {
		h = fnvField(h, f)
	}
	return h
}

// fnvField adds one field of a row and the unit separator after it.
func fnvField[T string | []byte](h uint64, b T) uint64 {
	return fnvAdd(fnvAdd(h, b), "\x1f")
}

// remember updates the catalog entry of an imported event's item.
func (im *eventImport) remember(ev *engine.Event, f []string) {
	if ev.Item == "" {
		return
	}
	it := im.catalog[ev.Item]
	if it == nil {
		it = &engine.Item{ID: ev.Item, Available: true}
		im.catalog[ev.Item] = it
	}
	for _, col := range []struct {
		field field
		dst   *string
	}{{fTitle, &it.Title}, {fCategory, &it.Category}, {fBrand, &it.Brand}} {
		if v := im.cols.get(f, col.field); v != "" {
			*col.dst = v
		}
	}
	if ev.Price > 0 {
		it.Price, it.Currency = ev.Price, ev.Currency
	}
}

func (im *eventImport) writeCatalog() error {
	for _, it := range im.catalog {
		if errs := it.Validate(); len(errs) > 0 {
			im.sum.ItemsSkipped["invalid "+errs[0].Field]++
			continue
		}
		if err := im.w.PutItem(*it); err != nil {
			return fmt.Errorf("write item: %w", err)
		}
		im.sum.Items++
	}
	return nil
}
