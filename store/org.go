package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"rapport/engine"
)

// An organisation's record lists its members by stream (never by alias
// text); y/<stream><org> indexes the organisations of each alias, and goes
// with the alias's other records when it is erased.

type orgRecord struct {
	engine.Org
	streams []uint64 // parallel to Members
}

func orgKey(id engine.OrgID) []byte { return []byte(prefixOrg + string(id) + "\x00") }

func memberKey(stream uint64, org engine.OrgID) []byte {
	return append(streamKey(prefixOrgMember, stream), org...)
}

func encodeOrg(o *orgRecord) []byte {
	e := newEncoder(64 + 24*len(o.streams))
	e.string(o.Name)
	e.time(o.CreatedAt)
	e.time(o.UpdatedAt)
	e.uint(uint64(len(o.streams)))
	for i, s := range o.streams {
		e.uint(s)
		e.string(string(o.Members[i].Role))
		e.time(o.Members[i].AddedAt)
	}
	return e.buf
}

func getOrg(txn kvTxn, id engine.OrgID) (orgRecord, error) {
	item, err := txn.Get(orgKey(id))
	if errors.Is(err, errNotFound) {
		return orgRecord{}, engine.Errorf(engine.CodeNotFound, "no organisation %s", id)
	}
	if err != nil {
		return orgRecord{}, fmt.Errorf("get organisation: %w", err)
	}
	o := orgRecord{Org: engine.Org{ID: id}}
	err = item.Value(func(v []byte) error {
		d, err := newDecoder(v)
		if err != nil {
			return err
		}
		o.Name, o.CreatedAt, o.UpdatedAt = d.string(), d.time(), d.time()
		for n := d.count(); n > 0 && !d.bad; n-- {
			o.streams = append(o.streams, d.uint())
			o.Members = append(o.Members, engine.Member{Role: engine.OrgRole(d.string()), AddedAt: d.time()})
		}
		return d.err()
	})
	if err != nil {
		return orgRecord{}, err
	}
	for i, s := range o.streams {
		a, err := streamAlias(txn, s)
		if err != nil {
			return orgRecord{}, err
		}
		o.Members[i].Alias = a
	}
	return o, nil
}

// streamAlias reads the alias a stream belongs to.
func streamAlias(txn kvTxn, stream uint64) (engine.Alias, error) {
	r := record{streams: []uint64{stream}}
	if err := fillAliases(txn, &r, []bool{false}); err != nil {
		return engine.Alias{}, err
	}
	return r.Aliases[0], nil
}

// PutOrg creates organisation id or renames it; created says which.
func (db *DB) PutOrg(ctx context.Context, id engine.OrgID, name string) (o engine.Org, created bool, err error) {
	err = db.update(ctx, func(txn kvTxn) error {
		now := time.Now().UTC()
		r, err := getOrg(txn, id)
		created = engine.ErrorCode(err) == engine.CodeNotFound
		if created {
			r = orgRecord{Org: engine.Org{ID: id, CreatedAt: now}}
		} else if err != nil {
			return err
		}
		r.Name, r.UpdatedAt = name, now
		o = r.Org
		return txn.Set(orgKey(id), encodeOrg(&r))
	})
	return o, created, err
}

// Org returns an organisation with its members.
func (db *DB) Org(ctx context.Context, id engine.OrgID) (engine.Org, error) {
	var o orgRecord
	err := db.kv.View(func(txn kvTxn) (err error) {
		o, err = getOrg(txn, id)
		return err
	})
	return o.Org, err
}

// PutMember makes the person alias a names a member of org with role, or
// changes their role. A person is a member once, under the alias they were
// added with.
func (db *DB) PutMember(ctx context.Context, org engine.OrgID, a engine.Alias, role engine.OrgRole) (engine.Member, error) {
	var m engine.Member
	err := db.update(ctx, func(txn kvTxn) error {
		o, err := getOrg(txn, org)
		if err != nil {
			return err
		}
		e, r, err := resolveRecord(txn, a)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		k := slices.IndexFunc(o.streams, func(s uint64) bool { return slices.Contains(r.streams, s) })
		switch {
		case k >= 0 && o.streams[k] != e.stream:
			return engine.Errorf(engine.CodeConflict, "this person is already a member of %s as %s", org, o.Members[k].Alias)
		case k >= 0:
			o.Members[k].Role = role
		default:
			if len(o.streams) >= engine.MaxOrgMembers {
				return engine.Errorf(engine.CodeConflict, "an organisation has at most %d members", engine.MaxOrgMembers)
			}
			o.streams = append(o.streams, e.stream)
			o.Members = append(o.Members, engine.Member{Alias: a, Role: role, AddedAt: now})
			k = len(o.streams) - 1
		}
		m = o.Members[k]
		o.UpdatedAt = now
		if err := txn.Set(orgKey(org), encodeOrg(&o)); err != nil {
			return err
		}
		return txn.Set(memberKey(e.stream, org), []byte(role))
	})
	return m, err
}

