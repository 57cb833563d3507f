package grpcjwt

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/jose"
)

// JWT-secured introspection answers (RFC 9701): when to ask for them, and
// how one is verified with the issuer's keys before its
// token_introspection is read as a plain answer is.

// SignedResponses is whether a resource server asks an introspection
// endpoint for answers signed with the issuer's keys (RFC 9701), in
// [IntrospectionConfig.SignedResponses].
//
// When it asks, the request says "Accept: application/token-introspection+jwt",
// and the answer must be such a JWT, checked cheapest first:
//
//  1. Content-Type application/token-introspection+jwt; a compact JWS (an
//     encrypted answer, a JWE, is not supported);
//  2. header: typ token-introspection+jwt (compared as an access token's
//     typ is: ignoring case, "application/" optional), so that an access
//     token cannot pass for an answer; alg one of the issuer's
//     [IssuerConfig.Algorithms] (never none or HS*); crit, b64 and zip
//     refused; jwk, jku, x5u and x5c never read;
//  3. claims, by exact names, duplicates refused: iss exactly the issuer's
//     name; aud naming this resource server, its ClientID (as
//     node-oidc-provider writes it) or one of the issuer's exact audiences
//     (as RFC 9701's example does); iat present, no earlier than the
//     second the request was sent and no later than now (both with
//     [Config.Leeway]), so that an old answer cannot be replayed; exp and
//     nbf, when present, respected; token_introspection a JSON object;
//  4. key: by kid from the issuer's JWKS, the keys its tokens are verified
//     with; an unknown kid may refresh them as a token's does;
//  5. signature.
//
// Then token_introspection is read and checked as a plain answer is (see
// [IntrospectionConfig]), and [Claims.Raw] is it.
//
// An answer that fails steps 1 to 5, a plain JSON answer included, says
// nothing about the token: whether a man in the middle stripped or forged
// the signature or the provider does not sign for this client, the token
// may be good. It refuses the call as an endpoint that cannot answer does:
// Unavailable "temporarily_unavailable" ([ErrIntrospectionUnavailable]),
// retryable and never cached, its cause in the error for the server's
// logs. Never invalid_token, which would make clients drop good tokens,
// and which, cached, would let whoever altered one answer keep a good
// token out. What a verified token_introspection says is the issuer's word
// on the token, as in a plain answer: "active": false, or a claim that
// fails a check, is invalid_token.
type SignedResponses string

// The values of [IntrospectionConfig.SignedResponses].
const (
	// SignedResponsesIfOffered, the default, asks for signed answers when
	// the issuer's discovery document lists
	// introspection_signing_alg_values_supported (RFC 9701 §7) and names
	// as introspection_endpoint the endpoint in use (the document speaks
	// for its own endpoint, not for a configured one elsewhere), as read
	// at startup and at each key refresh; then no other answer is
	// accepted. Discovery and the keys come from the same document: a
	// party that could remove the list from it could replace the keys
	// too. Without discovery ([IssuerConfig.JWKSURL]) it never asks.
	SignedResponsesIfOffered SignedResponses = ""
	// SignedResponsesRequired always asks for signed answers, and accepts
	// no other, whatever discovery says.
	SignedResponsesRequired SignedResponses = "required"
	// SignedResponsesOff never asks for signed answers, and reads plain
	// JSON: for a provider that lists the algorithms but answers this
	// client in plain JSON.
	SignedResponsesOff SignedResponses = "off"
)

// introspectionJWT is the media type of a signed answer: asked for in
// Accept, required as its Content-Type (RFC 9701 §4, §5).
const introspectionJWT = "application/token-introspection+jwt"

// check refuses a value that is not one of the constants.
func (s SignedResponses) check() error {
	switch s {
	case SignedResponsesIfOffered, SignedResponsesRequired, SignedResponsesOff:
		return nil
	}
	return fmt.Errorf("SignedResponses %q is not one of %q, %q and %q", truncate(string(s)), SignedResponsesIfOffered, SignedResponsesRequired, SignedResponsesOff)
}

// asksSigned reports whether the next request asks for a signed answer.
func (in *introspector) asksSigned() bool {
	switch in.signed {
	case SignedResponsesRequired:
		return true
	case SignedResponsesOff:
		return false
	}
	return in.offered.Load()
}

// readAnswer reads a, an answer of t's introspection endpoint, as
// [Validator.readIntrospection] does; a signed one is verified first (see
// [SignedResponses]), and its token_introspection read.
func (v *Validator) readAnswer(ctx context.Context, t *trustedIssuer, a *introspectionAnswer, now time.Time) (*Claims, bool, error) {
	if !a.signed {
		return v.readIntrospection(t, a.body, now)
	}
	inner, err := v.verifyAnswer(ctx, t, a, now)
	if err != nil {
		// A defect of the answer, not of the token: the checks it shares
		// with tokens say "invalid_token", which it is not.
		return nil, false, unavailable(t.name, "signed answer (RFC 9701): %s", strings.TrimPrefix(err.Error(), CodeInvalidToken+": "))
	}
	return v.readIntrospection(t, inner, now)
}

