package engine

import "time"

// Version status.
const (
	VersionPromoted  = "promoted"  // has passed the guardrail or been promoted by hand; may serve
	VersionCandidate = "candidate" // trained, held back (Reason says why)
)

// ModelVersion describes one training: its settings, the data it saw, how
// it scored offline on a held-out slice, and whether it may serve. The
// artefacts themselves are stored beside it.
type ModelVersion struct {
	ID              string             `json:"id"`
	CreatedAt       time.Time          `json:"created_at"`
	Status          string             `json:"status"`
	Hyperparameters map[string]any     `json:"hyperparameters"`
	DataWatermark   time.Time          `json:"data_watermark"` // newest event the training saw
	Events          int                `json:"events"`
	Identities      int                `json:"identities"`
	Items           int                `json:"items"`
	TrainSeconds    float64            `json:"train_seconds"`
	Holdout         string             `json:"holdout"` // the protocol of the offline metrics
	Metrics         map[string]float64 `json:"metrics"` // e.g. discover_ndcg@10
	ArtefactBytes   int                `json:"artefact_bytes"`
	Reason          string             `json:"reason,omitempty"` // why a candidate was held back
}

// GuardMetric is the held-out metric a new version must not lose on
// against the serving one to be promoted on its own.
const GuardMetric = "discover_ndcg@10"

// JobRun is one run of a scheduled job.
type JobRun struct {
	ID        string         `json:"id"`
	Job       string         `json:"job"`
	Trigger   string         `json:"trigger"` // schedule or manual
	StartedAt time.Time      `json:"started_at"`
	EndedAt   time.Time      `json:"ended_at,omitempty"`
	Status    string         `json:"status"` // running, succeeded, failed, canceled
	Counts    map[string]int `json:"counts,omitempty"`
	Error     string         `json:"error,omitempty"`
}

// Job run statuses.
const (
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunCanceled  = "canceled"
)

// JobStatus describes a scheduled job: its schedule, next run, whether it
// is running, how many scheduled runs were skipped because it still was,
// and its recent runs (newest first).
type JobStatus struct {
	Name     string    `json:"name"`
	Schedule string    `json:"schedule"` // cron spec, or "off"
	Next     time.Time `json:"next_run,omitempty"`
	Running  bool      `json:"running"`
	Skipped  int       `json:"skipped_overlapping"`
	Recent   []JobRun  `json:"recent_runs"`
}
