package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"rapport/engine"
)

// invisibleRunes are characters that make two identifiers that look the
// same differ, or text read otherwise than it holds: C0 and C1 controls
// (U+0085 included), DEL, and Unicode format characters (category Cf).
var invisibleRunes = []rune{
	0x00, 0x01, 0x1b, 0x1f, 0x7f, 0x80, 0x85, 0x9f,
	0x00ad, 0x061c, 0x200b, 0x200c, 0x200d, 0x200e, 0x202a, 0x202e, 0x2060, 0x2066, 0x2067, 0x2069, 0xfeff,
}

// TestAdversarialAliasControlAndFormatCharacters proves issue 13 §6:
// aliases reject Unicode control and format characters, with a reason
// naming the code point.
func TestAdversarialAliasControlAndFormatCharacters(t *testing.T) {
	for _, r := range invisibleRunes {
		for _, in := range []string{
			"customer:178" + string(r) + "50",
			"anon:" + string(r),
			"social:facebook:1" + string(r),
			"email:ann" + string(r) + "@example.com",
		} {
			t.Run(fmt.Sprintf("%U/%s", r, strings.SplitN(in, ":", 2)[0]), func(t *testing.T) {
				a, err := engine.ParseAlias(in)
				if err == nil {
					t.Fatalf("ParseAlias(%q) = %q, want an error", in, a)
				}
				if want := fmt.Sprintf("%U", r); r > 0x20 && r != 0x7f && !strings.Contains(err.Error(), want) && !strings.Contains(err.Error(), "spaces") {
					t.Errorf("ParseAlias(%q) error %q does not name %s", in, err, want)
				}
			})
		}
	}
}

// TestAdversarialEventTextFormatCharacters proves issue 13 §6 for the
// other free-text identifiers of an event: its id, item, target, region
// and attribute values refuse the same characters as aliases.
func TestAdversarialEventTextFormatCharacters(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, r := range []rune{0x85, 0x200b, 0x202e, 0x2066, 0xfeff} {
		s := `x` + string(r) + `y`
		for field, body := range map[string]string{
			"id":           `{"id":"` + s + `","alias":"customer:1","type":"view","item":"A"}`,
			"item":         `{"alias":"customer:1","type":"view","item":"` + s + `"}`,
			"target":       `{"alias":"customer:1","type":"social_follow","target":"brand:` + s + `","source":"social:facebook"}`,
			"region":       `{"alias":"customer:1","type":"view","item":"A","region":"` + s + `"}`,
			"attributes.k": `{"alias":"customer:1","type":"view","item":"A","attributes":{"k":"` + s + `"}}`,
		} {
			t.Run(fmt.Sprintf("%U/%s", r, field), func(t *testing.T) {
				_, errs := engine.ParseEvent([]byte(body), now)
				if len(errs) != 1 || errs[0].Field != field || !strings.Contains(errs[0].Reason, fmt.Sprintf("%U", r)) {
					t.Fatalf("ParseEvent(%s) errors = %v, want one about %s naming %U", body, errs, field, r)
				}
			})
		}
	}
}
