// Command rapport is Rapport's single binary: the server, the importer, key
// management, the demo generator and the load tool.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `rapport — personalization keyed on customer identity

usage: rapport <command> [flags]

commands:
  serve                     run the HTTP API
  import events FILE        import events from CSV, TSV or NDJSON (gzip detected)
  import items FILE         import catalog items
  train                     merge features and train a model version once, in the foreground
  recommend                 recommend for --identity ALIAS or --identities FILE from the data dir
  eval [FILE]               compare models offline on a split (see rapport eval -h)
  tune [FILE]               search a model's settings on a validation split; --save for train
  keys create|list|revoke   manage API keys
  models list|promote|rollback   the model registry: which version serves
  backup --to FILE          a consistent snapshot (of a running server with --url and an admin --key)
  restore --from FILE       load a backup into a new data directory
  demo                      fill a data directory with a synthetic shop
  bench ingest              load-test POST /v1/events on a running server
  version                   print the version

Every command takes --data DIR (default ./rapport-data) and reads each flag's
default from RAPPORT_<FLAG> (RAPPORT_DATA, RAPPORT_ADDR, …).
Run "rapport <command> -h" for its flags.
`

func main() {
	privateFiles()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code: 0 on
// success, 2 for usage errors, 1 for anything else.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = runServe(ctx, rest, stdout, stderr)
	case "import":
		err = runImport(ctx, rest, stdout, stderr)
	case "backup":
		err = runBackup(ctx, rest, stdout, stderr)
	case "restore":
		err = runRestore(ctx, rest, stdout, stderr)
	case "models":
		err = runModels(ctx, rest, stdout, stderr)
	case "keys":
		err = runKeys(ctx, rest, stdout, stderr)
	case "demo":
		err = runDemo(ctx, rest, stdout, stderr)
	case "train":
		err = runTrain(ctx, rest, stdout, stderr)
	case "recommend":
		err = runRecommend(ctx, rest, stdout, stderr)
	case "eval":
		err = runEval(ctx, rest, stdout, stderr)
	case "tune":
		err = runTune(ctx, rest, stdout, stderr)
	case "bench":
		err = runBench(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "rapport", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "rapport: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "rapport: %v\n", err)
		return 2
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "rapport: interrupted")
		return 130
	default:
		fmt.Fprintf(stderr, "rapport: %v\n", err)
		return 1
	}
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }
