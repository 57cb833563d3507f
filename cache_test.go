package grpcjwt

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

func (c *tokenCache) len() (n int, bytes int64) { return c.size() }

func testValidator(t *testing.T, iss *grpcjwttest.Issuer, mod func(*Config)) *Validator {
	t.Helper()
	cfg := Config{Issuer: iss.URL, Audience: iss.Audience}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewValidator(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func TestCacheHitAndExpiry(t *testing.T) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	v := testValidator(t, iss, func(c *Config) { c.Now = func() time.Time { return time.Unix(0, now.Load()) } })
	exp := time.Unix(0, now.Load()).Add(10 * time.Minute)
	tok := iss.Token(map[string]any{"exp": exp.Unix(), "nbf": time.Unix(0, now.Load()).Unix()})

	c1, err := v.Validate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := v.Validate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c1 != c2 {
		t.Error("second Validate of the same token did not hit the cache")
	}
	// A token differing in one byte of its signature never hits.
	forged := tok[:len(tok)-1] + string(rune('A'+(tok[len(tok)-1]-'A'+1)%26))
	if _, err := v.Validate(context.Background(), forged); err == nil {
		t.Error("a token one byte off the cached one was accepted")
	}

	now.Store(exp.Add(20 * time.Second).UnixNano()) // within the 30s leeway
	if _, err := v.Validate(context.Background(), tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	now.Store(exp.Add(31 * time.Second).UnixNano())
	if _, err := v.Validate(context.Background(), tok); err == nil {
		t.Fatal("a cached token was accepted after exp + leeway")
	}
	if n, _ := v.cache.len(); n != 0 {
		t.Errorf("expired entry still cached: %d entries", n)
	}
}

func TestCacheNotBefore(t *testing.T) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	var now atomic.Int64
	start := time.Now()
	now.Store(start.UnixNano())
	v := testValidator(t, iss, func(c *Config) { c.Now = func() time.Time { return time.Unix(0, now.Load()) } })
	tok := iss.Token(map[string]any{"nbf": start.Add(20 * time.Second).Unix()})
	if _, err := v.Validate(context.Background(), tok); err != nil {
		t.Fatal(err) // within leeway
	}
	now.Store(start.Add(-time.Minute).UnixNano()) // the clock steps back
	if _, err := v.Validate(context.Background(), tok); err == nil {
		t.Fatal("a cached token was accepted before nbf - leeway")
	}
}

func TestCacheBounds(t *testing.T) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	v := testValidator(t, iss, func(c *Config) { c.CacheSize = 64; c.CacheBytes = 1 << 30 })
	for i := range 500 {
		if _, err := v.Validate(context.Background(), iss.Token(map[string]any{"sub": fmt.Sprint(i)}, grpcjwttest.WithKeyFor("EdDSA"))); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := v.cache.len(); n > 64 || n < 32 {
		t.Errorf("cache holds %d entries, limit 64", n)
	}

	small := testValidator(t, iss, func(c *Config) { c.CacheBytes = 64 << 10 })
	for i := range 500 {
		if _, err := small.Validate(context.Background(), iss.Token(map[string]any{"sub": fmt.Sprint(i)}, grpcjwttest.WithKeyFor("EdDSA"))); err != nil {
			t.Fatal(err)
		}
	}
	if _, b := small.cache.len(); b > 64<<10 {
		t.Errorf("cache holds %d bytes, limit %d", b, 64<<10)
	}

	off := testValidator(t, iss, func(c *Config) { c.CacheSize = -1 })
	if off.cache != nil {
		t.Fatal("CacheSize -1 did not turn the cache off")
	}
	tok := iss.Token(nil)
	c1, _ := off.Validate(context.Background(), tok)
	c2, _ := off.Validate(context.Background(), tok)
	if c1 == nil || c1 == c2 {
		t.Error("with the cache off, a token must be verified each time")
	}
}

func TestCacheDropsEntriesOfRemovedKeys(t *testing.T) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	v := testValidator(t, iss, func(c *Config) { c.Now = func() time.Time { return time.Unix(0, now.Load()) } })
	old := iss.SigningKey("ES256")
	kept := iss.Token(nil, grpcjwttest.WithKeyFor("RS256"))
	dropped := iss.Token(nil, grpcjwttest.WithKeyFor("ES256"))
	before, err := v.Validate(context.Background(), kept)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate(context.Background(), dropped); err != nil {
		t.Fatal(err)
	}
	iss.Unpublish(old.KID)
	if err := v.first.keys.fetch(context.Background(), FetchPeriodic); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate(context.Background(), dropped); err == nil {
		t.Error("a token of a removed key was accepted from the cache")
	}
	after, err := v.Validate(context.Background(), kept)
	if err != nil || after != before {
		t.Errorf("the entry of an unchanged key was dropped: %v", err)
	}
}

