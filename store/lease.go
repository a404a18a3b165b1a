package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"rapport/engine"
)

// Fence names a lease that writes are made under: a job's run lease. A
// store write whose context carries a fence commits only while the lease
// is still held with that token, so a replica that paused and lost its
// lease cannot write over the work of the one that took it over.
type Fence struct {
	Name, Owner string
	Token       uint64
}

type fenceKey struct{}

// WithFence returns a context whose store writes are fenced by f.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, &f)
}

func fenceOf(ctx context.Context) *Fence {
	f, _ := ctx.Value(fenceKey{}).(*Fence)
	return f
}

// ErrFenced refuses a write made under a lease this replica no longer
// holds.
var ErrFenced = engine.Errorf(engine.CodeConflict, "this replica no longer holds the job's lease; its write was refused")

// Leases are named, expiring locks shared by every replica of a Redis
// store, with fencing tokens that grow with every acquisition.
type Leases struct{ r *redisKV }

// Leases returns the store's leases, or nil for Badger, where one process
// owns the store and needs none.
func (db *DB) Leases() *Leases {
	if r, ok := db.kv.(*redisKV); ok {
		return &Leases{r}
	}
	return nil
}

func (r *redisKV) leaseKey(name string) string { return r.prefix + "lease:" + name }

func leaseValue(owner string, token uint64) string {
	return owner + "|" + strconv.FormatUint(token, 10)
}

// acquire: the lease's token if owner holds it or it was free (then a new
// token), 0 if someone else holds it.
var acquireScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|[^|]*$')
  if string.sub(cur, 1, sep - 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(cur, sep + 1))
  end
  return 0
end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. t, 'PX', ARGV[2])
return t`)

// renew and release act only on the lease as owner holds it with token.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Acquire takes the named lease for ttl if it is free, or extends it if
// owner holds it already; ok is false while another owner holds it.
func (l *Leases) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (token uint64, ok bool, err error) {
	n, err := acquireScript.Run(ctx, l.r.rdb, []string{l.r.leaseKey(name), l.r.prefix + "fence"}, owner, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return uint64(n), n > 0, nil
}

// Renew extends a held lease; false if it was lost (expired, or taken).
func (l *Leases) Renew(ctx context.Context, name, owner string, token uint64, ttl time.Duration) (bool, error) {
	n, err := renewScript.Run(ctx, l.r.rdb, []string{l.r.leaseKey(name)}, leaseValue(owner, token), ttl.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("renew lease %s: %w", name, err)
	}
	return n == 1, nil
}

// Release gives a held lease up at once.
func (l *Leases) Release(ctx context.Context, name, owner string, token uint64) error {
	if err := releaseScript.Run(ctx, l.r.rdb, []string{l.r.leaseKey(name)}, leaseValue(owner, token)).Err(); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// checkFence, inside a WATCHing transaction, refuses to go on unless the
// fence's lease is held as it says; the WATCH makes EXEC fail if the lease
// changes before the commit.
func (t *redisTxn) checkFence(f *Fence) error {
	if f == nil {
		return nil
	}
	key := t.kv.leaseKey(f.Name)
	if err := t.watch(key); err != nil {
		return err
	}
	v, err := t.cmd.Get(t.ctx, key).Result()
	if errors.Is(err, redis.Nil) || (err == nil && v != leaseValue(f.Owner, f.Token)) {
		return ErrFenced
	}
	return err
}
