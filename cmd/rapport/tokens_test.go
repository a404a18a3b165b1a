package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestServeSecurityFlags: serve refuses bad values of the token, JWKS,
// proxy and unknown-key flags with a usage error naming the flag.
func TestServeSecurityFlags(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens := []string{"--jwt-secret-file", secret, "--jwt-issuer", "https://idp.example", "--jwt-audience", "rapport"}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"MaxLifetimeZero", append([]string{"--jwt-max-lifetime", "0s"}, tokens...), "--jwt-max-lifetime"},
		{"JWKSPlainHTTPElsewhere", []string{"--jwt-jwks", "http://idp.example/jwks.json", "--jwt-issuer", "i", "--jwt-audience", "a"}, "--jwt-jwks"},
		{"JWKSMissingFile", []string{"--jwt-jwks", filepath.Join(t.TempDir(), "nope.json"), "--jwt-issuer", "i", "--jwt-audience", "a"}, "--jwt-jwks"},
		{"TrustedProxiesNonsense", []string{"--trusted-proxies", "10.0.0.0/8,proxy.example"}, "--trusted-proxies"},
		{"UnknownKeyRateNegative", []string{"--unknown-key-rate", "-1"}, "--unknown-key-rate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, c.args...), io.Discard, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), c.want) {
				t.Fatalf("exit %d, %s", code, stderr.String())
			}
		})
	}
}

// TestServeUserTokensFromJWKSURL runs rapport serve with its keys at a
// JWKS URL, a lifetime cap, CORS and the unknown-key limit, as an operator
// would, and checks each flag reaches the server.
func TestServeUserTokensFromJWKSURL(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":%q,"e":%q}]}`,
			base64.RawURLEncoding.EncodeToString(key.N.Bytes()), base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()))
	}))
	defer idp.Close()
	data := t.TempDir()
	storefront := createKey(t, data, "storefront")
	srv := startServer(t, data, "--jwt-jwks", idp.URL+"/jwks.json", "--jwt-issuer", "https://idp.example", "--jwt-audience", "rapport",
		"--jwt-max-lifetime", "1h", "--require-user-token", "--cors-origins", "https://shop.example", "--unknown-key-rate", "1")
	token := func(life time.Duration) string {
		now := time.Now()
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "customer:1", "iss": "https://idp.example", "aud": "rapport", "iat": now.Unix(), "exp": now.Add(life).Unix()})
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	call := func(method, key, userToken string, header ...string) (*http.Response, string) {
		req, _ := http.NewRequest(method, srv.url+"/v1/identities/customer:1/preferences", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		if userToken != "" {
			req.Header.Set("X-User-Token", userToken)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	// Past the token checks, the person is simply not known yet.
	if resp, body := call("GET", storefront, token(30*time.Minute)); resp.StatusCode != 404 || !strings.Contains(body, "no identity") {
		t.Fatalf("a token signed with the JWKS key: %d %s", resp.StatusCode, body)
	}
	if resp, body := call("GET", storefront, token(2*time.Hour)); resp.StatusCode != 401 || !strings.Contains(body, "longer than the 1h0m0s") {
		t.Fatalf("a token living 2h with --jwt-max-lifetime 1h: %d %s", resp.StatusCode, body)
	}
	resp, _ := call("OPTIONS", "", "", "Origin", "https://shop.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization,x-user-token")
	if resp.StatusCode != 204 || !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "x-user-token") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	limited := false
	for i := 0; i < 8 && !limited; i++ {
		resp, _ := call("GET", fmt.Sprintf("rk_guess_%d", i), "", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		limited = resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != ""
	}
	if !limited {
		t.Fatal("8 guessed keys at --unknown-key-rate 1 (bursts of 4) were never limited")
	}
}
