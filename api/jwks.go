package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"
)

// Defaults of the JWKS refresh: a file is cheap to read again, a URL is
// the identity provider's server.
const (
	jwksFileRefresh = 10 * time.Second
	jwksURLRefresh  = 15 * time.Minute
	jwksMinRefresh  = 10 * time.Second
	jwksFetchLimit  = 5 * time.Second // per read of the key set, file or URL
	jwksMaxBytes    = 1 << 20         // a key set larger than this is refused
)

// openJWKS reads the key set at source (a file path, an https:// URL, or
// an http:// URL on this machine) and keeps it fresh until ctx ends: it is
// read again every refresh, and at once when a token names a key it does
// not hold — at most once every minRefresh, so that tokens with made-up key
// ids cannot make the server hammer the identity provider. A read that
// fails keeps the keys read before (and is logged). The first read must
// succeed and find at least one RSA key.
func openJWKS(ctx context.Context, source string, refresh, minRefresh time.Duration, logger *slog.Logger) (keyfunc.Keyfunc, error) {
	where, client, isFile, err := jwksSource(source)
	if err != nil {
		return nil, err
	}
	if refresh <= 0 {
		refresh = jwksURLRefresh
		if isFile {
			refresh = jwksFileRefresh
		}
	}
	if minRefresh <= 0 {
		minRefresh = jwksMinRefresh
	}
	storage, err := jwkset.NewStorageFromHTTP(where, jwkset.HTTPClientStorageOptions{
		Client:          client,
		Ctx:             ctx,
		HTTPTimeout:     jwksFetchLimit,
		RefreshInterval: refresh,
		RefreshErrorHandler: func(ctx context.Context, err error) {
			logger.LogAttrs(ctx, slog.LevelError, "reading the JWKS failed; keeping the keys read before", slog.String("jwks", source), slog.Any("err", err))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	keys, err := storage.KeyReadAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	rsaKeys := 0
	for _, k := range keys {
		if k.Marshal().KTY == jwkset.KtyRSA {
			rsaKeys++
		}
	}
	if rsaKeys == 0 {
		return nil, errors.New("jwks: no RSA signing keys")
	}
	// The client re-reads on an unknown kid when the limiter has a token
	// now or within jwksFetchLimit (the bound on how long that request
	// waits); otherwise the kid is unknown at once.
	set, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{where: storage},
		RateLimitWaitMax:  jwksFetchLimit,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(minRefresh), 1),
	})
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: set, UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}})
}

// jwksSource turns --jwt-jwks into a URL and the client that reads it: a
// file is read through a file:// transport, so that files and URLs share
// the key-set library's refresh; plain http is only for this machine.
func jwksSource(source string) (where string, client *http.Client, isFile bool, err error) {
	if !strings.Contains(source, "://") {
		abs, err := filepath.Abs(source)
		if err != nil {
			return "", nil, false, fmt.Errorf("jwks: %w", err)
		}
		if fi, err := os.Stat(abs); err != nil {
			return "", nil, false, fmt.Errorf("jwks: %w", err)
		} else if !fi.Mode().IsRegular() {
			return "", nil, false, fmt.Errorf("jwks: %s is not a file", source)
		}
		u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
		return u.String(), &http.Client{Transport: limitedBody{http.NewFileTransport(http.Dir("/"))}}, true, nil
	}
	u, err := url.Parse(source)
	if err != nil || !jwksURLAllowed(u) {
		return "", nil, false, fmt.Errorf("jwks: %q must be a file, an https:// URL, or an http:// URL on this machine (127.0.0.1, ::1, localhost)", source)
	}
	client = &http.Client{
		Transport: limitedBody{http.DefaultTransport},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 || !jwksURLAllowed(req.URL) {
				return fmt.Errorf("jwks: refusing the redirect to %s", req.URL.Redacted())
			}
			return nil
		},
	}
	return u.String(), client, false, nil
}

func jwksURLAllowed(u *url.URL) bool {
	switch {
	case u.Host == "":
		return false
	case u.Scheme == "https":
		return true
	case u.Scheme == "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		return host == "localhost" || ip != nil && ip.IsLoopback()
	}
	return false
}

// limitedBody cuts every response body at jwksMaxBytes, so that a key set
// cannot fill the server's memory.
type limitedBody struct{ next http.RoundTripper }

func (l limitedBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err == nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, jwksMaxBytes), resp.Body}
	}
	return resp, err
}
