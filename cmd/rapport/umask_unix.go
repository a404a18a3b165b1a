//go:build unix

package main

import "syscall"

// privateFiles makes every file and directory this process creates
// private to its user (0600, 0700): the store, backups, reports and
// reject files hold personal data.
func privateFiles() { syscall.Umask(0o077) }