// A hash collision must never serve another token's claims.
func TestCacheHashCollision(t *testing.T) {
	c := newTokenCache(100, 1<<20)
	key := &verifyKey{}
	claims := &Claims{Subject: "b", ExpiresAt: time.Now().Add(time.Hour)}
	now := time.Now().UnixNano()
	c.putUntil("token-b", claims, key, claims.ExpiresAt.UnixNano(), math.MinInt64, now)
	s, h := c.shard("token-a")
	sb, hb := c.shard("token-b")
	// Move b's entry to a's hash, as a collision would place it.
	sb.mu.Lock()
	e := sb.m[hb]
	delete(sb.m, hb)
	sb.mu.Unlock()
	s.mu.Lock()
	s.m[h] = e
	s.mu.Unlock()
	if got, _ := c.get("token-a", now); got != nil {
		t.Fatalf("token-a got token-b's claims (sub %q)", got.Subject)
	}
	s.mu.Lock()
	delete(s.m, h)
	s.mu.Unlock()
	sb.mu.Lock()
	sb.m[hb] = e // back in its own place
	sb.mu.Unlock()
	if got, _ := c.get("token-b", now); got != claims {
		t.Fatal("token-b not found")
	}
}

// TestCacheBytesCountParsedClaims: tokens with thousands of tiny scopes,
// or amr values, cost far more in parsed claims than in text; the byte
// bound must hold for what entries really retain (the heap, measured), not
// their length.
func TestCacheBytesCountParsedClaims(t *testing.T) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	const budget = 16 << 20
	items := strings.Split(strings.TrimSuffix(strings.Repeat("ab ", 6000), " "), " ")
	for _, tc := range []struct {
		name   string
		claims map[string]any
		parsed func(*Claims) int
	}{
		{"scope", map[string]any{"scope": strings.Join(items, " ")}, func(c *Claims) int { return len(c.Scopes) }},
		{"amr", map[string]any{"amr": items}, func(c *Claims) int { return len(c.AMR) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := testValidator(t, iss, func(c *Config) { c.CacheBytes = budget; c.CacheSize = 1 << 20; c.MaxTokenSize = 1 << 20 })
			toks := make([]string, 600)
			for i := range toks {
				tc.claims["jti"] = fmt.Sprint(i)
				toks[i] = iss.Token(tc.claims, grpcjwttest.WithKeyFor("EdDSA"))
			}
			before := heapAlloc()
			for _, tok := range toks {
				c, err := v.Validate(context.Background(), tok)
				if err != nil {
					t.Fatal(err)
				}
				if n := tc.parsed(c); n != len(items) {
					t.Fatalf("%d %s values", n, tc.name)
				}
			}
			grown := heapAlloc() - before
			n, counted := v.cache.len()
			t.Logf("%d entries, %d bytes counted, heap grew %d bytes (budget %d)", n, counted, grown, budget)
			if limit := int64(budget)*3/2 + 1<<20; grown > limit {
				t.Errorf("the cache retains %d bytes of heap, over 1.5 x CacheBytes + 1 MiB = %d", grown, limit)
			}
			if n == 0 {
				t.Error("nothing was cached: the test measures nothing")
			}
			runtime.KeepAlive(toks)
		})
	}
}

func heapAlloc() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestCacheSharedTail: the cache hashes only a token's last bytes, so a
// token forged to end as a cached one does (its signature's tail kept, its
// payload changed) lands on the cached entry's slot: it must miss, be
// verified, and be refused, and leave the cached token's entry in place.
func TestCacheSharedTail(t *testing.T) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	v := testValidator(t, iss, nil)
	tok := iss.Token(map[string]any{"sub": "alice"})
	c1, err := v.Validate(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	header, rest, _ := strings.Cut(tok, ".")
	_, sig, _ := strings.Cut(rest, ".")
	forgedPayload := base64URL(`{"iss":"` + iss.URL + `","aud":"` + iss.Audience + `","sub":"mallory","exp":4102444800}`)
	for _, forged := range []string{
		header + "." + forgedPayload + "." + sig,
		"x" + tok[1:],
		tok[len(tok)-hashedTail:],
	} {
		if s1, h1 := v.cache.shard(tok); true {
			if s2, h2 := v.cache.shard(forged); s1 != s2 || h1 != h2 {
				t.Fatalf("%q does not share the cached token's slot", forged)
			}
		}
		if c, err := v.Validate(t.Context(), forged); err == nil {
			t.Fatalf("a token sharing a cached one's tail was accepted (sub %q)", c.Subject)
		}
	}
	if c2, err := v.Validate(t.Context(), tok); err != nil || c2 != c1 {
		t.Fatalf("the cached token no longer hits: %v", err)
	}
}

