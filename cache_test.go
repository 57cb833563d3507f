package grpcjwt

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

func (c *tokenCache) len() (n int, bytes int64) { return c.size() }

// all returns the entries c holds, each shard's read under its lock.
func (c *tokenCache) all() []*cacheEntry {
	var all []*cacheEntry
	for i := range c.shards {
		held, _ := c.shards[i].held() // the table tests report what held finds wrong
		all = append(all, held...)
	}
	return all
}

// held returns the entries of s, read under its lock, and what is wrong
// with its table: an entry that a lookup from its home slot does not
// find, counts that are not those of the entries, a table more than half
// full, a bound exceeded.
func (s *cacheShard) held() ([]*cacheEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table.Load()
	var (
		held  []*cacheEntry
		bytes int64
		err   error
	)
	for i := range t.slots {
		e := t.slots[i].Load()
		if e == nil {
			continue
		}
		held = append(held, e)
		bytes += e.size
		if j, found := t.probe(e.hash); found != e || j != uint64(i) {
			err = fmt.Errorf("the entry in slot %d of %d is not found from its home, slot %d", i, len(t.slots), t.home(e.hash))
		}
	}
	switch {
	case err != nil:
	case len(held) != s.entries || bytes != s.bytes:
		err = fmt.Errorf("the shard counts %d entries and %d bytes, its table holds %d and %d", s.entries, s.bytes, len(held), bytes)
	case s.entries > s.maxEntries || s.bytes > s.maxBytes:
		err = fmt.Errorf("%d entries and %d bytes, over the bounds of %d and %d", s.entries, s.bytes, s.maxEntries, s.maxBytes)
	case 2*s.entries > len(t.slots):
		err = fmt.Errorf("%d entries in %d slots", s.entries, len(t.slots))
	}
	return held, err
}

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
	// Give a copy of b's entry a's hash, as a collision would.
	s, h := c.shard("token-a")
	sb, hb := c.shard("token-b")
	sb.mu.Lock()
	_, e := sb.table.Load().probe(hb)
	sb.mu.Unlock()
	collided := *e
	collided.hash = h
	s.mu.Lock()
	i, _ := s.table.Load().probe(h)
	s.add(i, &collided)
	s.mu.Unlock()
	if got, _ := c.get("token-a", now); got != nil {
		t.Fatalf("token-a got token-b's claims (sub %q)", got.Subject)
	}
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

// clusteredTokens returns n tokens of c's shard k whose runs start in the
// last two or the first two slots of a table of minSlots, so that they
// collide, run past the table's end and wrap (and, in a table grown to
// 32, still fall in two clusters). Every third shares its last 32 bytes,
// so its whole hash, with the one before it. Half are short and half up
// to a kilobyte, so that either bound may be the one reached.
func clusteredTokens(rng *rand.Rand, c *tokenCache, k, n int) []string {
	var toks []string
	for len(toks) < n {
		tail := randomText(rng, hashedTail)
		if s, h := c.shard(tail); s != &c.shards[k] || ((h>>shardBits)+2)%minSlots >= 4 {
			continue
		}
		for range 1 + len(toks)%3/2 {
			prefix := 8 + rng.IntN(80)
			if rng.IntN(2) == 0 {
				prefix = 8 + rng.IntN(960)
			}
			toks = append(toks, randomText(rng, prefix)+tail)
		}
	}
	return toks[:n]
}

