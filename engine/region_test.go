package engine_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"rapport/engine"
)

// entryOf is what policy p lets apply without a decision in region.
func entryOf(p *engine.ConsentPolicy, region string) map[engine.Purpose]bool {
	m := map[engine.Purpose]bool{}
	for _, purpose := range engine.Purposes {
		m[purpose] = p.For(region, purpose)
	}
	return m
}

var (
	optIn      = map[engine.Purpose]bool{engine.PurposePersonalization: true, engine.PurposeSocial: false, engine.PurposeCrossDevice: true, engine.PurposeAnalytics: false}
	allApplies = map[engine.Purpose]bool{engine.PurposePersonalization: true, engine.PurposeSocial: true, engine.PurposeCrossDevice: true, engine.PurposeAnalytics: true}
)

// europe is every member state of the EU, the other three of the EEA and
// the United Kingdom: alpha-2, alpha-3 and English name.
var europe = [][3]string{
	{"AT", "AUT", "Austria"}, {"BE", "BEL", "Belgium"}, {"BG", "BGR", "Bulgaria"}, {"HR", "HRV", "Croatia"},
	{"CY", "CYP", "Cyprus"}, {"CZ", "CZE", "Czechia"}, {"DK", "DNK", "Denmark"}, {"EE", "EST", "Estonia"},
	{"FI", "FIN", "Finland"}, {"FR", "FRA", "France"}, {"DE", "DEU", "Germany"}, {"GR", "GRC", "Greece"},
	{"HU", "HUN", "Hungary"}, {"IE", "IRL", "Ireland"}, {"IT", "ITA", "Italy"}, {"LV", "LVA", "Latvia"},
	{"LT", "LTU", "Lithuania"}, {"LU", "LUX", "Luxembourg"}, {"MT", "MLT", "Malta"}, {"NL", "NLD", "Netherlands"},
	{"PL", "POL", "Poland"}, {"PT", "PRT", "Portugal"}, {"RO", "ROU", "Romania"}, {"SK", "SVK", "Slovakia"},
	{"SI", "SVN", "Slovenia"}, {"ES", "ESP", "Spain"}, {"SE", "SWE", "Sweden"},
	{"IS", "ISL", "Iceland"}, {"LI", "LIE", "Liechtenstein"}, {"NO", "NOR", "Norway"},
	{"GB", "GBR", "United Kingdom"},
}

// onlineRetail is every distinct Country of the Online Retail data set
// (zcat online_retail.csv.gz, column Country), with the region it must
// resolve to ("" for none) and whether the built-in policy asks for opt-in.
var onlineRetail = []struct {
	country string
	code    string
	optIn   bool
}{
	{"Australia", "AU", false}, {"Austria", "AT", true}, {"Bahrain", "BH", false}, {"Belgium", "BE", true},
	{"Brazil", "BR", false}, {"Canada", "CA", false}, {"Channel Islands", "GB", true}, {"Cyprus", "CY", true},
	{"Czech Republic", "CZ", true}, {"Denmark", "DK", true}, {"EIRE", "IE", true}, {"European Community", "EU", true},
	{"Finland", "FI", true}, {"France", "FR", true}, {"Germany", "DE", true}, {"Greece", "GR", true},
	{"Hong Kong", "HK", false}, {"Iceland", "IS", true}, {"Israel", "IL", false}, {"Italy", "IT", true},
	{"Japan", "JP", false}, {"Lebanon", "LB", false}, {"Lithuania", "LT", true}, {"Malta", "MT", true},
	{"Netherlands", "NL", true}, {"Norway", "NO", true}, {"Poland", "PL", true}, {"Portugal", "PT", true},
	{"RSA", "ZA", false}, {"Saudi Arabia", "SA", false}, {"Singapore", "SG", false}, {"Spain", "ES", true},
	{"Sweden", "SE", true}, {"Switzerland", "CH", true}, {"USA", "US", false}, {"United Arab Emirates", "AE", false},
	{"United Kingdom", "GB", true}, {"Unspecified", "", true},
}

