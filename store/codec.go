package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// formatV1 is the first byte of every value this version writes.
const formatV1 byte = 1

var errCorrupt = errors.New("store: corrupt value")

// encoder appends fields to a value.
type encoder struct{ buf []byte }

func newEncoder(sizeHint int) *encoder {
	e := &encoder{buf: make([]byte, 0, sizeHint+1)}
	e.buf = append(e.buf, formatV1)
	return e
}

func (e *encoder) string(s string) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *encoder) float(f float64) { e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(f)) }

func (e *encoder) uint(u uint64) { e.buf = binary.AppendUvarint(e.buf, u) }

func (e *encoder) bool(b bool) {
	if b {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

// time writes Unix nanoseconds, with 0 for the zero time.
func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.buf = binary.AppendVarint(e.buf, 0)
		return
	}
	e.buf = binary.AppendVarint(e.buf, t.UnixNano())
}

// attrs writes a map in sorted key order, so equal maps encode equally.
func (e *encoder) attrs(m map[string]string) {
	e.uint(uint64(len(m)))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e.string(k)
		e.string(m[k])
	}
}

// decoder reads fields in the order an encoder wrote them; the first
// failure sticks and is reported by err.
type decoder struct {
	buf []byte
	bad bool
}

func newDecoder(val []byte) (*decoder, error) {
	if len(val) == 0 {
		return nil, errCorrupt
	}
	if val[0] != formatV1 {
		return nil, fmt.Errorf("store: value format version %d is newer than this binary understands", val[0])
	}
	return &decoder{buf: val[1:]}, nil
}

// more reports whether fields remain: a field appended to a format later
// is read only when present.
func (d *decoder) more() bool { return !d.bad && len(d.buf) > 0 }

func (d *decoder) err() error {
	if d.bad {
		return errCorrupt
	}
	return nil
}

func (d *decoder) uint() uint64 {
	u, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.buf = d.buf[n:]
	return u
}

func (d *decoder) string() string {
	n := d.uint()
	if d.bad || n > uint64(len(d.buf)) {
		d.bad = true
		return ""
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	return s
}

func (d *decoder) float() float64 {
	if len(d.buf) < 8 {
		d.bad = true
		return 0
	}
	f := math.Float64frombits(binary.BigEndian.Uint64(d.buf))
	d.buf = d.buf[8:]
	return f
}

func (d *decoder) bool() bool {
	if len(d.buf) < 1 {
		d.bad = true
		return false
	}
	b := d.buf[0] == 1
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) time() time.Time {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.bad = true
		return time.Time{}
	}
	d.buf = d.buf[n:]
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func (d *decoder) attrs() map[string]string {
	n := d.uint()
	if d.bad || n > uint64(len(d.buf)) {
		d.bad = true
		return nil
	}
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for i := uint64(0); i < n && !d.bad; i++ {
		k := d.string()
		m[k] = d.string()
	}
	return m
}

// sortableTime maps a time to 8 bytes that sort like the time.
func sortableTime(t time.Time) uint64 { return uint64(t.UnixNano()) ^ (1 << 63) }

func timeFromSortable(u uint64) time.Time { return time.Unix(0, int64(u^(1<<63))).UTC() }
