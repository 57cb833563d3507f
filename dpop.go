package grpcjwt

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
	"github.com/grpcjwt/grpcjwt/internal/jose"
	"google.golang.org/grpc/metadata"
)

// DPoPConfig enables DPoP-bound access tokens (RFC 9449) under grpcjwt's
// gRPC profile (docs/sender-constrained.md): the call sends
// "authorization: DPoP <token>" and one "dpop" metadata value, a proof
// signed by the key the token is bound to (cnf jkt), with htm "POST" and
// htu the call's URL: "https://" (or "http://" on a plaintext connection)
// + the :authority + the full method.
type DPoPConfig struct {
	// Algorithms are the proof signature algorithms accepted; default
	// [DefaultAlgorithms].
	Algorithms []string

	// ProofLifetime (L) is how far a proof's iat may be from now: a proof
	// is accepted from L before its iat until L after it, and its jti is
	// remembered until then, no longer. Default [DefaultDPoPProofLifetime].
	ProofLifetime time.Duration

	// ReplayCache remembers accepted proofs; default an in-memory cache
	// ([NewMemoryReplayCache] with its defaults, on the clock of
	// [Config.Now]), whose bounds set how many proofs a second a key and
	// the server can take. Replicas behind one load balancer should share
	// one.
	ReplayCache ReplayCache
}

// DefaultDPoPProofLifetime is the default [DPoPConfig.ProofLifetime].
const DefaultDPoPProofLifetime = time.Minute

// maxProofSize bounds a DPoP proof, before any parsing.
const maxProofSize = 8 << 10

// dpopVerifier checks DPoP proofs.
type dpopVerifier struct {
	algs     map[string]*jose.Algorithm
	algNames string // the accepted algorithms, space-separated, for challenges
	lifetime time.Duration
	replay   ReplayCache
	now      func() time.Time
}

func newDPoPVerifier(c *DPoPConfig, now func() time.Time) (*dpopVerifier, error) {
	d := &dpopVerifier{algs: make(map[string]*jose.Algorithm), lifetime: c.ProofLifetime, replay: c.ReplayCache, now: now}
	algs := c.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms()
	}
	for _, a := range algs {
		alg := jose.Lookup(a)
		if alg == nil {
			return nil, fmt.Errorf("grpcjwt: WithDPoP: Algorithms: %q is not an allowed signature algorithm", a)
		}
		d.algs[a] = alg
	}
	d.algNames = strings.Join(algs, " ")
	if d.lifetime <= 0 {
		d.lifetime = DefaultDPoPProofLifetime
	}
	if d.replay == nil {
		d.replay = newMemoryReplayCache(0, 0, 0, now)
	}
	return d, nil
}

func proofErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidDPoPProof}, args...)...)
}

// dpopProof is what a verified proof leaves to record: the thumbprint of
// its key, its jti, and its expiry, the instant from which its iat refuses
// it, until which it must be remembered.
type dpopProof struct {
	replay   ReplayCache
	now      func() time.Time
	jkt, jti string
	expiry   time.Time
}

