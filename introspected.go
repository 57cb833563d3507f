package grpcjwt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
	"google.golang.org/grpc"
)

// How the Validator verifies a token by introspection: an opaque token at
// Config.OpaqueTokenIssuer, and a verified JWT on a method that checks
// revocation; the cache of the answers; reading an answer into Claims.

// isCompactJWS reports whether token has the shape of a compact JWS: three
// parts, two dots. Anything else is, to a Validator with an opaque-token
// issuer, an opaque token.
func isCompactJWS(token string) bool { return strings.Count(token, ".") == 2 }

// validateOpaque verifies token, which is not a compact JWS, at the
// opaque-token issuer. start is when Validate started, for the observer.
func (v *Validator) validateOpaque(ctx context.Context, token string, now, start time.Time) (*Claims, error) {
	t := v.opaque
	c, hit, err := v.introspect(ctx, t, token, now, IntrospectOpaque)
	if err == errKeyNotAtHand {
		return nil, err // the tap handle's: the interceptors validate the token again, and that is observed
	}
	if v.observer != nil {
		v.observer.ObserveValidation(ctx, Validation{Issuer: t.name, CacheHit: hit, Opaque: true, Duration: time.Since(start), Timed: true, Cause: CauseOf(err)})
	}
	if err != nil {
		v.logRejected(ctx, err)
		return nil, err
	}
	return c, nil
}

// logRejected logs a refused token's cause at Debug.
func (v *Validator) logRejected(ctx context.Context, err error) {
	if v.log.Enabled(ctx, slog.LevelDebug) {
		method, _ := grpc.Method(ctx)
		v.log.DebugContext(ctx, "grpcjwt: token rejected", "method", truncateTo(method, maxMethodName), "error", err)
	}
}

// introspect verifies token at t's introspection endpoint, or by the cache
// of its answers, and reports whether the outcome came from the cache. An
// opaque token's shape is checked first (its length) and before any
// request (its characters: a cached token had them). In the tap handle
// (mustNotWait), a token the cache does not know is errKeyNotAtHand: the
// interceptors will make the request.
func (v *Validator) introspect(ctx context.Context, t *trustedIssuer, token string, now time.Time, reason IntrospectionReason) (*Claims, bool, error) {
	opaque := reason == IntrospectOpaque
	if opaque && len(token) < t.introspect.minLen {
		return nil, false, tokenErr(ErrTokenMalformed, fmt.Sprintf("opaque token of %d bytes, shorter than %d", len(token), t.introspect.minLen))
	}
	sum := v.digest(token)
	if v.icache != nil {
		// string(sum[:]) is on the stack: 16 bytes, kept by no one.
		if c, _ := v.icache.get(string(sum[:]), v.cacheTime(now, now)); c != nil {
			return c, true, nil
		}
	}
	if v.refusals != nil {
		if err := v.refusals.get(&sum, now.UnixNano()); err != nil {
			return nil, true, err
		}
	}
	if opaque && !isB64Token(token) {
		return nil, false, tokenErr(ErrTokenMalformed, "opaque token is not an RFC 6750 b64token")
	}
	if mustNotWait(ctx) {
		return nil, false, errKeyNotAtHand
	}
	c, err := v.introspectShared(ctx, t, token, sum, reason)
	return c, false, err
}

// introspectShared makes or joins the request for token, whose digest is
// sum. (A function apart, so that sum stays on introspect's stack on a
// cache hit: the closure here takes it to the heap.)
func (v *Validator) introspectShared(ctx context.Context, t *trustedIssuer, token string, sum tokenDigest, reason IntrospectionReason) (*Claims, error) {
	return t.introspect.share(ctx, sum, func(ctx context.Context) (*Claims, error) {
		return v.introspectNow(ctx, t, token, &sum, reason)
	})
}

