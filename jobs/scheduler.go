// Package jobs runs Rapport's scheduled work (the feature merge, training)
// on cron specs, one run of a job at a time, and keeps every run's record.
// Jobs are plain functions, so tests and the CLI call them directly.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"rapport/engine"
)

// RunStore keeps the run history.
type RunStore interface {
	PutRun(ctx context.Context, r engine.JobRun) error
	Runs(ctx context.Context, job string, limit int) ([]engine.JobRun, error)
}

// Func does a job's work, adding what it did to counts.
type Func func(ctx context.Context, counts map[string]int) error

// Job is a named Func on a cron spec ("@every 5m", "0 3 * * *", or "off"
// to run only when asked).
type Job struct {
	Name     string
	Schedule string
	Run      Func
}

// Off is the schedule of a job that runs only on request.
const Off = "off"

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule checks a cron spec (or "off").
func ParseSchedule(spec string) error {
	if spec == Off {
		return nil
	}
	if _, err := parser.Parse(spec); err != nil {
		return fmt.Errorf("schedule %q: %v", spec, err)
	}
	return nil
}

// Leases are expiring locks shared by the replicas of one store, with
// fencing tokens that grow with every acquisition.
type Leases interface {
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (token uint64, ok bool, err error)
	Renew(ctx context.Context, name, owner string, token uint64, ttl time.Duration) (bool, error)
	Release(ctx context.Context, name, owner string, token uint64) error
}

// Scheduler runs jobs on their schedules. Create it with New, Add jobs,
// Start it, and Stop it to cancel running work and wait for it.
//
// With Leases (replicas sharing a store), one replica at a time is the
// leader and runs the scheduled jobs, holding the "leader" lease; the
// others take over when it lapses. Every run, scheduled or asked for,
// holds its job's lease ("job:<name>") while it runs, so no job runs twice
// at once anywhere, and its writes carry that lease's fence (Fence), so a
// replica that stalled past its lease cannot write after losing it.
type Scheduler struct {
	Runs    RunStore
	Logger  *slog.Logger
	Timeout time.Duration // longest a run may take; default 1 hour
	// Finished, if set, hears of every run once it has ended (metrics).
	Finished func(run engine.JobRun)
	// Leases, Owner (this replica's name) and LeaseTTL (default 10 s)
	// coordinate replicas; nil Leases: this process alone runs jobs.
	Leases   Leases
	Owner    string
	LeaseTTL time.Duration
	// Fence makes a run's context carry its job lease to the store.
	Fence func(ctx context.Context, lease, owner string, token uint64) context.Context

	leader      bool
	leaderToken uint64

	cron   *cron.Cron
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	jobs map[string]*entry
}

type entry struct {
	job     Job
	id      cron.EntryID
	running bool
	skipped int
}

// New makes a scheduler that records runs in runs.
func New(runs RunStore, logger *slog.Logger) *Scheduler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{Runs: runs, Logger: logger, Timeout: time.Hour, cron: cron.New(cron.WithParser(parser)),
		ctx: ctx, cancel: cancel, jobs: map[string]*entry{}}
}

// Add registers a job. It fails on a bad schedule or a duplicate name.
func (s *Scheduler) Add(j Job) error {
	if err := ParseSchedule(j.Schedule); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.jobs[j.Name]; dup {
		return fmt.Errorf("job %q added twice", j.Name)
	}
	e := &entry{job: j}
	s.jobs[j.Name] = e
	if j.Schedule != Off {
		id, err := s.cron.AddFunc(j.Schedule, func() { s.start(e, "schedule") })
		if err != nil {
			return err
		}
		e.id = id
	}
	return nil
}

// Start begins running jobs on their schedules (and, with Leases, taking
// part in the election of the leader).
func (s *Scheduler) Start() {
	if s.Leases != nil {
		s.wg.Add(1)
		go s.lead()
	}
	s.cron.Start()
}

func (s *Scheduler) ttl() time.Duration {
	if s.LeaseTTL <= 0 {
		return 10 * time.Second
	}
	return s.LeaseTTL
}

