package importer

import (
	"fmt"
	"strings"

	"rapport/engine"
)

// Presets lists the known --preset names.
var Presets = []string{"online-retail"}

// preset adapts a known data set: its column map and defaults, and a row
// hook that applies the data set's own conventions.
type preset struct {
	columns map[string]string
	// adjust may change the event and its identity text, or reject the
	// row; col reads any column of the row by its header name.
	adjust func(col func(name string) string, ev *engine.Event, identity *string) *rejection
}

// onlineRetailNonProducts are StockCodes of the UCI Online Retail data that
// are not goods: postage, carriage, fees, discounts, manual adjustments and
// bad-debt entries. Recommending them would be nonsense.
var onlineRetailNonProducts = map[string]bool{
	"POST": true, "DOT": true, "C2": true, "M": true, "m": true, "D": true, "S": true,
	"BANK CHARGES": true, "AMAZONFEE": true, "CRUK": true, "PADS": true, "B": true,
}

// presetFor fills opts from the named preset and returns its hook.
//
// online-retail (UCI Online Retail): CustomerID → customer:<id>, StockCode →
// item, Description → the item's title, InvoiceDate (YYYY-MM-DD HH:MM:SS),
// Quantity, UnitPrice in GBP, Country → region, source web. Invoices
// starting with "C" and negative quantities become returns. Rows without a
// CustomerID are guest checkouts: by default each guest invoice becomes its
// own anonymous visitor anon:invoice-<InvoiceNo>, because a guest basket is
// real co-purchase evidence that item-to-item models learn from, while it
// cannot be tied to any person (--guests skip leaves them out). Guest rows
// priced 0 are stock adjustments (damaged, lost, found), not behaviour, and
// are skipped, as are non-product codes (postage, fees, adjustments).
func presetFor(opts *Options) (*preset, error) {
	switch opts.Preset {
	case "":
		return nil, nil
	case "online-retail":
	default:
		return nil, fmt.Errorf("unknown preset %q (presets: %s)", opts.Preset, strings.Join(Presets, ", "))
	}
	guests := opts.Guests
	if guests == "" {
		guests = "anon"
	}
	if guests != "anon" && guests != "skip" {
		return nil, fmt.Errorf("--guests must be anon or skip, not %q", guests)
	}
	p := &preset{columns: map[string]string{
		"identity": "CustomerID", "item": "StockCode", "time": "InvoiceDate", "quantity": "Quantity",
		"price": "UnitPrice", "region": "Country", "title": "Description",
	}}
	if opts.Map == nil {
		opts.Map = map[string]string{}
	}
	for f, col := range p.columns {
		if _, set := opts.Map[f]; !set {
			opts.Map[f] = col
		}
	}
	defaults := []struct {
		dst *string
		val string
	}{{&opts.IdentityKind, engine.KindCustomer}, {&opts.TimeLayout, "2006-01-02 15:04:05"}, {&opts.Currency, "GBP"}, {&opts.Source, "web"}}
	for _, d := range defaults {
		if *d.dst == "" {
			*d.dst = d.val
		}
	}
	if opts.Type == "" {
		opts.Type = engine.EventPurchase
	}
	if opts.Format == "" {
		opts.Format = FormatCSV
	}
	p.adjust = func(col func(string) string, ev *engine.Event, identity *string) *rejection {
		return onlineRetailRow(col, ev, identity, guests)
	}
	return p, nil
}

func onlineRetailRow(col func(string) string, ev *engine.Event, identity *string, guests string) *rejection {
	if onlineRetailNonProducts[ev.Item] {
		return reject("not a product", "StockCode %q is postage, a fee or an adjustment, not a product", ev.Item)
	}
	invoice := col("InvoiceNo")
	if strings.HasPrefix(invoice, "C") {
		ev.Type = engine.EventReturn
	}
	*identity = strings.TrimSuffix(*identity, ".0")
	if *identity != "" {
		return nil
	}
	switch {
	case ev.Price == 0:
		return reject("stock adjustment", "a guest row priced 0 is a stock adjustment (damaged, lost, found), not a purchase")
	case guests == "skip":
		return reject("guest (no customer id)", "no CustomerID, and --guests skip")
	case invoice == "":
		return reject("no identity", "no CustomerID and no InvoiceNo to scope a guest visitor by")
	}
	*identity = engine.KindAnon + ":invoice-" + invoice
	return nil
}
