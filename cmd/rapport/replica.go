package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"time"

	"rapport/engine"
	"rapport/engine/model"
	"rapport/engine/recommend"
	"rapport/jobs"
	"rapport/store"
)

// replicaName names this process among the replicas of a shared store.
func replicaName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// newScheduler makes the job scheduler; on a shared (Redis) store its
// jobs run under leases, so one replica leads the schedule and no job runs
// twice at once, and their writes are fenced.
func newScheduler(db *store.DB, logger *slog.Logger, owner string, ttl time.Duration) *jobs.Scheduler {
	s := jobs.New(db, logger)
	if l := db.Leases(); l != nil {
		s.Leases, s.Owner, s.LeaseTTL = l, owner, ttl
		s.Fence = func(ctx context.Context, lease, owner string, token uint64) context.Context {
			return store.WithFence(ctx, store.Fence{Name: lease, Owner: owner, Token: token})
		}
	}
	return s
}

// changesChannel carries what one replica changed that others may hold
// in memory.
const changesChannel = "changes"

type change struct {
	From    string   `json:"from"`
	Aliases []string `json:"aliases,omitempty"` // events arrived for these people
	IDs     []uint64 `json:"ids,omitempty"`     // serving state to drop
	Erased  []uint64 `json:"erased,omitempty"`
	Items   []string `json:"items,omitempty"`
}

// replicated is the recommender of a replica: every change it applies to
// its own serving state is published for the others, which drop theirs
// and read it again from the shared store on the next request.
type replicated struct {
	*recommend.Experiments
	name   string
	db     *store.DB
	logger *slog.Logger
}

func (r *replicated) publish(c change) {
	c.From = r.name
	b, _ := json.Marshal(c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.db.Publish(ctx, changesChannel, b); err != nil {
		r.logger.Warn("publish a change to the other replicas", "err", err)
	}
}

func (r *replicated) Observe(ctx context.Context, events []engine.Event) error {
	err := r.Experiments.Observe(ctx, events)
	seen := map[string]bool{}
	var aliases []string
	for _, ev := range events {
		if a := ev.Alias.String(); !seen[a] {
			seen[a] = true
			aliases = append(aliases, a)
		}
	}
	r.publish(change{Aliases: aliases})
	return err
}

func (r *replicated) ObserveItems(ctx context.Context, items []engine.Item) error {
	err := r.Experiments.ObserveItems(ctx, items)
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	r.publish(change{Items: ids})
	return err
}

func (r *replicated) Forget(ids ...engine.IdentityID) {
	r.Experiments.Forget(ids...)
	r.publish(change{IDs: numbers(ids)})
}

func (r *replicated) Erase(ids ...engine.IdentityID) {
	r.Experiments.Erase(ids...)
	r.publish(change{Erased: numbers(ids)})
}

func numbers(ids []engine.IdentityID) []uint64 {
	out := make([]uint64, len(ids))
	for i, id := range ids {
		out[i] = uint64(id)
	}
	return out
}

// follow applies the other replicas' changes to this one's serving state,
// and swaps in the model version the store says serves (a train run or a
// promotion on another replica), until ctx ends.
func (r *replicated) follow(ctx context.Context, msgs <-chan []byte, serving *model.Serving) {
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case b, ok := <-msgs:
			if !ok {
				msgs = nil // the subscription ended; polling goes on
				continue
			}
			var c change
			if json.Unmarshal(b, &c) != nil || c.From == r.name {
				continue
			}
			r.apply(ctx, c)
		case <-poll.C:
			v, ok, err := r.db.ServingVersion(ctx)
			if err != nil || !ok || v.ID == serving.Load().VersionID() {
				continue
			}
			l, err := loadVersion(ctx, r.db, v)
			if err != nil {
				r.logger.Warn("load the model version another replica made serve", "version", v.ID, "err", err)
				continue
			}
			l.Trained.Compact()
			serving.Swap(l)
			r.logger.Info("model version serving", "version", v.ID, "by", "another replica")
		}
	}
}

func (r *replicated) apply(ctx context.Context, c change) {
	var ids []engine.IdentityID
	for _, text := range c.Aliases {
		a, err := engine.ParseAlias(text)
		if err != nil {
			continue
		}
		if id, err := r.db.ResolveAlias(ctx, a); err == nil {
			ids = append(ids, id)
		}
	}
	for _, n := range c.IDs {
		ids = append(ids, engine.IdentityID(n))
	}
	if len(ids) > 0 {
		r.Experiments.Forget(ids...)
	}
	if len(c.Erased) > 0 {
		erased := make([]engine.IdentityID, len(c.Erased))
		for i, n := range c.Erased {
			erased[i] = engine.IdentityID(n)
		}
		r.Experiments.Erase(erased...)
	}
	var items []engine.Item
	for _, id := range c.Items {
		if it, err := r.db.Item(ctx, id); err == nil {
			items = append(items, it)
		}
	}
	if len(items) > 0 {
		if err := r.Experiments.ObserveItems(ctx, items); err != nil {
			r.logger.Warn("apply another replica's catalog change", "err", err)
		}
	}
}