// TestAdversarialRegionTable proves the finding "consent defaults do not
// apply to real region values": DE, FR, GB, Germany, United Kingdom, eu-de
// all got "everything allowed" because only the literal strings EU, EEA and
// UK were matched. Every EU and EEA state and the UK, in every usual form,
// must get the opt-in policy; elsewhere the country's own; an unknown value
// the strictest.
func TestAdversarialRegionTable(t *testing.T) {
	p := engine.DefaultConsentPolicy()
	resolves := func(t *testing.T, raw, code string, want map[engine.Purpose]bool) {
		t.Helper()
		r, ok := engine.ResolveRegion(raw)
		switch {
		case code == "" && ok:
			t.Errorf("%q resolved to %q; it names no region", raw, r.Code)
		case code != "" && (!ok || r.Code != code):
			t.Errorf("%q resolved to %q (ok %v), want %q", raw, r.Code, ok, code)
		}
		if got := entryOf(&p, raw); !maps.Equal(got, want) {
			t.Errorf("%q: policy %v, want %v", raw, got, want)
		}
	}

	t.Run("Europe", func(t *testing.T) {
		for _, c := range europe {
			for _, raw := range []string{c[0], c[1], c[2], strings.ToLower(c[0]), strings.ToLower(c[2]), " " + strings.ToUpper(c[2]) + " "} {
				resolves(t, raw, c[0], optIn)
			}
			if c[0] != "GB" {
				bloc := "EU"
				if c[0] == "IS" || c[0] == "LI" || c[0] == "NO" {
					bloc = "EEA"
				}
				for _, raw := range []string{bloc + "-" + c[0], strings.ToLower(bloc + "-" + c[0]), bloc + "-" + c[1]} {
					resolves(t, raw, c[0], optIn)
				}
			}
			resolves(t, c[0]+"-X1", c[0]+"-X1", optIn) // a subdivision
		}
	})

	t.Run("Forms", func(t *testing.T) {
		for _, c := range []struct{ raw, code string }{
			{"UK", "GB"}, {"uk", "GB"}, {"Great Britain", "GB"}, {"England", "GB-ENG"}, {"Scotland", "GB-SCT"},
			{"Wales", "GB-WLS"}, {"Northern Ireland", "GB-NIR"}, {"GB-SCT", "GB-SCT"}, {"gb-sct", "GB-SCT"},
			{"UK-SCT", "GB-SCT"}, {"Holland", "NL"}, {"the Netherlands", "NL"}, {"Eire", "IE"}, {"EL", "GR"},
			{"EU-DE-BY", "DE-BY"}, {"eea-no", "NO"}, {"276", "DE"}, {"EU", "EU"}, {"eu", "EU"}, {"EEA", "EEA"},
			{"European Union", "EU"}, {"Jersey", "JE"}, {"GG", "GG"}, {"Isle of Man", "IM"}, {"Gibraltar", "GI"},
			{"CHE", "CH"}, {"Åland Islands", "AX"}, {"Aland Islands", "AX"}, {"Réunion", "RE"}, {"Canary Islands", "IC"},
		} {
			resolves(t, c.raw, c.code, optIn)
		}
	})

	t.Run("OnlineRetail", func(t *testing.T) {
		for _, c := range onlineRetail {
			want := allApplies
			if c.optIn {
				want = optIn
			}
			resolves(t, c.country, c.code, want)
		}
	})

	t.Run("Elsewhere", func(t *testing.T) {
		for _, c := range []struct{ raw, code string }{
			{"US-CA", "US-CA"}, {"us-ca", "US-CA"}, {"US", "US"}, {"USA", "US"}, {"United States", "US"},
			{"United States of America", "US"}, {"Brazil", "BR"}, {"BRA", "BR"}, {"br", "BR"}, {"USA-NY", "US-NY"},
			{"Côte d’Ivoire", "CI"}, {"Cote d'Ivoire", "CI"}, {"Bosnia and Herzegovina", "BA"}, {"Saint Lucia", "LC"},
			{"Guinea-Bissau", "GW"}, {"Faroe Islands", "FO"}, {"Greenland", "GL"}, {"Kosovo", "XK"}, {"XK", "XK"},
		} {
			resolves(t, c.raw, c.code, allApplies)
		}
	})

	t.Run("Unknown", func(t *testing.T) {
		for _, raw := range []string{"", "  ", "Atlantis", "XX", "ZZ", "QO", "EZ", "Unspecified", "Europe", "150",
			"EU-US", "EEA-CH", "EU-EEA", "DE-TOOLONG", "-DE", "DE-", "Germany-BY", strings.Repeat("DE", 40)} {
			resolves(t, raw, "", optIn)
		}
	})
}