// introspectNow asks t's endpoint about token, whose digest is sum,
// reads the answer, and caches the outcome: an accepted token until the
// earlier of its exp and the issuer's CacheTTL; one refused for a reason
// of its own for the NegativeCacheTTL. An unavailable endpoint is never
// cached.
func (v *Validator) introspectNow(ctx context.Context, t *trustedIssuer, token string, sum *tokenDigest, reason IntrospectionReason) (c *Claims, err error) {
	in := t.introspect
	var active bool
	if in.observer != nil {
		start := time.Now()
		var done func(IntrospectionResult)
		ctx, done = in.observer.StartIntrospection(ctx, IntrospectionRequest{Issuer: t.name, Reason: reason})
		defer func() { done(IntrospectionResult{Err: err, Active: active, Duration: time.Since(start)}) }()
	}
	a, err := in.request(ctx, token)
	if err != nil {
		return nil, err
	}
	now := v.now()
	c, active, err = v.readAnswer(ctx, t, &a, now)
	switch {
	case err == nil && in.ttl > 0 && v.icache != nil:
		until := min(v.cacheTime(c.ExpiresAt, now), v.cacheTime(now.Add(in.ttl), now))
		v.icache.putUntil(string(sum[:]), c, nil, until, v.cacheNotBefore(c, now), v.cacheTime(now, now))
	case errors.Is(err, ErrInvalidToken) && in.negTTL > 0 && v.refusals != nil:
		v.refusals.put(sum, err, now.Add(in.negTTL).UnixNano(), now.UnixNano())
	}
	return c, err
}

// errAnswer marks a member of an introspection answer of the wrong type.
var errAnswer = errors.New("introspection answer")

// readIntrospection reads the answer of t's introspection endpoint, a
// JSON object, into claims checked as a JWT's are (see
// [IntrospectionConfig]), and reports whether it said "active": true. An
// answer that is not a JSON object is the endpoint's failure
// ([ErrIntrospectionUnavailable]); one that is, but refuses the token or
// fails a check, is the token's ([ErrInvalidToken]).
func (v *Validator) readIntrospection(t *trustedIssuer, body []byte, now time.Time) (*Claims, bool, error) {
	var active, hasActive bool
	var tokenType, tokenUse string
	err := exactjson.Object(body, func(name, value []byte) error {
		var ok bool
		switch string(name) {
		case "active":
			active, ok = string(value) == "true", string(value) == "true" || string(value) == "false"
			hasActive = true
		case "token_type":
			tokenType, ok = exactjson.String(value)
		case "token_use":
			tokenUse, ok = exactjson.String(value)
		default:
			return nil
		}
		if !ok {
			return fmt.Errorf("%w: member %q has the wrong type", errAnswer, name)
		}
		return nil
	})
	switch {
	case errors.Is(err, exactjson.ErrDuplicate):
		return nil, false, tokenErr(ErrDuplicateMember, "introspection answer: "+err.Error())
	case errors.Is(err, errAnswer):
		return nil, false, tokenErr(ErrTokenMalformed, err.Error())
	case err != nil:
		return nil, false, unavailable(t.name, "the answer is not a JSON object: %v", err)
	case !hasActive:
		return nil, false, tokenErr(ErrTokenMalformed, `introspection answer without "active"`)
	case !active:
		return nil, false, tokenErr(ErrTokenInactive, "")
	case tokenType != "" && !strings.EqualFold(tokenType, "Bearer") && !strings.EqualFold(tokenType, "DPoP"):
		return nil, true, tokenErr(ErrTokenMalformed, fmt.Sprintf("introspection answer: token_type %q is not an access token's", truncate(tokenType)))
	case tokenUse != "" && tokenUse != "access_token":
		return nil, true, tokenErr(ErrTokenMalformed, fmt.Sprintf("introspection answer: token_use %q is not access_token", truncate(tokenUse)))
	}
	p := picks{names: v.picks}
	c, has, err := parsePayload(bytes.Clone(body), &p)
	if err != nil {
		return nil, true, tokenErr(ErrTokenMalformed, "introspection answer: "+err.Error())
	}
	if strings.EqualFold(tokenType, "DPoP") && c.Confirmation.JKT == "" {
		return nil, true, tokenErr(ErrTokenMalformed, `introspection answer: token_type DPoP without cnf.jkt`)
	}
	if has&hasIss == 0 {
		c.Issuer = t.name // the endpoint is the issuer's: it speaks for it
	} else if c.Issuer != t.name {
		return nil, true, tokenErr(ErrUntrustedIssuer, fmt.Sprintf("introspection answer of issuer %q names iss %q", t.name, truncate(c.Issuer)))
	}
	aud, err := v.checkClaims(t, c, has, now)
	if err != nil {
		return nil, true, err
	}
	if err := t.completeClaims(c, aud, &p); err != nil {
		return nil, true, err
	}
	c.introspected = true
	return c, true, nil
}
