package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"rapport/engine"
)

// scrubWait bounds how long Scrub waits for Redis to rewrite its
// append-only file; past it the receipt says the rewrite is still due.
var scrubWait = 2 * time.Minute

// Scrub rewrites the append-only file of every Redis master that keeps
// one (BGREWRITEAOF), so that the commands that once wrote an erased
// person's keys, and the deletions that name them, leave Redis's files,
// and waits for the rewrites. It returns what remains: an AOF whose
// rewrite did not finish in time or failed, and Redis's RDB snapshots,
// which rapport cannot list.
func (r *redisKV) Scrub(ctx context.Context) []engine.Remnant {
	ctx, cancel := context.WithTimeout(ctx, scrubWait)
	defer cancel()
	var mu sync.Mutex
	var aof, rdb engine.Remnant
	aof.Layer, rdb.Layer = "redis_aof", "redis_snapshots"
	scrub := func(ctx context.Context, node *redis.Client) error {
		addr := node.Options().Addr
		at, err := rewriteAOF(ctx, node)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			aof.Count++
			aof.Copies = append(aof.Copies, engine.Copy{At: at, Where: fmt.Sprintf("append-only file of %s (%v)", addr, err)})
		}
		if info, err := persistence(ctx, node); err == nil {
			if t, err := strconv.ParseInt(info["rdb_last_save_time"], 10, 64); err == nil && t > 0 {
				rdb.Count++
				rdb.Copies = append(rdb.Copies, engine.Copy{At: time.Unix(t, 0).UTC(), Where: "last RDB snapshot of " + addr})
			}
		}
		return nil
	}
	if c, ok := r.rdb.(*redis.ClusterClient); ok {
		c.ForEachMaster(ctx, scrub)
	} else if c, ok := r.rdb.(*redis.Client); ok {
		scrub(ctx, c)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	var out []engine.Remnant
	if aof.Count > 0 {
		aof.Until = "these append-only files hold this person until Redis completes a rewrite of them (asked at the time given; INFO persistence shows aof_rewrite_in_progress; BGREWRITEAOF asks again)"
		out = append(out, aof)
	}
	rdb.Until = "Redis's RDB snapshots saved before " + now + ", and any copies of Redis's files, hold this person until the next save replaces them or they are deleted under your retention; rapport does not track them"
	return append(out, rdb)
}

// rewriteAOF has node rewrite its append-only file, when it keeps one, and
// waits for the rewrite to finish. It returns when it asked.
func rewriteAOF(ctx context.Context, node *redis.Client) (time.Time, error) {
	asked := time.Now().UTC()
	info, err := persistence(ctx, node)
	if err != nil {
		return asked, err
	}
	if info["aof_enabled"] != "1" {
		return asked, nil
	}
	before, counted := info["aof_rewrites"] // Redis 7 counts rewrites
	if err := node.BgRewriteAOF(ctx).Err(); err != nil {
		return asked, fmt.Errorf("BGREWRITEAOF: %w", err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return asked, fmt.Errorf("the rewrite had not finished after %v", scrubWait)
		case <-tick.C:
		}
		info, err := persistence(ctx, node)
		if err != nil {
			return asked, err
		}
		if info["aof_rewrite_in_progress"] != "0" || info["aof_rewrite_scheduled"] != "0" || counted && info["aof_rewrites"] == before {
			continue
		}
		if s := info["aof_last_bgrewrite_status"]; s != "ok" {
			return asked, fmt.Errorf("the rewrite failed (aof_last_bgrewrite_status %s)", s)
		}
		return asked, nil
	}
}

// persistence reads node's INFO persistence as a map.
func persistence(ctx context.Context, node *redis.Client) (map[string]string, error) {
	s, err := node.Info(ctx, "persistence").Result()
	if err != nil {
		return nil, fmt.Errorf("INFO persistence: %w", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out, nil
}
