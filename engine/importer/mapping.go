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

// columns maps each field to its column index (-1 when absent): an explicit
// --map entry must name a header column; other fields are found by name.
type columns map[string]int

func resolveColumns(header []string, explicit map[string]string, fields []string) (columns, error) {
	pos := make(map[string]int, len(header))
	lower := make(map[string]int, len(header))
	for i, h := range header {
		pos[h] = i
		lower[strings.ToLower(h)] = i
	}
	cols := columns{}
	for _, f := range fields {
		cols[f] = -1
		if name, ok := explicit[f]; ok {
			i, found := pos[name]
			if !found {
				i, found = lower[strings.ToLower(name)]
			}
			if !found {
				h := append([]string(nil), header...)
				sort.Strings(h)
				return nil, fmt.Errorf("--map %s=%s: the file has no column %q (columns: %s)", f, name, name, strings.Join(h, ", "))
			}
			cols[f] = i
			continue
		}
		names := synonyms[f]
		if names == nil {
			names = []string{f}
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

// get returns the trimmed value of field in fields, or "" if unmapped.
func (c columns) get(fields []string, field string) string {
	i := c[field]
	if i < 0 || i >= len(fields) {
		return ""
	}
	return strings.TrimSpace(fields[i])
}

func (c columns) has(field string) bool { return c[field] >= 0 }
