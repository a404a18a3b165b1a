package importer

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// EventFields are the event fields --map may name, for `import events`.
var EventFields = []string{"id", "identity", "item", "time", "quantity", "price", "currency", "type", "region", "source", "weight", "target", "friend", "org", "title", "category", "brand"}

// ConsentFields are the fields --map may name, for `import consents`.
var ConsentFields = []string{"identity", "purpose", "granted", "time", "expires", "source", "policy_version"}

// ItemFields are the item fields --map may name, for `import items`.
var ItemFields = []string{"id", "title", "category", "brand", "price", "currency", "available"}

// synonyms are header names recognised without --map.
var synonyms = map[string][]string{
	"identity": {"identity", "alias"},
	"time":     {"time", "timestamp"},
}

// ParseMap parses "field=COLUMN,field=COLUMN" against the allowed fields.
func ParseMap(s string, allowed []string) (map[string]string, error) {
	m := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, pair := range strings.Split(s, ",") {
		field, col, ok := strings.Cut(pair, "=")
		field, col = strings.TrimSpace(field), strings.TrimSpace(col)
		if !ok || field == "" || col == "" {
			return nil, fmt.Errorf("--map entry %q must be field=COLUMN", pair)
		}
		if !slices.Contains(allowed, field) {
			return nil, fmt.Errorf("--map names unknown field %q (fields: %s)", field, strings.Join(allowed, ", "))
		}
		if _, dup := m[field]; dup {
			return nil, fmt.Errorf("--map names field %q twice", field)
		}
		m[field] = col
	}
	return m, nil
}

// field is one mappable field, across every kind of import; columns holds
// a column index per field, so reading a row costs no map lookups.
type field uint8

const (
	fID field = iota
	fIdentity
	fItem
	fTime
	fQuantity
	fPrice
	fCurrency
	fType
	fRegion
	fSource
	fWeight
	fTarget
	fFriend
	fOrg
	fTitle
	fCategory
	fBrand
	fAvailable
	fPurpose
	fGranted
	fExpires
	fPolicyVersion
	numFields
)

var fieldNames = [numFields]string{
	fID: "id", fIdentity: "identity", fItem: "item", fTime: "time", fQuantity: "quantity", fPrice: "price",
	fCurrency: "currency", fType: "type", fRegion: "region", fSource: "source", fWeight: "weight",
	fTarget: "target", fFriend: "friend", fOrg: "org", fTitle: "title", fCategory: "category", fBrand: "brand",
	fAvailable: "available", fPurpose: "purpose", fGranted: "granted", fExpires: "expires", fPolicyVersion: "policy_version",
}

func (f field) String() string { return fieldNames[f] }

// columns maps each field to its column index (-1 when absent or not a
// field of this import): an explicit --map entry must name a header
// column; other fields are found by name.
type columns [numFields]int

func resolveColumns(header []string, explicit map[string]string, fields []string) (columns, error) {
	pos := make(map[string]int, len(header))
	lower := make(map[string]int, len(header))
	for i, h := range header {
		pos[h] = i
		lower[strings.ToLower(h)] = i
	}
	var cols columns
	for i := range cols {
		cols[i] = -1
	}
	for _, name := range fields {
		f := slices.Index(fieldNames[:], name)
		if f < 0 {
			panic("importer: no field " + name) // a programming error: the field lists are constants
		}
		if col, ok := explicit[name]; ok {
			i, found := pos[col]
			if !found {
				i, found = lower[strings.ToLower(col)]
			}
			if !found {
				h := append([]string(nil), header...)
				sort.Strings(h)
				return cols, fmt.Errorf("--map %s=%s: the file has no column %q (columns: %s)", name, col, col, strings.Join(h, ", "))
			}
			cols[f] = i
			continue
		}
		names := synonyms[name]
		if names == nil {
			names = []string{name}
		}
		for _, n := range names {
			if i, ok := lower[n]; ok {
				cols[f] = i
				break
			}
		}
	}
	return cols, nil
}

// get returns the trimmed value of field f in fields, or "" if unmapped.
func (c *columns) get(fields []string, f field) string {
	i := c[f]
	if i < 0 || i >= len(fields) {
		return ""
	}
	return strings.TrimSpace(fields[i])
}

func (c *columns) has(f field) bool { return c[f] >= 0 }
