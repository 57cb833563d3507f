package grpcjwt_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// redirector is an https server that answers every request with a
// redirect to the URL in to, counting the requests.
type redirector struct {
	*httptest.Server
	to   atomic.Pointer[string]
	hits atomic.Int64
}

func newRedirector(t *testing.T, to string) *redirector {
	t.Helper()
	r := &redirector{}
	r.to.Store(&to)
	r.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		http.Redirect(w, req, *r.to.Load(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(r.Close)
	return r
}

// TestHTTPSIssuerKeysOnlyOverHTTPS: the keys of an https issuer are never
// fetched in the clear, whether discovery names an http jwks_uri, the
// Config does, or a redirect on the way downgrades.
func TestHTTPSIssuerKeysOnlyOverHTTPS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, iss, plain *grpcjwttest.Issuer, c *grpcjwt.Config)
		want  error
		text  func(iss, plain *grpcjwttest.Issuer) []string
	}{
		{"discovery names an http jwks_uri", func(_ *testing.T, iss, plain *grpcjwttest.Issuer, _ *grpcjwt.Config) {
			iss.SetJWKSURI(plain.JWKSURL())
		}, grpcjwt.ErrDiscovery, func(iss, plain *grpcjwttest.Issuer) []string {
			return []string{iss.URL, plain.JWKSURL()}
		}},
		{"Config.JWKSURL is http", func(_ *testing.T, _, plain *grpcjwttest.Issuer, c *grpcjwt.Config) {
			c.JWKSURL = plain.JWKSURL()
		}, grpcjwt.ErrConfig, func(iss, plain *grpcjwttest.Issuer) []string {
			return []string{iss.URL, plain.JWKSURL()}
		}},
		{"the JWKS redirects to http", func(t *testing.T, iss, plain *grpcjwttest.Issuer, _ *grpcjwt.Config) {
			iss.SetJWKSURI(newRedirector(t, plain.JWKSURL()).URL + "/jwks")
		}, grpcjwt.ErrKeySet, func(_, plain *grpcjwttest.Issuer) []string {
			return []string{"refused redirect", plain.JWKSURL()}
		}},
		{"Config.JWKSURL redirects to http", func(t *testing.T, _, plain *grpcjwttest.Issuer, c *grpcjwt.Config) {
			c.JWKSURL = newRedirector(t, plain.JWKSURL()).URL + "/jwks"
		}, grpcjwt.ErrKeySet, func(_, plain *grpcjwttest.Issuer) []string {
			return []string{"refused redirect", plain.JWKSURL()}
		}},
		{"discovery redirects to http", func(t *testing.T, _, plain *grpcjwttest.Issuer, c *grpcjwt.Config) {
			r := newRedirector(t, plain.URL+"/.well-known/openid-configuration")
			c.Issuer = r.URL
		}, grpcjwt.ErrDiscovery, func(_, plain *grpcjwttest.Issuer) []string {
			return []string{"refused redirect", plain.URL}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			iss := newIssuer(t, grpcjwttest.WithTLS())
			plain := newIssuer(t) // what a downgrade would reach
			cfg := grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience, HTTPClient: iss.Client()}
			tc.setup(t, iss, plain, &cfg)
			v, err := grpcjwt.NewValidator(context.Background(), cfg)
			if err == nil {
				v.Close()
			}
			wantStartupError(t, err, tc.want)
			for _, s := range tc.text(iss, plain) {
				if err != nil && !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
			if n := plain.JWKSFetches() + plain.DiscoveryFetches(); n != 0 {
				t.Errorf("%d requests reached the http server", n)
			}
		})
	}
}

// TestHTTPSRedirectsStillWork: redirects that keep TLS are followed, and
// the user's own CheckRedirect is still asked, without being replaced.
func TestHTTPSRedirectsStillWork(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t, grpcjwttest.WithTLS())
	r := newRedirector(t, iss.JWKSURL())
	iss.SetJWKSURI(r.URL + "/jwks")
	client := iss.Client()
	var asked atomic.Int64
	check := func(*http.Request, []*http.Request) error { asked.Add(1); return nil }
	client.CheckRedirect = check
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.HTTPClient = client })
	if _, err := v.Validate(context.Background(), iss.Token(nil)); err != nil {
		t.Fatal(err)
	}
	if r.hits.Load() == 0 || asked.Load() == 0 {
		t.Errorf("redirector hit %d times, user's CheckRedirect asked %d times; want both", r.hits.Load(), asked.Load())
	}
	// The user's client is as it was: its CheckRedirect is still theirs.
	before := asked.Load()
	if err := client.CheckRedirect(nil, nil); err != nil || asked.Load() != before+1 {
		t.Error("the user's CheckRedirect was replaced")
	}
}

// TestHTTPIssuerMayUseHTTP: a local provider over plain http still works,
// redirects included.
func TestHTTPIssuerMayUseHTTP(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	other := newIssuer(t)
	mux := http.NewServeMux()
	mux.Handle("/", http.RedirectHandler(iss.JWKSURL(), http.StatusFound))
	r := httptest.NewServer(mux)
	t.Cleanup(r.Close)
	iss.SetJWKSURI(r.URL + "/jwks")
	v := newValidator(t, iss)
	if _, err := v.Validate(context.Background(), iss.Token(nil)); err != nil {
		t.Fatal(err)
	}
	if other.JWKSFetches() != 0 {
		t.Error("fetched from the wrong issuer")
	}
}

// TestRefreshRefusesDowngrade: a JWKS that starts redirecting to http
// fails the refresh: the request is never sent in the clear, and the last
// good keys stay.
func TestRefreshRefusesDowngrade(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t, grpcjwttest.WithTLS())
	plain := newIssuer(t)
	r := newRedirector(t, iss.JWKSURL())
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	var logs syncBuffer
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.HTTPClient = iss.Client()
		c.JWKSURL = r.URL + "/jwks"
		c.Now = func() time.Time { return time.Unix(0, now.Load()) }
		c.RefreshInterval = time.Minute
		c.MinRefreshInterval = time.Second
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	tok := iss.Token(map[string]any{"exp": time.Now().Add(24 * time.Hour).Unix()})
	if _, err := v.Validate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	// The http server has other keys: were they fetched, the token would
	// fail.
	down := plain.JWKSURL()
	r.to.Store(&down)
	before := r.hits.Load()
	now.Add(int64(2 * time.Minute)) // a periodic refresh is due
	deadline := time.Now().Add(5 * time.Second)
	for r.hits.Load() == before || !strings.Contains(logs.String(), "refused redirect") {
		if time.Now().After(deadline) {
			t.Fatalf("no refused refresh within 5s; logs:\n%s", logs.String())
		}
		if _, err := v.Validate(context.Background(), tok); err != nil {
			t.Fatalf("during the refresh: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := v.Validate(context.Background(), tok); err != nil {
		t.Fatalf("the last good keys were dropped: %v", err)
	}
	if n := plain.JWKSFetches(); n != 0 {
		t.Errorf("%d JWKS requests reached the http server", n)
	}
}