func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestCachedCredentialsDecideAsUncached: a call whose token is cached is
// decided without reading its authorization value past the scheme; every
// value must still get the decision it gets when the token is not cached:
// schemes in any case, white space around the token, junk after it, a
// second value, a scheme the policy does not accept.
func TestCachedCredentialsDecideAsUncached(t *testing.T) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	tok := iss.Token(map[string]any{"sub": "alice"})
	values := [][]string{
		{"Bearer " + tok}, {"bearer " + tok}, {"BEARER \t " + tok}, {"  Bearer " + tok},
		{"Bearer " + tok + " "}, {"Bearer " + tok + "\t \t"}, {"Bearer " + tok + " x"},
		{"Bearer " + tok + ","}, {"Bearer " + tok + "\x00"}, {"Bearer " + tok + "\n"},
		{"Bearer\t" + tok}, {"Bearer" + tok}, {"DPoP " + tok}, {"Basic " + tok}, {tok},
		{"Bearer " + tok, "Bearer " + tok}, {"Bearer " + tok[:len(tok)-1]}, {"Bearer  " + tok + "  "},
	}
	decide := func(cacheSize int) []string {
		v := testValidator(t, iss, func(c *Config) { c.CacheSize = cacheSize })
		p, err := NewPolicy(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Check(t.Context(), &Call{Method: "/a.B/C", Authorization: []string{"Bearer " + tok}}, nil); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, vals := range values {
			c, err := p.Check(t.Context(), &Call{Method: "/a.B/C", Authorization: vals}, nil)
			switch {
			case err != nil:
				got = append(got, string(CauseOf(err))+": "+p.Status(err).Message())
			default:
				got = append(got, "ok "+c.Subject)
			}
		}
		return got
	}
	cached, uncached := decide(DefaultCacheSize), decide(-1)
	for i := range values {
		if cached[i] != uncached[i] {
			t.Errorf("%q: %s with the token cached, %s without", values[i], cached[i], uncached[i])
		}
	}
	if cached[0] != "ok alice" || cached[6] == "ok alice" {
		t.Fatalf("the decisions are not what the values ask: %q", cached)
	}
}

// TestCacheRealClockExpiry: with the real clock, the cache counts an
// entry's life down on the monotonic clock from the wall clock's reading
// when it was cached; a token it served until its exp must be refused,
// expired, once exp has passed (no leeway here).
func TestCacheRealClockExpiry(t *testing.T) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	rec := &hitRecorder{}
	v := testValidator(t, iss, func(c *Config) { c.Leeway = -1; c.Observer = rec })
	exp := time.Unix(time.Now().Unix()+2, 0)
	tok := iss.Token(map[string]any{"exp": exp.Unix()})
	if _, err := v.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(exp.Add(-100 * time.Millisecond)) {
		if _, err := v.Validate(t.Context(), tok); err != nil {
			t.Fatalf("refused %v before its exp: %v", time.Until(exp), err)
		}
		time.Sleep(20 * time.Millisecond) // real time must pass: the clock is the subject
	}
	if rec.hits.Load() == 0 {
		t.Fatal("the cache served no validation before exp")
	}
	for time.Now().Before(exp.Add(50 * time.Millisecond)) {
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := v.Validate(t.Context(), tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("after exp: %v, want ErrTokenExpired", err)
	}
}

// TestCacheTime: an instant converts to cache time by the wall clock at the
// conversion and counts down on the monotonic clock from there.
func TestCacheTime(t *testing.T) {
	v := &Validator{realClock: true, base: time.Now().Add(-time.Hour)}
	now := time.Now()
	exp := now.Add(10 * time.Second).Round(0) // wall clock only, as a claim's exp is
	left := time.Duration(v.cacheTime(exp, now) - v.cacheClock())
	if left <= 9*time.Second || left > 10*time.Second {
		t.Fatalf("%v left of a 10 s life", left)
	}
	if got := time.Duration(v.cacheTime(now, now)); got < time.Hour || got > time.Hour+time.Second {
		t.Fatalf("now is %v after a base an hour ago", got)
	}
	fake := &Validator{now: func() time.Time { return time.Unix(100, 0) }}
	if fake.cacheClock() != time.Unix(100, 0).UnixNano() || fake.cacheTime(exp, now) != exp.UnixNano() {
		t.Fatal("Config.Now's cache time is not its unix nanoseconds")
	}
}

// hitRecorder counts cache hits.
type hitRecorder struct{ hits atomic.Int64 }

func (r *hitRecorder) ObserveDecision(context.Context, Decision) {}
func (r *hitRecorder) ObserveValidation(_ context.Context, v Validation) {
	if v.CacheHit {
		r.hits.Add(1)
	}
}
func (r *hitRecorder) StartKeyFetch(ctx context.Context, _ KeyFetch) (context.Context, func(KeyFetchResult)) {
	return ctx, func(KeyFetchResult) {}
}
