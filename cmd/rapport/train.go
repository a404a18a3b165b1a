package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"rapport/engine"
)

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", "train [flags]", stderr)
	g := addGlobals(fs)
	mf := addModelFlags(fs)
	asJSON := fs.Bool("json", false, "print the new version as JSON")
	ifNone := fs.Bool("if-none", false, "do nothing when a promoted model version exists already")
	if rest, err := fs.parse(args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("train takes no arguments")
	}
	overrides, err := mf.overrides()
	if err != nil {
		return err
	}
	logger, err := g.logger(io.Discard)
	if err != nil {
		return usagef("%v", err)
	}
	db, err := openStore(g, false)
	if err != nil {
		return err
	}
	defer db.Close()
	cfg, err := trainingConfig(ctx, db, overrides)
	if err != nil {
		return err
	}
	p := newPipeline(db, cfg, nil, logger)
	p.trainer.Margin = *mf.margin
	if err := p.loadServing(ctx); err != nil {
		return err
	}
	if l := p.serving.Load(); *ifNone && l != nil {
		fmt.Fprintf(stdout, "model %s is already trained; left as it is\n", l.VersionID())
		return nil
	}
	// Through the scheduler, so the runs are in the job history like any.
	sched := newScheduler(db, logger, replicaName(), 0)
	if err := p.schedule(sched, Schedules{}); err != nil {
		return err
	}
	start := time.Now()
	p.trainer.Progress = stageProgress(stderr)
	runJob := func(name string) (engine.JobRun, error) {
		r, err := sched.RunNow(ctx, name)
		switch {
		case err != nil:
			return r, err
		case ctx.Err() != nil:
			return r, ctx.Err()
		case r.Status != engine.RunSucceeded:
			return r, fmt.Errorf("%s %s: %s", name, r.Status, r.Error)
		}
		return r, nil
	}
	merged, err := runJob("merge")
	if err != nil {
		return err
	}
	mergeSeconds := merged.EndedAt.Sub(merged.StartedAt).Seconds()
	trained, err := runJob("train")
	if err != nil {
		return err
	}
	counts := trained.Counts
	v := *p.trained.Load()
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"version": v, "seconds": time.Since(start).Seconds(), "counts": counts})
	}
	fmt.Fprintf(stdout, "model %s trained on %s events of %s identities and %s items in %.1fs (merge %.1fs, train+measure %.1fs, vectors refreshed: %s)\n",
		v.ID, commas(int64(v.Events)), commas(int64(v.Identities)), commas(int64(v.Items)), time.Since(start).Seconds(), mergeSeconds, v.TrainSeconds, commas(int64(counts["vectors"])))
	fmt.Fprintf(stdout, "held out: %s\n", v.Holdout)
	keys := make([]string, 0, len(v.Metrics))
	for k := range v.Metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "  %-20s %.4f\n", k, v.Metrics[k])
	}
	if v.Status != engine.VersionPromoted {
		fmt.Fprintf(stdout, "status: %s, not serving: %s (rapport models promote %s to serve it anyway)\n", v.Status, v.Reason, v.ID)
		return nil
	}
	fmt.Fprintf(stdout, "status: %s (serving from the next server start, or now in a running server's train job)\n", v.Status)
	return nil
}

// stageProgress reports training stages: a live line on a terminal, one
// line per stage otherwise.
func stageProgress(w io.Writer) func(stage string, done, total int) {
	term := isTerminal(w)
	last := ""
	return func(stage string, done, total int) {
		if term {
			bar := strings.Repeat("#", 20*done/max(total, 1))
			fmt.Fprintf(w, "\r\033[K%-34s [%-20s] %d/%d", stage, bar, done, total)
			if stage == "training" && done == total {
				fmt.Fprint(w, "\r\033[K")
			}
			return
		}
		if stage != last {
			fmt.Fprintf(w, "%s…\n", stage)
			last = stage
		}
	}
}
