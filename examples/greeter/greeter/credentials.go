package greeter

import (
	"context"

	"golang.org/x/oauth2"
	"google.golang.org/grpc/credentials"
)

// BearerToken is per-RPC credentials that send a fixed OAuth 2.0 access
// token in the "authorization" metadata as "Bearer <token>", the way a Go
// client should send one: with grpc.WithPerRPCCredentials on the
// connection, or grpc.PerRPCCredentials on a single call.
//
// Why not google.golang.org/grpc/credentials/oauth? Its TokenSource (and
// the other types there) requires transport security: grpc.NewClient
// refuses it on a connection made with insecure.NewCredentials, and each
// call checks again that the connection is encrypted. That is right in
// production, where a bearer token sent in the clear can be stolen and
// replayed, but it makes oauth.TokenSource unusable with a plaintext server
// on loopback, as in the demo and in local development. BearerToken
// requires transport security too, unless AllowPlaintext is set.
type BearerToken struct {
	// Token is the access token, without the "Bearer " prefix.
	Token string

	// AllowPlaintext lets the token be sent over a connection without TLS.
	// Set it only when the server is on loopback (127.0.0.1, ::1,
	// localhost): anywhere else the token crosses a network in the clear.
	AllowPlaintext bool
}

var _ credentials.PerRPCCredentials = BearerToken{}

// GetRequestMetadata returns the "authorization" metadata for every call.
func (b BearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.Token}, nil
}

// RequireTransportSecurity reports whether gRPC must refuse to send the
// token without TLS: true unless AllowPlaintext is set.
func (b BearerToken) RequireTransportSecurity() bool { return !b.AllowPlaintext }

// TokenSource is per-RPC credentials that take each call's access token
// from an oauth2.TokenSource, which fetches and refreshes tokens itself
// (for example clientcredentials.Config.TokenSource). Over TLS,
// oauth.TokenSource from google.golang.org/grpc/credentials/oauth does the
// same; TokenSource exists for the plaintext loopback case, like
// [BearerToken].
type TokenSource struct {
	Source oauth2.TokenSource

	// AllowPlaintext: as for [BearerToken]. Loopback only.
	AllowPlaintext bool
}

var _ credentials.PerRPCCredentials = TokenSource{}

// GetRequestMetadata returns the "authorization" metadata of a current
// token, fetching a new one when the last has expired.
func (t TokenSource) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	tok, err := t.Source.Token()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + tok.AccessToken}, nil
}

// RequireTransportSecurity is true unless AllowPlaintext is set.
func (t TokenSource) RequireTransportSecurity() bool { return !t.AllowPlaintext }
