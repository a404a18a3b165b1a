package api

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"rapport/engine"
	"rapport/engine/recommend"
)

// Recommender serves ranked lists and takes fresh events into account.
type Recommender interface {
	Recommend(ctx context.Context, a engine.Alias, req recommend.Request) (recommend.Result, error)
	Similar(ctx context.Context, item string, n int, includeUnavailable bool) (recommend.List, error)
	Popular(ctx context.Context, region, category string, n int) (recommend.List, error)
	BuyAgain(ctx context.Context, a engine.Alias, n int) (recommend.BuyAgainResult, error)
	ItemDetails(ctx context.Context, id string) *engine.Item
	Observe(ctx context.Context, events []engine.Event) error
	Forget(ids ...engine.IdentityID)
	Erase(ids ...engine.IdentityID)
	Explain(ctx context.Context, a engine.Alias, recommendationID string) (recommend.Explanation, error)
	Recent(id engine.IdentityID) []recommend.Served
	Prefill(ctx context.Context, a engine.Alias, org engine.OrgID, members []engine.Alias, n int) (recommend.Prefill, error)
	OrgPrefill(ctx context.Context, org engine.OrgID, members []engine.Alias, n int) (recommend.Prefill, error)
	ObserveItems(ctx context.Context, items []engine.Item) error
}

// query reads query parameters, collecting every problem, and rejects
// parameters the route does not take.
type query struct {
	c    *gin.Context
	errs []engine.FieldError
}

func newQuery(c *gin.Context, allowed ...string) *query {
	q := &query{c: c}
	for name := range c.Request.URL.Query() {
		if !slices.Contains(allowed, name) {
			q.bad(name, "is not a parameter of this route (parameters: "+strings.Join(allowed, ", ")+")")
		}
	}
	return q
}

func (q *query) bad(field, reason string) {
	q.errs = append(q.errs, engine.FieldError{Index: -1, Field: field, Reason: reason})
}

func (q *query) int(name string, def, lo, hi int) int {
	v, ok := q.c.GetQuery(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		q.bad(name, "must be an integer from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
	}
	return n
}

func (q *query) float(name string) float64 {
	v, ok := q.c.GetQuery(name)
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		q.bad(name, "must be a number ≥ 0")
	}
	return f
}

func (q *query) bool(name string, def bool) bool {
	v, ok := q.c.GetQuery(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		q.bad(name, "must be true or false")
	}
	return b
}

// strings reads a repeatable parameter, each value at most 256 bytes.
func (q *query) strings(name string) []string {
	vs := q.c.QueryArray(name)
	for _, v := range vs {
		if strings.TrimSpace(v) == "" || len(v) > 256 {
			q.bad(name, "values must be 1 to 256 bytes")
		}
	}
	return vs
}

func (q *query) string(name string, max int) string {
	v := q.c.Query(name)
	if len(v) > max {
		q.bad(name, "is longer than "+strconv.Itoa(max)+" bytes")
	}
	return v
}

// include reports whether include=item was asked for.
func (q *query) include() bool {
	v, ok := q.c.GetQuery("include")
	if ok && v != "item" {
		q.bad("include", "the only value is item")
	}
	return ok
}

func (q *query) err() error {
	if len(q.errs) == 0 {
		return nil
	}
	return &engine.Error{Code: engine.CodeInvalid, Message: q.errs[0].String(), Details: q.errs}
}

var recommendParams = []string{"n", "offset", "category", "brand", "exclude_category", "exclude", "min_price", "max_price",
	"available_only", "context_item", "placement", "include_purchased", "include", "preview"}

