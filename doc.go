// Package grpcjwt protects gRPC services with OAuth 2.0 / OpenID Connect JWT
// access tokens, as issued by Logto, Auth0, Keycloak, Okta, Zitadel, Ory
// Hydra or any OIDC provider.
//
// A [Validator] is the verifier: it finds the provider's keys through OIDC
// discovery, keeps them fresh, and verifies tokens strictly: allowed
// asymmetric algorithms only, exact issuer, audience, lifetime with
// leeway, keys chosen by kid from the provider's JWKS and never from the
// token. A [Policy], built once from a Validator and the rules (Go options
// and .proto options), owns every decision about a call: public, optional
// and scoped methods, organizations, certificate and DPoP binding, stream
// expiry, hooks. Its doors are the grpc-go interceptors, go-grpc-middleware's
// auth function and [Policy.Audit]; each reads the "authorization"
// metadata, verifies its Bearer token, applies the method's rule, puts the
// claims in the handler's context, and turns every refusal into a gRPC
// status with a documented message:
//
//	auth.authorization_header_missing            Unauthenticated
//	auth.authorization_token_invalid_format      Unauthenticated
//	auth.authorization_token_type_not_supported  Unauthenticated
//	invalid_token                                Unauthenticated
//	insufficient_scope                           PermissionDenied
//	organization_mismatch                        PermissionDenied
//	invalid_dpop_proof                           Unauthenticated
//	temporarily_unavailable                      Unavailable
//
// Quick start:
//
//	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
//		Issuer:   "https://tenant.logto.app/oidc",
//		Audience: "https://api.example.com",
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer v.Close()
//	policy, err := grpcjwt.NewPolicy(v,
//		grpcjwt.WithPublic("/grpc.health.v1.Health/"),
//		grpcjwt.WithScopes("/greeter.v1.Greeter/SayHello", "greet:read"),
//	)
//	if err != nil {
//		log.Fatal(err)
//	}
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(policy.StreamServerInterceptor()),
//	)
//	// register services, then:
//	if _, err := policy.Audit(srv); err != nil {
//		log.Fatal(err)
//	}
//
// and in a handler:
//
//	claims, _ := grpcjwt.ClaimsFromContext(ctx)
//	log.Printf("called by %s with scopes %v", claims.Subject, claims.Scopes)
//
// A Validator may trust several issuers ([Config.Issuers]), each with its
// own keys, refresh and limits, and tokens are routed by their exact iss. A
// method may declare, in Go ([WithOrganization]) or in .proto, which request
// field names the organization it is about, and the token must be for that
// organization ([OrganizationRule]), as Logto's organization tokens need.
//
// The interceptors follow go-grpc-middleware's auth interceptors, so a
// service implementing its ServiceAuthFuncOverride takes over its own
// authentication and [Policy.AuthFunc] composes with its selector.
package grpcjwt
