package model

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"rapport/engine"
)

// Trained is a fitted Ranker with the vocabularies it was fitted on: what a
// model version stores and what serving loads. It is read-only once built
// and safe for concurrent use.
type Trained struct {
	Items  []string // item id per index
	Users  []string // alias per training-user index
	Now    int64    // the training time (Unix seconds) the models were fitted for
	Ranker *Ranker

	itemIndex map[string]int32
	userIndex map[string]int32
	users     *userTable // replaces Users and userIndex once compacted
}

// Train fits a Ranker on d as of now. progress, if not nil, hears after
// each ALS iteration how many of how many are done.
func Train(ctx context.Context, d *Dataset, cfg RankerConfig, now int64, progress func(done, total int)) (*Trained, error) {
	r := NewRanker(cfg)
	if progress != nil {
		r.ALS.Progress = func(it int) { progress(it, r.ALS.Iterations) }
	}
	if err := r.Fit(ctx, d, now); err != nil {
		return nil, err
	}
	t := &Trained{Items: d.Items, Users: d.Users, Now: now, Ranker: r}
	t.index()
	return t, nil
}

func (t *Trained) index() {
	t.itemIndex = make(map[string]int32, len(t.Items))
	for i, id := range t.Items {
		t.itemIndex[id] = int32(i)
	}
	t.userIndex = make(map[string]int32, len(t.Users))
	for u, a := range t.Users {
		t.userIndex[a] = int32(u)
	}
}

// ItemIndex returns the index of an item id.
func (t *Trained) ItemIndex(id string) (int32, bool) {
	i, ok := t.itemIndex[id]
	return i, ok
}

// UserIndex returns the training index of a user key, or -1.
func (t *Trained) UserIndex(user string) int {
	if t.users != nil {
		return t.users.index(user)
	}
	if u, ok := t.userIndex[user]; ok {
		return int(u)
	}
	return -1
}

// Factors returns the latent factors of a training user (nil for others).
func (t *Trained) Factors(user string) []float64 {
	u := t.UserIndex(user)
	if u < 0 {
		return nil
	}
	return t.Ranker.ALS.UserFactors(&Profile{User: u})
}

// Compact trims the model to what serving needs (see ALS.Compact) and
// replaces Users (then nil) with a compact index; it can no longer be
// encoded.
func (t *Trained) Compact() {
	t.Ranker.ALS.Compact()
	if t.users == nil {
		t.users = newUserTable(t.Users)
		t.Users, t.userIndex = nil, nil
	}
}

// artefactFormat is the first byte of a marshalled Trained.
const artefactFormat byte = 1

// MarshalBinary encodes the trained models: a format byte, the ranker
// configuration as JSON, the vocabularies, then each model's arrays as
// little-endian numbers. Equal models encode to equal bytes.
func (t *Trained) MarshalBinary() ([]byte, error) {
	if t.Ranker.ALS.X == nil || t.users != nil {
		return nil, fmt.Errorf("model artefact: a compacted model cannot be encoded")
	}
	w := &writer{}
	w.buf.WriteByte(artefactFormat)
	cfg, err := json.Marshal(t.Ranker.Config)
	if err != nil {
		return nil, err
	}
	w.bytes(cfg)
	w.int(t.Now)
	w.strings(t.Items)
	w.strings(t.Users)
	for _, p := range []*Popularity{t.Ranker.Trending, t.Ranker.Seasonal} {
		w.floats(p.global)
		regions := make([]string, 0, len(p.region))
		for r := range p.region {
			regions = append(regions, r)
		}
		slices.Sort(regions)
		w.strings(regions)
		for _, r := range regions {
			w.floats(p.region[r])
		}
	}
	knn := t.Ranker.KNN
	w.int(int64(len(knn.nbrs)))
	for _, list := range knn.nbrs {
		w.int(int64(len(list)))
		for _, s := range list {
			w.int(int64(s.Item))
			w.float(s.Score)
		}
	}
	als := t.Ranker.ALS
	w.int(int64(als.users))
	w.int(int64(als.items))
	w.floats(als.X)
	w.floats(als.Y)
	return w.buf.Bytes(), w.err
}