// explain breaks down a list served earlier.
func (s *Server) explain(c *gin.Context) {
	alias, err := pathAlias(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	id := c.Param("rid")
	if !strings.HasPrefix(id, "rec_") || len(id) > 64 {
		s.fail(c, fieldError("recommendation_id", "must be the recommendation_id of a list, such as rec_0123456789abcdef01234567"))
		return
	}
	ex, err := s.Recommender.Explain(c.Request.Context(), alias, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.noSharedCache(c)
	c.PureJSON(http.StatusOK, ex)
}

func (s *Server) recommendations(c *gin.Context) {
	alias, err := pathAlias(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	q := newQuery(c, recommendParams...)
	req := recommend.Request{
		N: q.int("n", 10, 1, 100), Offset: q.int("offset", 0, 0, 1000),
		Categories: q.strings("category"), Brands: q.strings("brand"), ExcludeCategories: q.strings("exclude_category"),
		Exclude: q.strings("exclude"), MinPrice: q.float("min_price"), MaxPrice: q.float("max_price"),
		AvailableOnly: q.bool("available_only", true), ContextItem: q.string("context_item", engine.MaxIDLen),
		Placement: q.string("placement", 64), IncludePurchased: q.bool("include_purchased", false),
		Preview: q.bool("preview", false),
	}
	include := q.include()
	if req.MaxPrice > 0 && req.MinPrice > req.MaxPrice {
		q.bad("min_price", "must not exceed max_price")
	}
	if err := q.err(); err != nil {
		s.fail(c, err)
		return
	}
	res, err := s.Recommender.Recommend(c.Request.Context(), alias, req)
	if err != nil {
		s.fail(c, err)
		return
	}
	if include {
		s.embed(c, res.Items)
	}
	s.noSharedCache(c)
	c.PureJSON(http.StatusOK, res)
}

// embed adds each item's catalog record.
func (s *Server) embed(c *gin.Context, items []recommend.Item) {
	for i := range items {
		items[i].Details = s.Recommender.ItemDetails(c.Request.Context(), items[i].Item)
	}
}

// noSharedCache marks a per-person response: no shared cache may keep it.
func (s *Server) noSharedCache(c *gin.Context) {
	c.Header("Cache-Control", "private, no-store")
	c.Header("Vary", "Authorization")
}

// cacheable marks a list that is the same for every caller of a model
// version and catalog: browsers may keep it a minute, revalidating by ETag.
// It reports true when the caller's copy is current (304 sent).
func (s *Server) cacheable(c *gin.Context, version string, items []recommend.Item) bool {
	h := fnvString(c.Request.URL.RawQuery + "|" + c.Param("item") + "|" + version)
	for _, it := range items {
		h = fnvAdd(h, it.Item)
	}
	etag := `"` + strconv.FormatUint(h, 36) + `"`
	c.Header("ETag", etag)
	c.Header("Cache-Control", "private, max-age=60")
	if c.GetHeader("If-None-Match") == etag {
		c.Status(http.StatusNotModified)
		return true
	}
	return false
}

func fnvString(s string) uint64 { return fnvAdd(14695981039346656037, s) }

func fnvAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// renderList answers with a shared list: 304 when the caller's copy is
// current, catalog records embedded when asked for.
func (s *Server) renderList(c *gin.Context, res recommend.List, include bool) {
	if s.cacheable(c, res.ModelVersion, res.Items) {
		return
	}
	if include {
		s.embed(c, res.Items)
	}
	c.PureJSON(http.StatusOK, res)
}

func (s *Server) similar(c *gin.Context) {
	q := newQuery(c, "n", "include_unavailable", "include")
	n := q.int("n", 10, 1, 100)
	all := q.bool("include_unavailable", false)
	include := q.include()
	if err := q.err(); err != nil {
		s.fail(c, err)
		return
	}
	res, err := s.Recommender.Similar(c.Request.Context(), c.Param("item"), n, all)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.renderList(c, res, include)
}

func (s *Server) popular(c *gin.Context) {
	q := newQuery(c, "n", "region", "category", "include")
	n := q.int("n", 10, 1, 100)
	region, category := q.string("region", engine.MaxRegionLen), q.string("category", engine.MaxLabelLen)
	include := q.include()
	if err := q.err(); err != nil {
		s.fail(c, err)
		return
	}
	res, err := s.Recommender.Popular(c.Request.Context(), region, category, n)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.renderList(c, res, include)
}

func (s *Server) buyAgain(c *gin.Context) {
	alias, err := pathAlias(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	q := newQuery(c, "n")
	n := q.int("n", 10, 1, 100)
	if err := q.err(); err != nil {
		s.fail(c, err)
		return
	}
	res, err := s.Recommender.BuyAgain(c.Request.Context(), alias, n)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.noSharedCache(c)
	c.PureJSON(http.StatusOK, res)
}
