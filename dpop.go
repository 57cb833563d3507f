package grpcjwt

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
	"github.com/grpcjwt/grpcjwt/internal/jose"
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

	// Nonce, when set, makes every proof carry a nonce the server issued
	// (RFC 9449 §9), checked once the proof's signature and every other
	// claim have passed, before its jti reaches the replay cache; see
	// [DPoPNonceConfig]. Without it, a proof's nonce claim is ignored.
	Nonce *DPoPNonceConfig
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
	nonces   *dpopNonces // nil: nonces off
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
	if c.Nonce != nil {
		n, err := newDPoPNonces(c.Nonce, now)
		if err != nil {
			return nil, err
		}
		d.nonces = n
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

// parsedProof is a DPoP proof read but not yet verified: its parts
// decoded, its header checked and its key made.
type parsedProof struct {
	jws     jose.JWS
	alg     *jose.Algorithm
	key     *verifyKey
	jwk     *jwkMembers
	payload []byte // the claims, not yet read
	sig     []byte
}

// parse reads the call's one proof (step 1 of [dpopVerifier.verify]).
func (d *dpopVerifier) parse(vals []string) (parsedProof, error) {
	var p parsedProof
	if len(vals) != 1 {
		return p, proofErr("%d dpop metadata values, want exactly one", len(vals))
	}
	proof := vals[0]
	if len(proof) > maxProofSize {
		return p, proofErr("proof of %d bytes", len(proof))
	}
	var err error
	if p.jws, err = jose.Split(proof); err != nil {
		return p, proofErr("%v", err)
	}
	h, err := p.jws.Header(&proofHeader)
	if err == nil {
		p.payload, err = p.jws.Payload()
	}
	if err == nil {
		p.sig, err = p.jws.Signature()
	}
	if err != nil {
		return p, proofErr("%v", err)
	}
	if !proofTypes.Accept(&h) {
		return p, proofErr("typ %q", truncate(h.Typ))
	}
	if p.alg = d.algs[h.Alg]; p.alg == nil {
		return p, proofErr("alg %q", truncate(h.Alg))
	}
	if p.key, p.jwk, err = jwkKey(h.JWK); err != nil {
		return p, proofErr("jwk: %v", err)
	}
	return p, nil
}

// verify checks that the proof is signed by the key the token is bound to,
// whose thumbprint is jkt, and returns that thumbprint (step 2 of
// [dpopVerifier.verify]).
func (p *parsedProof) verify(jkt string) (string, error) {
	thumb := p.jwk.thumbprint()
	if thumb != jkt {
		return "", tokenErr(ErrDPoPKeyMismatch, "the proof's key is not the one the token is bound to")
	}
	if !p.key.fits(p.alg) {
		return "", proofErr("the jwk does not fit alg %s", p.alg.Name)
	}
	if err := p.alg.Verify(p.key.pub, []byte(p.jws.SigningInput()), p.sig); err != nil {
		return "", proofErr("bad signature")
	}
	return thumb, nil
}

// checkClaims reads a proof's claims by their exact names and checks them
// against the call (step 3 of [dpopVerifier.verify]). It returns the
// proof's jti, when it was issued, and its nonce, unchecked (empty when it
// has none; a slice of payload).
func (d *dpopVerifier) checkClaims(payload []byte, wantHTM, wantHTU, token string) (jti string, issued time.Time, nonce []byte, err error) {
	var htm, htu, ath string
	var iat float64
	var hasIat bool
	err = exactjson.Object(payload, func(name, value []byte) error {
		var ok bool
		switch string(name) {
		case "jti":
			jti, ok = exactjson.String(value)
		case "nonce":
			// Not copied: the value is payload's, which nothing reuses.
			nonce, ok = exactjson.StringBytes(value)
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
		return "", issued, nil, proofErr("claims: %v", err)
	}
	now := d.now()
	switch {
	case jti == "" || len(jti) > 256:
		return "", issued, nil, proofErr("jti missing or over 256 bytes")
	case htm != wantHTM:
		return "", issued, nil, proofErr("htm %q, want %q", truncate(htm), wantHTM)
	case htu != wantHTU || wantHTU == "":
		return "", issued, nil, proofErr("htu %q, want %q", truncate(htu), truncate(wantHTU))
	case !hasIat:
		return "", issued, nil, proofErr("no iat")
	}
	issued = time.Unix(0, int64(iat*1e9))
	switch {
	case !now.Before(issued.Add(d.lifetime)):
		return "", issued, nil, proofErr("iat %s: the proof expired %s after it", issued.UTC().Format(time.RFC3339), d.lifetime)
	case issued.After(now.Add(d.lifetime)):
		return "", issued, nil, proofErr("iat %s is more than %s ahead of now", issued.UTC().Format(time.RFC3339), d.lifetime)
	}
	sum := sha256.Sum256([]byte(token))
	if ath != base64.RawURLEncoding.EncodeToString(sum[:]) {
		return "", issued, nil, proofErr("ath is not the hash of the access token")
	}
	return jti, issued, nonce, nil
}

// verify checks the call's DPoP proof for token, whose claims are c, and
// records nothing: it returns the proof, for [dpopProof.record] to record
// once every other check of the call has passed, so that a call refused
// for any reason leaves nothing in the replay cache. Of a token bound to
// a DPoP key (cnf jkt), it takes three steps:
//
//  1. parse: exactly one dpop metadata value, at most 8 KiB, a compact JWS
//     (three base64url parts) whose header, read by exact names, is a
//     proof's ([proofHeader]): typ dpop+jwt, alg one of the accepted ones,
//     a jwk; no crit, b64, zip, enc, jku, x5u, x5c or kid; the jwk a public
//     key under the rules of JWKS keys (RSA of 2048 to 8192 bits, known
//     curves, no private members);
//  2. verify: the jwk's RFC 7638 thumbprint is cnf jkt, its type and
//     curve fit alg, and the signature verifies with it;
//  3. check the claims, read by exact names: jti of 1 to 256 bytes, htm
//     and htu the call's, iat within the proof lifetime of now, ath the
//     hash of token;
//  4. with nonces on ([DPoPConfig.Nonce]), check the nonce: one the server
//     issued, unexpired ([dpopNonces.check]), or the refusal is
//     [ErrUseDPoPNonce], to which a client answers with a new proof that
//     carries the nonce the refusal does ([Policy.DPoPNonce]).
//
// What bounds a proof's cost (its size, its key's size, its key being the
// token's) is checked before the signature: a proof of another key, or of
// an oversized one, costs no signature check. The nonce is checked last: it
// is a claim, whose value means nothing until the signature has verified,
// and use_dpop_nonce then tells the client that its proof is right in all
// else.
func (d *dpopVerifier) verify(vals []string, wantHTM, wantHTU, token string, c *Claims) (*dpopProof, error) {
	if c.Confirmation.JKT == "" {
		return nil, tokenErr(ErrTokenMalformed, "a DPoP scheme with a token bound to no DPoP key")
	}
	p, err := d.parse(vals)
	if err != nil {
		return nil, err
	}
	thumb, err := p.verify(c.Confirmation.JKT)
	if err != nil {
		return nil, err
	}
	jti, issued, nonce, err := d.checkClaims(p.payload, wantHTM, wantHTU, token)
	if err != nil {
		return nil, err
	}
	if d.nonces != nil {
		if err := d.nonces.check(nonce); err != nil {
			return nil, err
		}
	}
	return &dpopProof{replay: d.replay, now: d.now, jkt: thumb, jti: jti, expiry: issued.Add(d.lifetime)}, nil
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
