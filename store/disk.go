package store

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"

	"rapport/engine"
)

// Badger survives neither of two disk faults on its own, so the store
// keeps it away from both.
//
// A full disk: Badger writes its memtable's log (.mem), its value log and
// every new table through memory maps of files it sizes up front with a
// sparse truncate. When the filesystem has no block left for a page the
// process touches, the kernel answers with SIGBUS and the process dies;
// no Go error ever surfaces (measured: a 64 MiB tmpfs killed rapport serve
// in memmove under logFile.writeEntry). The only defence is not to write
// once the free space is below what Badger may still need: the reserve.
//
// A data directory that stops taking new files (read-only, permissions
// taken away): when Badger's memtable is full and the next one's log
// cannot be created, Badger v4.9.6 returns the error but leaves its
// current memtable nil. From then on every read panics on it, the next
// write exits the process (an assertion), and Close segfaults while
// releasing the id sequences; nothing short of a restart recovers. A
// failed flush or compaction, by contrast, Badger retries until the
// directory takes files again. So the store probes the directory before
// it lets a write through, and never hands Badger a write it could not
// finish.
//
// diskGuard is that check. Every write transaction is admitted by it just
// before Badger commits: it fails with CodeInsufficientStorage while the
// free space minus the bytes of writes in flight is under the reserve, and
// with CodeUnavailable while a file cannot be created in the directory.
// Both clear by themselves when the disk has room and the directory takes
// files again. Should Badger lose its memtable anyway (a race with the
// probe), the guard notes it and from then on answers every call, reads
// included, with CodeUnavailable saying a restart is needed, instead of
// letting Badger panic.
type diskGuard struct {
	dir     string
	reserve int64
	logger  *slog.Logger

	mu       sync.Mutex
	sampled  time.Time // when the last measure of free and fault began
	free     int64     // bytes available to this process at that time
	fault    error     // why a file cannot be created in dir, nil if it can
	inflight int64     // bytes of writes admitted and not yet committed
	full     bool      // the last admission was refused for space
	broken   error     // set once Badger lost its memtable; never cleared
}

// sampleEvery bounds how stale the free space and the directory probe may
// be for writes that do not insist on a fresh look (write batches, Ping).
const sampleEvery = 100 * time.Millisecond

// resumeSlack is how far above the reserve the free space must climb
// before writes resume once refused, so that a disk at the edge does not
// take one small write in two.
const resumeSlack = 16 << 20

// entryOverhead bounds what Badger adds to a key and value in its log: a
// varint header of at most 22 bytes, an 8-byte version and a 4-byte CRC,
// rounded up for the transaction's end mark.
const entryOverhead = 48

// DiskReserve returns how many bytes of free space the store keeps on the
// disk holding Dir before it refuses writes (0 for Redis). It is what
// Badger may write into memory-mapped files after the last admitted write,
// computed from the options the store opens Badger with:
//
//   - one memtable: when the memtable fills, Badger writes it out as a
//     level-0 table before it deletes the memtable's log, and a table is
//     never larger than the memtable it came from;
//   - NumLevelZeroTables memtables: the compaction from level 0 rewrites
//     all level-0 tables at once (five by default, each at most a
//     memtable) and deletes them only when the new tables are written;
//   - 64 MiB for the rest: the overlapping tables of the level below, the
//     discard-stats file Badger grows in place, the manifest and value-log
//     headers.
//
// The writes themselves are not in the reserve: each transaction is
// admitted only if its own bytes fit above it. With the server's 128 MiB
// memtable the reserve is 832 MiB; on a 64 MiB memtable, 448 MiB.
//
// Measured on the server with view events: a full 128 MiB memtable
// flushed to a 37–42 MiB table (Snappy); the first level-0 compaction
// read two such tables (78 MiB) and wrote 116 MiB of 2 MiB tables before
// deleting them, so a compaction can write more than it reads; the disk
// use peaked at 254 MiB while the store settled at 217 MiB. Counting each
// level-0 table as a whole memtable leaves room for that.
func (o Options) DiskReserve() int64 {
	if o.URL != "" {
		return 0
	}
	bo := o.badger()
	return bo.MemTableSize*int64(1+bo.NumLevelZeroTables) + 64<<20
}

// badger returns the Badger options the store opens Dir with.
func (o Options) badger() badger.Options {
	bo := badger.DefaultOptions(o.Dir).
		WithSyncWrites(o.SyncWrites).
		WithLogger(badgerLogger{o.Logger}) // not WithLoggingLevel: it would replace this logger
	if o.MemTableSize > 0 {
		// A memtable log left by a larger memtable (a kill -9, an import
		// after serve) must fit the memtable that replays it.
		bo = bo.WithMemTableSize(max(o.MemTableSize, memTableLogged(o.Dir)))
	}
	if o.Lean {
		bo = bo.WithNumMemtables(2).WithBlockCacheSize(16 << 20)
	}
	return bo
}

func newDiskGuard(o Options) *diskGuard {
	l := o.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &diskGuard{dir: o.Dir, reserve: o.DiskReserve(), logger: l}
}

