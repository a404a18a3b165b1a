package importer

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"rapport/engine"
)

// ConsentWriter receives validated consent decisions; id derives from the
// row, so importing the same file again rewrites the same records. It may
// return a *Skip to leave a row out (a consent for an alias nobody has).
type ConsentWriter interface {
	AddConsent(a engine.Alias, c engine.Consent, id uint64) error
}

// Consents imports consent decisions collected elsewhere (a consent
// management platform): one row per decision, with identity, purpose and
// granted (true/false, yes/no, 1/0, granted/denied), and optionally time
// (default now), expires, source (default --source, else "import") and
// policy_version. Rows are validated like PUT …/consents/{purpose}.
func Consents(ctx context.Context, r io.Reader, w ConsentWriter, opts Options) (Summary, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	rr, _, err := open(r, opts, true)
	if err != nil {
		return Summary{}, err
	}
	cols, err := resolveColumns(rr.header(), opts.Map, ConsentFields)
	if err != nil {
		return Summary{}, err
	}
	for _, f := range []field{fIdentity, fPurpose, fGranted} {
		if !cols.has(f) {
			return Summary{}, fmt.Errorf("no %s column: pass --map %s=COLUMN", f, f)
		}
	}
	ru := newRun(opts)
	ids := rowIDs{}
	err = ru.each(ctx, rr, func(rw row) (*rejection, error) {
		f := rw.fields
		identity := cols.get(f, fIdentity)
		if opts.IdentityKind != "" && identity != "" && !strings.Contains(identity, ":") {
			identity = opts.IdentityKind + ":" + identity
		}
		a, err := engine.ParseAlias(identity)
		if err != nil {
			return reject("invalid identity", "identity %q: %v", identity, err), nil
		}
		purpose, err := engine.ParsePurpose(cols.get(f, fPurpose))
		if err != nil {
			return reject("invalid purpose", "purpose %v", err), nil
		}
		c := engine.Consent{Purpose: purpose, Source: cols.get(f, fSource), PolicyVersion: cols.get(f, fPolicyVersion), Time: opts.Now.UTC(), Recorded: opts.Now.UTC(), Alias: a}
		if c.Source == "" {
			c.Source = opts.Source
		}
		if c.Source == "" {
			c.Source = "import"
		}
		if c.Granted, err = parseGranted(cols.get(f, fGranted)); err != nil {
			return reject("invalid granted", "granted %v", err), nil
		}
		for _, t := range []struct {
			field field
			dst   *time.Time
		}{{fTime, &c.Time}, {fExpires, &c.Expires}} {
			if v := cols.get(f, t.field); v != "" {
				if *t.dst, err = parseTime(v, opts.TimeLayout); err != nil {
					return reject("invalid "+t.field.String(), "%s %v", t.field, err), nil
				}
			}
		}
		if errs := c.Validate(opts.Now); len(errs) > 0 {
			return fieldReject(errs), nil
		}
		err = w.AddConsent(a, c, ids.next(rowHash(f)))
		if rej := skipped(err); rej != nil {
			return rej, nil
		}
		if err != nil {
			return nil, fmt.Errorf("write consent: %w", err)
		}
		ru.sum.Imported++
		return nil, nil
	})
	return ru.sum, err
}

// parseGranted reads a consent decision.
func parseGranted(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "1", "granted", "opt-in", "optin", "y":
		return true, nil
	case "false", "no", "0", "denied", "withdrawn", "opt-out", "optout", "n":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a decision (true/false, yes/no, 1/0, granted/denied)", v)
}
