package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"rapport/engine"
	"rapport/store"
)

// envName is the environment variable that gives a flag's default.
func envName(flagName string) string {
	return "RAPPORT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// flagSet is a flag.FlagSet whose every flag takes its default from
// RAPPORT_<NAME> when that is set, and whose usage names the variable.
type flagSet struct {
	*flag.FlagSet
	envErr error
}

func newFlagSet(name, usage string, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: rapport %s\n\nflags (each also read from RAPPORT_<FLAG> in the environment):\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

func (fs *flagSet) env(name string) (string, bool) {
	return os.LookupEnv(envName(name))
}

func (fs *flagSet) String(name, def, usage string) *string {
	if v, ok := fs.env(name); ok {
		def = v
	}
	return fs.FlagSet.String(name, def, usage+" ["+envName(name)+"]")
}

func (fs *flagSet) Bool(name string, def bool, usage string) *bool {
	if v, ok := fs.env(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fs.envErr = fmt.Errorf("%s=%q is not true or false", envName(name), v)
		}
		def = b
	}
	return fs.FlagSet.Bool(name, def, usage+" ["+envName(name)+"]")
}

func (fs *flagSet) Int(name string, def int, usage string) *int {
	if v, ok := fs.env(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			fs.envErr = fmt.Errorf("%s=%q is not an integer", envName(name), v)
		}
		def = n
	}
	return fs.FlagSet.Int(name, def, usage+" ["+envName(name)+"]")
}

func (fs *flagSet) Int64(name string, def int64, usage string) *int64 {
	if v, ok := fs.env(name); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			fs.envErr = fmt.Errorf("%s=%q is not an integer", envName(name), v)
		}
		def = n
	}
	return fs.FlagSet.Int64(name, def, usage+" ["+envName(name)+"]")
}

func (fs *flagSet) Duration(name string, def time.Duration, usage string) *time.Duration {
	if v, ok := fs.env(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			fs.envErr = fmt.Errorf("%s=%q is not a duration such as 30s", envName(name), v)
		}
		def = d
	}
	return fs.FlagSet.Duration(name, def, usage+" ["+envName(name)+"]")
}

// parse parses args, allowing flags after positional arguments
// (rapport import events FILE --preset x), and returns the positionals.
func (fs *flagSet) parse(args []string) ([]string, error) {
	if fs.envErr != nil {
		return nil, usageError{fs.envErr.Error()}
	}
	var positional []string
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			return nil, err
		} else if err != nil {
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// globals are the flags every subcommand takes.
type globals struct {
	data      *string
	store     *string
	logLevel  *string
	logFormat *string
}

func addGlobals(fs *flagSet) *globals {
	return &globals{
		data:      fs.String("data", "./rapport-data", "data directory (the Badger store)"),
		store:     fs.String("store", "", "the store: empty for Badger in --data, or redis://host:port[,host:port…][/db][?namespace=NAME] to share one store in Redis (standalone or Cluster) between processes"),
		logLevel:  fs.String("log-level", "info", "log level: debug, info, warn or error"),
		logFormat: fs.String("log-format", "text", "log format: text or json"),
	}
}

// storeOptions are the options of the store --store and --data name.
func (g *globals) storeOptions() (store.Options, error) {
	opts := store.DefaultOptions(*g.data)
	if *g.store != "" {
		if !store.IsRedisURL(*g.store) {
			return opts, usagef("--store %q is not empty (Badger in --data) or a redis:// URL", *g.store)
		}
		opts.URL = *g.store
	}
	return opts, nil
}

// where names the store for messages: the data directory, or the Redis
// URL without its password.
func (g *globals) where() string {
	if *g.store == "" {
		return *g.data
	}
	if u, err := url.Parse(*g.store); err == nil {
		return u.Redacted()
	}
	return "the Redis store"
}

// logger builds the slog logger the globals ask for, writing to w. It
// never writes an alias or an e-mail address: they become keyed hashes
// (engine.Redactor, with a key new in each process).
func (g *globals) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(*g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q is not debug, info, warn or error", *g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch *g.logFormat {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format %q is not text or json", *g.logFormat)
	}
	return slog.New(engine.RedactHandler(h, nil)), nil
}

func (fs *flagSet) Float64(name string, def float64, usage string) *float64 {
	if v, ok := fs.env(name); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			fs.envErr = fmt.Errorf("%s=%q is not a number", envName(name), v)
		}
		def = f
	}
	return fs.FlagSet.Float64(name, def, usage+" ["+envName(name)+"]")
}

// parseBytes reads a size in bytes with an optional unit: B, KiB, MiB,
// GiB, or KB, MB, GB (powers of 1000).
func parseBytes(v string) (int64, error) {
	units := []struct {
		suffix string
		scale  int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	v = strings.TrimSpace(v)
	scale := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			v, scale = strings.TrimSpace(n), u.scale
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f*float64(scale) > math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size", v)
	}
	return int64(f * float64(scale)), nil
}
