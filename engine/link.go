package engine

import "time"

// LinkOp is what happened to an alias in the identity graph.
type LinkOp string

const (
	OpLink   LinkOp = "link"   // an alias without a history joined an identity
	OpMerge  LinkOp = "merge"  // an alias came along when its identity merged into another
	OpUnlink LinkOp = "unlink" // an alias was split off into an identity of its own
)

// Link records one change to the identity graph, kept with the alias it
// concerns, so the history of a person is the history of their aliases and
// leaves with an alias that is split off or erased. It names other people
// only by identity number, never by alias.
type Link struct {
	Op            LinkOp     `json:"op"`
	Alias         Alias      `json:"-"`
	Identity      IdentityID `json:"identity"`       // the identity the alias joined or stayed with
	From          IdentityID `json:"from,omitempty"` // merge: the identity merged away; unlink: the one it left
	Authenticated bool       `json:"authenticated,omitempty"`
	Time          time.Time  `json:"time"`
}

// LinkResult says what a link did.
type LinkResult struct {
	Identity Identity   // the identity after the link
	Merged   IdentityID // the identity merged into it, 0 if none
	Joined   bool       // the alias was new and joined; false for a merge or a login
}

// Alias limits of one identity: a person has at most one customer account
// and one email address, and a bounded number of everything else, so a
// careless caller cannot fold a crowd into one person.
const (
	MaxAliasesPerKind = 20
	MaxAliases        = 100
)

// singular kinds may appear at most once per identity.
var singular = map[string]bool{KindCustomer: true, KindEmail: true}

// CheckJoin returns a conflict error if an identity with aliases have could
// not also hold aliases add.
func CheckJoin(have, add []Alias) error {
	if len(have)+len(add) > MaxAliases {
		return Errorf(CodeConflict, "an identity holds at most %d aliases; these two would hold %d", MaxAliases, len(have)+len(add))
	}
	count := map[string]int{}
	for _, a := range have {
		count[a.Kind]++
	}
	for _, a := range add {
		if singular[a.Kind] {
			for _, h := range have {
				if h.Kind == a.Kind {
					return Errorf(CodeConflict, "the identity already has the %s alias %s; a person has one %s alias, so %s cannot be linked to it (unlink the other first)", a.Kind, h, a.Kind, a)
				}
			}
		}
		if count[a.Kind]++; count[a.Kind] > MaxAliasesPerKind {
			return Errorf(CodeConflict, "an identity holds at most %d aliases of kind %s", MaxAliasesPerKind, a.Kind)
		}
	}
	return nil
}
