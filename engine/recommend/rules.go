package recommend

import (
	"fmt"
	"os"

	"rapport/engine"
)

// Rules are the business rules applied after scoring, from a JSON file:
//
//	{
//	  "boost":     [{"category": "Home > Kitchen", "factor": 1.5},
//	                {"brand": "Acme", "factor": 0.5},
//	                {"attribute": "color", "value": "red", "factor": 1.2}],
//	  "pins":      [{"placement": "home", "item": "SKU-00001", "position": 1}],
//	  "diversity": {"max_per_category": 3}
//	}
//
// A factor above 1 boosts, below 1 buries (0 removes). A pin puts an item at
// a position of a placement's list. Diversity keeps at most that many items
// of one category in a list.
type Rules struct {
	Boost     []Boost `json:"boost"`
	Pins      []Pin   `json:"pins"`
	Diversity struct {
		MaxPerCategory int `json:"max_per_category"`
	} `json:"diversity"`
}

// Boost multiplies the score of matching items.
type Boost struct {
	Category  string  `json:"category,omitempty"`
	Brand     string  `json:"brand,omitempty"`
	Attribute string  `json:"attribute,omitempty"`
	Value     string  `json:"value,omitempty"`
	Factor    float64 `json:"factor"`
}

// Pin places an item at a 1-based position of a placement's list.
type Pin struct {
	Placement string `json:"placement"`
	Item      string `json:"item"`
	Position  int    `json:"position"`
}

// LoadRules reads and checks a rules file.
func LoadRules(path string) (*Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Rules
	if fe := engine.DecodeObject(b, &r); fe != nil {
		return nil, fmt.Errorf("rules file %s: %s", path, fe)
	}
	return &r, r.Validate()
}

// Validate checks that every rule says what it matches and is in range.
func (r *Rules) Validate() error {
	for i, b := range r.Boost {
		n := 0
		for _, s := range []string{b.Category, b.Brand, b.Attribute} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("boost #%d: give exactly one of category, brand or attribute", i+1)
		}
		if b.Attribute != "" && b.Value == "" {
			return fmt.Errorf("boost #%d: an attribute rule needs a value", i+1)
		}
		if !(b.Factor >= 0 && b.Factor <= 100) {
			return fmt.Errorf("boost #%d: factor must be between 0 and 100", i+1)
		}
	}
	for i, p := range r.Pins {
		if p.Placement == "" || p.Item == "" || p.Position < 1 || p.Position > 100 {
			return fmt.Errorf("pin #%d: needs a placement, an item and a position from 1 to 100", i+1)
		}
	}
	if r.Diversity.MaxPerCategory < 0 {
		return fmt.Errorf("diversity: max_per_category must not be negative")
	}
	return nil
}

// boostOf returns the combined factor for an item and the reasons.
func (r *Rules) boostOf(it *engine.Item) (float64, []string) {
	if r == nil || it == nil {
		return 1, nil
	}
	f := 1.0
	var why []string
	for _, b := range r.Boost {
		var match bool
		var what string
		switch {
		case b.Category != "":
			match, what = inCategory(it.Category, b.Category), "category "+b.Category
		case b.Brand != "":
			match, what = it.Brand == b.Brand, "brand "+b.Brand
		default:
			match, what = it.Attributes[b.Attribute] == b.Value, b.Attribute+"="+b.Value
		}
		if match {
			f *= b.Factor
			verb := "boosted"
			if b.Factor < 1 {
				verb = "buried"
			}
			why = append(why, verb+": "+what)
		}
	}
	return f, why
}
