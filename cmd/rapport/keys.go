package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"rapport/engine"
	"rapport/store"
)

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("keys needs a subcommand: create, list or revoke")
	}
	switch args[0] {
	case "create":
		return keysCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return keysList(ctx, args[1:], stdout, stderr)
	case "revoke":
		return keysRevoke(ctx, args[1:], stdout, stderr)
	}
	return usagef("keys: unknown subcommand %q (create, list, revoke)", args[0])
}

// openStore opens the data directory for a command-line tool. Bulk writers
// (import, demo) pass bulk=true: their Loader fsyncs once at the end.
func openStore(g *globals, bulk bool) (*store.DB, error) {
	opts, err := g.storeOptions()
	if err != nil {
		return nil, err
	}
	if bulk {
		opts = opts.ForBulkLoad()
	}
	return store.Open(opts)
}

func keysCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys create", "keys create --role ROLE [--name NAME] [--org ORG] [--rate N] [--replace]", stderr)
	g := addGlobals(fs)
	role := fs.String("role", "", "browser (publishable), ingest, storefront, portal, data or admin")
	name := fs.String("name", "", "a label for the key")
	replace := fs.Bool("replace", false, "revoke active keys with the same name first")
	org := fs.String("org", "", "scope the key to one organisation (portal and storefront keys)")
	rate := fs.Float64("rate", 0, "the key's own rate limit in requests per second (0: the server's --rate-limit)")
	if rest, err := fs.parse(args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("keys create takes no arguments, got %q", rest)
	}
	r, err := engine.ParseRole(*role)
	if err != nil {
		return usagef("--role: %s", engine.ErrorMessage(err))
	}
	if *replace && *name == "" {
		return usagef("--replace needs --name")
	}
	k, secret, err := engine.NewAPIKey(r, *name, time.Now())
	if err == nil {
		err = k.Restrict(*org, *rate)
	}
	if err != nil {
		return usagef("%s", engine.ErrorMessage(err))
	}
	db, err := openStore(g, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if *replace {
		keys, err := db.Keys(ctx)
		if err != nil {
			return err
		}
		for _, old := range keys {
			if old.Name == *name && old.Active() {
				if _, err := db.RevokeKey(ctx, old.ID, time.Now()); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "revoked %s (%s)\n", old.ID, old.Name)
			}
		}
	}
	if err := db.CreateKey(ctx, k); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s key %s %s; the secret below is shown once:\n%s\n", k.Role, k.ID, quoteName(k.Name), secret)
	return nil
}

func quoteName(n string) string {
	if n == "" {
		return ""
	}
	return fmt.Sprintf("(%q)", n)
}

func keysList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys list", "keys list", stderr)
	g := addGlobals(fs)
	if rest, err := fs.parse(args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("keys list takes no arguments")
	}
	db, err := openStore(g, false)
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := db.Keys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tNAME\tCREATED\tSTATUS")
	for _, k := range keys {
		status := "active"
		if !k.Active() {
			status = "revoked " + k.RevokedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, k.Name, k.CreatedAt.Format(time.RFC3339), status)
	}
	return tw.Flush()
}

func keysRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys revoke", "keys revoke KEY_ID", stderr)
	g := addGlobals(fs)
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("keys revoke takes one key id (see rapport keys list)")
	}
	db, err := openStore(g, false)
	if err != nil {
		return err
	}
	defer db.Close()
	k, err := db.RevokeKey(ctx, rest[0], time.Now())
	if engine.ErrorCode(err) == engine.CodeNotFound {
		return fmt.Errorf("%s", engine.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s (%s key) at %s\n", k.ID, k.Role, k.RevokedAt.Format(time.RFC3339))
	return nil
}
