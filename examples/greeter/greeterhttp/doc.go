// Package greeterhttp serves the greeter over HTTP, beside its gRPC server
// and under the same grpcjwt policy, so that one set of rules (those of
// greeter.proto and of [greeter.NewServerAndPolicy]) protects every way in:
//
//   - /greeter.v1.Greeter/…: connect-go, speaking the Connect protocol,
//     gRPC and gRPC-Web on one port, behind the Connect door
//     (grpcjwtconnect's middleware and interceptor);
//   - /v1/…: REST, from the google.api.http routes of greeter.proto,
//     through the gRPC-Gateway in one of its two modes ([RESTMode]): proxy
//     (each request becomes a gRPC call to the server, decided by its
//     interceptors) or in-process (the gateway calls [greeter.Service]
//     directly, decided by grpcjwtgateway.Protect);
//   - /.well-known/oauth-protected-resource: the policy's RFC 9728
//     document, when the policy has one (grpcjwt.WithResourceMetadata).
//
// The API answers CORS for the browser origins it is given, so that a web
// page served elsewhere can call it with a token; [Page] is such a page,
// plain JavaScript calling SayHello and Info with the Connect protocol.
// docs/clients.md in the repository shows how to call each door.
package greeterhttp
