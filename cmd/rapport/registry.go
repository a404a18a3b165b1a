package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"rapport/engine"
)

// runModels is `rapport models list|promote V|rollback [V]`: the model
// registry on a data directory (with the server stopped; a running server
// is reached through POST /v1/models/{version}/promote).
func runModels(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || !slices.Contains([]string{"list", "promote", "rollback"}, args[0]) {
		return usagef("models needs a subcommand: list, promote VERSION or rollback [VERSION]")
	}
	sub := args[0]
	fs := newFlagSet("models "+sub, "models "+sub+" [VERSION]", stderr)
	g := addGlobals(fs)
	rest, err := fs.parse(args[1:])
	if err != nil {
		return err
	}
	switch {
	case sub == "list" && len(rest) > 0:
		return usagef("models list takes no arguments")
	case sub == "promote" && len(rest) != 1:
		return usagef("models promote takes one VERSION")
	case sub == "rollback" && len(rest) > 1:
		return usagef("models rollback takes at most one VERSION")
	}
	db, err := openStore(g, false)
	if err != nil {
		return err
	}
	defer db.Close()
	serving, _, err := db.ServingVersion(ctx)
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		vs, err := db.Versions(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\tversion\tcreated\tstatus\tdiscover NDCG@10\treorder NDCG@10\treason")
		for _, v := range vs {
			mark := ""
			if v.ID == serving.ID {
				mark = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.4f\t%.4f\t%s\n", mark, v.ID, v.CreatedAt.Format("2006-01-02 15:04"), v.Status,
				v.Metrics[engine.GuardMetric], v.Metrics["reorder_ndcg@10"], v.Reason)
		}
		return tw.Flush()
	case "promote":
		v, err := db.SetServing(ctx, rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s serves (was %s); a running server picks it up on restart, or use POST /v1/models/%s/promote\n", v.ID, orNone(serving.ID), v.ID)
		return nil
	}
	// rollback: to the named version, which must be older than the one
	// serving, or to the newest older one that has served.
	target := ""
	if len(rest) == 1 {
		target = rest[0]
		if serving.ID != "" && target >= serving.ID {
			return usagef("%s is not earlier than the serving %s; use models promote", target, serving.ID)
		}
	} else {
		history, err := db.ServingHistory(ctx)
		if err != nil {
			return err
		}
		for i := len(history) - 1; i >= 0; i-- {
			if history[i] < serving.ID {
				target = history[i]
				break
			}
		}
		if target == "" {
			return usagef("no version older than %s has served; name one to roll back to", orNone(serving.ID))
		}
	}
	v, err := db.SetServing(ctx, target)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rolled back: %s serves (was %s)\n", v.ID, orNone(serving.ID))
	return nil
}

func orNone(id string) string {
	if id == "" {
		return "none"
	}
	return id
}