func randomText(rng *rand.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// overBounds reports whether a shard holding entries would exceed s's
// bounds.
func overBounds(s *cacheShard, entries map[*cacheEntry]bool) bool {
	var bytes int64
	for e := range entries {
		bytes += e.size
	}
	return len(entries) > s.maxEntries || bytes > s.maxBytes
}

func entrySet(entries []*cacheEntry) map[*cacheEntry]bool {
	set := make(map[*cacheEntry]bool, len(entries))
	for _, e := range entries {
		set[e] = true
	}
	return set
}

// TestCacheTable runs random puts, lookups, key drops and clock steps
// (some back), one at a time, on one shard with small bounds and tokens
// that collide, share hashes and wrap around the table, and checks the
// whole shard after each: every entry found from its home slot, the
// counts, the bounds; a put keeps what it put, replaces the entry of the
// same hash, evicts only when over a bound, then every expired entry or
// one of a dropped key first, arbitrary ones only while still over, and
// counts each eviction but not the replacement; a lookup hits exactly
// when the token is held and valid, and removes and counts a stale entry.
func TestCacheTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := newTokenCache(cacheShards*12, cacheShards*12_000)
	s := &c.shards[0]
	toks := clusteredTokens(rng, c, 0, 48)
	var (
		now  int64
		held = map[*cacheEntry]bool{}
		seen = map[string]int{}
	)
	stale := func(e *cacheEntry) bool { return now > e.exp || e.key.dropped() }
	for step := range 30_000 {
		evictions := c.evictions.Load()
		r := rng.IntN(20)
		switch {
		case r < 10:
			tok := toks[rng.IntN(len(toks))]
			_, h := c.shard(tok)
			claims := &Claims{Subject: tok}
			nbf := int64(math.MinInt64)
			if rng.IntN(4) == 0 {
				nbf = now + 5 - rng.Int64N(20)
			}
			c.putUntil(tok, claims, &verifyKey{}, now+rng.Int64N(200), nbf, now)
			list, err := s.held()
			if err != nil {
				t.Fatalf("step %d, put: %v", step, err)
			}
			after := entrySet(list)
			var added *cacheEntry
			for e := range after {
				if e.claims == claims {
					added = e
				}
			}
			if added == nil {
				t.Fatalf("step %d: the entry just put is not held", step)
			}
			// What the shard would hold if the put evicted nothing.
			want := maps.Clone(held)
			for e := range held {
				if e.hash == h {
					delete(want, e)
					seen["replaced"]++
					if e.token != tok {
						seen["replaced another token"]++
					}
				}
			}
			want[added] = true
			var evicted, fresh []*cacheEntry
			for e := range want {
				if !after[e] {
					evicted = append(evicted, e)
					if !stale(e) {
						fresh = append(fresh, e)
					}
				}
			}
			if got := c.evictions.Load() - evictions; got != int64(len(evicted)) {
				t.Fatalf("step %d: %d evictions counted, %d entries evicted", step, got, len(evicted))
			}
			if len(evicted) == 0 {
				break
			}
			if !overBounds(s, want) {
				t.Fatalf("step %d: %d entries evicted, the shard was within its bounds", step, len(evicted))
			}
			if len(want) > s.maxEntries {
				seen["over the entries"]++
			} else {
				seen["over the bytes"]++
			}
			for e := range after {
				if e != added && stale(e) {
					t.Fatalf("step %d: an expired entry or one of a dropped key is kept while others are evicted", step)
				}
			}
			seen["expired or dropped, evicted"] += len(evicted) - len(fresh)
			if len(fresh) == 0 {
				break
			}
			seen["arbitrary, evicted"] += len(fresh)
			for e := range want {
				if stale(e) {
					delete(want, e)
				}
			}
			if !overBounds(s, want) {
				t.Fatalf("step %d: valid entries evicted while evicting the stale ones made room", step)
			}
			needed := false
			for _, e := range fresh {
				after[e] = true
				needed = needed || overBounds(s, after)
				delete(after, e)
			}
			if !needed {
				t.Fatalf("step %d: %d valid entries evicted, one fewer would have made room", step, len(fresh))
			}
		case r < 16:
			tok := toks[rng.IntN(len(toks))]
			var e *cacheEntry
			for x := range held {
				if x.token == tok {
					e = x
				}
			}
			got, key := c.get(tok, now)
			list, err := s.held()
			if err != nil {
				t.Fatalf("step %d, get: %v", step, err)
			}
			after := entrySet(list)
			removed := c.evictions.Load() - evictions
			switch {
			case e == nil:
				if got != nil || removed != 0 || !maps.Equal(after, held) {
					t.Fatalf("step %d: a token not held: claims %v, %d evictions", step, got != nil, removed)
				}
			case now > e.exp || now < e.nbf || e.key.dropped():
				seen["stale at a lookup"]++
				delete(held, e)
				if got != nil || removed != 1 || !maps.Equal(after, held) {
					t.Fatalf("step %d: a stale entry: claims %v, %d evictions, still held %v", step, got != nil, removed, after[e])
				}
			default:
				seen["hit"]++
				if got != e.claims || key != e.key || removed != 0 || !maps.Equal(after, held) {
					t.Fatalf("step %d: a valid entry: claims %v, %d evictions", step, got == e.claims, removed)
				}
			}
		case r < 17:
			for e := range held {
				e.key.removed.Store(true)
				break
			}
		default:
			now += rng.Int64N(30) - 5
		}
		list, err := s.held()
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		held = entrySet(list)
		tab := s.table.Load()
		for i := range tab.slots {
			if e := tab.slots[i].Load(); e != nil && uint64(i) < tab.home(e.hash) {
				seen["wrapped"]++
			}
		}
	}
	t.Logf("%v, %d slots", seen, len(s.table.Load().slots))
	for _, what := range []string{"replaced", "replaced another token", "over the entries", "over the bytes", "expired or dropped, evicted", "arbitrary, evicted", "stale at a lookup", "hit", "wrapped"} {
		if seen[what] == 0 {
			t.Errorf("never %s: the test does not exercise it", what)
		}
	}
	if len(s.table.Load().slots) == minSlots {
		t.Error("the table never grew")
	}
}

