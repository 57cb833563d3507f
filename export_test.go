package grpcjwt

import "time"

// NewMemoryReplayCacheOn is [NewMemoryReplayCache] on the clock now, for
// the tests of package grpcjwt_test that set [Config.Now].
func NewMemoryReplayCacheOn(maxEntries int, maxBytes int64, maxPerKey int, now func() time.Time) ReplayCache {
	return newMemoryReplayCache(maxEntries, maxBytes, maxPerKey, now)
}
