package api

import (
	"math"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"rapport/engine"
)

// DefaultUnknownKeyRate is how many failed authentications (unknown or
// revoked API keys) a second each client address may make, unless
// Server.UnknownKeyRate says otherwise; bursts of four times that.
const DefaultUnknownKeyRate = 5

// maxLimiters bounds the token buckets a limiters holds.
const maxLimiters = 1 << 16

// limiters holds a token bucket (golang.org/x/time/rate) per name: an API
// key's id, or a client address. It holds at most maxLimiters: when full it
// drops the buckets that are full again (idle long enough that a new one
// would be the same), and if that is not enough, arbitrary ones — so names
// made up by an attacker cannot grow it without bound; a dropped bucket
// starts again full.
type limiters struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// get returns name's bucket with rate r and burst b, making it if new.
// The caller holds l.mu.
func (l *limiters) get(name string, r rate.Limit, b int, now time.Time) *rate.Limiter {
	if l.m == nil {
		l.m = map[string]*rate.Limiter{}
	}
	lim := l.m[name]
	if lim == nil {
		if len(l.m) >= maxLimiters {
			l.evict(now)
		}
		lim = rate.NewLimiter(r, b)
		l.m[name] = lim
	} else if lim.Limit() != r || lim.Burst() != b {
		lim.SetLimitAt(now, r)
		lim.SetBurstAt(now, b)
	}
	return lim
}

// evict makes room for a quarter of maxLimiters. The caller holds l.mu.
func (l *limiters) evict(now time.Time) {
	for name, lim := range l.m {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(l.m, name)
		}
	}
	for name := range l.m { // map order: arbitrary
		if len(l.m) <= maxLimiters*3/4 {
			break
		}
		delete(l.m, name)
	}
}

// take spends a token of name's bucket; when none is left it spends
// nothing and returns how long until one is.
func (l *limiters) take(name string, r rate.Limit, b int, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	res := l.get(name, r, b, now).ReserveN(now, 1)
	if wait = res.DelayFrom(now); wait > 0 {
		res.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// empty reports whether name's bucket has no token left now, and how long
// until it has one; it spends nothing.
func (l *limiters) empty(name string, r rate.Limit, b int, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.m[name]
	if lim == nil {
		return false, 0
	}
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) / float64(r) * float64(time.Second))
}

// retryAfter sets Retry-After to wait in whole seconds (at least 1) and
// returns them.
func retryAfter(c *gin.Context, wait time.Duration) int {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	c.Header("Retry-After", strconv.Itoa(secs))
	return secs
}

// DefaultBrowserRate is how many requests a second one client address may
// make with a browser key, unless the key has its own rate or
// Server.BrowserRate says otherwise; bursts of four times that. A browser
// key is public, so it is limited by default, and per visitor rather than
// per key: one visitor's flood must not slow the shop's others.
const DefaultBrowserRate = 20

// rateLimit answers 429 with Retry-After when the calling key is over its
// rate (its own, else the server's RateLimit; none when both are 0): a key
// may make rate requests a second on average, and bursts of up to twice
// that (at least one). A browser key is limited per client address, at its
// own rate, else BrowserRate (DefaultBrowserRate when 0, none below 0).
func (s *Server) rateLimit(c *gin.Context, k *engine.APIKey) bool {
	r, bucket, burst := k.Rate, k.ID, 0
	if k.Role == engine.RoleBrowser {
		if r == 0 {
			r = s.BrowserRate
		}
		if r == 0 {
			r = DefaultBrowserRate
		}
		bucket, burst = k.ID+" "+clientAddress(c), max(1, int(4*r))
	} else if r == 0 {
		r = s.RateLimit
	}
	if r <= 0 {
		return true
	}
	if burst == 0 {
		burst = max(1, int(2*r))
	}
	ok, wait := s.limits.take(bucket, rate.Limit(r), burst, time.Now())
	if ok {
		return true
	}
	secs := retryAfter(c, wait)
	s.fail(c, engine.Errorf(engine.CodeRateLimited, "this key may make %g requests a second; retry after %d s", r, secs))
	return false
}

// unknownKeyRate is the rate and burst of failed authentications per
// client address (ok false: no limit).
func (s *Server) unknownKeyRate() (r rate.Limit, burst int, ok bool) {
	switch {
	case s.UnknownKeyRate < 0:
		return 0, 0, false
	case s.UnknownKeyRate == 0:
		return DefaultUnknownKeyRate, 4 * DefaultUnknownKeyRate, true
	}
	return rate.Limit(s.UnknownKeyRate), max(1, int(4*s.UnknownKeyRate)), true
}

// clientAddress names the bucket of failed authentications a request
// counts against: its client address (the connection's, unless it came
// through one of TrustedProxies), an IPv6 address by its /64, the block a
// single host usually holds.
func clientAddress(c *gin.Context) string {
	ip := net.ParseIP(c.ClientIP())
	if ip == nil {
		return c.ClientIP()
	}
	if ip.To4() == nil {
		ip = ip.Mask(net.CIDRMask(64, 128))
	}
	return ip.String()
}

// tooManyFailures answers 429 with Retry-After, before the key is looked
// up, when the client address has used up its failed authentications —
// so that key guessing is as slow for a good guess as for a bad one.
func (s *Server) tooManyFailures(c *gin.Context, addr string) bool {
	r, b, ok := s.unknownKeyRate()
	if !ok {
		return false
	}
	over, wait := s.failures.empty(addr, r, b, time.Now())
	if !over {
		return false
	}
	secs := retryAfter(c, wait)
	s.fail(c, engine.Errorf(engine.CodeRateLimited, "too many unknown or revoked API keys from this address; retry after %d s", secs))
	return true
}

// authFailed counts a failed authentication against the client address.
func (s *Server) authFailed(addr string) {
	if r, b, ok := s.unknownKeyRate(); ok {
		s.failures.take(addr, r, b, time.Now())
	}
}
