package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"rapport/engine"
	"rapport/engine/eval"
	"rapport/engine/eval/report"
	"rapport/engine/importer"
	"rapport/engine/model"
)

const evalHelp = `
Trains each model on the training part of a split and scores its top-k
lists against the purchases held out. Splits:
  --split time --cutoff DATE        train before DATE, test purchases from DATE on
  --split time --test-fraction F    the cutoff leaving the last F of purchases for test
  --split user-random --test-fraction F --seed S   a random F of each person's purchases
  --split leave-last-out            each person's last purchase
Tasks: discover (only items new to the person count, and known ones are not
candidates) or reorder (only items bought before count).

Metrics:
`

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", "eval [FILE] [flags]   (without FILE: the events in --data)", stderr)
	g := addGlobals(fs)
	src := addSourceFlags(fs)
	split := fs.String("split", "time", "time, user-random or leave-last-out")
	cutoff := fs.String("cutoff", "", "time split: first day of the test period (YYYY-MM-DD or RFC 3339)")
	until := fs.String("until", "", "time split: end of the test period (default: the end of the data)")
	fraction := fs.Float64("test-fraction", 0, "time split without --cutoff, or user-random: the share held out")
	seed := fs.Int64("seed", 1, "random seed (user-random split, models)")
	task := fs.String("task", "discover", "discover or reorder")
	k := fs.Int("k", 10, "list length")
	models := fs.String("models", "popularity,trending,frequency,reorder", "models to compare: "+strings.Join(modelNames, ", "))
	asJSON := fs.Bool("json", false, "print JSON")
	reportFile := fs.String("report", "", "also write a self-contained HTML report with plots to this file")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: rapport eval [FILE] [flags]\n%s%s\n\nflags:\n", evalHelp, eval.Definitions)
		fs.PrintDefaults()
	}
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usagef("eval takes at most one FILE")
	}
	t, err := eval.ParseTask(*task)
	if err != nil {
		return usagef("--task: %v", err)
	}
	if *k < 1 || *k > 1000 {
		return usagef("--k must be 1 to 1000")
	}
	ms, err := buildModels(*models, *seed, *reportFile != "")
	if err != nil {
		return usagef("--models: %v", err)
	}
	d, err := loadDataset(ctx, rest, src, g, stderr)
	if err != nil {
		return err
	}
	s, err := makeSplit(d, *split, *cutoff, *until, *fraction, *seed)
	if err != nil {
		return err
	}
	var results []eval.Result
	for _, m := range ms {
		r, err := eval.Evaluate(ctx, m, s, t, *k)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	// Reorders on a time split also measure the prefill's order lines.
	var orders *eval.OrderResult
	if t == eval.TaskReorder && *split == "time" && *cutoff != "" {
		c, _ := parseDay(*cutoff)
		o := eval.Orders(d, c)
		orders = &o
	}
	if *reportFile != "" {
		in := report.Input{Command: "rapport eval " + strings.Join(args, " "), Protocol: s.Protocol, Task: t, K: *k, Generated: time.Now(),
			Results: results, Relevant: eval.RelevantDeciles(s, eval.CasesFor(s, t)), Orders: orders}
		if err := writeReport(*reportFile, in); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", *reportFile)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"protocol": s.Protocol, "task": t, "k": *k, "results": results, "orders": orders})
	}
	fmt.Fprintf(stdout, "split %s; task %s; k %d; %s test people, %s relevant pairs\n\n", s.Protocol, t, *k, commas(int64(results[0].Users)), commas(int64(results[0].Pairs)))
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "model\tNDCG@%d\trecall\tprecision\tMAP\tMRR\thit\tcoverage\tnovelty\ttrain s\t\n", *k)
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.2f\t%.2f\t\n", r.Model, r.NDCG, r.Recall, r.Precision, r.MAP, r.MRR, r.HitRate, r.Coverage, r.Novelty, r.TrainSeconds)
	}
	if err := tw.Flush(); err != nil || orders == nil {
		return err
	}
	fmt.Fprintf(stdout, "\norder lines: %s (person, item) pairs ordered before the cutoff and again after\n", commas(int64(orders.Pairs)))
	for _, name := range []string{eval.QuantityUsual, eval.QuantityMedian, eval.QuantityLast, eval.QuantityCeilingModeLast, eval.QuantityCeilingAnyPast} {
		fmt.Fprintf(stdout, "  quantity = next order's, %-44s %6.2f%%\n", name+":", 100*float64(orders.QuantityHits[name])/float64(max(1, orders.Pairs)))
	}
	fmt.Fprintf(stdout, "next-order date, median error in days over %s pairs with two or more orders:\n", commas(int64(orders.DatePairs)))
	for _, name := range []string{eval.DateCadence, eval.DateLast} {
		fmt.Fprintf(stdout, "  %-32s %6.1f\n", name+":", orders.DateErrorDays[name])
	}
	return nil
}