// verify checks the call's DPoP proof for token, whose claims are c, and
// records nothing: it returns the proof, for [dpopProof.record] to record
// once every other check of the call has passed, so that a call refused
// for any reason leaves nothing in the replay cache. The checks run
// cheapest first, so that no junk costs a signature check:
//
//  1. the token is bound to a DPoP key (cnf jkt);
//  2. exactly one dpop metadata value, at most 8 KiB, a compact JWS;
//  3. header, by exact names: typ dpop+jwt, alg one of the accepted ones,
//     a jwk; no crit, b64, zip, enc, jku, x5u, x5c or kid;
//  4. the jwk: a public key under the rules of JWKS keys (RSA of 2048 to
//     8192 bits, known curves, no private members), its RFC 7638
//     thumbprint equal to cnf jkt, its type and curve fitting alg;
//  5. claims, by exact names: jti of 1 to 256 bytes, htm POST, htu the
//     call's URL, iat within the proof lifetime L of now (now before
//     iat+L, the proof's expiry, and iat at most L ahead), ath the hash
//     of token;
//  6. signature.
func (d *dpopVerifier) verify(vals []string, wantHTM, wantHTU, token string, c *Claims) (*dpopProof, error) {
	if c.Confirmation.JKT == "" {
		return nil, tokenErr(ErrTokenMalformed, "a DPoP scheme with a token bound to no DPoP key")
	}
	if len(vals) != 1 {
		return nil, proofErr("%d dpop metadata values, want exactly one", len(vals))
	}
	proof := vals[0]
	if len(proof) > maxProofSize {
		return nil, proofErr("proof of %d bytes", len(proof))
	}
	h, p, sig, input, err := splitJWS(proof)
	if err != nil {
		return nil, proofErr("%v", err)
	}

	var typ, algName string
	var jwkRaw []byte
	err = exactjson.Object(h, func(name, value []byte) error {
		var ok bool
		switch string(name) {
		case "typ":
			typ, ok = exactjson.String(value)
		case "alg":
			algName, ok = exactjson.String(value)
		case "jwk":
			jwkRaw, ok = value, value[0] == '{'
		case "crit", "b64", "zip", "enc", "jku", "x5u", "x5c", "kid":
			return fmt.Errorf("header member %q is not accepted in a proof", name)
		default:
			return nil
		}
		if !ok {
			return fmt.Errorf("header member %q has the wrong type", name)
		}
		return nil
	})
	if err != nil {
		return nil, proofErr("header: %v", err)
	}
	if !strings.EqualFold(typ, "dpop+jwt") {
		return nil, proofErr("typ %q", truncate(typ))
	}
	alg := d.algs[algName]
	if alg == nil {
		return nil, proofErr("alg %q", truncate(algName))
	}
	if jwkRaw == nil {
		return nil, proofErr("no jwk in the header")
	}

	key, members, err := jwkKey(jwkRaw)
	if err != nil {
		return nil, proofErr("jwk: %v", err)
	}
	thumb := members.thumbprint()
	if thumb != c.Confirmation.JKT {
		return nil, tokenErr(ErrDPoPKeyMismatch, "the proof's key is not the one the token is bound to")
	}
	if !key.fits(alg) {
		return nil, proofErr("the jwk does not fit alg %s", alg.Name)
	}

	var jti, htm, htu, ath string
	var iat float64
	var hasIat bool
	err = exactjson.Object(p, func(name, value []byte) error {
		var ok bool
		switch string(name) {
		case "jti":
			jti, ok = exactjson.String(value)
		case "htm":
			htm, ok = exactjson.String(value)
		case "htu":
			htu, ok = exactjson.String(value)
		case "ath":
			ath, ok = exactjson.String(value)
		case "iat":
			iat, ok = exactjson.Number(value)
			hasIat = ok
		default:
			return nil
		}
		if !ok {
			return fmt.Errorf("claim %q has the wrong type", name)
		}
		return nil
	})
	if err != nil {
		return nil, proofErr("claims: %v", err)
	}
	now := d.now()
	switch {
	case jti == "" || len(jti) > 256:
		return nil, proofErr("jti missing or over 256 bytes")
	case htm != wantHTM:
		return nil, proofErr("htm %q, want %q", truncate(htm), wantHTM)
	case htu != wantHTU || wantHTU == "":
		return nil, proofErr("htu %q, want %q", truncate(htu), truncate(wantHTU))
	case !hasIat:
		return nil, proofErr("no iat")
	}
	issued := time.Unix(0, int64(iat*1e9))
	expiry := issued.Add(d.lifetime)
	switch {
	case !now.Before(expiry):
		return nil, proofErr("iat %s: the proof expired %s after it", issued.UTC().Format(time.RFC3339), d.lifetime)
	case issued.After(now.Add(d.lifetime)):
		return nil, proofErr("iat %s is more than %s ahead of now", issued.UTC().Format(time.RFC3339), d.lifetime)
	}
	sum := sha256.Sum256([]byte(token))
	if ath != base64.RawURLEncoding.EncodeToString(sum[:]) {
		return nil, proofErr("ath is not the hash of the access token")
	}

	if err := verifySignature(key.pub, alg, []byte(input), sig); err != nil {
		return nil, proofErr("bad signature")
	}
	return &dpopProof{replay: d.replay, now: d.now, jkt: thumb, jti: jti, expiry: expiry}, nil
}

// record remembers the proof in the replay cache until its expiry, and
// refuses it when the cache had it already (a replay) or cannot keep it:
// full, the key over its share, or unreachable (fail closed). A nil p, a
// call without a proof, records nothing.
//
// It also refuses a proof that expired after verify let it in, while the
// call's other checks ran: a cache records nothing for an expiry already
// past, so that two such calls with one proof could otherwise both pass.
// The clock is read after Seen, which read it before: when it is still
// before the expiry here, it was in Seen, and the proof is remembered.
func (p *dpopProof) record(ctx context.Context) error {
	if p == nil {
		return nil
	}
	seen, err := p.replay.Seen(ctx, p.jkt, p.jti, p.expiry)
	if err != nil {
		return proofErr("replay cache: %v", err)
	}
	if seen {
		return proofErr("jti %q was used before", truncate(p.jti))
	}
	if !p.now().Before(p.expiry) {
		return proofErr("the proof expired at %s, during the call's checks", p.expiry.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// splitJWS decodes a compact JWS whose parts hold only base64url bytes.
func splitJWS(s string) (header, payload, sig []byte, input string, err error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[2] == "" {
		return nil, nil, nil, "", errors.New("not a compact JWS of three parts")
	}
	for i, part := range parts {
		if !isBase64URL(part) {
			return nil, nil, nil, "", errors.New("a byte outside the base64url alphabet")
		}
		b, err := b64.DecodeString(part)
		if err != nil {
			return nil, nil, nil, "", errors.New("not base64url")
		}
		switch i {
		case 0:
			header = b
		case 1:
			payload = b
		default:
			sig = b
		}
	}
	return header, payload, sig, s[:len(parts[0])+1+len(parts[1])], nil
}

// callURL is a call's htu under grpcjwt's DPoP profile: the scheme of the
// connection (https with TLS, http without), the :authority the client
// sent, and the full method.
func callURL(ctx context.Context, fullMethod string) string {
	scheme := "http://"
	if tlsConnection(ctx) {
		scheme = "https://"
	}
	authority := ""
	if v := metadata.ValueFromIncomingContext(ctx, ":authority"); len(v) == 1 {
		authority = v[0]
	}
	return htuOf(scheme, authority, fullMethod)
}

// htuOf builds an htu: scheme, the authority without the scheme's default
// port, the full method.
func htuOf(scheme, authority, fullMethod string) string {
	switch {
	case scheme == "https://":
		authority = strings.TrimSuffix(authority, ":443")
	case scheme == "http://":
		authority = strings.TrimSuffix(authority, ":80")
	}
	return scheme + authority + fullMethod
}
