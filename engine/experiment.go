package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"regexp"
	"slices"
	"time"
)

// Experiment is an A/B test of recommendation variants. People are
// assigned to a variant by a stable hash of the experiment's name and the
// alias that founded their identity, so the same person gets the same
// variant on every replica and after every restart, and an anonymous
// visitor keeps theirs when they become known (see Assign).
type Experiment struct {
	Name string `json:"name"`
	// Placement limits the experiment to one placement ("" : every
	// recommendation request).
	Placement string    `json:"placement,omitempty"`
	Variants  []Variant `json:"variants"`
	Start     time.Time `json:"start"`
	Stop      time.Time `json:"stop,omitzero"` // zero: runs until stopped
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Variant is one arm of an experiment: a model version, or the serving
// model with blend settings of its own, or (neither) the serving model as
// it is: the control. Share is its part of the traffic.
type Variant struct {
	Name  string          `json:"name"`
	Model string          `json:"model,omitempty"`
	Blend *BlendOverrides `json:"blend,omitempty"`
	Share float64         `json:"share"`
}

// BlendOverrides are serve-time settings of the ranker's blend: weights of
// its parts (item-to-item counts 1) and how many items a person needs
// before the blend ranks them. Unset fields keep the model's own.
type BlendOverrides struct {
	WeightALS      *float64 `json:"weight_als,omitempty"`
	WeightSeasonal *float64 `json:"weight_seasonal,omitempty"`
	WeightTrending *float64 `json:"weight_trending,omitempty"`
	MinItems       *int     `json:"min_items,omitempty"`
}

// AttrRecommendationID is the event attribute that names the list a
// feedback event responds to.
const AttrRecommendationID = "recommendation_id"

// Feedback kinds an experiment counts, from event types.
const (
	FeedbackClick      = "click"
	FeedbackAddToCart  = "add_to_cart"
	FeedbackConversion = "purchase"
)

// FeedbackKind is the kind of feedback an event type gives, or "".
func FeedbackKind(t EventType) string {
	switch t {
	case EventClick:
		return FeedbackClick
	case EventAddToCart:
		return FeedbackAddToCart
	case EventPurchase:
		return FeedbackConversion
	}
	return ""
}

var experimentName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// versionName is the form of a model version id.
var versionName = regexp.MustCompile(`^v[0-9]{6,}$`)

// Validate checks an experiment, naming the first bad field.
func (e *Experiment) Validate() []FieldError {
	var errs []FieldError
	bad := func(f, why string, a ...any) {
		errs = append(errs, FieldError{Index: -1, Field: f, Reason: fmt.Sprintf(why, a...)})
	}
	if !experimentName.MatchString(e.Name) {
		bad("name", "must be 1 to 64 of a-z, 0-9, '_', '.', '-', starting with a letter or digit")
	}
	if len(e.Placement) > 64 {
		bad("placement", "is longer than 64 bytes")
	}
	if len(e.Variants) < 2 || len(e.Variants) > 10 {
		bad("variants", "must list 2 to 10 variants")
	}
	sum := 0.0
	seen := map[string]bool{}
	for i, v := range e.Variants {
		f := fmt.Sprintf("variants[%d]", i)
		switch {
		case !experimentName.MatchString(v.Name):
			bad(f+".name", "must be 1 to 64 of a-z, 0-9, '_', '.', '-'")
		case seen[v.Name]:
			bad(f+".name", "%q is used twice", v.Name)
		}
		seen[v.Name] = true
		if !(v.Share > 0 && v.Share <= 1) {
			bad(f+".share", "must be more than 0 and at most 1")
		}
		sum += v.Share
		if v.Model != "" && !versionName.MatchString(v.Model) {
			bad(f+".model", "must be a model version id such as v000003")
		}
		if v.Model != "" && v.Blend != nil {
			bad(f+".blend", "a variant is a model version or blend settings, not both")
		}
		if b := v.Blend; b != nil {
			for name, w := range map[string]*float64{"weight_als": b.WeightALS, "weight_seasonal": b.WeightSeasonal, "weight_trending": b.WeightTrending} {
				if w != nil && !(*w >= 0 && *w <= 100) {
					bad(f+".blend."+name, "must be from 0 to 100")
				}
			}
			if b.MinItems != nil && (*b.MinItems < 0 || *b.MinItems > 100) {
				bad(f+".blend.min_items", "must be from 0 to 100")
			}
		}
	}
	if len(e.Variants) >= 2 && math.Abs(sum-1) > 1e-6 {
		bad("variants", "shares must add up to 1, not %g", sum)
	}
	if e.Start.IsZero() {
		bad("start", "is required (RFC 3339)")
	}
	if !e.Stop.IsZero() && !e.Stop.After(e.Start) {
		bad("stop", "must be after start")
	}
	slices.SortStableFunc(errs, func(a, b FieldError) int {
		if a.Field < b.Field {
			return -1
		}
		if a.Field > b.Field {
			return 1
		}
		return 0
	})
	return errs
}

// Active reports whether the experiment assigns people at time now.
func (e *Experiment) Active(now time.Time) bool {
	return !now.Before(e.Start) && (e.Stop.IsZero() || now.Before(e.Stop))
}

// Applies reports whether the experiment covers a request for placement.
func (e *Experiment) Applies(placement string) bool {
	return e.Placement == "" || e.Placement == placement
}

// Overlaps reports whether two experiments could both claim one request.
func (e *Experiment) Overlaps(o *Experiment) bool {
	if e.Placement != "" && o.Placement != "" && e.Placement != o.Placement {
		return false
	}
	endsBefore := func(a, b *Experiment) bool { return !a.Stop.IsZero() && !a.Stop.After(b.Start) }
	return !endsBefore(e, o) && !endsBefore(o, e)
}

// Assign returns the index of the variant for an assignment unit (the
// identity's founding alias, see store.DB.FoundingAlias): a point in [0,1)
// from the first 53 bits of SHA-256 of the experiment name and the unit
// (FNV's high bits barely move between units that differ at the end, such
// as numbered aliases), placed on the variants' shares in order.
func (e *Experiment) Assign(unit string) int {
	h := sha256.Sum256([]byte(e.Name + "\x00" + unit))
	x := float64(binary.BigEndian.Uint64(h[:8])>>11) / (1 << 53)
	acc := 0.0
	for i, v := range e.Variants {
		acc += v.Share
		if x < acc {
			return i
		}
	}
	return len(e.Variants) - 1
}

// Tag is a short, stable label of a variant of an experiment carried
// inside recommendation ids, so feedback finds its variant without any
// lookup table: 8 hex digits of the experiment name's hash, and the
// variant's index.
func (e *Experiment) Tag(variant int) string {
	h := fnv.New32a()
	h.Write([]byte(e.Name))
	return fmt.Sprintf("%08x%02d", h.Sum32(), variant)
}

// VariantKey names one variant of one experiment.
type VariantKey struct{ Experiment, Variant string }

// Feedback is one event attributed to a list served in an experiment.
type Feedback struct {
	VariantKey
	Kind             string // Feedback*
	RecommendationID string
}

// VariantCounts are the counts of one variant: lists served, and of those
// the lists with at least one click, add to cart, purchase.
type VariantCounts struct {
	Impressions int64 `json:"impressions"`
	Clicks      int64 `json:"clicks"`
	AddToCarts  int64 `json:"add_to_carts"`
	Conversions int64 `json:"conversions"`
}

// Rate is a proportion with its 95% Wilson score interval.
type Rate struct {
	Value float64 `json:"value"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
}

// Difference is a variant's rate minus the control's, with its 95%
// interval (Newcombe's hybrid score method, from the two Wilson
// intervals).
type Difference struct {
	Value float64 `json:"value"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
}

const z95 = 1.959963984540054

// WilsonRate is k of n as a rate with its 95% Wilson interval.
func WilsonRate(k, n int64) Rate {
	if n <= 0 {
		return Rate{}
	}
	p, fn := float64(k)/float64(n), float64(n)
	den := 1 + z95*z95/fn
	centre := (p + z95*z95/(2*fn)) / den
	half := z95 * math.Sqrt(p*(1-p)/fn+z95*z95/(4*fn*fn)) / den
	return Rate{Value: p, Low: max(0, centre-half), High: min(1, centre+half)}
}

// RateDifference is b − a with Newcombe's 95% interval.
func RateDifference(a, b Rate) Difference {
	d := b.Value - a.Value
	low := d - math.Sqrt((b.Value-b.Low)*(b.Value-b.Low)+(a.High-a.Value)*(a.High-a.Value))
	high := d + math.Sqrt((b.High-b.Value)*(b.High-b.Value)+(a.Value-a.Low)*(a.Value-a.Low))
	return Difference{Value: d, Low: low, High: high}
}

// VariantReport is one variant's figures in an experiment report; the
// differences are against the first variant (the control) and absent for
// it.
type VariantReport struct {
	Variant
	VariantCounts
	ClickThrough   Rate        `json:"click_through"`
	Conversion     Rate        `json:"conversion"`
	ClickDiff      *Difference `json:"click_through_difference,omitempty"`
	ConversionDiff *Difference `json:"conversion_difference,omitempty"`
}

// Report computes the figures of each variant from its counts.
func (e *Experiment) Report(counts map[string]VariantCounts) []VariantReport {
	out := make([]VariantReport, len(e.Variants))
	for i, v := range e.Variants {
		c := counts[v.Name]
		r := VariantReport{Variant: v, VariantCounts: c, ClickThrough: WilsonRate(c.Clicks, c.Impressions), Conversion: WilsonRate(c.Conversions, c.Impressions)}
		if i > 0 && c.Impressions > 0 && out[0].Impressions > 0 {
			cd, vd := RateDifference(out[0].ClickThrough, r.ClickThrough), RateDifference(out[0].Conversion, r.Conversion)
			r.ClickDiff, r.ConversionDiff = &cd, &vd
		}
		out[i] = r
	}
	return out
}
