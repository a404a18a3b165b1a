package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"rapport/engine/eval"
	"rapport/engine/model"
)

const tuneHelp = `
Searches a model's configuration for the best NDCG@k on a validation split
carved out of the training part of --split (for a time split, the last
--validation-days before the cutoff; otherwise the same protocol again on
the training data), so the test part stays unseen while choosing. Trial 0
is the configuration train uses now (the tuned one, else the defaults); the
best configuration and trial 0 are then both scored on the test part.
--save stores the best configuration in --data; train and serve use it
from then on (flags such as --factors still override it; --reset removes it).

Search spaces (random values: uniform, or log-uniform where marked):
`

func runTune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tune", "tune [FILE] [flags]   (without FILE: the events in --data)", stderr)
	g := addGlobals(fs)
	src := addSourceFlags(fs)
	name := fs.String("model", "ranker", "model to tune: ranker, als or itemknn")
	trials := fs.Int("trials", 30, "configurations to try, trial 0 (the current one) included")
	budget := fs.Duration("budget", 10*time.Minute, "stop starting new trials after this long (0: no limit)")
	search := fs.String("search", "halving", "random (every trial on all validation people) or halving (successive halving, η = 3)")
	split := fs.String("split", "time", "time, user-random or leave-last-out (as in eval)")
	cutoff := fs.String("cutoff", "", "time split: first day of the test period")
	fraction := fs.Float64("test-fraction", 0, "time split without --cutoff, or user-random: the share held out")
	window := fs.Int("validation-days", 30, "time split: days before the cutoff that validate")
	seed := fs.Int64("seed", 1, "random seed of the search and the split")
	task := fs.String("task", "", "discover or reorder (default: the model's own task)")
	k := fs.Int("k", 10, "list length")
	save := fs.Bool("save", false, "store the best configuration in --data as the one train uses")
	reset := fs.Bool("reset", false, "remove the stored tuned configuration from --data and exit")
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: rapport tune [FILE] [flags]\n%s", tuneHelp)
		for _, n := range slices.Sorted(maps.Keys(eval.Spaces)) {
			fmt.Fprintf(stderr, "  %s:\n", n)
			for _, p := range eval.Spaces[n].Params {
				fmt.Fprintf(stderr, "    %s\n", p)
			}
		}
		fmt.Fprintf(stderr, "\nflags:\n")
		fs.PrintDefaults()
	}
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if *reset {
		db, err := openStore(g, false)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.DeleteSetting(ctx, tunedSetting); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "removed the tuned configuration; train uses the defaults")
		return nil
	}
	space, ok := eval.Spaces[*name]
	switch {
	case !ok:
		return usagef("--model %q is not one of %s", *name, strings.Join(slices.Sorted(maps.Keys(eval.Spaces)), ", "))
	case len(rest) > 1:
		return usagef("tune takes at most one FILE")
	case *trials < 1 || *trials > 10000:
		return usagef("--trials must be 1 to 10000")
	case *budget < 0:
		return usagef("--budget must not be negative")
	case *search != "random" && *search != "halving":
		return usagef("--search %q is not random or halving", *search)
	case *k < 1 || *k > 1000:
		return usagef("--k must be 1 to 1000")
	case *window < 0 || *window > 3650:
		return usagef("--validation-days must be 0 to 3650")
	}
	t := space.Task
	if *task != "" {
		if t, err = eval.ParseTask(*task); err != nil {
			return usagef("--task: %v", err)
		}
	}
	// Trial 0 is what train would use now: the stored tuned configuration,
	// else the defaults.
	base := model.DefaultRankerConfig()
	if _, err := os.Stat(*g.data); err == nil || *g.store != "" {
		db, err := openStore(g, false)
		if err != nil {
			return err
		}
		base, err = trainingConfig(ctx, db, nil)
		db.Close()
		if err != nil {
			return err
		}
	}
	base.Seed = uint64(*seed)
	d, err := loadDataset(ctx, rest, src, g, stderr)
	if err != nil {
		return err
	}
	s, err := makeSplit(d, *split, *cutoff, "", *fraction, *seed)
	if err != nil {
		return err
	}
	w := time.Duration(0)
	if *split == "time" {
		w = time.Duration(*window) * 24 * time.Hour
	}
	valid, err := eval.ValidationSplit(s, w, func(train *model.Dataset) (eval.Split, error) {
		return makeSplit(train, *split, "", "", *fraction, *seed)
	})
	if err != nil {
		return err
	}
	tuner := &eval.Tuner{Space: space, Base: base, Valid: valid, Task: t, K: *k, Trials: *trials, Search: *search, Budget: *budget, Seed: uint64(*seed)}
	tuner.Progress = func(p eval.TuneProgress) {
		fmt.Fprintf(stderr, "\rtrial %d/%d  rung %d/%d  best NDCG@%d %.4f  %s ", p.Done, p.Total, p.Rung, p.Rungs, *k, p.Best, p.Elapsed.Round(time.Second))
	}
	fmt.Fprintf(stderr, "validating on %s\n", valid.Protocol)
	ranked, err := tuner.Run(ctx)
	fmt.Fprintln(stderr)
	if err != nil {
		return err
	}
	best := ranked[0]
	var start eval.Trial
	for _, tr := range ranked {
		if tr.ID == 0 {
			start = tr
		}
	}
	// Both finalists on the test part, which tuning never saw.
	testOf := func(c model.RankerConfig) (float64, error) {
		r, err := eval.Evaluate(ctx, space.Build(c), s, t, *k)
		return r.NDCG, err
	}
	bestTest, err := testOf(best.Config)
	if err != nil {
		return err
	}
	startTest := bestTest
	if best.ID != 0 {
		if startTest, err = testOf(start.Config); err != nil {
			return err
		}
	}
	saved := false
	if *save {
		if best.Share < 1 {
			return fmt.Errorf("no trial was scored on every validation person within the budget; nothing saved (raise --budget)")
		}
		raw, err := json.Marshal(best.Config)
		if err != nil {
			return err
		}
		db, err := openStore(g, false)
		if err != nil {
			return err
		}
		err = db.PutSetting(ctx, tunedSetting, raw)
		db.Close()
		if err != nil {
			return err
		}
		saved = true
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"model": space.Model, "task": t, "k": *k, "validation": valid.Protocol, "test": s.Protocol,
			"params": paramNames(space), "trials": ranked, "best_test_ndcg": bestTest, "start_test_ndcg": startTest, "saved": saved,
		})
	}
	fmt.Fprintf(stdout, "model %s; task %s; validation %s; %d trials, %s search\n\n", space.Model, t, valid.Protocol, len(ranked), *search)
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "rank\ttrial\t%s\tNDCG@%d\tpeople\tseconds\n", strings.Join(paramNames(space), "\t"), *k)
	for i, tr := range ranked {
		if tr.Share == 0 {
			continue // never scored: the budget ran out first
		}
		id := fmt.Sprint(tr.ID)
		if tr.ID == 0 {
			id = "0 (current)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.4f\t%.0f%%\t%.1f\n", i+1, id, strings.Join(tr.Values, "\t"), tr.Score, 100*tr.Share, tr.Seconds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\non the test part (%s): best trial %d NDCG@%d %.4f; current configuration %.4f\n", s.Protocol, best.ID, *k, bestTest, startTest)
	if saved {
		fmt.Fprintf(stdout, "saved trial %d as the configuration train uses in %s\n", best.ID, g.where())
	}
	return nil
}

func paramNames(s eval.Space) []string {
	out := make([]string, len(s.Params))
	for i, p := range s.Params {
		out[i] = p.Name
	}
	return out
}
