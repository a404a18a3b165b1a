package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"rapport/engine"
	"rapport/engine/demo"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "demo [--seed N] [--if-empty]", stderr)
	g := addGlobals(fs)
	seed := fs.Int64("seed", 1, "random seed: the same seed gives the same shop")
	ifEmpty := fs.Bool("if-empty", false, "do nothing when the data directory already holds data")
	customers := fs.Int("customers", 0, "registered customers (default 1500)")
	items := fs.Int("items", 0, "catalog size (default 2000)")
	lean := fs.Bool("lean", false, "a lean shop for load tests at scale: customers with a few purchases each (needs --items and --customers)")
	if rest, err := fs.parse(args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("demo takes no arguments")
	}
	if *customers < 0 || *items < 0 {
		return usagef("--customers and --items must not be negative")
	}
	db, err := openStore(g, true)
	if err != nil {
		return err
	}
	defer db.Close()
	if *ifEmpty {
		empty, err := db.Empty(ctx)
		if err != nil {
			return err
		}
		if !empty {
			fmt.Fprintf(stdout, "demo: %s already holds data; left as it is\n", g.where())
			return nil
		}
	}
	if *lean {
		if *items == 0 || *customers == 0 {
			return usagef("--lean needs --items and --customers")
		}
		start := time.Now()
		loader := db.NewLoader()
		st, err := demo.GenerateScale(ctx, demo.ScaleConfig{Seed: *seed, Now: time.Now().UTC().Truncate(time.Hour), Items: *items, Customers: *customers}, loader)
		if err != nil {
			loader.Cancel()
			return err
		}
		if err := loader.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "demo: wrote a lean shop of %s items, %s customers and %s events to %s in %.1fs\n",
			commas(int64(st.Items)), commas(int64(st.Identities)), commas(int64(st.Events)), g.where(), time.Since(start).Seconds())
		return nil
	}
	cfg := demo.DefaultConfig(*seed, time.Now().UTC().Truncate(time.Hour))
	if *customers > 0 {
		cfg.Customers = *customers
	}
	if *items > 0 {
		cfg.Items = *items
	}
	start := time.Now()
	loader := db.NewLoader()
	st, err := demo.Generate(ctx, cfg, loader)
	if err != nil {
		loader.Cancel()
		return err
	}
	if err := loader.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo: wrote %s items, %s identities and %s events (", commas(int64(st.Items)), commas(int64(st.Identities)), commas(int64(st.Events)))
	for i, t := range engine.EventTypes {
		if i > 0 {
			fmt.Fprint(stdout, ", ")
		}
		fmt.Fprintf(stdout, "%s %s", commas(int64(st.ByType[t])), t)
	}
	fmt.Fprintf(stdout, ") to %s in %.1fs\n", g.where(), time.Since(start).Seconds())
	return nil
}
