package grpcjwt_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

var startupSentinels = []error{grpcjwt.ErrConfig, grpcjwt.ErrDiscovery, grpcjwt.ErrKeySet}

// wantStartupError asserts that err matches want among the NewValidator
// sentinels, none of the others, and each of also.
func wantStartupError(t *testing.T, err, want error, also ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("NewValidator succeeded, want %v", want)
	}
	for _, s := range startupSentinels {
		if got := errors.Is(err, s); got != (s == want) {
			t.Errorf("errors.Is(%q, %v) = %v", err, s, got)
		}
	}
	for _, a := range also {
		if !errors.Is(err, a) {
			t.Errorf("errors.Is(%q, %v) = false", err, a)
		}
	}
}

// TestNewValidatorErrorsIs: every way NewValidator fails is told apart
// with errors.Is, and the messages still name what went wrong.
func TestNewValidatorErrorsIs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(*grpcjwttest.Issuer, *grpcjwt.Config)
		want  error
		also  []error
		text  string
	}{
		{"no issuer", func(_ *grpcjwttest.Issuer, c *grpcjwt.Config) { c.Issuer = "" }, grpcjwt.ErrConfig, nil, "Config.Issuer is required"},
		{"no audience", func(_ *grpcjwttest.Issuer, c *grpcjwt.Config) { c.Audience = "" }, grpcjwt.ErrConfig, nil, "Config.Audience is required"},
		{"issuer not a URL", func(_ *grpcjwttest.Issuer, c *grpcjwt.Config) { c.Issuer = "not a url" }, grpcjwt.ErrConfig, nil, "not an absolute"},
		{"HS256", func(_ *grpcjwttest.Issuer, c *grpcjwt.Config) { c.Algorithms = []string{"HS256"} }, grpcjwt.ErrConfig, nil, `"HS256"`},
		{"JWKSURL not a URL", func(_ *grpcjwttest.Issuer, c *grpcjwt.Config) { c.JWKSURL = "/jwks" }, grpcjwt.ErrConfig, nil, "Config.JWKSURL"},
		{"issuer mismatch", func(i *grpcjwttest.Issuer, _ *grpcjwt.Config) { i.SetDiscoveryIssuer(i.URL + "/") }, grpcjwt.ErrDiscovery, []error{grpcjwt.ErrIssuerMismatch}, "discovery says"},
		{"discovery fails", func(i *grpcjwttest.Issuer, _ *grpcjwt.Config) { i.SetDiscoveryMode(grpcjwttest.Fail) }, grpcjwt.ErrDiscovery, nil, "500"},
		{"discovery hangs", func(i *grpcjwttest.Issuer, c *grpcjwt.Config) {
			i.SetDiscoveryMode(grpcjwttest.Hang)
			c.HTTPTimeout = 100 * time.Millisecond
		}, grpcjwt.ErrDiscovery, []error{context.DeadlineExceeded}, "openid-configuration"},
		{"JWKS fails", func(i *grpcjwttest.Issuer, _ *grpcjwt.Config) { i.SetJWKSMode(grpcjwttest.Fail) }, grpcjwt.ErrKeySet, nil, "500"},
		{"JWKS empty", func(i *grpcjwttest.Issuer, _ *grpcjwt.Config) { i.SetJWKSBody([]byte(`{"keys":[]}`)) }, grpcjwt.ErrKeySet, nil, "no usable signing key"},
		{"JWKSURL fails", func(i *grpcjwttest.Issuer, c *grpcjwt.Config) {
			c.JWKSURL = i.JWKSURL()
			i.SetJWKSMode(grpcjwttest.Fail)
		}, grpcjwt.ErrKeySet, nil, "500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			iss := newIssuer(t)
			cfg := grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience}
			tc.setup(iss, &cfg)
			v, err := grpcjwt.NewValidator(context.Background(), cfg)
			if err == nil {
				v.Close()
			}
			wantStartupError(t, err, tc.want, tc.also...)
			if err != nil && !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not contain %q", err, tc.text)
			}
		})
	}
}

// TestNewValidatorErrorOfSeveralIssuers: when several issuers fail, the
// error matches the sentinel of the first that failed, in configuration
// order, and only that one, while its message names every issuer that
// failed and no other.
func TestNewValidatorErrorOfSeveralIssuers(t *testing.T) {
	t.Parallel()
	const (
		serves = iota
		discoveryFails
		jwksFails
	)
	for _, tc := range []struct {
		name    string
		issuers []int // Config.Issuer, then Config.Issuers
		want    error
	}{
		{"discovery, then JWKS", []int{discoveryFails, jwksFails}, grpcjwt.ErrDiscovery},
		{"JWKS, then discovery", []int{jwksFails, discoveryFails}, grpcjwt.ErrKeySet},
		{"a good one, JWKS, discovery", []int{serves, jwksFails, discoveryFails}, grpcjwt.ErrKeySet},
		{"a good one, discovery, JWKS, discovery", []int{serves, discoveryFails, jwksFails, discoveryFails}, grpcjwt.ErrDiscovery},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cfg grpcjwt.Config
			named := map[string]bool{} // issuer URL: whether the error must name it
			for i, mode := range tc.issuers {
				iss := newIssuer(t)
				switch mode {
				case discoveryFails:
					iss.SetDiscoveryMode(grpcjwttest.Fail)
				case jwksFails:
					iss.SetJWKSMode(grpcjwttest.Fail)
				}
				named[iss.URL] = mode != serves
				if i == 0 {
					cfg.Issuer, cfg.Audience = iss.URL, iss.Audience
				} else {
					cfg.Issuers = append(cfg.Issuers, grpcjwt.IssuerConfig{Issuer: iss.URL, Audience: iss.Audience})
				}
			}
			v, err := grpcjwt.NewValidator(context.Background(), cfg)
			if err == nil {
				v.Close()
			}
			wantStartupError(t, err, tc.want)
			for u, want := range named {
				if err != nil && strings.Contains(err.Error(), strconv.Quote(u)) != want {
					t.Errorf("error %q names %q: %v, want %v", err, u, !want, want)
				}
			}
		})
	}
}
