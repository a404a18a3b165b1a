package engine

import (
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
	"golang.org/x/text/unicode/norm"
)

// Bloc is a group of countries a consent policy can name at once.
type Bloc string

const (
	BlocEU  Bloc = "EU"  // the 27 member states of the European Union and their outermost regions
	BlocEEA Bloc = "EEA" // the European Economic Area: the EU, Iceland, Liechtenstein and Norway
	BlocUK  Bloc = "UK"  // the United Kingdom
)

// Region is where a person is, resolved from the region value a shop sends
// with an event: a country, a subdivision of one, or a bloc on its own.
type Region struct {
	// Code is the canonical form: an ISO 3166-1 alpha-2 code ("DE"), a
	// subdivision ("US-CA", "GB-SCT"), or a bloc ("EU", "EEA").
	Code string
	// Country is the ISO 3166-1 alpha-2 code; "" for a bloc on its own.
	Country string
	// Blocs are the blocs the region belongs to, narrowest first (EU before
	// EEA). The slice is shared: do not modify it.
	Blocs []Bloc
}

// ResolveRegion reads a region value as shops send it, in any case and
// with surrounding space: an ISO 3166-1 alpha-2, alpha-3 or numeric code
// ("DE", "DEU", "276"), an English name or a common alternate ("Germany",
// "United Kingdom", "EIRE", "USA", "Holland"), a subdivision ("US-CA",
// "GB-SCT", "England"), a bloc ("EU", "EEA", "European Community") or a
// country prefixed by a bloc it belongs to ("EU-DE", "EEA-NO"). "UK" and
// "Channel Islands" resolve to GB; Jersey, Guernsey and the Isle of Man by
// their own codes (JE, GG, IM). ok is false for anything else: blank,
// "Unspecified", a code no country has, a bloc prefix on a country outside
// it ("EU-US").
func ResolveRegion(raw string) (r Region, ok bool) {
	s := strings.TrimSpace(raw)
	if s == "" || len(s) > MaxRegionLen {
		return Region{}, false
	}
	if code, ok := regionNames[foldName(s)]; ok {
		return regionOf(code), true
	}
	if c, ok := countryCode(s); ok {
		return regionOf(c), true
	}
	head, rest, found := strings.Cut(s, "-")
	if !found {
		return Region{}, false
	}
	head, rest = strings.ToUpper(strings.TrimSpace(head)), strings.TrimSpace(rest)
	if b := Bloc(head); blocMembers[b] != nil {
		if r, ok := ResolveRegion(rest); ok && r.Country != "" && r.In(b) {
			return r, true
		}
	}
	if c, ok := countryCode(head); ok && isSubdivision(rest) {
		return regionOf(c + "-" + strings.ToUpper(rest)), true
	}
	return Region{}, false
}

// In reports whether r belongs to bloc b (a bloc is in itself).
func (r Region) In(b Bloc) bool {
	return slices.Contains(r.Blocs, b)
}

// keys returns the policy keys that may apply to r, most specific first:
// the subdivision, the country, then each bloc.
func (r Region) keys() []string {
	keys := []string{r.Code}
	if r.Country != "" && r.Country != r.Code {
		keys = append(keys, r.Country)
	}
	for _, b := range r.Blocs {
		if string(b) != r.Code {
			keys = append(keys, string(b))
		}
	}
	return keys
}

// regionOf builds the region of a canonical code: a bloc, a country or a
// country-subdivision.
func regionOf(code string) Region {
	if b := Bloc(code); blocMembers[b] != nil {
		blocs := []Bloc{b}
		if b == BlocEU {
			blocs = euBlocs
		}
		return Region{Code: code, Blocs: blocs}
	}
	country, _, _ := strings.Cut(code, "-")
	return Region{Code: code, Country: country, Blocs: countryBlocs[country]}
}

// countryCode reads an ISO 3166-1 alpha-2, alpha-3 or numeric code of a
// country, in any case, as its canonical alpha-2 code ("UK" and "GBR" are
// "GB"). Groups ("150" Europe), private-use codes ("XX", "ZZ") and codes
// that name no single country are refused.
func countryCode(s string) (string, bool) {
	if len(s) < 2 || len(s) > 3 {
		return "", false
	}
	r, err := language.ParseRegion(s)
	if err != nil {
		return "", false
	}
	code := r.Canonicalize().String()
	return code, countries[code]
}