// lead holds or seeks the leader lease until the scheduler stops: the
// leader renews every third of the lease period, the others try every
// tenth, so a lapsed lease is taken over within a tenth of a period.
func (s *Scheduler) lead() {
	defer s.wg.Done()
	ttl := s.ttl()
	for {
		s.mu.Lock()
		leader, token := s.leader, s.leaderToken
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(s.ctx, ttl/3)
		var ok bool
		var err error
		if leader {
			ok, err = s.Leases.Renew(ctx, "leader", s.Owner, token, ttl)
		} else {
			token, ok, err = s.Leases.Acquire(ctx, "leader", s.Owner, ttl)
		}
		cancel()
		if err != nil && s.ctx.Err() == nil {
			s.Logger.Warn("job leader lease", "err", err)
		}
		if ok != leader {
			s.Logger.Info("job leadership", "replica", s.Owner, "leader", ok)
		}
		s.mu.Lock()
		s.leader, s.leaderToken = ok, token
		s.mu.Unlock()
		if ok && !leader {
			s.catchUp()
		}
		wait := ttl / 10
		if ok {
			wait = ttl / 3
		}
		select {
		case <-s.ctx.Done():
			if ok {
				rctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = s.Leases.Release(rctx, "leader", s.Owner, token)
				cancel()
			}
			return
		case <-time.After(wait):
		}
	}
}

// catchUp, on becoming leader, starts every scheduled job whose last run
// (on any replica) began before its latest scheduled time: the ticks a
// dead leader missed are run at once rather than at the next tick.
func (s *Scheduler) catchUp() {
	s.mu.Lock()
	entries := make([]*entry, 0, len(s.jobs))
	for _, e := range s.jobs {
		if e.job.Schedule != Off {
			entries = append(entries, e)
		}
	}
	s.mu.Unlock()
	now := time.Now()
	for _, e := range entries {
		sched, err := parser.Parse(e.job.Schedule)
		if err != nil {
			continue
		}
		runs, err := s.Runs.Runs(s.ctx, e.job.Name, 1)
		if err != nil || len(runs) == 0 {
			continue // never run: its first tick comes as scheduled
		}
		if !sched.Next(runs[0].StartedAt).After(now) {
			s.start(e, "schedule")
		}
	}
}

// Leadership reports this replica's name and whether it runs the
// scheduled jobs now (always, without Leases).
func (s *Scheduler) Leadership() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Owner, s.Leases == nil || s.leader
}

// Stop stops scheduling, cancels running jobs and waits for them (until
// ctx ends).
func (s *Scheduler) Stop(ctx context.Context) error {
	<-s.cron.Stop().Done()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Trigger starts a run of the named job now, in the background, and
// returns its record. Errors: not_found for an unknown job, conflict while
// the job is running.
func (s *Scheduler) Trigger(name string) (engine.JobRun, error) {
	s.mu.Lock()
	e, ok := s.jobs[name]
	s.mu.Unlock()
	if !ok {
		return engine.JobRun{}, engine.Errorf(engine.CodeNotFound, "no job named %q", name)
	}
	run, ok := s.start(e, "manual")
	if !ok {
		return engine.JobRun{}, engine.Errorf(engine.CodeConflict, "job %q is already running (here or on another replica)", name)
	}
	return run, nil
}

// RunNow runs the named job in the foreground (for the CLI), recording the
// run like any other.
func (s *Scheduler) RunNow(ctx context.Context, name string) (engine.JobRun, error) {
	s.mu.Lock()
	e, ok := s.jobs[name]
	if ok && e.running {
		ok = false
	} else if ok {
		e.running = true
	}
	s.mu.Unlock()
	if !ok {
		return engine.JobRun{}, engine.Errorf(engine.CodeConflict, "job %q is unknown or running", name)
	}
	token, ok := s.holdJob(e)
	if !ok {
		return engine.JobRun{}, engine.Errorf(engine.CodeConflict, "job %q is running on another replica", name)
	}
	return s.execute(ctx, e, s.newRun(e, "manual"), token), nil
}

// start launches a run unless one is going; ok is false if it was.
func (s *Scheduler) start(e *entry, trigger string) (engine.JobRun, bool) {
	s.mu.Lock()
	if trigger == "schedule" && s.Leases != nil && !s.leader {
		s.mu.Unlock() // another replica leads and runs the schedule
		return engine.JobRun{}, false
	}
	if e.running || s.ctx.Err() != nil {
		if trigger == "schedule" {
			e.skipped++
			s.Logger.Warn("job still running; scheduled run skipped", "job", e.job.Name)
		}
		s.mu.Unlock()
		return engine.JobRun{}, false
	}
	e.running = true
	s.mu.Unlock()
	token, ok := s.holdJob(e)
	if !ok {
		return engine.JobRun{}, false
	}
	run := s.newRun(e, trigger)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, s.Timeout)
		defer cancel()
		s.execute(ctx, e, run, token)
	}()
	return run, true
}