// UnmarshalTrained decodes what MarshalBinary wrote.
func UnmarshalTrained(data []byte) (*Trained, error) {
	if len(data) == 0 || data[0] != artefactFormat {
		return nil, fmt.Errorf("model artefact: unknown format")
	}
	r := &reader{b: data[1:]}
	var cfg RankerConfig
	if err := json.Unmarshal(r.bytes(), &cfg); err != nil && r.err == nil {
		r.err = err
	}
	t := &Trained{Ranker: NewRanker(cfg)}
	t.Now = r.int()
	t.Items, t.Users = r.strings(), r.strings()
	for _, p := range []*Popularity{t.Ranker.Trending, t.Ranker.Seasonal} {
		p.Weights = DefaultWeights
		p.global = r.floats()
		p.region = map[string][]float64{}
		for _, reg := range r.strings() {
			p.region[reg] = r.floats()
		}
	}
	knn := t.Ranker.KNN
	knn.Weights = DefaultWeights
	knn.nbrs = make([][]Scored, r.count())
	for i := range knn.nbrs {
		list := make([]Scored, r.count())
		for j := range list {
			list[j] = Scored{Item: int32(r.int()), Score: r.float()}
		}
		knn.nbrs[i] = list
	}
	als := t.Ranker.ALS
	als.defaults()
	als.users, als.items = int(r.int()), int(r.int())
	als.X, als.Y = r.floats(), r.floats()
	if r.err != nil {
		return nil, fmt.Errorf("model artefact: %w", r.err)
	}
	if len(als.X) != als.users*als.Factors || len(als.Y) != als.items*als.Factors || len(t.Items) != len(t.Ranker.Trending.global) {
		return nil, fmt.Errorf("model artefact: sizes do not match")
	}
	als.ready()
	t.index()
	return t, nil
}

type writer struct {
	buf bytes.Buffer
	err error
}

func (w *writer) int(v int64) { w.buf.Write(binary.AppendVarint(nil, v)) }
func (w *writer) float(f float64) {
	w.buf.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(f)))
}
func (w *writer) bytes(b []byte) { w.int(int64(len(b))); w.buf.Write(b) }
func (w *writer) strings(s []string) {
	w.int(int64(len(s)))
	for _, x := range s {
		w.bytes([]byte(x))
	}
}
func (w *writer) floats(f []float64) {
	w.int(int64(len(f)))
	for _, x := range f {
		w.float(x)
	}
}

type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(io.ErrUnexpectedEOF)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length and checks it against what is left.
func (r *reader) count() int {
	n := r.int()
	if n < 0 || n > int64(len(r.b)) {
		r.fail(errShort)
		return 0
	}
	return int(n)
}

func (r *reader) float() float64 {
	if len(r.b) < 8 {
		r.fail(errShort)
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return f
}

func (r *reader) bytes() []byte {
	n := r.count()
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) strings() []string {
	out := make([]string, r.count())
	for i := range out {
		out[i] = string(r.bytes())
	}
	return out
}

func (r *reader) floats() []float64 {
	n := r.count()
	if n*8 > len(r.b) {
		r.fail(errShort)
		return nil
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = r.float()
	}
	return out
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

// WithBlend returns a copy of t whose ranker blends its fitted parts with
// the given settings: the parts are shared, nothing is refitted. An
// experiment's variant uses it to try other weights on the serving model.
func (t *Trained) WithBlend(o engine.BlendOverrides) *Trained {
	c := *t
	r := *t.Ranker
	if o.WeightALS != nil {
		r.Config.WeightALS = *o.WeightALS
	}
	if o.WeightSeasonal != nil {
		r.Config.WeightSeasonal = *o.WeightSeasonal
	}
	if o.WeightTrending != nil {
		r.Config.WeightTrending = *o.WeightTrending
	}
	if o.MinItems != nil {
		r.Config.MinItems = *o.MinItems
	}
	r.wire()
	c.Ranker = &r
	return &c
}