// admit reserves n bytes for a write about to be committed; the caller
// gives them back with done once it is. With fresh, it looks at the disk
// and the directory afresh (about 20 µs on ext4), unless a look began
// after this call did (writers waiting for one another share it);
// without, a look under sampleEvery old will do.
func (g *diskGuard) admit(n int64, fresh bool) error {
	arrived := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.broken != nil {
		return g.broken
	}
	if fresh && g.sampled.Before(arrived) || time.Since(g.sampled) > sampleEvery {
		g.sample()
	}
	if g.fault != nil {
		return g.fault
	}
	need := g.reserve
	if g.full {
		need += resumeSlack
	}
	if g.free-g.inflight-n < need {
		if !g.full {
			g.full = true
			g.logger.Error("disk full: refusing writes until space is freed", "dir", g.dir, "free_mib", g.free>>20, "reserve_mib", g.reserve>>20)
		}
		short := g.reserve + resumeSlack - (g.free - g.inflight - n) // what must be freed for writes to resume
		return &engine.Error{Code: engine.CodeInsufficientStorage, Message: fmt.Sprintf(
			"the disk holding the data directory is full: %d MiB free, and rapport keeps %d MiB free so that its store can flush and compact safely; free %d MiB or more and writes resume by themselves",
			max(g.free, 0)>>20, g.reserve>>20, (short+1<<20-1)>>20)}
	}
	if g.full {
		g.full = false
		g.logger.Info("disk has room again: taking writes", "dir", g.dir, "free_mib", g.free>>20)
	}
	g.inflight += n
	return nil
}

// done gives back n bytes admitted for writes now committed (or dropped).
func (g *diskGuard) done(n int64) {
	g.mu.Lock()
	g.inflight -= n
	g.mu.Unlock()
}

// sample measures the free space and probes the directory by creating and
// removing a file, which is what Badger does when it starts a memtable or
// a table. It is called with mu held.
func (g *diskGuard) sample() {
	g.sampled = time.Now()
	var st syscall.Statfs_t
	if err := syscall.Statfs(g.dir, &st); err == nil {
		g.free = int64(st.Bavail) * st.Bsize
	}
	probe := filepath.Join(g.dir, ".rapport-probe")
	f, err := os.OpenFile(probe, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err == nil {
		err = errors.Join(f.Close(), os.Remove(probe))
	}
	was := g.fault
	switch {
	case err == nil:
		g.fault = nil
	case errors.Is(err, syscall.ENOSPC):
		// No inode left: a full disk, which admit reports as such.
		g.fault, g.free = nil, 0
	default:
		g.fault = unwritable(err)
	}
	switch {
	case was == nil && g.fault != nil:
		g.logger.Error("data directory cannot be written: refusing writes until it can", "dir", g.dir, "err", err)
	case was != nil && g.fault == nil:
		g.logger.Info("data directory can be written again: taking writes", "dir", g.dir)
	}
}

// unwritable is the error callers see while the data directory takes no
// new files.
func unwritable(err error) error {
	return &engine.Error{Code: engine.CodeUnavailable, Err: err, Message: fmt.Sprintf(
		"the data directory cannot be written (%s); writes resume by themselves when it can", errnoText(err))}
}

// health reports, from a fresh look, why the store cannot take writes
// now: the directory takes no new files, or Badger lost its memtable. A
// full disk is not an error here: reads go on, and writes are refused one
// by one with 507.
func (g *diskGuard) health() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.broken != nil {
		return g.broken
	}
	g.sample()
	return g.fault
}

// failed names the disk fault behind an error Badger returned from a write,
// and notes when it left Badger without a memtable. Badger formats the
// errors of the operating system into its own messages, so they are
// recognised by their text. Other errors pass through unchanged.
func (g *diskGuard) failed(err error) error {
	if err == nil || engine.ErrorCode(err) != engine.CodeInternal {
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, "cannot create new mem table") {
		g.breaks(err)
		return g.broken
	}
	switch {
	case errors.Is(err, syscall.ENOSPC) || strings.Contains(msg, syscall.ENOSPC.Error()):
		return &engine.Error{Code: engine.CodeInsufficientStorage, Err: err, Message: "the disk holding the data directory is full; free some space and writes resume by themselves"}
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EIO),
		strings.Contains(msg, syscall.EROFS.Error()), strings.Contains(msg, syscall.EACCES.Error()),
		strings.Contains(msg, syscall.EPERM.Error()), strings.Contains(msg, syscall.EIO.Error()):
		return unwritable(err)
	}
	return err
}

// breaks records that Badger can no longer serve until a restart.
func (g *diskGuard) breaks(cause error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.broken != nil {
		return
	}
	g.logger.Error("the store lost its memtable after a failed write and needs a restart", "dir", g.dir, "err", cause)
	g.broken = &engine.Error{Code: engine.CodeUnavailable, Err: cause, Message: fmt.Sprintf(
		"the store stopped when its data directory failed (%s); restart rapport once the directory can be written: every acknowledged write is in its log", errnoText(cause))}
}

