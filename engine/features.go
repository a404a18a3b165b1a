package engine

import "time"

// Affinity is a decayed interest score in one item, category or brand.
type Affinity struct {
	Key   string  `json:"key"`
	Score float64 `json:"score"`
}

// FeatureVector is what Rapport knows of one identity, merged from its
// events (and, later, the social signals it permits). Sources names the
// inputs that contributed; ModelVersion the model whose latent factors it
// carries (empty before the first training).
type FeatureVector struct {
	Identity     IdentityID `json:"identity"`
	ComputedAt   time.Time  `json:"computed_at"`
	Sources      []string   `json:"sources"`
	ModelVersion string     `json:"model_version,omitempty"`

	Items      []Affinity `json:"items"`      // strongest first, at most MaxAffinities
	Categories []Affinity `json:"categories"` // strongest first
	Brands     []Affinity `json:"brands"`     // strongest first

	Events        int       `json:"events"`
	LastEventAt   time.Time `json:"last_event_at"`
	Purchases     int       `json:"purchases"`            // purchase lines
	Orders        int       `json:"orders"`               // distinct purchase days
	RecencyDays   float64   `json:"recency_days"`         // since the last purchase (-1 if none)
	FrequencyDays float64   `json:"frequency_days"`       // mean days between orders (0 with fewer than two)
	Monetary      float64   `json:"monetary"`             // spend, net of returns, in Currency
	Currency      string    `json:"currency,omitempty"`   // the currency most spend was in
	PriceP25      float64   `json:"price_p25"`            // unit prices paid: quartiles
	PriceP50      float64   `json:"price_p50"`            //
	PriceP75      float64   `json:"price_p75"`            //
	PriceBand     string    `json:"price_band,omitempty"` // budget, mid or premium against the catalog
	TypicalQty    float64   `json:"typical_quantity"`     // median quantity per purchase line
	Factors       []float64 `json:"factors,omitempty"`    // latent factors from ModelVersion

	// Social holds interests from permitted social signals — "brand:X",
	// "category:X", "item:X", "topic:X" — strongest first.
	Social []Affinity `json:"social,omitempty"`
	// Provenance says which data each part came from, under which consent.
	Provenance []Provenance `json:"provenance"`
}

// Provenance is one input of a feature vector.
type Provenance struct {
	Source  string   `json:"source"`            // "events", or the social source: "social:facebook"
	Signals int      `json:"signals"`           // events used from it
	Consent *Consent `json:"consent,omitempty"` // for social sources: the decision that permitted them
}

// MaxAffinities bounds each affinity list of a FeatureVector.
const MaxAffinities = 50

// Change records that an identity got new events: Seq orders changes, and
// the merge acknowledges exactly the changes it has folded in.
type Change struct {
	Seq      uint64
	Identity IdentityID
}
