package engine

import (
	"fmt"
	"time"
)

// Item is one product in the catalog. Available defaults to true.
type Item struct {
	ID         string
	Title      string
	Category   string // may be a path such as "Home > Kitchen"
	Brand      string
	Price      float64
	Currency   string
	Available  bool
	Attributes map[string]string
	UpdatedAt  time.Time // set by the store
}

type itemJSON struct {
	ID         string            `json:"id"`
	Title      string            `json:"title,omitempty"`
	Category   string            `json:"category,omitempty"`
	Brand      string            `json:"brand,omitempty"`
	Price      *float64          `json:"price,omitempty"`
	Currency   string            `json:"currency,omitempty"`
	Available  *bool             `json:"available,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	UpdatedAt  string            `json:"updated_at,omitempty"`
}

// MarshalJSON writes the wire form of it.
func (it Item) MarshalJSON() ([]byte, error) {
	w := itemJSON{
		ID: it.ID, Title: it.Title, Category: it.Category, Brand: it.Brand, Price: &it.Price,
		Currency: it.Currency, Available: &it.Available, Attributes: it.Attributes,
	}
	if !it.UpdatedAt.IsZero() {
		w.UpdatedAt = it.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	return marshal(w)
}

// ParseItem decodes one catalog item from its JSON wire form and validates
// it. It returns every problem found, each with Index -1.
func ParseItem(data []byte) (Item, []FieldError) {
	var w itemJSON
	if fe := DecodeObject(data, &w); fe != nil {
		return Item{}, []FieldError{*fe}
	}
	it := Item{ID: w.ID, Title: w.Title, Category: w.Category, Brand: w.Brand, Currency: w.Currency, Available: true, Attributes: w.Attributes}
	if w.Price != nil {
		it.Price = *w.Price
	}
	if w.Available != nil {
		it.Available = *w.Available
	}
	var errs []FieldError
	if w.UpdatedAt != "" {
		errs = append(errs, FieldError{Index: -1, Field: "updated_at", Reason: "is set by the server"})
	}
	return it, append(errs, it.Validate()...)
}

// Validate checks it against the rules and limits for catalog items.
func (it *Item) Validate() []FieldError {
	var errs []FieldError
	bad := func(field string, format string, args ...any) {
		errs = append(errs, FieldError{Index: -1, Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if it.ID == "" {
		bad("id", "is required")
	} else if err := checkItemID(it.ID); err != nil {
		bad("id", "%v", err)
	}
	for _, f := range []struct{ name, value string }{{"title", it.Title}, {"category", it.Category}, {"brand", it.Brand}} {
		if f.value != "" {
			if err := checkLabel(f.value, MaxLabelLen); err != nil {
				bad(f.name, "%v", err)
			}
		}
	}
	if !(it.Price >= 0 && it.Price <= MaxPrice) {
		bad("price", "must be between 0 and %d", MaxPrice)
	}
	if it.Currency != "" && !validCurrency(it.Currency) {
		bad("currency", "must be an ISO 4217 code of three upper-case letters, such as EUR")
	} else if it.Currency == "" && it.Price > 0 {
		bad("currency", "is required when price is given")
	}
	if fe := checkAttributes(it.Attributes); fe != nil {
		errs = append(errs, *fe)
	}
	return errs
}