// TestAdversarialOperatorPolicyRegions proves the operator's side of the
// same finding: keys of --consent-policy are read as regions are, so a key
// "Germany" governs a shopper whose region is "DE" or "eu-de", an
// unrecognisable key is refused by name, and "unknown" sets what applies to
// people whose region is absent or unrecognised.
func TestAdversarialOperatorPolicyRegions(t *testing.T) {
	p, err := engine.ParseConsentPolicy([]byte(`{
		"default": {"personalization": true, "social_signals": true, "cross_device": true, "analytics": true},
		"unknown": {"personalization": true},
		"regions": {"Germany": {"personalization": true}, "eu": {"personalization": true, "cross_device": true},
		            "us-ca": {"cross_device": true}, "United Kingdom": {"personalization": true, "analytics": true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	entry := func(purposes ...engine.Purpose) map[engine.Purpose]bool {
		m := map[engine.Purpose]bool{}
		for _, purpose := range engine.Purposes {
			m[purpose] = false
		}
		for _, purpose := range purposes {
			m[purpose] = true
		}
		return m
	}
	for _, c := range []struct {
		region string
		want   map[engine.Purpose]bool
	}{
		{"DE", entry(engine.PurposePersonalization)},    // the country beats its bloc
		{"eu-de", entry(engine.PurposePersonalization)}, //
		{"DE-BY", entry(engine.PurposePersonalization)}, // a subdivision without an entry: its country
		{"FR", entry(engine.PurposePersonalization, engine.PurposeCrossDevice)},
		{"NO", allApplies}, // in the EEA, not the EU: no entry, the default
		{"US-CA", entry(engine.PurposeCrossDevice)},
		{"US", allApplies},
		{"Scotland", entry(engine.PurposePersonalization, engine.PurposeAnalytics)},
		{"", entry(engine.PurposePersonalization)},
		{"Atlantis", entry(engine.PurposePersonalization)},
	} {
		if got := entryOf(&p, c.region); !maps.Equal(got, c.want) {
			t.Errorf("%q: %v, want %v", c.region, got, c.want)
		}
	}

	withoutUnknown, err := engine.ParseConsentPolicy([]byte(`{"default": {"social_signals": true, "personalization": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := entryOf(&withoutUnknown, "Atlantis"); !maps.Equal(got, optIn) {
		t.Errorf("without an unknown entry an unrecognised region gets the strictest built-in policy, got %v", got)
	}

	for _, c := range []struct{ doc, mentions string }{
		{`{"regions": {"Atlantis": {"personalization": true}}}`, `"Atlantis"`},
		{`{"regions": {"unknown": {"personalization": true}}}`, `top-level "unknown"`},
		{`{"regions": {"DE": {}, "Germany": {}}}`, `"DE" and "Germany" both name DE`},
		{`{"regions": {"EU-FR": {"marketing": true}}}`, `marketing`},
		{`{"unknown": {"marketing": true}}`, `marketing`},
		{`{"unkown": {"personalization": true}}`, `unkown`},
	} {
		_, err := engine.ParseConsentPolicy([]byte(c.doc))
		if err == nil || engine.ErrorCode(err) != engine.CodeInvalid || !strings.Contains(err.Error(), c.mentions) {
			t.Errorf("%s: error %v, want an invalid-policy error mentioning %s", c.doc, err, c.mentions)
		}
	}
}

// TestConsentPolicyForRegions: a person known under several regions gets
// the strictest of their policies; blank values say nothing; none at all is
// unknown.
func TestConsentPolicyForRegions(t *testing.T) {
	p := engine.DefaultConsentPolicy()
	for _, c := range []struct {
		name    string
		regions []string
		want    bool
	}{
		{"OneAllows", []string{"US"}, true},
		{"AllAllow", []string{"US", "us-ca", "Brazil"}, true},
		{"OneOptIn", []string{"US", "Germany"}, false},
		{"BlankSkipped", []string{"", "US", " "}, true},
		{"UnrecognisedIsUnknown", []string{"US", "Atlantis"}, false},
		{"OnlyBlank", []string{"", ""}, false},
		{"None", nil, false},
	} {
		if got := p.ForRegions(c.regions, engine.PurposeSocial); got != c.want {
			t.Errorf("%s %q: %v, want %v", c.name, c.regions, got, c.want)
		}
		if got := p.EffectiveIn(nil, c.regions, engine.PurposeSocial, now); got.Granted != c.want || !got.Default {
			t.Errorf("%s %q: EffectiveIn without a decision is %+v, want the default %v", c.name, c.regions, got, c.want)
		}
	}
}

// FuzzResolveRegion checks that resolving never panics and that a resolved
// region's code resolves to the same region, so a canonical code stored or
// written in a policy means what it meant.
func FuzzResolveRegion(f *testing.F) {
	for _, s := range []string{"DE", "eu-de", "United Kingdom", "US-CA", "EU-DE-BY", "EEA", "Côte d’Ivoire", "EU-", "-", "UK-SCT", "\x00", "EU-EU-EU-DE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, ok := engine.ResolveRegion(raw)
		if !ok {
			return
		}
		again, ok := engine.ResolveRegion(r.Code)
		if !ok || again.Code != r.Code || again.Country != r.Country || !slices.Equal(again.Blocs, r.Blocs) {
			t.Fatalf("%q resolved to %+v, whose code resolves to %+v (ok %v)", raw, r, again, ok)
		}
	})
}