func makeSplit(d *model.Dataset, kind, cutoff, until string, fraction float64, seed int64) (eval.Split, error) {
	switch kind {
	case "time":
		if cutoff != "" {
			c, err := parseDay(cutoff)
			if err != nil {
				return eval.Split{}, usagef("--cutoff: %v", err)
			}
			var u time.Time
			if until != "" {
				if u, err = parseDay(until); err != nil || !u.After(c) {
					return eval.Split{}, usagef("--until must be a day after --cutoff")
				}
			}
			return eval.TimeSplit(d, c, u), nil
		}
		if fraction == 0 {
			return eval.Split{}, usagef("--split time needs --cutoff or --test-fraction")
		}
		s, err := eval.TimeFractionSplit(d, fraction)
		if err != nil {
			return s, usagef("%v", err)
		}
		return s, nil
	case "user-random":
		s, err := eval.UserRandomSplit(d, fraction, uint64(seed))
		if err != nil {
			return s, usagef("%v", err)
		}
		return s, nil
	case "leave-last-out":
		return eval.LeaveLastOutSplit(d), nil
	}
	return eval.Split{}, usagef("--split %q is not time, user-random or leave-last-out", kind)
}

func parseDay(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not YYYY-MM-DD or RFC 3339", s)
	}
	return t, nil
}

// datasetWriter collects imported events into a dataset.
type datasetWriter struct{ b *model.Builder }

func (w datasetWriter) AddEvent(ev *engine.Event, _ uint64) (bool, error) {
	w.b.Add(ev)
	return true, nil
}
func (w datasetWriter) PutItem(engine.Item) error { return nil }

// writeReport writes the HTML report to a temporary file beside path and
// renames it into place, so a failed run leaves no half-written report.
func writeReport(path string, in report.Input) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".report-*.html")
	if err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	defer os.Remove(f.Name())
	if err := report.Write(f, in); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// loadDataset reads the events of FILE, when given, else of the data dir.
func loadDataset(ctx context.Context, files []string, src *sourceFlags, g *globals, stderr io.Writer) (*model.Dataset, error) {
	if len(files) == 0 {
		return datasetFromStore(ctx, g)
	}
	opts, err := src.options(files[0], importer.EventFields)
	if err != nil {
		return nil, err
	}
	return datasetFromFile(ctx, files[0], opts, stderr)
}

func datasetFromFile(ctx context.Context, path string, opts importer.Options, stderr io.Writer) (*model.Dataset, error) {
	b := model.NewBuilder()
	sum, err := importRun(ctx, path, importer.Events, datasetWriter{b}, opts, stderr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "read %s rows: %s events, %s skipped\n", commas(int64(sum.Rows)), commas(int64(sum.Imported)), commas(int64(sum.SkippedTotal())))
	return b.Build(), nil
}

func datasetFromStore(ctx context.Context, g *globals) (*model.Dataset, error) {
	db, err := openStore(g, false)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	b := model.NewBuilder()
	err = db.ScanEvents(ctx, func(id engine.IdentityID, ev *engine.Event) error { b.AddAs(id.Key(), ev); return nil })
	return b.Build(), err
}
