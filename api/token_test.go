package api_test

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rapport/api"
	"rapport/engine"
)

type signer struct {
	secret []byte
	key    *rsa.PrivateKey
}

func (s signer) token(t *testing.T, alg, kid string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	head := enc(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"}) + "." + enc(claims)
	var sig []byte
	switch alg {
	case "HS256":
		m := hmac.New(sha256.New, s.secret)
		m.Write([]byte(head))
		sig = m.Sum(nil)
	case "RS256":
		sum := sha256.Sum256([]byte(head))
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:]); err != nil {
			t.Fatal(err)
		}
	}
	return head + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// jwks is a JWKS document of the public halves of keys, by kid.
func jwks(keys map[string]*rsa.PrivateKey) string {
	var out []string
	for kid, k := range keys {
		out = append(out, fmt.Sprintf(`{"kty":"RSA","kid":%q,"alg":"RS256","use":"sig","n":%q,"e":%q}`, kid,
			base64.RawURLEncoding.EncodeToString(k.N.Bytes()), base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())))
	}
	return `{"keys":[` + strings.Join(out, ",") + `]}`
}

// jwksFile writes the JWKS of keys to a file and returns its path.
func jwksFile(t *testing.T, keys map[string]*rsa.PrivateKey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, []byte(jwks(keys)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func claims(sub string, exp time.Time) map[string]any {
	return map[string]any{"sub": sub, "iss": "https://idp.example", "aud": []string{"rapport"}, "exp": exp.Unix()}
}

func TestUserTokens(t *testing.T) {
	e := newEnv(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sg := signer{secret: []byte("a shared secret of the idp"), key: key}
	e.api.UserTokens = &api.UserTokens{Secret: sg.secret, JWKS: jwksFile(t, map[string]*rsa.PrivateKey{"k1": key}), Issuer: "https://idp.example", Audience: "rapport"}
	if err := e.api.UserTokens.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.api.RequireUserToken = true
	e.post("/v1/events", engine.RoleIngest, `{"alias":"customer:1","type":"view","item":"A"}
{"alias":"customer:2","type":"view","item":"B"}
{"alias":"b2b:boss","type":"view","item":"A"}
{"alias":"b2b:clerk","type":"view","item":"A"}`, 200)
	e.post("/v1/identities/customer:1/links", engine.RoleData, `{"alias":"anon:phone-1"}`, 200)
	soon, past := time.Now().Add(time.Hour), time.Now().Add(-time.Hour)
	get := func(path, key, token string) int {
		req, _ := http.NewRequest("GET", e.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		if token != "" {
			req.Header.Set(api.UserTokenHeader, token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	storefront := e.keys[engine.RoleStorefront]
	bad := sg
	bad.secret = []byte("not the secret")
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged := signer{key: other}
	wrongIss := claims("customer:1", soon)
	wrongIss["iss"] = "https://evil.example"
	wrongAud := claims("customer:1", soon)
	wrongAud["aud"] = "someone-else"
	noExp := claims("customer:1", soon)
	delete(noExp, "exp")
	for _, c := range []struct {
		name, path, token string
		want              int
	}{
		{"own, HS256", "/v1/identities/customer:1/preferences", sg.token(t, "HS256", "", claims("customer:1", soon)), 200},
		{"own, RS256", "/v1/identities/customer:1/preferences", sg.token(t, "RS256", "k1", claims("customer:1", soon)), 200},
		{"another alias of the same person", "/v1/identities/anon:phone-1/preferences", sg.token(t, "HS256", "", claims("customer:1", soon)), 200},
		{"someone else's", "/v1/identities/customer:2/preferences", sg.token(t, "HS256", "", claims("customer:1", soon)), 403},
		{"someone else's export", "/v1/identities/customer:2/export", sg.token(t, "RS256", "k1", claims("customer:1", soon)), 403},
		{"expired", "/v1/identities/customer:1/preferences", sg.token(t, "HS256", "", claims("customer:1", past)), 401},
		{"no expiry", "/v1/identities/customer:1/preferences", sg.token(t, "HS256", "", noExp), 401},
		{"bad HS256 signature", "/v1/identities/customer:1/preferences", bad.token(t, "HS256", "", claims("customer:1", soon)), 401},
		{"forged RS256", "/v1/identities/customer:1/preferences", forged.token(t, "RS256", "k1", claims("customer:1", soon)), 401},
		{"unknown kid", "/v1/identities/customer:1/preferences", sg.token(t, "RS256", "k9", claims("customer:1", soon)), 401},
		{"alg none", "/v1/identities/customer:1/preferences", strings.TrimSuffix(sg.token(t, "none", "", claims("customer:1", soon)), "."), 401},
		{"other issuer", "/v1/identities/customer:1/preferences", sg.token(t, "HS256", "", wrongIss), 401},
		{"other audience", "/v1/identities/customer:1/preferences", sg.token(t, "HS256", "", wrongAud), 401},
		{"garbage", "/v1/identities/customer:1/preferences", "not.a.jwt", 401},
		{"none, storefront key", "/v1/identities/customer:1/preferences", "", 401},
		{"none, catalog route", "/v1/items/A", "", 404},
	} {
		if got := get(c.path, storefront, c.token); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if got := get("/v1/identities/customer:1/preferences", e.keys[engine.RoleData], ""); got != 200 {
		t.Errorf("a data key needs no user token: %d", got)
	}

	// Signed in, a person may merge their browser's anonymous history, not
	// another known person's.
	e.post("/v1/events", engine.RoleIngest, `{"alias":"anon:cookie-9","type":"view","item":"A"}
{"alias":"email:bob@example.com","type":"view","item":"B"}`, 200)
	link := func(other string) int {
		req, _ := http.NewRequest("POST", e.url+"/v1/identities/customer:1/links", strings.NewReader(`{"alias":"`+other+`"}`))
		req.Header.Set("Authorization", "Bearer "+storefront)
		req.Header.Set(api.UserTokenHeader, sg.token(t, "HS256", "", claims("customer:1", soon)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := link("email:bob@example.com"); got != 403 {
		t.Errorf("merging another known person on a token: %d, want 403", got)
	}
	if got := link("anon:cookie-9"); got != 200 {
		t.Errorf("merging one's anonymous history: %d, want 200", got)
	}

	// Roles inside an organisation: an approver reads other members, a
	// viewer only themselves.
	e.admin("PUT", "/v1/orgs/ACME", `{"name":"Acme"}`)
	e.admin("PUT", "/v1/orgs/ACME/members/b2b:boss", `{"role":"approver"}`)
	e.admin("PUT", "/v1/orgs/ACME/members/b2b:clerk", `{"role":"viewer"}`)
	portal := e.scopedKey(engine.RolePortal, "ACME")
	boss := sg.token(t, "HS256", "", claims("b2b:boss", soon))
	clerk := sg.token(t, "HS256", "", claims("b2b:clerk", soon))
	for _, c := range []struct {
		name, path, token string
		want              int
	}{
		{"approver reads a member", "/v1/identities/b2b:clerk/preferences", boss, 200},
		{"viewer reads another member", "/v1/identities/b2b:boss/preferences", clerk, 403},
		{"viewer reads themselves", "/v1/identities/b2b:clerk/preferences", clerk, 200},
		{"viewer reads the organisation", "/v1/orgs/ACME", clerk, 200},
		{"outsider reads the organisation", "/v1/orgs/ACME", sg.token(t, "HS256", "", claims("customer:2", soon)), 403},
	} {
		if got := get(c.path, portal, c.token); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// FuzzUserToken checks that verifying never panics and accepts only tokens
// signed with the secret: the fuzzer may change any byte of a good token.
func FuzzUserToken(f *testing.F) {
	sg := signer{secret: []byte("the idp's shared secret for the fuzzer")}
	good := sg.token(&testing.T{}, "HS256", "", claims("customer:1", time.Now().Add(24*time.Hour)))
	for _, s := range []string{good, "a.b.c", "", "..", "eyJhbGciOiJub25lIn0.e30.", strings.Repeat(".", 100)} {
		f.Add(s)
	}
	u := &api.UserTokens{Secret: sg.secret, Issuer: "https://idp.example", Audience: "rapport"}
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := u.Verify(token, time.Now())
		if err != nil {
			return
		}
		a := claims.Subject
		// Accepted: it must carry a valid HMAC over its first two parts.
		parts := strings.Split(token, ".")
		m := hmac.New(sha256.New, sg.secret)
		m.Write([]byte(parts[0] + "." + parts[1]))
		if sig, _ := base64.RawURLEncoding.DecodeString(parts[2]); !hmac.Equal(sig, m.Sum(nil)) || a.IsZero() {
			t.Fatalf("accepted %q for %v", token, a)
		}
	})
}

// withToken calls GET path with key and a user token.
func (e *env) withToken(path, key, token string) response {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set(api.UserTokenHeader, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// TestAdversarialTokenTimes proves issue 13's finding "a JWT nbf of 1e20
// overflows and is accepted, and there is no maximum token lifetime": token
// times beyond what int64 seconds hold, or before 1970, are refused rather
// than wrapped into the past; an iat in the future beyond the leeway is
// refused; and a token living longer than MaxLifetime is refused, saying
// why.
func TestAdversarialTokenTimes(t *testing.T) {
	e := newEnv(t)
	sg := signer{secret: []byte("the idp's shared secret for rapport")}
	e.api.UserTokens = &api.UserTokens{Secret: sg.secret, Issuer: "https://idp.example", Audience: "rapport", MaxLifetime: 12 * time.Hour}
	e.api.RequireUserToken = true
	e.post("/v1/events", engine.RoleIngest, `{"alias":"customer:1","type":"view","item":"A"}`, 200)
	now := time.Now()
	with := func(set map[string]any) string {
		c := claims("customer:1", now.Add(time.Hour))
		for k, v := range set {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return sg.token(t, "HS256", "", c)
	}
	for _, c := range []struct {
		name   string
		token  string
		status int
		reason string
	}{
		{"OK", with(map[string]any{"iat": now.Unix(), "nbf": now.Unix()}), 200, ""},
		{"OKWithinLeeway", with(map[string]any{"iat": now.Add(30 * time.Second).Unix()}), 200, ""},
		{"NbfOverflow", with(map[string]any{"nbf": 1e20}), 401, "claim nbf must be a time"},
		{"ExpOverflow", with(map[string]any{"exp": 1e20}), 401, "claim exp must be a time"},
		{"IatOverflow", with(map[string]any{"iat": 1e20}), 401, "claim iat must be a time"},
		{"NbfNegative", with(map[string]any{"nbf": -1}), 401, "claim nbf must be a time"},
		{"ExpNegative", with(map[string]any{"exp": -1e19}), 401, "claim exp must be a time"},
		{"IatNegative", with(map[string]any{"iat": -5}), 401, "claim iat must be a time"},
		{"NbfFuture", with(map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}), 401, "not valid yet"},
		{"IatFuture", with(map[string]any{"iat": now.Add(10 * time.Minute).Unix()}), 401, "issued in the future"},
		{"LifetimeOverCap", with(map[string]any{"iat": now.Unix(), "exp": now.Add(13 * time.Hour).Unix()}), 401, "lives 13h0m0s from iat to exp, longer than the 12h0m0s"},
		{"LifetimeOverCapNoIat", with(map[string]any{"exp": now.Add(100 * 365 * 24 * time.Hour).Unix()}), 401, "has no iat and expires in"},
		{"LifetimeOverCapOldIat", with(map[string]any{"iat": now.Add(-30 * time.Hour).Unix()}), 401, "longer than the 12h0m0s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.withToken("/v1/identities/customer:1/preferences", e.keys[engine.RoleStorefront], c.token)
			if r.status != c.status {
				t.Fatalf("%d, want %d: %s", r.status, c.status, r.body)
			}
			if c.reason != "" {
				if _, msg, _ := r.errorOf(t); !strings.Contains(msg, c.reason) {
					t.Fatalf("message %q does not say %q", msg, c.reason)
				}
			}
		})
	}
}

// TestUserTokensAlgorithms: only HS256 with the shared secret and RS256
// with a key of the JWKS verify. A token may not pick another algorithm,
// nor make the RSA public key (which anyone can read) an HMAC secret.
func TestUserTokensAlgorithms(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	jwksPath := jwksFile(t, map[string]*rsa.PrivateKey{"k1": key})
	rsaOnly := &api.UserTokens{JWKS: jwksPath, Issuer: "https://idp.example", Audience: "rapport"}
	both := &api.UserTokens{Secret: []byte("a shared secret of the idp, long enough"), JWKS: jwksPath, Issuer: "https://idp.example", Audience: "rapport"}
	hsOnly := &api.UserTokens{Secret: both.Secret, Issuer: "https://idp.example", Audience: "rapport"}
	for _, u := range []*api.UserTokens{rsaOnly, both} {
		if err := u.Open(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	c := claims("customer:1", time.Now().Add(time.Hour))
	good := signer{secret: both.Secret, key: key}
	for _, tc := range []struct {
		name  string
		u     *api.UserTokens
		token string
		ok    bool
	}{
		{"RS256", rsaOnly, good.token(t, "RS256", "k1", c), true},
		{"RS256WithBoth", both, good.token(t, "RS256", "k1", c), true},
		{"HS256WithBoth", both, good.token(t, "HS256", "", c), true},
		{"HS256WithoutSecret", rsaOnly, good.token(t, "HS256", "", c), false},
		{"RS256WithoutJWKS", hsOnly, good.token(t, "RS256", "k1", c), false},
		{"HS256SignedWithThePublicKeyPEM", rsaOnly, signer{secret: pemKey}.token(t, "HS256", "k1", c), false},
		{"HS256SignedWithThePublicKeyPEMBoth", both, signer{secret: pemKey}.token(t, "HS256", "k1", c), false},
		{"HS256SignedWithTheModulus", both, signer{secret: key.N.Bytes()}.token(t, "HS256", "k1", c), false},
		{"None", both, strings.TrimSuffix(good.token(t, "none", "", c), "."), false},
		{"NoneWithEmptySignature", both, good.token(t, "none", "", c), false},
		{"RS256WithoutKid", both, good.token(t, "RS256", "", c), false},
		{"HS384", both, good.token(t, "HS384", "", c), false},
		{"PS256", both, good.token(t, "PS256", "k1", c), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.u.Verify(tc.token, time.Now())
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && err == nil:
				t.Fatalf("accepted for %v", got.Subject)
			case !tc.ok && engine.ErrorCode(err) != engine.CodeUnauthorized:
				t.Fatalf("refused with %v, want unauthorized", err)
			}
		})
	}
}

// TestUserClaims: Verify returns the subject, the e-mail only when the
// provider says it is verified, and the organisation if the token names
// one (a malformed one is refused).
func TestUserClaims(t *testing.T) {
	sg := signer{secret: []byte("the idp's shared secret for rapport")}
	u := &api.UserTokens{Secret: sg.secret, Issuer: "https://idp.example", Audience: "rapport"}
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	with := func(set map[string]any) string {
		c := claims("customer:1", exp)
		for k, v := range set {
			c[k] = v
		}
		return sg.token(t, "HS256", "", c)
	}
	for _, tc := range []struct {
		name  string
		token string
		want  api.UserClaims
		err   string
	}{
		{"Plain", with(nil), api.UserClaims{Subject: engine.Alias{Kind: "customer", Value: "1"}, Expires: exp}, ""},
		{"VerifiedEmail", with(map[string]any{"email": " Ann@Example.com", "email_verified": true}), api.UserClaims{Subject: engine.Alias{Kind: "customer", Value: "1"}, Email: "ann@example.com", Expires: exp}, ""},
		{"VerifiedEmailAsString", with(map[string]any{"email": "ann@example.com", "email_verified": "true"}), api.UserClaims{Subject: engine.Alias{Kind: "customer", Value: "1"}, Email: "ann@example.com", Expires: exp}, ""},
		{"UnverifiedEmail", with(map[string]any{"email": "ann@example.com", "email_verified": false}), api.UserClaims{Subject: engine.Alias{Kind: "customer", Value: "1"}, Expires: exp}, ""},
		{"EmailWithoutVerified", with(map[string]any{"email": "ann@example.com"}), api.UserClaims{Subject: engine.Alias{Kind: "customer", Value: "1"}, Expires: exp}, ""},
		{"Org", with(map[string]any{"org": "ACME"}), api.UserClaims{Subject: engine.Alias{Kind: "customer", Value: "1"}, Org: "ACME", Expires: exp}, ""},
		{"BadOrg", with(map[string]any{"org": "AC ME"}), api.UserClaims{}, "claim org"},
		{"EmptyOrg", with(map[string]any{"org": ""}), api.UserClaims{}, "claim org"},
		{"SubjectNotAnAlias", with(map[string]any{"sub": "1234"}), api.UserClaims{}, "subject must be an alias"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := u.Verify(tc.token, time.Now())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil || got.Subject != tc.want.Subject || got.Email != tc.want.Email || got.Org != tc.want.Org || !got.Expires.Equal(tc.want.Expires) {
				t.Fatalf("%+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}

// TestUserTokensJWKSRotation: the identity provider rotates its keys, in
// a JWKS file or behind a URL. A token signed with a new key verifies at
// once (its unknown kid makes the key set be read again), a retired key
// stops verifying, tokens with made-up kids cannot make the key set be read
// more than once per JWKSMinRefresh, and the periodic refresh picks up a
// new key by itself.
func TestUserTokensJWKSRotation(t *testing.T) {
	keys := make([]*rsa.PrivateKey, 4)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	c := claims("customer:1", time.Now().Add(time.Hour))
	token := func(i int) string { return signer{key: keys[i]}.token(t, "RS256", fmt.Sprintf("k%d", i), c) }
	for _, source := range []string{"file", "url"} {
		t.Run(source, func(t *testing.T) {
			// publish makes the set hold exactly keys[i] for i in which.
			var publish func(which ...int)
			var reads func() int64
			var where string
			switch source {
			case "file":
				where = filepath.Join(t.TempDir(), "jwks.json")
				var n atomic.Int64
				publish = func(which ...int) {
					set := map[string]*rsa.PrivateKey{}
					for _, i := range which {
						set[fmt.Sprintf("k%d", i)] = keys[i]
					}
					tmp := where + ".new"
					if err := os.WriteFile(tmp, []byte(jwks(set)), 0o600); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(tmp, where); err != nil {
						t.Fatal(err)
					}
					n.Add(1)
				}
				reads = nil // a file's reads are not counted
			case "url":
				var current atomic.Value
				var n atomic.Int64
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					n.Add(1)
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, current.Load().(string))
				}))
				t.Cleanup(srv.Close)
				where = srv.URL + "/.well-known/jwks.json"
				publish = func(which ...int) {
					set := map[string]*rsa.PrivateKey{}
					for _, i := range which {
						set[fmt.Sprintf("k%d", i)] = keys[i]
					}
					current.Store(jwks(set))
				}
				reads = n.Load
			}
			publish(0)
			u := &api.UserTokens{JWKS: where, Issuer: "https://idp.example", Audience: "rapport", JWKSRefresh: time.Hour, JWKSMinRefresh: time.Hour}
			if err := u.Open(t.Context()); err != nil {
				t.Fatal(err)
			}
			verify := func(i int) error { _, err := u.Verify(token(i), time.Now()); return err }
			if err := verify(0); err != nil {
				t.Fatalf("the first key: %v", err)
			}
			publish(1) // k0 retired, k1 in use
			if err := verify(1); err != nil {
				t.Fatalf("a token signed with the new key: %v", err)
			}
			if err := verify(0); err == nil || !strings.Contains(err.Error(), "unknown key") {
				t.Fatalf("a token signed with the retired key: %v", err)
			}
			if reads != nil {
				before := reads()
				for i := 0; i < 20; i++ {
					if _, err := u.Verify(signer{key: keys[1]}.token(t, "RS256", fmt.Sprintf("made-up-%d", i), c), time.Now()); err == nil {
						t.Fatal("a made-up kid verified")
					}
				}
				if n := reads() - before; n != 0 {
					t.Fatalf("made-up kids read the key set %d times within JWKSMinRefresh", n)
				}
			}

			// The periodic refresh, with unknown-kid reads used up.
			p := &api.UserTokens{JWKS: where, Issuer: "https://idp.example", Audience: "rapport", JWKSRefresh: 50 * time.Millisecond, JWKSMinRefresh: time.Hour}
			if err := p.Open(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Verify(token(3), time.Now()); err == nil {
				t.Fatal("k3 verified before it was published")
			}
			publish(1, 2)
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, err := p.Verify(token(2), time.Now())
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the periodic refresh did not pick up a new key: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestUserTokensJWKSSource: --jwt-jwks is a file, an https:// URL or an
// http:// URL on this machine; anything else, or a set without RSA keys,
// is refused when the server starts.
func TestUserTokensJWKSSource(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.json")
	if err := os.WriteFile(garbage, []byte(`{"keys":[{"kty":"RSA","kid":"x","n":"!!","e":"AQAB"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{filepath.Join(dir, "missing.json"), dir, empty, garbage, "http://idp.example/jwks.json", "ftp://127.0.0.1/jwks", "https://"} {
		u := &api.UserTokens{JWKS: src}
		if err := u.Open(t.Context()); err == nil {
			t.Errorf("%s: accepted", src)
		}
	}
}