// holdJob takes e's job lease (with Leases); false, with the running flag
// cleared, when another replica runs the job or the lease cannot be had.
func (s *Scheduler) holdJob(e *entry) (uint64, bool) {
	if s.Leases == nil {
		return 0, true
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.ttl()/2)
	token, ok, err := s.Leases.Acquire(ctx, "job:"+e.job.Name, s.Owner, s.ttl())
	cancel()
	if err != nil {
		s.Logger.Warn("job lease", "job", e.job.Name, "err", err)
	}
	if !ok {
		s.mu.Lock()
		e.running = false
		s.mu.Unlock()
	}
	return token, ok
}

// keepJob renews a run's job lease until the run ends; a lost lease
// cancels the run (its writes are fenced already).
func (s *Scheduler) keepJob(ctx context.Context, cancel context.CancelFunc, name string, token uint64) {
	ttl := s.ttl()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(ttl / 3):
		}
		rctx, rcancel := context.WithTimeout(ctx, ttl/3)
		ok, err := s.Leases.Renew(rctx, "job:"+name, s.Owner, token, ttl)
		rcancel()
		if ctx.Err() != nil {
			return
		}
		if !ok {
			s.Logger.Error("job lease lost; cancelling the run", "job", name, "err", err)
			cancel()
			return
		}
	}
}

func (s *Scheduler) newRun(e *entry, trigger string) engine.JobRun {
	now := time.Now().UTC()
	return engine.JobRun{ID: fmt.Sprintf("%s-%d", e.job.Name, now.UnixNano()), Job: e.job.Name, Trigger: trigger, StartedAt: now, Status: engine.RunRunning}
}

// execute runs the job, records the run before and after, and clears the
// running flag.
func (s *Scheduler) execute(ctx context.Context, e *entry, run engine.JobRun, token uint64) engine.JobRun {
	defer func() {
		s.mu.Lock()
		e.running = false
		s.mu.Unlock()
	}()
	if s.Leases != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		if s.Fence != nil {
			ctx = s.Fence(ctx, "job:"+e.job.Name, s.Owner, token)
		}
		go s.keepJob(ctx, cancel, e.job.Name, token)
		defer func() {
			rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
			defer rcancel()
			if err := s.Leases.Release(rctx, "job:"+e.job.Name, s.Owner, token); err != nil {
				s.Logger.Warn("release job lease", "job", e.job.Name, "err", err)
			}
		}()
	}
	// Records are written with a context of their own: a cancelled run
	// is still recorded as cancelled.
	record := func() {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Runs.PutRun(rctx, run); err != nil {
			s.Logger.Error("record job run", "job", run.Job, "run", run.ID, "err", err)
		}
	}
	record()
	counts := map[string]int{}
	err := runSafely(ctx, e.job.Run, counts)
	run.EndedAt, run.Counts = time.Now().UTC(), counts
	switch {
	case err == nil:
		run.Status = engine.RunSucceeded
	case errors.Is(err, context.Canceled):
		run.Status, run.Error = engine.RunCanceled, "canceled"
	default:
		run.Status, run.Error = engine.RunFailed, err.Error()
		s.Logger.Error("job failed", "job", run.Job, "run", run.ID, "err", err)
	}
	record()
	s.Logger.Info("job run", "job", run.Job, "run", run.ID, "status", run.Status, "seconds", run.EndedAt.Sub(run.StartedAt).Seconds(), "counts", counts)
	if s.Finished != nil {
		s.Finished(run)
	}
	return run
}

// runSafely turns a panic in a job into its error.
func runSafely(ctx context.Context, f Func, counts map[string]int) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return f(ctx, counts)
}

// List reports every job with its next run and its last runs.
func (s *Scheduler) List(ctx context.Context, recent int) ([]engine.JobStatus, error) {
	s.mu.Lock()
	var out []engine.JobStatus
	for _, e := range s.jobs {
		st := engine.JobStatus{Name: e.job.Name, Schedule: e.job.Schedule, Running: e.running, Skipped: e.skipped}
		if e.job.Schedule != Off {
			st.Next = s.cron.Entry(e.id).Next
			if st.Next.IsZero() { // not started: compute it
				if sched, err := parser.Parse(e.job.Schedule); err == nil {
					st.Next = sched.Next(time.Now())
				}
			}
		}
		out = append(out, st)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for i := range out {
		runs, err := s.Runs.Runs(ctx, out[i].Name, recent)
		if err != nil {
			return nil, err
		}
		out[i].Recent = runs
	}
	return out, nil
}
