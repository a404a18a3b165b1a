package api_test

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
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

func claims(sub string, exp time.Time) map[string]any {
	return map[string]any{"sub": sub, "iss": "https://idp.example", "aud": []string{"rapport"}, "exp": exp.Unix()}
}

func TestUserTokens(t *testing.T) {
	e := newEnv(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":%q,"e":%q}]}`,
		base64.RawURLEncoding.EncodeToString(key.N.Bytes()), base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()))
	keys, err := api.ParseJWKS([]byte(jwks))
	if err != nil {
		t.Fatal(err)
	}
	sg := signer{secret: []byte("a shared secret of the idp"), key: key}
	e.api.UserTokens = &api.UserTokens{Secret: sg.secret, Keys: keys, Issuer: "https://idp.example", Audience: "rapport"}
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
		a, err := u.Verify(token, time.Now())
		if err != nil {
			return
		}
		// Accepted: it must carry a valid HMAC over its first two parts.
		parts := strings.Split(token, ".")
		m := hmac.New(sha256.New, sg.secret)
		m.Write([]byte(parts[0] + "." + parts[1]))
		if sig, _ := base64.RawURLEncoding.DecodeString(parts[2]); !hmac.Equal(sig, m.Sum(nil)) || a.IsZero() {
			t.Fatalf("accepted %q for %v", token, a)
		}
	})
}
