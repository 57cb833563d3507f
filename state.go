package grpcjwt

import (
	"context"
	"sort"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// IssuerState is how one trusted issuer's keys stand.
type IssuerState struct {
	Issuer      string
	Keys        int       // usable keys held; 0 until the first fetch succeeds
	LastSuccess time.Time // of the last good fetch (or of the cached keys); zero: never
	LastError   error     // of the last fetch; nil when it succeeded
	StaleSince  time.Time // when fetches began failing since LastSuccess; zero while fresh
}

// State is how a [Validator] stands: its issuers' keys, and its
// verified-token cache.
type State struct {
	Issuers        []IssuerState // sorted by issuer
	CacheEntries   int
	CacheBytes     int64 // as counted against Config.CacheBytes
	CacheEvictions int64 // entries removed so far to make room, or because they expired or their key went away
}

// Ready reports whether every issuer is ready ([IssuerState.Ready]).
func (s State) Ready(now time.Time, maxStale time.Duration) bool {
	for _, is := range s.Issuers {
		if !is.Ready(now, maxStale) {
			return false
		}
	}
	return true
}

// Ready reports whether the issuer has keys and has not served stale keys
// for longer than maxStale (0: stale keys never make it unready).
func (is IssuerState) Ready(now time.Time, maxStale time.Duration) bool {
	if is.Keys == 0 {
		return false
	}
	return maxStale <= 0 || is.StaleSince.IsZero() || now.Sub(is.StaleSince) <= maxStale
}

// State reports how the Validator stands. It takes a lock per cache shard,
// briefly: call it for readiness and metrics, not per request.
func (v *Validator) State() State {
	var s State
	for _, t := range v.issuers {
		ks := t.keys
		is := IssuerState{Issuer: t.name}
		if snap := ks.snap.Load(); snap != nil {
			is.Keys = len(snap.keys)
		}
		if ns := ks.lastSuccess.Load(); ns != 0 {
			is.LastSuccess = time.Unix(0, ns)
		}
		if ns := ks.staleSince.Load(); ns != 0 {
			is.StaleSince = time.Unix(0, ns)
		}
		if e := ks.lastErr.Load(); e != nil {
			is.LastError = *e
		}
		s.Issuers = append(s.Issuers, is)
	}
	sort.Slice(s.Issuers, func(i, j int) bool { return s.Issuers[i].Issuer < s.Issuers[j].Issuer })
	if v.cache != nil {
		s.CacheEntries, s.CacheBytes = v.cache.size()
		s.CacheEvictions = v.cache.evictions.Load()
	}
	return s
}

// notify wakes whoever waits on changed: the keys of an issuer changed, or
// a fetch failed.
func (v *Validator) notify() {
	v.stateMu.Lock()
	close(v.stateCh)
	v.stateCh = make(chan struct{})
	v.stateMu.Unlock()
}

// changed returns a channel closed at the next notify.
func (v *Validator) changed() <-chan struct{} {
	v.stateMu.Lock()
	defer v.stateMu.Unlock()
	return v.stateCh
}

// ServeHealth keeps the status of service in h, the standard gRPC health
// service, in step with v: NOT_SERVING until every trusted issuer's keys
// are present, and while any issuer has served stale keys (fetches failing
// since its last success) for longer than maxStale (0: stale keys alone
// never make it NOT_SERVING); SERVING otherwise. service "" is the server
// as a whole. It sets the status at once, then follows every key fetch and
// the clock, in a goroutine that ends when ctx is done or v is closed.
//
// Make the health service public (WithPublic("/grpc.health.v1.Health/")),
// so that probes need no token.
func ServeHealth(ctx context.Context, v *Validator, h *health.Server, service string, maxStale time.Duration) {
	set := func() {
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if v.State().Ready(time.Now(), maxStale) {
			st = healthpb.HealthCheckResponse_SERVING
		}
		h.SetServingStatus(service, st)
	}
	set()
	tick := time.Second
	if maxStale > 0 {
		tick = min(tick, max(maxStale/4, 10*time.Millisecond))
	}
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			changed := v.changed()
			select {
			case <-ctx.Done():
				return
			case <-v.closed:
				return
			case <-changed:
			case <-t.C:
			}
			set()
		}
	}()
}
