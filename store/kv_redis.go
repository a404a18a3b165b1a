package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"rapport/engine"
)

// redisKV is the kv on Redis (standalone or Cluster, through go-redis's
// universal client), for several rapport processes sharing one store.
//
// Layout, under a namespace N (default "rapport"); every key carries the
// hash tag {N}, so a whole store lives in one Cluster slot and a
// transaction may touch any of its keys:
//
//	rapport:{N}:v:<key>      the value of a store key
//	rapport:{N}:i:<table>    sorted set of the store keys of one table (the
//	                         key's first two bytes), all at score 0, so
//	                         ZRANGEBYLEX walks them in byte order as Badger does
//	rapport:{N}:t            set of the tables in use
//	rapport:{N}:s:<name>     sequence counters
//
// Transactions are optimistic like Badger's: every key read (and the index
// of every table iterated) is WATCHed, writes are buffered and applied in
// MULTI/EXEC, and a failed EXEC is errConflict, which the store retries.
// A transaction reads its own writes. Read-only transactions are not
// snapshots: each read sees the latest value.
//
// Durability is Redis's: with appendonly yes and appendfsync always an
// acknowledged write survives a crash of Redis; with the default
// everysec, up to a second of writes can be lost.
type redisKV struct {
	rdb    redis.UniversalClient
	prefix string
	closed atomic.Bool
}

var namespaceName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// OpenRedis opens the store in Redis at a URL:
// redis://[user:password@]host:port[,host:port…][/db][?namespace=NAME]
// (rediss:// for TLS; several hosts make a Cluster client).
func OpenRedis(rawURL string) (*DB, error) {
	k, err := dialRedis(rawURL)
	if err != nil {
		return nil, err
	}
	return openKV(k)
}

// IsRedisURL reports whether a --store value names Redis.
func IsRedisURL(s string) bool {
	return strings.HasPrefix(s, "redis://") || strings.HasPrefix(s, "rediss://")
}

