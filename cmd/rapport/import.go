package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"rapport/engine"
	"rapport/engine/importer"
	"rapport/features"
	"rapport/store"
)

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || !slices.Contains([]string{"events", "items", "social", "consents"}, args[0]) {
		return usagef("import needs what to import: rapport import events|items|social|consents FILE")
	}
	what := args[0]
	fs := newFlagSet("import "+what, "import "+what+" FILE [flags]", stderr)
	g := addGlobals(fs)
	src := addSourceFlags(fs)
	strict := fs.Bool("strict", false, "check every row first and import nothing if any is bad")
	rejects := fs.String("rejects", "", "write rejected rows with their reasons to this file")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	policyFile := addPolicyFlag(fs)
	rest, err := fs.parse(args[1:])
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("import %s takes one FILE", what)
	}
	fields := map[string][]string{"events": importer.EventFields, "social": importer.EventFields, "items": importer.ItemFields, "consents": importer.ConsentFields}[what]
	opts, err := src.options(rest[0], fields)
	if err != nil {
		return err
	}
	opts.Strict = *strict
	policy, err := loadPolicy(*policyFile)
	if err != nil {
		return err
	}
	var do importFunc
	switch what {
	case "events":
		do = importer.Events
	case "items":
		do = importer.Items
	case "social":
		if opts.Type == "" && opts.Map["type"] == "" {
			opts.Type = engine.EventSocialFollow
		}
		if !strings.HasPrefix(opts.Source, "social:") && opts.Map["source"] == "" {
			return usagef("import social needs --source social:<provider> (or a source column)")
		}
		do = importer.Events
	case "consents":
		do = func(ctx context.Context, r io.Reader, w importer.Writer, opts importer.Options) (importer.Summary, error) {
			return importer.Consents(ctx, r, w.(importer.ConsentWriter), opts)
		}
	}
	db, err := openStore(g, true) // first, so a running server is reported before any work
	if err != nil {
		return err
	}
	start := time.Now()
	gate := &gatedWriter{db: db, gate: features.NewGate(policy), socialOnly: what == "social", ctx: ctx}
	sum, err := importInto(ctx, db, rest[0], do, gate, opts, *rejects, stderr)
	if err == nil && what == "consents" {
		var purged int
		if purged, err = gate.enforce(ctx); err == nil && purged > 0 {
			fmt.Fprintf(stderr, "purged %d social signals that the imported consents no longer permit\n", purged)
		}
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return printSummary(stdout, what, sum, time.Since(start), g.where(), *asJSON)
}

// importInto runs the import into db through gate: with --strict, a dry
// pass over the whole file first; then the real pass through a bulk Loader.
func importInto(ctx context.Context, db *store.DB, path string, do importFunc, gate *gatedWriter, opts importer.Options, rejects string, stderr io.Writer) (importer.Summary, error) {
	if opts.Strict {
		if path == "-" {
			return importer.Summary{}, usagef("--strict needs a file it can read twice, not standard input")
		}
		gate.w = dryRun{}
		if _, err := importRun(ctx, path, do, gate, opts, stderr); err != nil {
			return importer.Summary{}, err
		}
		opts.Strict = false
	}
	if rejects != "" {
		f, err := os.Create(rejects)
		if err != nil {
			return importer.Summary{}, fmt.Errorf("create the rejects file: %w", err)
		}
		defer f.Close()
		opts.Rejects = f
	}
	loader := db.NewLoader()
	gate.w = loader
	sum, err := importRun(ctx, path, do, gate, opts, stderr)
	if err != nil {
		loader.Cancel()
		return sum, err
	}
	if f, ok := opts.Rejects.(*os.File); ok {
		if err := f.Close(); err != nil {
			return sum, fmt.Errorf("write the rejects file: %w", err)
		}
	}
	return sum, loader.Close()
}

// sourceFlags are the flags that say how to read an events or items file,
// shared by import and eval.
type sourceFlags struct {
	format, mapping, preset, identityKind, typ, layout, currency, source, guests *string
}

