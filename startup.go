package grpcjwt

import (
	"context"
	"errors"
)

// startIssuers makes every trusted issuer and gets its first keys from the
// provider, or from the key cache file when the provider cannot be reached
// (see [keySet.useCached]). Without a background start the providers are
// reached concurrently, within ctx, and an issuer that cannot be reached
// fails NewValidator, unless its cached keys serve, in which case it is
// retried in the background. With a background start nothing waits.
func (v *Validator) startIssuers(ctx context.Context, cfg *Config, ics []IssuerConfig) error {
	client := refuseDowngrade(cfg.HTTPClient)
	for i, ic := range ics {
		t := newTrustedIssuer(ic, cfg, client)
		t.keys.notify = v.notify
		v.issuers[ic.Issuer] = t
		if i == 0 {
			v.first = t
		}
		if t.keys.cacheFile != "" {
			if err := t.keys.loadKeyCache(cfg.KeyCacheMaxAge); err != nil {
				t.keys.log.Info("grpcjwt: no usable keys in the key cache", "file", t.keys.cacheFile, "reason", err)
			}
		}
	}
	if cfg.BackgroundStart {
		for _, t := range v.issuers {
			t.retryStart(cfg.StartRetry)
		}
		return nil
	}
	errs := make([]*startupError, len(ics))
	done := make(chan struct{})
	for i, ic := range ics {
		t := v.issuers[ic.Issuer]
		go func() {
			defer func() { done <- struct{}{} }()
			err := t.start(ctx, len(ics) > 1)
			if err != nil && t.keys.snap.Load() != nil {
				t.keys.log.Warn("grpcjwt: provider unreachable at startup; using cached keys and retrying", "error", err)
				t.retryStart(cfg.StartRetry)
				err = nil
			}
			if err == nil {
				err = t.checkIntrospection(len(ics) > 1)
			}
			errs[i] = err
		}()
	}
	for range ics {
		<-done
	}
	return joinStartupErrors(errs)
}

// joinStartupErrors makes one error of the issuers' startup errors (nil
// for those that started), given in configuration order: its kind is the
// first failure's, so that it matches exactly one of the NewValidator
// sentinels, and its message and causes are every failure's.
func joinStartupErrors(errs []*startupError) error {
	var kind error
	var all []error
	for _, e := range errs {
		if e == nil {
			continue
		}
		if kind == nil {
			kind = e.kind
		}
		all = append(all, e.err)
	}
	if kind == nil {
		return nil
	}
	return &startupError{kind, errors.Join(all...)}
}
