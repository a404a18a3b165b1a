package engine

import (
	"fmt"
	"time"
)

// OrgID names an organisation: 1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-'.
type OrgID string

// ParseOrgID checks an organisation id; the error is a FieldError reason.
func ParseOrgID(s string) (OrgID, error) {
	if s == "" || len(s) > 64 {
		return "", reasonf("must be 1 to 64 characters")
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "", reasonf("%q may hold only letters, digits, '.', '_' and '-'", s)
		}
	}
	return OrgID(s), nil
}

// OrgRole is what a member may do in their organisation.
type OrgRole string

const (
	OrgAdmin    OrgRole = "admin"    // manages the organisation; reads every member
	OrgBuyer    OrgRole = "buyer"    // buys; reads their own data and the organisation's
	OrgApprover OrgRole = "approver" // approves orders; reads every member
	OrgViewer   OrgRole = "viewer"   // reads the organisation's, never another member's
)

// OrgRoles lists every member role.
var OrgRoles = []OrgRole{OrgAdmin, OrgBuyer, OrgApprover, OrgViewer}

// ParseOrgRole checks a member role; the error is a FieldError reason.
func ParseOrgRole(s string) (OrgRole, error) { return oneOf(s, OrgRoles, "a member role") }

// ReadsMembers reports whether a member with role r may read other
// members' data.
func (r OrgRole) ReadsMembers() bool { return r == OrgAdmin || r == OrgApprover }

// Member is one person in an organisation.
type Member struct {
	Alias   Alias     `json:"-"`
	Role    OrgRole   `json:"role"`
	AddedAt time.Time `json:"added_at"`
}

// Org is an organisation that buys through a portal.
type Org struct {
	ID        OrgID     `json:"id"`
	Name      string    `json:"name"`
	Members   []Member  `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MaxOrgMembers bounds an organisation.
const MaxOrgMembers = 10_000

// CheckOrgName validates an organisation's display name.
func CheckOrgName(name string) error {
	if err := checkLabel(name, 128); err != nil {
		return fmt.Errorf("name %w", err)
	}
	return nil
}
