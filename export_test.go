package grpcjwt

import "time"

// NewMemoryReplayCacheOn is [NewMemoryReplayCache] on the clock now, for
// the tests of package grpcjwt_test that set [Config.Now].
func NewMemoryReplayCacheOn(maxEntries int, maxBytes int64, maxPerKey int, now func() time.Time) ReplayCache {
	return newMemoryReplayCache(maxEntries, maxBytes, maxPerKey, now)
}

// IntrospectionCaches reports what v's introspection caches hold: the
// accepted tokens' entries, the refused ones', the requests in flight or
// waiting, and whether any entry's key is token itself, or anything but a
// digest (never: the keys are tokenDigests).
func IntrospectionCaches(v *Validator, token string) (accepted, refused, flights int, holdsToken bool) {
	if v.icache != nil {
		accepted, _ = v.icache.size()
		for _, e := range v.icache.all() {
			holdsToken = holdsToken || e.token == token || len(e.token) != len(tokenDigest{})
		}
	}
	if v.refusals != nil {
		refused = v.refusals.len()
	}
	for _, t := range v.issuers {
		if in := t.introspect; in != nil {
			in.mu.Lock()
			flights += len(in.flights)
			in.mu.Unlock()
		}
	}
	return accepted, refused, flights, holdsToken
}

// RefusalCacheSize is refusalCacheSize, for the tests.
const RefusalCacheSize = refusalCacheSize

// IntrospectionWaiters returns how many calls wait for v's introspection
// requests.
func IntrospectionWaiters(v *Validator) int {
	n := 0
	for _, t := range v.issuers {
		if in := t.introspect; in != nil {
			in.mu.Lock()
			for _, f := range in.flights {
				n += f.waiters
			}
			in.mu.Unlock()
		}
	}
	return n
}
