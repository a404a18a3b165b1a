package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"rapport/engine"
	"rapport/engine/model"
	"rapport/engine/recommend"
	"rapport/features"
)

func runRecommend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("recommend", "recommend --identity ALIAS | --identities FILE [flags]", stderr)
	g := addGlobals(fs)
	identity := fs.String("identity", "", "the alias to recommend for, e.g. customer:17850")
	file := fs.String("identities", "", "a file of aliases, one a line (- for standard input); writes NDJSON")
	n := fs.Int("n", 10, "how many items (1 to 100)")
	keepBought := fs.Bool("include-purchased", false, "keep items the person already bought")
	asJSON := fs.Bool("json", false, "print JSON (always, with --identities)")
	policyFile := addPolicyFlag(fs)
	if rest, err := fs.parse(args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("recommend takes no arguments")
	}
	if (*identity == "") == (*file == "") {
		return usagef("give exactly one of --identity or --identities")
	}
	if *n < 1 || *n > 100 {
		return usagef("--n must be 1 to 100")
	}
	db, err := openStore(g, false)
	if err != nil {
		return err
	}
	defer db.Close()
	l, err := servingModel(ctx, db)
	if err != nil {
		return err
	}
	if l == nil {
		return fmt.Errorf("no model has been trained in %s yet: run rapport train", g.where())
	}
	policy, err := loadPolicy(*policyFile)
	if err != nil {
		return err
	}
	serving := &model.Serving{}
	serving.Swap(l)
	svc := &recommend.Service{Store: db, Serving: serving, Gate: features.NewGate(policy)}
	r := recommender{svc: svc, n: *n, keepBought: *keepBought}
	if *identity != "" {
		rec, err := r.forAlias(ctx, *identity)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(rec)
		}
		fmt.Fprintf(stdout, "%s — model %s, %s\n", rec.Identity, rec.ModelVersion, rec.Step)
		for i, it := range rec.Items {
			fmt.Fprintf(stdout, "%3d. %-14s %.4f  %s\n", i+1, it.Item, it.Score, it.Title)
		}
		return nil
	}
	in := io.Reader(os.Stdin)
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	enc := json.NewEncoder(stdout)
	sc := bufio.NewScanner(in)
	for line := 1; sc.Scan(); line++ {
		alias := strings.TrimSpace(sc.Text())
		if alias == "" || strings.HasPrefix(alias, "#") {
			continue
		}
		rec, err := r.forAlias(ctx, alias)
		if err != nil {
			if engine.ErrorCode(err) == engine.CodeInvalid {
				fmt.Fprintf(stderr, "line %d: %v\n", line, engine.ErrorMessage(err))
				continue
			}
			return err
		}
		if err := enc.Encode(rec); err != nil {
			return err
		}
	}
	return sc.Err()
}

type recommendation struct {
	Identity     string        `json:"identity"`
	ModelVersion string        `json:"model_version"`
	Step         string        `json:"step"`
	Items        []recommended `json:"items"`
}

type recommended struct {
	Item    string   `json:"item"`
	Score   float64  `json:"score"`
	Title   string   `json:"title,omitempty"`
	Reasons []string `json:"reasons"`
}

// recommender answers the CLI through the serving path itself, consent
// gate, preferences and rules included, so that the command line and the
// API never disagree.
type recommender struct {
	svc        *recommend.Service
	n          int
	keepBought bool
}

// forAlias ranks items for one alias; an alias the store does not know is
// an anonymous newcomer and gets the first step of the chain.
func (r recommender) forAlias(ctx context.Context, text string) (recommendation, error) {
	a, err := engine.ParseAlias(text)
	if err != nil {
		return recommendation{}, engine.Errorf(engine.CodeInvalid, "alias %q %v", text, err)
	}
	res, err := r.svc.Recommend(ctx, a, recommend.Request{N: r.n, AvailableOnly: true, IncludePurchased: r.keepBought})
	if err != nil {
		return recommendation{}, err
	}
	rec := recommendation{Identity: a.String(), ModelVersion: res.ModelVersion, Step: res.Step, Items: []recommended{}}
	for _, it := range res.Items {
		item := recommended{Item: it.Item, Score: it.Score, Reasons: it.Reasons}
		if d := r.svc.ItemDetails(ctx, it.Item); d != nil {
			item.Title = d.Title
		}
		rec.Items = append(rec.Items, item)
	}
	return rec, nil
}