// EnsureMembers makes every person aliases name a member of org with
// role, creating the organisation (named by its id) if it is new; members
// already there keep their role.
func (db *DB) EnsureMembers(ctx context.Context, org engine.OrgID, aliases []engine.Alias, role engine.OrgRole) error {
	return db.update(ctx, func(txn kvTxn) error {
		now := time.Now().UTC()
		o, err := getOrg(txn, org)
		if engine.ErrorCode(err) == engine.CodeNotFound {
			o, err = orgRecord{Org: engine.Org{ID: org, Name: string(org), CreatedAt: now}}, nil
		}
		if err != nil {
			return err
		}
		for _, a := range aliases {
			e, r, err := resolveRecord(txn, a)
			if err != nil {
				return err
			}
			if slices.ContainsFunc(o.streams, func(s uint64) bool { return slices.Contains(r.streams, s) }) {
				continue
			}
			if len(o.streams) >= engine.MaxOrgMembers {
				return engine.Errorf(engine.CodeConflict, "an organisation has at most %d members", engine.MaxOrgMembers)
			}
			o.streams = append(o.streams, e.stream)
			o.Members = append(o.Members, engine.Member{Alias: a, Role: role, AddedAt: now})
			if err := txn.Set(memberKey(e.stream, org), []byte(role)); err != nil {
				return err
			}
		}
		o.UpdatedAt = now
		return txn.Set(orgKey(org), encodeOrg(&o))
	})
}

// DeleteMember removes the person alias a names from org.
func (db *DB) DeleteMember(ctx context.Context, org engine.OrgID, a engine.Alias) error {
	return db.update(ctx, func(txn kvTxn) error {
		o, err := getOrg(txn, org)
		if err != nil {
			return err
		}
		_, r, err := resolveRecord(txn, a)
		if err != nil {
			return err
		}
		k := slices.IndexFunc(o.streams, func(s uint64) bool { return slices.Contains(r.streams, s) })
		if k < 0 {
			return engine.Errorf(engine.CodeNotFound, "%s is not a member of %s", a, org)
		}
		stream := o.streams[k]
		o.streams, o.Members = slices.Delete(o.streams, k, k+1), slices.Delete(o.Members, k, k+1)
		o.UpdatedAt = time.Now().UTC()
		if err := txn.Set(orgKey(org), encodeOrg(&o)); err != nil {
			return err
		}
		return txn.Delete(memberKey(stream, org))
	})
}

// MemberRole returns the role in org of the person alias a names:
// not_found when there is no such person or they are not a member.
func (db *DB) MemberRole(ctx context.Context, org engine.OrgID, a engine.Alias) (engine.OrgRole, error) {
	var role engine.OrgRole
	err := db.kv.View(func(txn kvTxn) error {
		_, r, err := resolveRecord(txn, a)
		if err != nil {
			return err
		}
		for _, s := range r.streams {
			item, err := txn.Get(memberKey(s, org))
			if errors.Is(err, errNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			role = engine.OrgRole(v)
			return err
		}
		return engine.Errorf(engine.CodeNotFound, "%s is not a member of %s", a, org)
	})
	return role, err
}

// OrgsOf returns the organisations the person alias a names belongs to.
func (db *DB) OrgsOf(ctx context.Context, a engine.Alias) ([]engine.OrgID, error) {
	var out []engine.OrgID
	err := db.kv.View(func(txn kvTxn) error {
		_, r, err := resolveRecord(txn, a)
		if err != nil {
			return err
		}
		for _, s := range r.streams {
			prefix := streamKey(prefixOrgMember, s)
			err := scanPrefix(txn, prefix, func(k, v []byte) error {
				out = append(out, engine.OrgID(k[len(prefix):]))
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// dropMemberships removes streams from the member lists of the
// organisations they belong to, and their index entries, and returns how
// many memberships it removed.
func dropMemberships(txn kvTxn, streams []uint64) (int, error) {
	n := 0
	for _, s := range streams {
		var orgs []engine.OrgID
		prefix := streamKey(prefixOrgMember, s)
		err := scanPrefix(txn, prefix, func(k, v []byte) error {
			orgs = append(orgs, engine.OrgID(k[len(prefix):]))
			return nil
		})
		if err != nil {
			return n, err
		}
		for _, org := range orgs {
			o, err := getOrg(txn, org)
			if err != nil {
				return n, err
			}
			if k := slices.Index(o.streams, s); k >= 0 {
				o.streams, o.Members = slices.Delete(o.streams, k, k+1), slices.Delete(o.Members, k, k+1)
				if err := txn.Set(orgKey(org), encodeOrg(&o)); err != nil {
					return n, err
				}
				n++
			}
			if err := txn.Delete(memberKey(s, org)); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}
