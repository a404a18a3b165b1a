package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// isTerminal reports whether w is a character device (an interactive
// terminal), where a live progress bar makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// progressBar redraws one line on a terminal: percentage of the file read
// (by compressed bytes), rows and rows per second.
type progressBar struct {
	w     io.Writer
	in    *countingReader
	total int64
	start time.Time
	last  time.Time
}

func (p *progressBar) update(rows int) {
	now := time.Now()
	if now.Sub(p.last) < 150*time.Millisecond {
		return
	}
	p.last = now
	frac := 0.0
	if p.total > 0 {
		frac = float64(p.in.n.Load()) / float64(p.total)
	}
	frac = min(frac, 1)
	const width = 30
	filled := int(frac * width)
	rate := float64(rows) / now.Sub(p.start).Seconds()
	fmt.Fprintf(p.w, "\r%3.0f%% [%s%s] %s rows  %s rows/s ", frac*100, strings.Repeat("#", filled), strings.Repeat(".", width-filled), commas(int64(rows)), commas(int64(rate)))
}

func (p *progressBar) finish() { fmt.Fprint(p.w, "\r\033[K") }

// commas formats n with thousands separators.
func commas(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + commas(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