// isBroken returns the restart-needed error, or nil.
func (g *diskGuard) isBroken() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.broken
}

// errnoText is the operating system's words for err ("permission denied"),
// or the whole message when it carries none.
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	msg := err.Error()
	for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EROFS, syscall.EACCES, syscall.EPERM, syscall.EIO} {
		if strings.Contains(msg, e.Error()) {
			return e.Error()
		}
	}
	return msg
}

// guardedKV is Badger behind a diskGuard: writes are admitted by the
// guard, their failures are named by it, and once Badger has lost its
// memtable no call reaches Badger (reads would panic, writes would exit
// the process).
type guardedKV struct {
	badgerKV
	g *diskGuard
}

func (k guardedKV) View(fn func(kvTxn) error) (err error) {
	if err := k.g.isBroken(); err != nil {
		return err
	}
	defer func() {
		// A read that raced with the write that cost Badger its memtable
		// panics on the nil memtable, under a lock it releases by defer.
		if r := recover(); r != nil {
			k.g.breaks(fmt.Errorf("badger panicked: %v", r))
			err = k.g.isBroken()
		}
	}()
	return k.badgerKV.View(fn)
}

func (k guardedKV) Update(_ *Fence, fn func(kvTxn) error) error {
	if err := k.g.isBroken(); err != nil {
		return err
	}
	var admitted int64
	err := k.db.Update(func(txn *badger.Txn) error {
		t := badgerTxn{t: txn, bytes: new(int64)}
		if err := fn(t); err != nil {
			return err
		}
		if *t.bytes == 0 {
			return nil // read only: nothing for Badger to write
		}
		if err := k.g.admit(*t.bytes, true); err != nil {
			return err
		}
		admitted = *t.bytes
		return nil
	})
	k.g.done(admitted)
	return k.g.failed(err)
}

func (k guardedKV) NewWriteBatch(*Fence) kvBatch {
	return &guardedBatch{wb: k.db.NewWriteBatch(), g: k.g}
}

func (k guardedKV) Sequence(key []byte, lease uint64) (kvSequence, error) {
	if err := k.g.isBroken(); err != nil {
		return nil, err
	}
	s, err := k.badgerKV.Sequence(key, lease)
	if err != nil {
		return nil, k.g.failed(err)
	}
	return guardedSequence{s, k.g}, nil
}

func (k guardedKV) DropPrefix(prefixes ...[]byte) error {
	if err := k.g.admit(0, true); err != nil {
		return err
	}
	return k.g.failed(k.badgerKV.DropPrefix(prefixes...))
}

func (k guardedKV) Backup(w io.Writer) (uint64, error) {
	if err := k.g.isBroken(); err != nil {
		return 0, err
	}
	return k.badgerKV.Backup(w)
}

func (k guardedKV) Sync() error {
	if err := k.g.isBroken(); err != nil {
		return err
	}
	return k.g.failed(k.badgerKV.Sync())
}

// Close closes Badger, unless Badger lost its memtable or the directory
// takes no files: Badger's Close would then segfault, or retry flushing
// its memtable forever. The store is left as a crash leaves it, which
// Badger recovers from on the next start by replaying its logs.
func (k guardedKV) Close() error {
	if err := k.g.health(); err != nil {
		return fmt.Errorf("left the store unclosed, as a crash would (the next start replays its log): %w", err)
	}
	return k.badgerKV.Close()
}

// guardedBatch admits each write of a batch as it is added: Badger commits
// a batch in parts as it grows, not only at Flush.
type guardedBatch struct {
	wb   *badger.WriteBatch
	g    *diskGuard
	held int64 // bytes admitted, given back when the batch ends
}

func (b *guardedBatch) add(n int64) error {
	if err := b.g.admit(n, false); err != nil {
		return err
	}
	b.held += n
	return nil
}

func (b *guardedBatch) Set(key, val []byte) error {
	if err := b.add(int64(len(key) + len(val) + entryOverhead)); err != nil {
		return err
	}
	return b.g.failed(b.wb.Set(key, val))
}

func (b *guardedBatch) Delete(key []byte) error {
	if err := b.add(int64(len(key) + entryOverhead)); err != nil {
		return err
	}
	return b.g.failed(b.wb.Delete(key))
}

func (b *guardedBatch) Flush() error {
	defer b.done()
	return b.g.failed(b.wb.Flush())
}

func (b *guardedBatch) Cancel() {
	b.wb.Cancel()
	b.done()
}

func (b *guardedBatch) done() {
	b.g.done(b.held)
	b.held = 0
}

// guardedSequence keeps a Badger sequence from writing its lease once
// Badger has lost its memtable (Release would segfault on it).
type guardedSequence struct {
	s kvSequence
	g *diskGuard
}

func (s guardedSequence) Next() (uint64, error) {
	if err := s.g.isBroken(); err != nil {
		return 0, err
	}
	n, err := s.s.Next()
	return n, s.g.failed(err)
}

func (s guardedSequence) Release() error {
	if err := s.g.health(); err != nil {
		return nil // the lease stays taken: the next start skips its unused numbers
	}
	return s.g.failed(s.s.Release())
}
