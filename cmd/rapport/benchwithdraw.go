package main

import (
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"
)

// runBenchWithdraw measures how fast a withdrawal of social_signals
// consent bites: for a person, grant the consent, follow the brand of an
// item in their list, check that the next list names the follow; then
// withdraw and time the withdrawal and the next list, which must no
// longer use any social signal.
func runBenchWithdraw(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	call, aliases, trials, err := parseTrials(ctx, "withdraw", "withdrawals", args, stderr)
	if err != nil {
		return err
	}
	type list struct {
		Items []struct {
			Reasons []string
			Details *struct{ Brand string }
		}
	}
	social := func(l list) bool {
		for _, it := range l.Items {
			for _, r := range it.Reasons {
				if strings.Contains(r, " on social:") {
					return true
				}
			}
		}
		return false
	}
	var lat []time.Duration
	unseen, leaked, brandless := 0, 0, 0
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 11))
	var ack map[string]any
	for i := 0; i < trials; i++ {
		a := aliases[rng.IntN(len(aliases))]
		path := "/v1/identities/" + a + "/recommendations"
		if err := call("PUT", "/v1/identities/"+a+"/consents/social_signals", []byte(`{"granted":true,"source":"bench"}`), &ack); err != nil {
			return err
		}
		var l list
		if err := call("GET", path+"?include=item&n=20", nil, &l); err != nil {
			return err
		}
		brand := ""
		for _, it := range slices.Backward(l.Items) {
			if it.Details != nil && it.Details.Brand != "" {
				brand = it.Details.Brand
				break
			}
		}
		if brand == "" {
			brandless++
			continue
		}
		ev := fmt.Sprintf(`[{"alias":%q,"type":"social_follow","target":%q,"source":"social:bench"}]`, a, "brand:"+brand)
		if err := call("POST", "/v1/events", []byte(ev), &ack); err != nil {
			return err
		}
		if err := call("GET", path+"?n=20", nil, &l); err != nil {
			return err
		}
		if !social(l) {
			unseen++ // the follow did not make the list; nothing to withdraw from
			continue
		}
		start := time.Now()
		if err := call("PUT", "/v1/identities/"+a+"/consents/social_signals", []byte(`{"granted":false,"source":"bench"}`), &ack); err != nil {
			return err
		}
		if err := call("GET", path+"?n=20", nil, &l); err != nil {
			return err
		}
		lat = append(lat, time.Since(start))
		if social(l) {
			leaked++
		}
	}
	if len(lat) == 0 {
		return fmt.Errorf("no trial got as far as a withdrawal: %d lists had no item with a brand to follow (a catalog without brands?), %d follows never showed in the list", brandless, unseen)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return percentile(lat, p) }
	fmt.Fprintf(stdout, "%d withdrawals (%d trials skipped: the follow did not reach the top 20): the very next list used no social signal in %d\n", len(lat), unseen, len(lat)-leaked)
	fmt.Fprintf(stdout, "withdrawal sent → next list received  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", q(0.5), q(0.99), q(1))
	if leaked > 0 {
		return fmt.Errorf("%d lists still used social signals after a withdrawal", leaked)
	}
	return nil
}
