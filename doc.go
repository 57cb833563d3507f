// Package grpcjwt protects gRPC services with OAuth 2.0 / OpenID Connect JWT
// access tokens, as issued by Logto, Auth0, Keycloak, Okta, Zitadel, Ory
// Hydra or any OIDC provider.
//
// A [Validator] finds the provider's keys through OIDC discovery, keeps them
// fresh, and verifies tokens strictly: allowed asymmetric algorithms only,
// exact issuer, audience, lifetime with leeway, keys chosen by kid from the
// provider's JWKS and never from the token. The interceptors read the
// "authorization" metadata, verify its Bearer token, apply per-method rules
// (public, optional, required scopes) from Go options or .proto options, put
// the claims in the handler's context, and turn every failure into a gRPC
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
//	rules := []grpcjwt.Option{
//		grpcjwt.WithPublic("/grpc.health.v1.Health/"),
//		grpcjwt.WithScopes("/greeter.v1.Greeter/SayHello", "greet:read"),
//	}
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(grpcjwt.UnaryServerInterceptor(v, rules...)),
//		grpc.ChainStreamInterceptor(grpcjwt.StreamServerInterceptor(v, rules...)),
//	)
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
// The interceptors follow go-grpc-middleware's auth interceptors, so
// a service implementing its ServiceAuthFuncOverride takes over its own
// authentication and [AuthFunc] composes with its selector.
package grpcjwt