// cacheRecord is what TestCacheConcurrentLookups knows of an entry it put:
// what it was put with, and when, on the test's sequence, its key was
// dropped and its removal seen (0: not yet).
type cacheRecord struct {
	token                string
	key                  *verifyKey
	exp, nbf             int64
	dropped, removedSeen atomic.Int64
}

// TestCacheConcurrentLookups: lookups without a lock, racing writers that
// put, replace tokens of the same hash, evict under both bounds, grow the
// table, and drop keys, while the clock runs and lookups remove stale
// entries, must never return another token's claims, an entry outside
// [nbf, exp] at the lookup's time, one whose key was dropped before the
// lookup began, or one removed before it began. Each writer has a shard of
// its own (the test's bookkeeping is per shard) and checks the shard after
// each put; the shards are checked again at the end, with size.
func TestCacheConcurrentLookups(t *testing.T) {
	const (
		rounds  = 6
		ops     = 2000
		writers = 2
		readers = 4
	)
	rng := rand.New(rand.NewPCG(3, 4))
	var hits, misses atomic.Int64
	grown := 0
	for round := range rounds {
		c := newTokenCache(cacheShards*12, cacheShards*12_000)
		var toks [writers][]string
		var all []string
		for w := range writers {
			toks[w] = clusteredTokens(rng, c, w, 36)
			all = append(all, toks[w]...)
		}
		var (
			now, seq atomic.Int64
			done     atomic.Bool
			recs     = make([]cacheRecord, writers*ops)
			wg, rwg  sync.WaitGroup
		)
		for r := range readers {
			rwg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(round), uint64(r)))
				for !done.Load() {
					tok := all[rng.IntN(len(all))]
					began := seq.Load()
					at := now.Load()
					claims, key := c.get(tok, at)
					if claims == nil {
						misses.Add(1)
						continue
					}
					hits.Add(1)
					gen, _ := strconv.Atoi(claims.ID)
					rec := &recs[gen]
					var wrong string
					switch {
					case claims.Subject != tok || rec.token != tok:
						wrong = "another token's claims"
					case key != rec.key:
						wrong = "another entry's key"
					case at > rec.exp || at < rec.nbf:
						wrong = "an entry outside [nbf, exp]"
					case rec.dropped.Load() != 0 && rec.dropped.Load() <= began:
						wrong = "an entry whose key was dropped before the lookup began"
					case rec.removedSeen.Load() != 0 && rec.removedSeen.Load() <= began:
						wrong = "an entry removed before the lookup began"
					}
					if wrong != "" {
						t.Errorf("round %d: a lookup got %s", round, wrong)
						return
					}
				}
			})
		}
		for w := range writers {
			rng := rand.New(rand.NewPCG(uint64(round), uint64(readers+w)))
			s := &c.shards[w]
			wg.Go(func() {
				held := map[*cacheEntry]bool{}
				for i := range ops {
					gen := w*ops + i
					switch r := rng.IntN(10); {
					case r < 6:
						at := now.Load()
						rec := &recs[gen]
						rec.token = toks[w][rng.IntN(len(toks[w]))]
						rec.key = &verifyKey{}
						rec.exp = at + rng.Int64N(300)
						rec.nbf = math.MinInt64
						if rng.IntN(5) == 0 {
							rec.nbf = at + rng.Int64N(10)
						}
						c.putUntil(rec.token, &Claims{Subject: rec.token, ID: strconv.Itoa(gen)}, rec.key, rec.exp, rec.nbf, at)
						list, err := s.held()
						if err != nil {
							t.Errorf("round %d, shard %d: %v", round, w, err)
							return
						}
						after := entrySet(list)
						for e := range held {
							if !after[e] {
								gen, _ := strconv.Atoi(e.claims.ID)
								recs[gen].removedSeen.Store(seq.Add(1))
							}
						}
						held = after
					case r < 8:
						for e := range held {
							e.key.removed.Store(true)
							gen, _ := strconv.Atoi(e.claims.ID)
							recs[gen].dropped.Store(seq.Add(1))
							break
						}
					default:
						now.Add(rng.Int64N(10))
					}
				}
			})
		}
		wg.Wait()
		done.Store(true)
		rwg.Wait()
		var entries int
		var bytes int64
		for i := range c.shards {
			list, err := c.shards[i].held()
			if err != nil {
				t.Fatalf("round %d, shard %d: %v", round, i, err)
			}
			entries += len(list)
			for _, e := range list {
				bytes += e.size
			}
			if len(c.shards[i].table.Load().slots) > minSlots {
				grown++
			}
		}
		if n, b := c.size(); n != entries || b != bytes {
			t.Fatalf("round %d: size says %d entries and %d bytes, the tables hold %d and %d", round, n, b, entries, bytes)
		}
		if c.evictions.Load() == 0 {
			t.Fatalf("round %d: nothing evicted", round)
		}
	}
	t.Logf("%d hits, %d misses, %d tables grown", hits.Load(), misses.Load(), grown)
	if hits.Load() == 0 || grown == 0 {
		t.Fatal("no lookup hit, or no table grew: the test does not exercise them")
	}
}

// TestCacheGrowthEmptiesOldTable: a lookup that loaded a shard's table
// just before it grew reads the old one; the old one must be emptied as
// the new one is published, so that no entry removed later is found
// there.
func TestCacheGrowthEmptiesOldTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	c := newTokenCache(cacheShards*100, cacheShards*1<<20)
	s := &c.shards[0]
	toks := clusteredTokens(rng, c, 0, 60)
	old := s.table.Load()
	for _, tok := range toks {
		c.putUntil(tok, &Claims{Subject: tok}, nil, math.MaxInt64, math.MinInt64, 0)
		if s.table.Load() != old {
			break
		}
	}
	if s.table.Load() == old {
		t.Fatal("the table did not grow")
	}
	for i := range old.slots {
		if old.slots[i].Load() != nil {
			t.Fatalf("slot %d of the old table still holds an entry", i)
		}
	}
	if _, err := s.held(); err != nil {
		t.Fatal(err)
	}
	for _, e := range c.all() {
		if got, _ := c.get(e.token, 0); got != e.claims {
			t.Fatal("an entry moved to the new table is not found")
		}
	}
}