func addSourceFlags(fs *flagSet) *sourceFlags {
	return &sourceFlags{
		format:       fs.String("format", "", "csv, tsv or ndjson (default: from the file name)"),
		mapping:      fs.String("map", "", "field=COLUMN,... (events: identity, item, time, quantity, price, currency, type, region, source, weight, id, target, friend, org, title, category, brand; items: id, title, category, brand, price, currency, available)"),
		preset:       fs.String("preset", "", "a known data set: online-retail"),
		identityKind: fs.String("identity-kind", "", "alias kind for bare identity values, e.g. customer"),
		typ:          fs.String("type", "", "event type when there is no type column"),
		layout:       fs.String("time-layout", "", "Go time layout of the time column, or unix / unix_ms (default RFC 3339)"),
		currency:     fs.String("currency", "", "currency when there is no currency column"),
		source:       fs.String("source", "", "event source when there is no source column"),
		guests:       fs.String("guests", "anon", "online-retail rows without a CustomerID: anon (one visitor per invoice) or skip"),
	}
}

// options checks the flags and returns importer options for file name.
func (f *sourceFlags) options(name string, fields []string) (importer.Options, error) {
	m, err := importer.ParseMap(*f.mapping, fields)
	if err != nil {
		return importer.Options{}, usagef("%v", err)
	}
	opts := importer.Options{
		Name: name, Map: m, IdentityKind: *f.identityKind, Type: engine.EventType(*f.typ), TimeLayout: *f.layout,
		Currency: *f.currency, Source: *f.source, Preset: *f.preset, Guests: *f.guests,
	}
	if *f.format != "" {
		if opts.Format, err = importer.ParseFormat(*f.format); err != nil {
			return importer.Options{}, usagef("--format: %v", err)
		}
	}
	return opts, nil
}

type importFunc func(context.Context, io.Reader, importer.Writer, importer.Options) (importer.Summary, error)

// importRun opens path ("-" for standard input) and imports it, with a
// progress bar when stderr is a terminal.
func importRun(ctx context.Context, path string, do importFunc, w importer.Writer, opts importer.Options, stderr io.Writer) (importer.Summary, error) {
	var in io.Reader = os.Stdin
	var size int64
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return importer.Summary{}, err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
		in = f
	} else if opts.Format == "" && opts.Preset == "" {
		return importer.Summary{}, usagef("reading standard input needs --format")
	}
	cr := &countingReader{r: in}
	if isTerminal(stderr) {
		bar := &progressBar{w: stderr, in: cr, total: size, start: time.Now()}
		opts.Progress = bar.update
		defer bar.finish()
	}
	return do(ctx, cr, w, opts)
}

func printSummary(w io.Writer, what string, sum importer.Summary, elapsed time.Duration, dataDir string, asJSON bool) error {
	size, _ := diskUsage(dataDir)
	rate := float64(sum.Rows) / elapsed.Seconds()
	if asJSON {
		return json.NewEncoder(w).Encode(map[string]any{
			"rows": sum.Rows, "imported": sum.Imported, "skipped": sum.Skipped, "skipped_total": sum.SkippedTotal(),
			"items": sum.Items, "items_skipped": sum.ItemsSkipped, "seconds": elapsed.Seconds(), "rows_per_second": rate,
			"data_dir": dataDir, "data_dir_bytes": size,
		})
	}
	fmt.Fprintf(w, "read      %s rows in %.2fs (%s rows/s)\n", commas(int64(sum.Rows)), elapsed.Seconds(), commas(int64(rate)))
	fmt.Fprintf(w, "imported  %s %s\n", commas(int64(sum.Imported)), what)
	fmt.Fprintf(w, "skipped   %s rows\n", commas(int64(sum.SkippedTotal())))
	for _, r := range importer.Reasons(sum.Skipped) {
		fmt.Fprintf(w, "  %10s  %s\n", commas(int64(sum.Skipped[r])), r)
	}
	if what == "events" && (sum.Items > 0 || len(sum.ItemsSkipped) > 0) {
		fmt.Fprintf(w, "catalog   %s items written\n", commas(int64(sum.Items)))
		for _, r := range importer.Reasons(sum.ItemsSkipped) {
			fmt.Fprintf(w, "  %10s  items left out: %s\n", commas(int64(sum.ItemsSkipped[r])), r)
		}
	}
	if store.IsRedisURL(dataDir) {
		fmt.Fprintf(w, "store     %s\n", dataDir)
		return nil
	}
	fmt.Fprintf(w, "data dir  %s (%s on disk)\n", dataDir, humanBytes(size))
	return nil
}

// diskUsage sums the disk blocks used under dir (like du), not apparent
// sizes, since Badger preallocates sparse files.
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else if !d.IsDir() {
			total += info.Size()
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return total, err
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
