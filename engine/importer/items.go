package importer

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"rapport/engine"
)

// Items imports catalog items from r, replacing each item whole. NDJSON
// without --map is read in the API's item format.
func Items(ctx context.Context, r io.Reader, w Writer, opts Options) (Summary, error) {
	if opts.Preset != "" {
		return Summary{}, fmt.Errorf("--preset applies to events; `import events --preset %s` imports its catalog too", opts.Preset)
	}
	rawNDJSON := len(opts.Map) == 0 && (opts.Format == FormatNDJSON || opts.Format == "" && isNDJSONName(opts.Name))
	rr, _, err := open(r, opts, !rawNDJSON)
	if err != nil {
		return Summary{}, err
	}
	ru := newRun(opts)
	write := func(it engine.Item) (*rejection, error) {
		if errs := it.Validate(); len(errs) > 0 {
			return fieldReject(errs), nil
		}
		if err := w.PutItem(it); err != nil {
			return nil, fmt.Errorf("write item: %w", err)
		}
		ru.sum.Imported++
		return nil, nil
	}
	if rawNDJSON {
		err = ru.each(ctx, rr, func(r row) (*rejection, error) {
			it, errs := engine.ParseItem(r.raw)
			if len(errs) > 0 {
				return fieldReject(errs), nil
			}
			return write(it)
		})
		ru.sum.Items = ru.sum.Imported
		return ru.sum, err
	}
	cols, err := resolveColumns(rr.header(), opts.Map, ItemFields)
	if err != nil {
		return Summary{}, err
	}
	if !cols.has(fID) {
		return Summary{}, fmt.Errorf("no id column: pass --map id=COLUMN")
	}
	err = ru.each(ctx, rr, func(r row) (*rejection, error) {
		f := r.fields
		it := engine.Item{ID: cols.get(f, fID), Title: cols.get(f, fTitle), Category: cols.get(f, fCategory),
			Brand: cols.get(f, fBrand), Currency: strings.ToUpper(cols.get(f, fCurrency)), Available: true}
		if it.Currency == "" {
			it.Currency = opts.Currency
		}
		if v := cols.get(f, fPrice); v != "" {
			p, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return reject("invalid price", "price %q is not a number", v), nil
			}
			it.Price = p
		}
		if v := cols.get(f, fAvailable); v != "" {
			b, err := parseBool(v)
			if err != nil {
				return reject("invalid available", "available %q is not true or false", v), nil
			}
			it.Available = b
		}
		return write(it)
	})
	ru.sum.Items = ru.sum.Imported
	return ru.sum, err
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "y", "t":
		return true, nil
	case "0", "false", "no", "n", "f":
		return false, nil
	}
	return false, strconv.ErrSyntax
}
