package grpcjwtredis

import (
	"time"

	"github.com/grpcjwt/grpcjwt"
)

// DefaultPrefix is the default key prefix of a [ReplayCache].
const DefaultPrefix = "grpcjwt:dpop:"

// options are the settings of a [ReplayCache], with their defaults.
type options struct {
	prefix    string
	maxPerKey int
	now       func() time.Time
}

func defaultOptions() options {
	return options{prefix: DefaultPrefix, maxPerKey: grpcjwt.DefaultReplayPerKey, now: time.Now}
}

// Option configures [New].
type Option func(*options)

// WithPrefix sets the prefix of every key the cache writes; default
// [DefaultPrefix]. Servers that share a cache must use the same prefix;
// give different APIs different prefixes (or different Redis databases)
// if their proofs must not meet.
func WithPrefix(prefix string) Option {
	return func(o *options) { o.prefix = prefix }
}

// WithMaxPerKey sets how many unexpired proofs one key may have recorded,
// across every replica; default [grpcjwt.DefaultReplayPerKey]. A key at
// its share has its new proofs refused, and no other key is affected. A
// key sustains n/L proofs a second, L being
// [grpcjwt.DPoPConfig.ProofLifetime], and at least n/(2L) whatever its
// clock (see the package doc); values ≤ 0 keep the default.
func WithMaxPerKey(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxPerKey = n
		}
	}
}

// WithClock sets the clock of the server, on which grpcjwt's expiries are
// times: give it [grpcjwt.Config.Now] if you set that; default time.Now.
// The cache reads it only to turn an expiry into a duration; Redis times
// the duration by its own clock.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}
