package engine_test

import (
	"strings"
	"testing"

	"rapport/engine"
)

func TestParseAlias(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, errHas string
	}{
		{"Customer", "customer:17850", "customer:17850", ""},
		{"Anon", "anon:7f3c", "anon:7f3c", ""},
		{"Social", "social:facebook:123", "social:facebook:123", ""},
		{"B2B", "b2b:ACME-42", "b2b:ACME-42", ""},
		{"EmailAddressIsHashed", "email: Ann@Example.com ", "email:" + sha("ann@example.com"), ""},
		{"EmailDigestKept", "email:" + strings.ToUpper(sha("x@y.z")), "email:" + sha("x@y.z"), ""},
		{"ErrEmpty", "", "", "required"},
		{"ErrNoKind", "17850", "", "kind:value"},
		{"ErrUnknownKind", "phone:123", "", "unknown kind"},
		{"ErrEmptyValue", "customer:", "", "must not be empty"},
		{"ErrSpace", "customer:17 850", "", "spaces"},
		{"ErrSlash", "customer:a/b", "", "'/'"},
		{"ErrSocialNoProvider", "social:123", "", "social:<provider>:<id>"},
		{"ErrSocialBadProvider", "social:Face Book:1", "", "provider"},
		{"ErrBadEmail", "email:not-an-address", "", "email"},
		{"ErrTooLong", "customer:" + strings.Repeat("x", 300), "", "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := engine.ParseAlias(tc.in)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("ParseAlias(%q) error = %v, want one mentioning %q", tc.in, err, tc.errHas)
				}
				return
			}
			if err != nil || a.String() != tc.want {
				t.Fatalf("ParseAlias(%q) = %q, %v; want %q", tc.in, a, err, tc.want)
			}
			if again, err := engine.ParseAlias(a.String()); err != nil || again != a {
				t.Fatalf("re-parsing %q gave %q, %v", a, again, err)
			}
		})
	}
}

func TestStageFor(t *testing.T) {
	for in, want := range map[string]engine.Stage{
		"anon:1": engine.StageAnonymous, "email:a@b.c": engine.StageKnown, "loyalty:9": engine.StageKnown,
		"social:x:1": engine.StageKnown, "customer:1": engine.StageRegistered, "b2b:o": engine.StageRegistered,
	} {
		a, err := engine.ParseAlias(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := engine.StageFor(a); got != want {
			t.Errorf("StageFor(%s) = %s, want %s", in, got, want)
		}
	}
	if got := engine.StageAnonymous.Raise(engine.StageRegistered).Raise(engine.StageKnown); got != engine.StageRegistered {
		t.Errorf("Raise kept %s, want registered", got)
	}
}

func FuzzParseAlias(f *testing.F) {
	for _, s := range []string{"customer:1", "email:a@b.c", "social:fb:1", "anon:", ":", "social::", "email:" + sha("q")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := engine.ParseAlias(s)
		if err != nil {
			return
		}
		again, err := engine.ParseAlias(a.String())
		if err != nil || again != a {
			t.Fatalf("%q parsed to %q, which re-parses to %q, %v", s, a, again, err)
		}
	})
}
