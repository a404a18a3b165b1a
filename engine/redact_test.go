package engine_test

import (
	"strings"
	"testing"

	"rapport/engine"
)

// TestRedactorText reads as the list of places an alias hides in a log
// line: each must come out as the same tag, and nothing else may change.
func TestRedactorText(t *testing.T) {
	r := engine.NewRedactor([]byte("a fixed key"))
	cust := r.Tag(engine.Alias{Kind: engine.KindCustomer, Value: "17850"})
	mail, _ := engine.ParseAlias("email:ann@example.com")
	ann := r.Tag(mail)
	for _, c := range []struct{ name, in, want string }{
		{"OK", "no identity has the alias customer:17850", "no identity has the alias " + cust},
		{"Quoted", `alias "customer:17850".`, `alias "` + cust + `".`},
		{"StoreKey", "DropPrefix called for [a/customer:17850\x00 e/\x00]", "DropPrefix called for [a/" + cust + "\x00 e/\x00]"},
		{"RawAddress", "follow of Ann@Example.com", "follow of " + ann},
		{"HashedAddress", "target " + mail.String(), "target " + ann},
		{"BareHash", "value " + mail.Value, "value " + ann},
		{"NothingToDo", "store is not ready", "store is not ready"},
		{"NotAnAlias", "ratio 3:4 at 12:00", "ratio 3:4 at 12:00"},
	} {
		if got := r.Text(c.in); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		if strings.Contains(r.Text(c.in), "17850") || strings.Contains(strings.ToLower(r.Text(c.in)), "ann@") {
			t.Errorf("%s: %q still names the person", c.name, r.Text(c.in))
		}
	}
}
