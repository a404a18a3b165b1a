// Package jobs runs Rapport's scheduled work (feature merges, training) on
// cron specs, one run of a job at a time, and keeps the run history. It
// imports only engine and the small interfaces it declares. The scheduler
// arrives with the models issue (#3).
package jobs
