// Package grpcjwtv1 is the Go code generated from grpcjwt/v1/auth.proto: the
// protobuf options with which a .proto file declares, next to the API itself,
// which calls need an OAuth 2.0 / OIDC JWT access token and which scopes it
// must carry. Servers need not call this package: the grpcjwt interceptors
// read the options. It also holds the service of grpcjwt/v1/catalog.proto,
// the method catalog (see below).
//
// # The options
//
// Both options are a [Rule]:
//
//   - (grpcjwt.v1.method), an option of an rpc ([E_Method]), is the rule of
//     that method;
//   - (grpcjwt.v1.service), an option of a service ([E_Service]), is the
//     rule of each of its methods that has no (grpcjwt.v1.method) of its own.
//
// Its most used fields (auth.proto documents every one: any_scopes,
// organization, sender_constrained, step_up, issuers, audiences,
// revocation_check):
//
//   - public: no token is needed, and one that is sent is not even parsed.
//     The handler sees no claims. optional and scopes are ignored.
//   - optional: a call without a token goes through, and the handler sees no
//     claims; a token that is sent must be valid and is checked for scopes.
//   - scopes: the token must grant every one of them (from its "scope" or
//     "scp" claim), else the call gets PermissionDenied "insufficient_scope".
//
// Between the two options of one .proto file a method's rule is used whole;
// the Go options of grpcjwt add to it requirement by requirement (see
// grpcjwt's docs/authorization.md, "How rules compose").
//
// The zero Rule, and a method without any option, requires a valid token
// with no particular scope.
//
// # Annotating a service
//
// With the repository's proto/ directory on the import path:
//
//	syntax = "proto3";
//
//	package greeter.v1;
//
//	import "grpcjwt/v1/auth.proto";
//
//	service Greeter {
//	  // Every method needs a token with greet:read, unless it says otherwise.
//	  option (grpcjwt.v1.service) = {scopes: "greet:read"};
//
//	  rpc SayHello(SayHelloRequest) returns (SayHelloResponse);
//	  // A rule is used whole: list the service's scopes again if needed.
//	  rpc Rename(RenameRequest) returns (RenameResponse) {
//	    option (grpcjwt.v1.method) = {scopes: ["greet:read", "greet:write"]};
//	  }
//	  rpc Info(InfoRequest) returns (InfoResponse) {
//	    option (grpcjwt.v1.method) = {public: true};
//	  }
//	  rpc Motd(MotdRequest) returns (MotdResponse) {
//	    option (grpcjwt.v1.method) = {optional: true};
//	  }
//	}
//
// # How the interceptors read them
//
// protoc-gen-go registers every generated file's descriptors, options
// included, in the global registry
// ([google.golang.org/protobuf/reflect/protoregistry.GlobalFiles]). The
// grpcjwt interceptors look a called method up there by its full name, read
// its options and keep the rule they find. Nothing needs to be passed to
// them: linking the annotated service's generated Go package into the server
// binary is enough, and registering the service does that.
//
// # How Go options compose with them
//
// A method's rule is composed of up to three levels, most specific first:
//
//  1. the Go options given to the policy for the full method
//     ("/greeter.v1.Greeter/SayHello"), such as
//     [github.com/grpcjwt/grpcjwt.WithPublic],
//     [github.com/grpcjwt/grpcjwt.WithScopes] or
//     [github.com/grpcjwt/grpcjwt.WithRevocationCheck];
//  2. the Go options for its service ("/greeter.v1.Greeter/");
//  3. the method's (grpcjwt.v1.method) option or, when it has none, its
//     service's (grpcjwt.v1.service) option.
//
// Each dimension of the rule (access, scopes, issuers, audiences, step-up,
// organization, sender constraint, revocation check) comes from the most
// specific level that sets it: a Go option adds or overrides what it names
// and keeps the rest of the .proto rule, so that WithRevocationCheck on
// SayHello keeps the greet:read scope of its option; WithScopes(method),
// with no scope, drops it. With no level setting it, a valid token is
// required, with no particular scope. A .proto organization rule is never
// dropped by a Go option that makes the method public; only
// [github.com/grpcjwt/grpcjwt.WithoutOrganization] removes it.
// [github.com/grpcjwt/grpcjwt.Policy.Audit] lists the rule each registered
// method gets and where it came from ("proto:method",
// "go:method+proto:method:scopes", ...); [github.com/grpcjwt/grpcjwt.Rule]
// says it all.
//
// # The method catalog
//
// [CatalogServer] is the grpcjwt.v1.Catalog service: its ListMethods
// answers every method a server serves with the rule a call to it meets
// (a [Method]), so that a client or a gateway knows before calling which
// token it needs. [github.com/grpcjwt/grpcjwt.Policy.Catalog] implements
// it from the policy's compiled rules; the service is public by its own
// (grpcjwt.v1.service) option, and reveals every method's rule to whoever
// can reach the server. See docs/resource-metadata.md.
package grpcjwtv1
