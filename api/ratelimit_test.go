package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"rapport/engine"
)

// callFrom calls GET /v1/items/x on url with key, as if from the address
// in X-Forwarded-For ("": no header).
func callFrom(t *testing.T, url, key, forwardedFor string) response {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/v1/items/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// TestAdversarialUnknownKeysRateLimited proves issue 13's finding "unknown
// keys are never rate-limited": failed authentications are limited per
// client address (5 a second, bursts of 20, by default), over the limit
// every call from the address is 429 with Retry-After before its key is
// even looked up (so a good guess looks like a bad one), and a client
// cannot pick another address with X-Forwarded-For unless the operator
// trusts the proxy it comes through.
func TestAdversarialUnknownKeysRateLimited(t *testing.T) {
	t.Run("Default", func(t *testing.T) {
		e := newEnv(t)
		limited := 0
		for i := 0; i < 40; i++ {
			r := callFrom(t, e.url, "rk_guess_"+strconv.Itoa(i), "")
			switch r.status {
			case http.StatusUnauthorized:
			case http.StatusTooManyRequests:
				limited++
				if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || !strings.Contains(string(r.body), `"code":"rate_limited"`) {
					t.Fatalf("429 without a Retry-After: %v %s", r.header, r.body)
				}
			default:
				t.Fatalf("%d %s", r.status, r.body)
			}
		}
		if limited < 10 {
			t.Fatalf("40 guessed keys at once were limited only %d times", limited)
		}
	})
	t.Run("GoodGuessLooksLikeABadOne", func(t *testing.T) {
		e := newEnv(t)
		e.api.UnknownKeyRate = 0.01 // bursts of 1
		if r := callFrom(t, e.url, "rk_guess", ""); r.status != http.StatusUnauthorized {
			t.Fatalf("first guess: %d %s", r.status, r.body)
		}
		if r := callFrom(t, e.url, e.keys[engine.RoleStorefront], ""); r.status != http.StatusTooManyRequests {
			t.Fatalf("a real key after the budget is spent: %d %s", r.status, r.body)
		}
	})
	t.Run("RevokedKeysCount", func(t *testing.T) {
		e := newEnv(t)
		e.api.UnknownKeyRate = 0.01
		k, secret, _ := engine.NewAPIKey(engine.RoleStorefront, "old", time.Now())
		if err := e.db.CreateKey(t.Context(), k); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.RevokeKey(t.Context(), k.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if r := callFrom(t, e.url, secret, ""); r.status != http.StatusUnauthorized {
			t.Fatalf("revoked: %d %s", r.status, r.body)
		}
		if r := callFrom(t, e.url, "rk_guess", ""); r.status != http.StatusTooManyRequests {
			t.Fatalf("after a revoked key: %d %s", r.status, r.body)
		}
	})
	t.Run("SpoofedForwardedFor", func(t *testing.T) {
		e := newEnv(t)
		e.api.UnknownKeyRate = 0.01
		for i, addr := range []string{"203.0.113.1", "203.0.113.2", "198.51.100.7"} {
			r := callFrom(t, e.url, "rk_guess", addr)
			if want := map[bool]int{true: 401, false: 429}[i == 0]; r.status != want {
				t.Fatalf("X-Forwarded-For %s: %d, want %d (the header picked the bucket)", addr, r.status, want)
			}
		}
	})
	t.Run("TrustedProxy", func(t *testing.T) {
		e := newEnv(t)
		e.api.UnknownKeyRate = 0.01
		e.api.TrustedProxies = []string{"127.0.0.1/32", "::1"}
		ts := httptest.NewServer(e.api.Handler())
		defer ts.Close()
		for _, c := range []struct {
			from string
			want int
		}{
			{"203.0.113.1", 401}, {"203.0.113.1", 429}, {"203.0.113.2", 401},
			{"2001:db8::1", 401}, {"2001:db8::2", 429}, // one /64
			{"2001:db8:0:1::1", 401},
		} {
			if r := callFrom(t, ts.URL, "rk_guess", c.from); r.status != c.want {
				t.Fatalf("through the proxy from %s: %d, want %d", c.from, r.status, c.want)
			}
		}
	})
}