// isSubdivision reports whether s has the form of an ISO 3166-2
// subdivision suffix: one to three letters or digits.
func isSubdivision(s string) bool {
	if len(s) < 1 || len(s) > 3 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// foldName reduces a name to the form regionNames is keyed by: lower case,
// no accents or punctuation, "&" as "and", "Saint" as "St", no leading
// "The", single spaces ("Côte d’Ivoire" is "cote divoire").
func foldName(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r), r == '.', r == '\'', r == '’':
		case r == '&':
			b.WriteString(" and ")
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteByte(' ')
		}
	}
	words := strings.Fields(b.String())
	if len(words) > 1 && words[0] == "the" {
		words = words[1:]
	}
	for i, w := range words {
		if w == "saint" {
			words[i] = "st"
		}
	}
	return strings.Join(words, " ")
}

var (
	// euMembers are the member states of the European Union, and the
	// territories with codes of their own that are part of it: Åland (FI),
	// the French outermost regions (GF, GP, MQ, RE, YT, MF), the Canary
	// Islands and Ceuta and Melilla (ES).
	euMembers = []string{
		"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
		"IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
		"AX", "GF", "GP", "MQ", "RE", "YT", "MF", "IC", "EA",
	}
	// eeaOnly are the members of the EEA outside the EU.
	eeaOnly = []string{"IS", "LI", "NO"}

	euBlocs  = []Bloc{BlocEU, BlocEEA}
	eeaBlocs = []Bloc{BlocEEA}
	ukBlocs  = []Bloc{BlocUK}

	// blocMembers lists each bloc's countries; non-nil exactly for blocs.
	blocMembers = map[Bloc][]string{
		BlocEU:  euMembers,
		BlocEEA: append(append([]string(nil), euMembers...), eeaOnly...),
		BlocUK:  {"GB"},
	}

	// countryBlocs is the blocs of each country in one.
	countryBlocs = map[string][]Bloc{"GB": ukBlocs}

	// countries holds the canonical alpha-2 code of every country or
	// territory x/text knows.
	countries = map[string]bool{}

	// regionNames maps folded names (foldName) to canonical codes.
	regionNames = map[string]string{}
)

// regionAlternates are names shops use that are not the English short name
// x/text gives, or that name a subdivision or a bloc. They take precedence
// over the x/text names.
var regionAlternates = map[string]string{
	"EU": "EU", "European Union": "EU", "European Community": "EU",
	"EEA": "EEA", "European Economic Area": "EEA",
	"UK": "GB", "U.K.": "GB", "Great Britain": "GB", "Britain": "GB", "United Kingdom of Great Britain and Northern Ireland": "GB",
	"England": "GB-ENG", "Scotland": "GB-SCT", "Wales": "GB-WLS", "Northern Ireland": "GB-NIR",
	"Channel Islands": "GB", // Jersey and Guernsey together have no code of their own
	"EIRE":            "IE", "Republic of Ireland": "IE",
	"Holland": "NL", "Czech Republic": "CZ", "Czechia": "CZ", "Slovak Republic": "SK",
	"EL":  "GR", // the EU's own code for Greece
	"USA": "US", "United States of America": "US",
	"RSA": "ZA", "UAE": "AE", "Emirates": "AE",
	"Hong Kong": "HK", "Macao": "MO", "Macau": "MO", "Burma": "MM", "Myanmar": "MM",
	"Turkey": "TR", "Türkiye": "TR", "North Macedonia": "MK", "Macedonia": "MK", "Eswatini": "SZ",
	"Ivory Coast": "CI", "Cabo Verde": "CV", "Holy See": "VA", "Vatican": "VA", "Palestine": "PS",
	"Russian Federation": "RU", "Viet Nam": "VN", "Republic of Korea": "KR",
	"Korea, Republic of": "KR", "Moldova, Republic of": "MD", "Iran, Islamic Republic of": "IR",
	"Democratic Republic of the Congo": "CD", "Republic of the Congo": "CG",
	"Bosnia": "BA", "Trinidad": "TT", "Brunei Darussalam": "BN", "Lao People's Democratic Republic": "LA",
	"Syrian Arab Republic": "SY", "Tanzania, United Republic of": "TZ", "Timor Leste": "TL", "East Timor": "TL",
}

func init() {
	for _, c := range euMembers {
		countryBlocs[c] = euBlocs
	}
	for _, c := range eeaOnly {
		countryBlocs[c] = eeaBlocs
	}
	en := display.English.Regions()
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			code := string([]rune{a, b})
			r, err := language.ParseRegion(code)
			if err != nil || r.String() != code || r.Canonicalize() != r || !r.IsCountry() || (r.IsPrivateUse() && code != "XK") {
				continue // XK, Kosovo, is a user-assigned code in ISO 3166 that everyone uses
			}
			if code == "EZ" || code == "UN" { // the eurozone and the United Nations: no one lives there
				continue
			}
			name := en.Name(r)
			if name == "" || name == "Unknown Region" {
				continue
			}
			countries[code] = true
			regionNames[foldName(name)] = code
		}
	}
	for name, code := range regionAlternates {
		regionNames[foldName(name)] = code
	}
}