func dialRedis(rawURL string) (*redisKV, error) {
	u, err := url.Parse(rawURL)
	if err != nil || !IsRedisURL(rawURL) || u.Host == "" {
		return nil, engine.Errorf(engine.CodeInvalid, "store: %q is not redis://host:port[,host:port…][/db][?namespace=NAME]", rawURL)
	}
	opts := &redis.UniversalOptions{Addrs: strings.Split(u.Host, ","), MaxRetries: 3, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	if u.User != nil {
		opts.Username = u.User.Username()
		opts.Password, _ = u.User.Password()
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if opts.DB, err = strconv.Atoi(p); err != nil || opts.DB < 0 {
			return nil, engine.Errorf(engine.CodeInvalid, "store: database %q is not a number", p)
		}
	}
	ns := "rapport"
	for name, v := range u.Query() {
		if name != "namespace" || len(v) != 1 || !namespaceName.MatchString(v[0]) {
			return nil, engine.Errorf(engine.CodeInvalid, "store: the only parameter is namespace=NAME (1 to 64 of A-Z a-z 0-9 _ . -)")
		}
		ns = v[0]
	}
	if u.Scheme == "rediss" {
		opts.TLSConfig = tlsConfig(strings.Split(u.Host, ",")[0])
	}
	rdb := redis.NewUniversalClient(opts)
	// A Redis that is replaying its AOF answers LOADING for a while: wait
	// for it (up to a minute) rather than fail a replica's start.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			break
		}
		if !strings.HasPrefix(err.Error(), "LOADING") || ctx.Err() != nil {
			rdb.Close()
			return nil, engine.Errorf(engine.CodeUnavailable, "store: cannot reach Redis at %s: %v", u.Host, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &redisKV{rdb: rdb, prefix: "rapport:{" + ns + "}:"}, nil
}

func tlsConfig(hostport string) *tls.Config {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
}

func (r *redisKV) valueKey(k []byte) string { return r.prefix + "v:" + string(k) }
func (r *redisKV) indexKey(table string) string {
	return r.prefix + "i:" + table
}
func (r *redisKV) tablesKey() string { return r.prefix + "t" }

// tableOf is the index a store key is listed in.
func tableOf(k []byte) string {
	if len(k) < 2 {
		return string(k)
	}
	return string(k[:2])
}

// ctx bounds one engine call; the kv interface carries no context, as
// Badger's does not.
func opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func (r *redisKV) View(fn func(kvTxn) error) error {
	ctx, cancel := opContext()
	defer cancel()
	t := &redisTxn{kv: r, ctx: ctx, cmd: r.rdb}
	err := fn(t)
	if err == nil {
		err = t.iterErr
	}
	return unavailable(err)
}

func (r *redisKV) Update(fence *Fence, fn func(kvTxn) error) error {
	ctx, cancel := opContext()
	defer cancel()
	// The never-written key gives Cluster a slot for the transaction; the
	// keys it reads are WATCHed as it reads them.
	err := r.rdb.Watch(ctx, func(tx *redis.Tx) error {
		t := &redisTxn{kv: r, ctx: ctx, cmd: tx, tx: tx, pending: map[string]*[]byte{}}
		if err := t.checkFence(fence); err != nil {
			return err
		}
		if err := fn(t); err != nil {
			return err
		}
		if t.iterErr != nil {
			return t.iterErr
		}
		return t.commit()
	}, r.prefix+"w")
	if errors.Is(err, redis.TxFailedErr) {
		return errConflict
	}
	return unavailable(err)
}

// unavailable turns an error that says Redis cannot be reached now — a
// refused, reset or dropped connection, a pool or operation timeout, a
// closed client, a Redis loading its data or failing over — into
// engine.CodeUnavailable, which the API answers with 503: the caller may
// retry, and nothing is wrong with the request. Other errors pass as they
// are.
func unavailable(err error) error {
	if err == nil || !redisUnreachable(err) {
		return err
	}
	var e *engine.Error
	if errors.As(err, &e) {
		return err
	}
	return &engine.Error{Code: engine.CodeUnavailable, Message: "the store (Redis) is unreachable; retry shortly", Err: err}
}

func redisUnreachable(err error) bool {
	var opErr *net.OpError
	switch {
	case errors.As(err, &opErr),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true
	}
	var re redis.Error
	if errors.As(err, &re) {
		for _, p := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY"} {
			if strings.HasPrefix(re.Error(), p) {
				return true
			}
		}
	}
	return false
}

// redisTxn is one transaction. In an update, tx is the WATCHing
// connection and pending holds the buffered writes (nil value: delete).
type redisTxn struct {
	kv      *redisKV
	ctx     context.Context
	cmd     redis.Cmdable
	tx      *redis.Tx
	pending map[string]*[]byte
	watched map[string]bool
	// iterErr is the first error an iterator of the transaction met; the
	// iterator then ends early, so the transaction fails with it rather
	// than report a short walk as the whole.
	iterErr error
}

func (t *redisTxn) watch(keys ...string) error {
	if t.tx == nil {
		return nil
	}
	var fresh []string
	for _, k := range keys {
		if !t.watched[k] {
			fresh = append(fresh, k)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if t.watched == nil {
		t.watched = map[string]bool{}
	}
	for _, k := range fresh {
		t.watched[k] = true
	}
	return t.tx.Watch(t.ctx, fresh...).Err()
}

func (t *redisTxn) Get(key []byte) (kvItem, error) {
	if p, ok := t.pending[string(key)]; ok {
		if p == nil {
			return nil, errNotFound
		}
		return &redisItem{key: key, val: *p}, nil
	}
	vk := t.kv.valueKey(key)
	if err := t.watch(vk); err != nil {
		return nil, err
	}
	v, err := t.cmd.Get(t.ctx, vk).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return &redisItem{key: slices.Clone(key), val: v}, nil
}

func (t *redisTxn) Set(key, val []byte) error {
	if t.pending == nil {
		return errors.New("store: write in a read-only transaction")
	}
	v := slices.Clone(val)
	t.pending[string(key)] = &v
	return nil
}

func (t *redisTxn) Delete(key []byte) error {
	if t.pending == nil {
		return errors.New("store: write in a read-only transaction")
	}
	t.pending[string(key)] = nil
	return nil
}

func (t *redisTxn) commit() error {
	if len(t.pending) == 0 {
		return nil
	}
	_, err := t.tx.TxPipelined(t.ctx, func(p redis.Pipeliner) error {
		writeAll(p, t.kv, t.pending)
		return nil
	})
	return err
}

// writeAll queues writes (nil value: delete) on a pipeline.
func writeAll(p redis.Pipeliner, r *redisKV, writes map[string]*[]byte) {
	ctx := context.Background()
	tables := map[string]bool{}
	for k, v := range writes {
		table := tableOf([]byte(k))
		if v == nil {
			p.Del(ctx, r.valueKey([]byte(k)))
			p.ZRem(ctx, r.indexKey(table), k)
			continue
		}
		p.Set(ctx, r.valueKey([]byte(k)), *v, 0)
		p.ZAdd(ctx, r.indexKey(table), redis.Z{Member: k})
		tables[table] = true
	}
	for table := range tables {
		p.SAdd(ctx, r.tablesKey(), table)
	}
}

func (t *redisTxn) NewIterator(o iterOptions) kvIterator {
	return &redisIterator{t: t, opts: o, page: max(o.PrefetchSize, 256)}
}

type redisItem struct{ key, val []byte }

func (i *redisItem) Key() []byte                           { return i.key }
func (i *redisItem) KeyCopy(dst []byte) []byte             { return append(dst[:0], i.key...) }
func (i *redisItem) Value(fn func(val []byte) error) error { return fn(i.val) }
func (i *redisItem) ValueCopy(dst []byte) ([]byte, error)  { return append(dst[:0], i.val...), nil }

// redisIterator walks store keys in byte order (reversed if asked) from
// the table indexes, a page at a time, with the transaction's pending
// writes merged in.
type redisIterator struct {
	t      *redisTxn
	opts   iterOptions
	page   int
	tables []string // the tables the walk covers, in walk order
	ti     int      // current table
	bound  string   // next ZRANGEBYLEX bound within the table
	buf    []*redisItem
	bi     int
	done   bool // the current table is exhausted in Redis
	err    error
	merged []*redisItem // pending writes in the walked range, in walk order
	mi     int
	cur    *redisItem
}

func (it *redisIterator) Rewind() {
	if it.opts.Reverse {
		it.seek(nil, true)
	} else {
		it.seek(it.opts.Prefix, false)
	}
}

func (it *redisIterator) Seek(key []byte) { it.seek(key, false) }

// seek starts the walk at key (the prefix or everything when key is nil
// and the walk is reversed).
func (it *redisIterator) seek(key []byte, fromEnd bool) {
	it.err = nil
	rev := it.opts.Reverse
	var tables []string
	if len(it.opts.Prefix) >= 2 {
		tables = []string{tableOf(it.opts.Prefix)}
	} else {
		all, err := it.t.cmd.SMembers(it.t.ctx, it.t.kv.tablesKey()).Result()
		if err != nil {
			it.fail(err)
		}
		slices.Sort(all)
		for _, tb := range all {
			if strings.HasPrefix(tb, string(it.opts.Prefix)) {
				tables = append(tables, tb)
			}
		}
	}
	if rev {
		slices.Reverse(tables)
	}
	// Skip the tables wholly before the seek key.
	if key != nil && !fromEnd {
		k := string(key)
		tables = slices.DeleteFunc(tables, func(tb string) bool {
			if rev {
				return tb > k[:min(2, len(k))]
			}
			return tb < k[:min(2, len(k))]
		})
	}
	it.tables, it.ti = tables, 0
	for _, tb := range tables {
		if err := it.t.watch(it.t.kv.indexKey(tb)); err != nil {
			it.fail(err)
		}
	}
	it.startTable(key, fromEnd)
	// Pending writes in range, in walk order.
	it.merged, it.mi = nil, 0
	for k, v := range it.t.pending {
		kb := []byte(k)
		if !bytes.HasPrefix(kb, it.opts.Prefix) {
			continue
		}
		if key != nil && !fromEnd && ((!rev && k < string(key)) || (rev && k > string(key))) {
			continue
		}
		item := &redisItem{key: kb}
		if v != nil {
			item.val = *v
		}
		it.merged = append(it.merged, item)
	}
	slices.SortFunc(it.merged, func(a, b *redisItem) int {
		if rev {
			return bytes.Compare(b.key, a.key)
		}
		return bytes.Compare(a.key, b.key)
	})
	it.advance()
}

// startTable starts reading the current table from key (nil: its start,
// or its end when reversed).
func (it *redisIterator) startTable(key []byte, fromEnd bool) {
	it.buf, it.bi, it.done = nil, 0, false
	if it.ti >= len(it.tables) {
		it.done = true
		return
	}
	if key == nil || fromEnd || tableOf(key) != it.tables[it.ti] {
		if it.opts.Reverse {
			it.bound = "+"
			if len(it.opts.Prefix) > 2 {
				it.bound = upperBound(it.opts.Prefix)
			}
		} else {
			it.bound = "-"
			if len(it.opts.Prefix) > 2 {
				it.bound = "[" + string(it.opts.Prefix)
			}
		}
		return
	}
	it.bound = "[" + string(key)
}

// upperBound is the exclusive ZRANGEBYLEX bound just past every key with
// the prefix ("+" when there is none).
func upperBound(prefix []byte) string {
	p := slices.Clone(prefix)
	for len(p) > 0 && p[len(p)-1] == 0xff {
		p = p[:len(p)-1]
	}
	if len(p) == 0 {
		return "+"
	}
	p[len(p)-1]++
	return "(" + string(p)
}

// fill reads the next page of the current table, moving to the next
// table when it is exhausted.
func (it *redisIterator) fill() {
	for it.bi >= len(it.buf) && !(it.done && it.ti >= len(it.tables)) && it.err == nil {
		if it.done {
			it.ti++
			if it.ti >= len(it.tables) {
				return
			}
			it.startTable(nil, true)
			continue
		}
		idx := it.t.kv.indexKey(it.tables[it.ti])
		var keys []string
		var err error
		if it.opts.Reverse {
			lo := "-"
			if len(it.opts.Prefix) > 2 {
				lo = "[" + string(it.opts.Prefix)
			}
			keys, err = it.t.cmd.ZRevRangeByLex(it.t.ctx, idx, &redis.ZRangeBy{Max: it.bound, Min: lo, Count: int64(it.page)}).Result()
		} else {
			hi := "+"
			if len(it.opts.Prefix) > 2 {
				hi = upperBound(it.opts.Prefix)
			}
			keys, err = it.t.cmd.ZRangeByLex(it.t.ctx, idx, &redis.ZRangeBy{Min: it.bound, Max: hi, Count: int64(it.page)}).Result()
		}
		if err != nil {
			it.fail(err)
			return
		}
		if len(keys) < it.page {
			it.done = true
		}
		if len(keys) > 0 {
			it.bound = "(" + keys[len(keys)-1]
		}
		vkeys := make([]string, len(keys))
		for i, k := range keys {
			vkeys[i] = it.t.kv.valueKey([]byte(k))
		}
		if err := it.t.watch(vkeys...); err != nil {
			it.fail(err)
			return
		}
		it.buf, it.bi = it.buf[:0], 0
		if len(keys) == 0 {
			continue
		}
		vals, err := it.t.cmd.MGet(it.t.ctx, vkeys...).Result()
		if err != nil {
			it.fail(err)
			return
		}
		for i, k := range keys {
			s, ok := vals[i].(string)
			if !ok {
				continue // deleted between the index and the value: skip
			}
			if !strings.HasPrefix(k, string(it.opts.Prefix)) {
				continue
			}
			it.buf = append(it.buf, &redisItem{key: []byte(k), val: []byte(s)})
		}
	}
}

// advance moves to the next item of the merged walk.
func (it *redisIterator) advance() {
	for {
		it.fill()
		var stored, pend *redisItem
		if it.bi < len(it.buf) {
			stored = it.buf[it.bi]
		}
		if it.mi < len(it.merged) {
			pend = it.merged[it.mi]
		}
		if stored == nil && pend == nil {
			it.cur = nil
			return
		}
		c := 0
		switch {
		case stored == nil:
			c = 1
		case pend == nil:
			c = -1
		default:
			c = bytes.Compare(stored.key, pend.key)
			if it.opts.Reverse {
				c = -c
			}
		}
		switch {
		case c < 0:
			it.bi++
			it.cur = stored
			return
		case c > 0:
			it.mi++
		default: // the pending write replaces the stored value
			it.bi++
			it.mi++
		}
		if pend.val == nil && it.t.pending[string(pend.key)] == nil {
			continue // a pending delete
		}
		it.cur = pend
		return
	}
}

func (it *redisIterator) Valid() bool { return it.cur != nil && it.err == nil }

// fail ends the walk with err and fails the transaction with it.
func (it *redisIterator) fail(err error) {
	it.err = err
	if it.t.iterErr == nil {
		it.t.iterErr = err
	}
}
func (it *redisIterator) ValidForPrefix(p []byte) bool {
	return it.Valid() && bytes.HasPrefix(it.cur.key, p)
}
func (it *redisIterator) Next()        { it.advance() }
func (it *redisIterator) Item() kvItem { return it.cur }
func (it *redisIterator) Close()       {}

// redisBatch buffers writes and sends them in pipelines, without a
// transaction: for bulk loads by one writer.
type redisBatch struct {
	r      *redisKV
	fence  *Fence
	writes map[string]*[]byte
	err    error
}

func (r *redisKV) NewWriteBatch(fence *Fence) kvBatch {
	return &redisBatch{r: r, fence: fence, writes: map[string]*[]byte{}}
}

func (b *redisBatch) Set(key, val []byte) error {
	v := slices.Clone(val)
	b.writes[string(key)] = &v
	if len(b.writes) >= 2000 {
		return b.send()
	}
	return b.err
}

func (b *redisBatch) Delete(key []byte) error {
	b.writes[string(key)] = nil
	if len(b.writes) >= 2000 {
		return b.send()
	}
	return b.err
}

func (b *redisBatch) send() error {
	if b.err != nil || len(b.writes) == 0 {
		return b.err
	}
	if b.fence != nil { // a transaction, so the lease check holds at EXEC
		for attempt := 0; attempt < 8; attempt++ { // a renewal of the lease is a conflict
			b.err = b.r.Update(b.fence, func(txn kvTxn) error {
				t := txn.(*redisTxn)
				for k, v := range b.writes {
					t.pending[k] = v
				}
				return nil
			})
			if !errors.Is(b.err, errConflict) {
				break
			}
			time.Sleep(time.Duration(attempt+1) * time.Millisecond)
		}
		clear(b.writes)
		return b.err
	}
	ctx, cancel := opContext()
	defer cancel()
	_, b.err = b.r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		writeAll(p, b.r, b.writes)
		return nil
	})
	b.err = unavailable(b.err)
	clear(b.writes)
	return b.err
}

func (b *redisBatch) Flush() error { return b.send() }
func (b *redisBatch) Cancel()      { clear(b.writes) }

// redisSequence leases blocks of numbers with INCRBY; numbers start at 0,
// as Badger's do. Released numbers are not reused.
type redisSequence struct {
	r         *redisKV
	key       string
	lease     uint64
	mu        sync.Mutex
	next, end uint64
}

func (r *redisKV) Sequence(key []byte, lease uint64) (kvSequence, error) {
	return &redisSequence{r: r, key: r.prefix + "s:" + string(key), lease: max(1, lease)}, nil
}

func (s *redisSequence) Next() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next >= s.end {
		ctx, cancel := opContext()
		defer cancel()
		hi, err := s.r.rdb.IncrBy(ctx, s.key, int64(s.lease)).Result()
		if err != nil {
			return 0, unavailable(fmt.Errorf("sequence: %w", err))
		}
		s.end = uint64(hi)
		s.next = s.end - s.lease
	}
	n := s.next
	s.next++
	return n, nil
}

