package api

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

// limiter holds a token bucket per API key: a key may make rate requests
// a second on average, and bursts of up to twice that (at least one).
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// take spends a token of key id at rate; when none is left it returns how
// long until one is.
func (l *limiter) take(id string, rate float64, now time.Time) (ok bool, wait time.Duration) {
	burst := max(1, 2*rate)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b := l.buckets[id]
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		l.buckets[id] = b
	}
	b.tokens = min(burst, b.tokens+rate*now.Sub(b.last).Seconds())
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// rateLimit answers 429 with Retry-After when the calling key is over its
// rate (its own, else the server's RateLimit; none when both are 0).
func (s *Server) rateLimit(c *gin.Context, k *engine.APIKey) bool {
	rate := k.Rate
	if rate == 0 {
		rate = s.RateLimit
	}
	if rate <= 0 {
		return true
	}
	ok, wait := s.limits.take(k.ID, rate, time.Now())
	if ok {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	c.Header("Retry-After", strconv.Itoa(max(1, secs)))
	s.fail(c, engine.Errorf(engine.CodeRateLimited, "this key may make %g requests a second; retry after %d s", rate, max(1, secs)))
	return false
}
