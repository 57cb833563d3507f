package grpcjwtotel_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	grpcjwtotel "github.com/grpcjwt/grpcjwt/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
)

// TestIntrospectionSpans: each request to the introspection endpoint is a
// span and is counted, with its outcome: active, refused (the token's
// fault, with its cause) or unavailable (an error status); nothing of the
// token or the client secret is recorded.
func TestIntrospectionSpans(t *testing.T) {
	iss := newIssuer(t)
	iss.AddClient("api", "api-secret-value")
	tm := newTelemetry(t)
	v, err := grpcjwt.NewValidator(t.Context(), grpcjwt.Config{
		Issuer: iss.URL, Audience: iss.Audience, Observer: tm.obs, OpaqueTokenIssuer: iss.URL,
		Introspection: &grpcjwt.IntrospectionConfig{ClientID: "api", ClientSecret: "api-secret-value"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	good, revoked, down := iss.OpaqueToken(nil), iss.OpaqueToken(nil), iss.OpaqueToken(nil)
	iss.Revoke(revoked)
	for _, tok := range []string{good, good, revoked} {
		_, _ = v.Validate(context.Background(), tok)
	}
	iss.SetIntrospectionMode(grpcjwttest.Fail)
	_, _ = v.Validate(context.Background(), down)

	var spans []string
	for _, s := range tm.spans.Ended() {
		if s.Name() != "grpcjwt.introspection" {
			continue
		}
		attrs := attribute.NewSet(s.Attributes()...)
		outcome, _ := attrs.Value(grpcjwtotel.AttrOutcome)
		cause, _ := attrs.Value(grpcjwtotel.AttrCause)
		reason, _ := attrs.Value(grpcjwtotel.AttrReason)
		spans = append(spans, outcome.AsString()+" "+cause.AsString()+" "+reason.AsString())
		if (s.Status().Code == otelcodes.Error) != (outcome.AsString() == "unavailable") {
			t.Errorf("span %s: status %v", outcome.AsString(), s.Status())
		}
		for _, kv := range s.Attributes() {
			for _, secret := range []string{good, revoked, down, "api-secret-value"} {
				if strings.Contains(kv.Value.String(), secret) {
					t.Errorf("attribute %s holds a token or the secret", kv.Key)
				}
			}
		}
		for _, secret := range []string{down, "api-secret-value"} {
			if strings.Contains(s.Status().Description, secret) {
				t.Errorf("status %q holds a token or the secret", s.Status().Description)
			}
		}
	}
	want := []string{"active  opaque", "refused inactive opaque", "unavailable  opaque"}
	if strings.Join(spans, "|") != strings.Join(want, "|") {
		t.Errorf("spans %q, want %q", spans, want)
	}
	got := tm.collect(t)
	for _, name := range []string{"grpcjwt.introspections", "grpcjwt.introspection.duration"} {
		wantPoints(t, got, name, map[string]float64{
			"issuer=" + iss.URL + ",outcome=active,reason=opaque":      1,
			"issuer=" + iss.URL + ",outcome=refused,reason=opaque":     1,
			"issuer=" + iss.URL + ",outcome=unavailable,reason=opaque": 1,
		})
	}
}
