package grpcjwt_test

import (
	"context"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc/codes"
)

// TestDPoPRefusalNamesAlgs: over real gRPC, a DPoP refusal names the
// proof algorithms the server accepts in its ErrorInfo (algs, as its
// challenge does), beside the resource_metadata URL; a refusal of another
// kind does not.
func TestDPoPRefusalNamesAlgs(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	client := protected(t, v,
		grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Algorithms: []string{"ES256", "EdDSA"}}),
		grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource}))
	key := grpcjwttest.MustKey("ES256")
	creds, err := grpcjwt.NewDPoPCredentials(key.Signer(), "ES256", func(context.Context) (string, error) { return "", nil })
	if err != nil {
		t.Fatal(err)
	}
	bound := iss.Token(map[string]any{"scope": "greet:read"}, grpcjwttest.WithDPoPBinding(creds.Thumbprint()))

	_, err = calls["unary"](withAuth("DPoP "+bound), client) // no proof
	wantMetadata(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidDPoPProof, map[string]string{
		grpcjwt.AlgsKey:             "ES256 EdDSA",
		grpcjwt.ResourceMetadataKey: testMetadataURL,
	})
	_, err = calls["unary"](withAuth("Bearer not.a.jwt"), client)
	wantMetadata(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken, map[string]string{
		grpcjwt.ResourceMetadataKey: testMetadataURL,
	})
	_, err = calls["unary"](context.Background(), client)
	wantMetadata(t, err, codes.Unauthenticated, grpcjwt.CodeHeaderMissing, map[string]string{
		grpcjwt.ResourceMetadataKey: testMetadataURL,
	})
}
