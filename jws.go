package grpcjwt

import (
	"errors"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
	"github.com/grpcjwt/grpcjwt/internal/jose"
)

// grpcjwt reads three kinds of compact JWS, access tokens, DPoP proofs and
// signed introspection answers, with one reader (internal/jose): the same
// split, the same base64url checks, the same exact header. They differ
// only in what their headers may hold, declared here.
var (
	// accessTokenHeader: a kid, to find the key in the issuer's JWKS, and a
	// typ, checked against the issuer's types once the token is routed.
	// jwk, jku, x5u and x5c are never read: keys come from the issuer's
	// JWKS alone.
	accessTokenHeader = jose.Profile{Kid: jose.Allow}
	// jwtTypes are the typ values of an issuer's access tokens: absent,
	// JWT or at+jwt, with or without "application/".
	jwtTypes = jose.Types{Values: []string{"at+jwt", "application/at+jwt", "JWT", "application/JWT"}, Optional: true}
	// atJWTTypes are those of an issuer that requires RFC 9068 access
	// tokens ([Config.RequireATJWT]).
	atJWTTypes = jose.Types{Values: []string{"at+jwt", "application/at+jwt"}}

	// proofHeader: a jwk, the public key the proof is signed with (RFC 9449
	// §4.2); neither a kid nor a key by reference (jku, x5u, x5c).
	proofHeader = jose.Profile{Kid: jose.Refuse, JWK: jose.Require, KeyURLs: jose.Refuse}
	// proofTypes: dpop+jwt, the one typ of a proof.
	proofTypes = jose.Types{Values: []string{"dpop+jwt"}}

	// answerHeader, of a signed introspection answer (RFC 9701): a kid, to
	// find the key in the issuer's JWKS, as an access token's.
	answerHeader = jose.Profile{Kid: jose.Allow}
	// answerTypes: token-introspection+jwt, required, so that an answer is
	// never taken for an access token, nor an access token (at+jwt, JWT,
	// or none) for an answer (RFC 9701 §8.1).
	answerTypes = jose.Types{Values: []string{"token-introspection+jwt", "application/token-introspection+jwt"}}
)

// jwsTokenErr gives an error of reading a token (the JWS reader's, or the
// payload's) its cause: a duplicate member, a header member no token may
// have (crit, b64, zip, enc), or a token that is not a well-formed compact
// JWS.
func jwsTokenErr(err error) error {
	switch {
	case errors.Is(err, exactjson.ErrDuplicate):
		return tokenErr(ErrDuplicateMember, err.Error())
	case errors.Is(err, jose.ErrRefused):
		return tokenErr(ErrUnsupportedHeader, err.Error())
	}
	return tokenErr(ErrTokenMalformed, err.Error())
}