func (s *redisSequence) Release() error { return nil }

func (r *redisKV) DropPrefix(prefixes ...[]byte) error {
	for _, p := range prefixes {
		for {
			var keys []string
			err := r.View(func(txn kvTxn) error {
				it := txn.NewIterator(iterOptions{Prefix: p, PrefetchSize: 1000})
				defer it.Close()
				for it.Rewind(); it.Valid() && len(keys) < 1000; it.Next() {
					keys = append(keys, string(it.Item().Key()))
				}
				return nil
			})
			if err != nil || len(keys) == 0 {
				if err != nil {
					return err
				}
				break
			}
			writes := map[string]*[]byte{}
			for _, k := range keys {
				writes[k] = nil
			}
			ctx, cancel := opContext()
			_, err = r.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
				writeAll(pl, r, writes)
				return nil
			})
			cancel()
			if err != nil {
				return unavailable(err)
			}
		}
	}
	return nil
}

// ErrRedisBackup says where backups of a Redis store come from.
var ErrRedisBackup = engine.Errorf(engine.CodeInvalid, "a Redis store is backed up by Redis itself (RDB snapshots or the AOF); rapport backup covers the Badger store")

func (r *redisKV) Backup(io.Writer) (uint64, error) { return 0, ErrRedisBackup }
func (r *redisKV) Sync() error                      { return nil }
func (r *redisKV) IsClosed() bool                   { return r.closed.Load() }

func (r *redisKV) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	return r.rdb.Close()
}

// DropNamespace deletes every key of the store's namespace (for tests).
func (db *DB) DropNamespace(ctx context.Context) error {
	r, ok := db.kv.(*redisKV)
	if !ok {
		return errors.New("store: not a Redis store")
	}
	drop := func(ctx context.Context, node redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, r.prefix+"*", 1000).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				if err := node.Del(ctx, keys...).Err(); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if c, ok := r.rdb.(*redis.ClusterClient); ok { // SCAN is per node
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return drop(ctx, n) })
	}
	return drop(ctx, r.rdb)
}