// tokenIntrospectionPath is the member of a signed answer that holds the
// plain answer.
var tokenIntrospectionPath = []string{"token_introspection"}

// verifyAnswer verifies a, a signed answer of t's introspection endpoint,
// by the steps of [SignedResponses], and returns its token_introspection.
// Its errors name the defect, never the answer's bytes.
func (v *Validator) verifyAnswer(ctx context.Context, t *trustedIssuer, a *introspectionAnswer, now time.Time) ([]byte, error) {
	// 1. Shape.
	mt, _, err := mime.ParseMediaType(a.contentType)
	switch {
	case mt == "application/json":
		return nil, errors.New("a plain JSON answer, where a signed one was asked for")
	case err != nil || mt != introspectionJWT:
		return nil, fmt.Errorf("Content-Type %q, not %s", truncate(a.contentType), introspectionJWT)
	}
	body := string(a.body)
	if strings.Count(body, ".") == 4 {
		return nil, errors.New("an encrypted answer (JWE), which grpcjwt does not decrypt")
	}
	jws, err := jose.Split(body)
	if err != nil {
		return nil, err
	}

	// 2. Header.
	h, err := jws.Header(&answerHeader)
	if err != nil {
		return nil, err
	}
	alg, err := t.checkHeader(&h, &answerTypes)
	if err != nil {
		return nil, err
	}

	// 3. Claims, unverified: only to refuse early.
	raw, err := jws.Payload()
	if err != nil {
		return nil, err
	}
	c, has, err := parsePayload(raw, nil)
	if err != nil {
		return nil, err
	}
	if err := v.checkAnswerClaims(t, c, has, a.sent, now); err != nil {
		return nil, err
	}
	inner := lookupPath(raw, tokenIntrospectionPath)
	switch {
	case inner == nil || string(inner) == "null":
		return nil, errors.New("no token_introspection")
	case inner[0] != '{':
		return nil, errors.New("token_introspection is not a JSON object")
	}

	// 4. Key.
	sig, err := jws.Signature()
	if err != nil {
		return nil, err
	}
	key, err := t.keys.key(ctx, now, h.Kid, alg)
	if err != nil {
		return nil, err
	}

	// 5. Signature.
	if err := alg.Verify(key.pub, []byte(jws.SigningInput()), sig); err != nil {
		return nil, fmt.Errorf("bad signature: kid %q alg %s", truncate(h.Kid), h.Alg)
	}
	return inner, nil
}

// checkAnswerClaims checks the claims of a signed answer of t's endpoint
// to a request sent at sent (step 3 of [SignedResponses]).
func (v *Validator) checkAnswerClaims(t *trustedIssuer, c *Claims, has present, sent, now time.Time) error {
	switch {
	case has&hasIss == 0:
		return errors.New("no iss")
	case c.Issuer != t.name:
		return fmt.Errorf("iss %q, not the issuer's", truncate(c.Issuer))
	case !t.isAnswerAudience(c.Audience):
		return fmt.Errorf("aud %q names neither ClientID %q nor an audience of the issuer", truncate(strings.Join(c.Audience, " ")), t.introspect.auth.id)
	case has&hasIat == 0:
		return errors.New("no iat")
	case c.IssuedAt.After(now.Add(v.leeway)):
		return fmt.Errorf("iat %s is ahead of now %s, leeway %s", c.IssuedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.leeway)
	case c.IssuedAt.Before(sent.Truncate(time.Second).Add(-v.leeway)): // an iat of whole seconds may precede sent
		return fmt.Errorf("iat %s is before the request, sent %s, leeway %s: a stale answer", c.IssuedAt.UTC().Format(time.RFC3339), sent.UTC().Format(time.RFC3339), v.leeway)
	}
	exp := now // an absent exp sets no limit
	if has&hasExp != 0 {
		exp = c.ExpiresAt
	}
	return v.checkTimes(now, exp, c.NotBefore)
}

// isAnswerAudience reports whether aud, of a signed answer of t's
// endpoint, names the resource server that asked: its client ID there, or
// one of t's exact audiences.
func (t *trustedIssuer) isAnswerAudience(aud []string) bool {
	if id := t.introspect.auth.id; id != "" && slices.Contains(aud, id) {
		return true
	}
	for _, a := range aud {
		if slices.Contains(t.audiences, a) {
			return true
		}
	}
	return false
}
