// Package grpcjwtgateway is the gRPC-Gateway door onto a [grpcjwt.Policy]:
// it protects the REST face that github.com/grpc-ecosystem/grpc-gateway/v2
// puts on a gRPC service, with the same rules as the service's gRPC
// clients meet.
//
// The gateway has two modes, protected by different things:
//
//   - Proxy mode (Register…HandlerFromEndpoint, Register…Handler,
//     Register…HandlerClient) makes a gRPC call to the server for each
//     request, passing the Authorization header on as "authorization"
//     metadata. The server's interceptors ([grpcjwt.Policy.UnaryServerInterceptor])
//     decide it, as any gRPC call. [ErrorHandler] answers their refusals
//     with the policy's RFC 6750 challenges, in place of the gateway's
//     copy of the status message in WWW-Authenticate.
//   - In-process mode (Register…HandlerServer) calls the service's methods
//     directly: no gRPC interceptor runs, and without more every route is
//     open. [Protect] closes it, with the gateway's middleware hook: each
//     route is decided as a call of the RPC method it maps to.
//
// In-process mode, protected:
//
//	protect, err := grpcjwtgateway.Protect(policy)
//	if err != nil {
//		log.Fatal(err) // two methods declare one route
//	}
//	mux := runtime.NewServeMux(protect)
//	if err := reportsv1.RegisterReportsHandlerServer(ctx, mux, reports); err != nil {
//		log.Fatal(err)
//	}
//	log.Fatal(http.ListenAndServe(":8080", mux))
//
// Proxy mode, with the policy's challenges:
//
//	mux := runtime.NewServeMux(runtime.WithErrorHandler(grpcjwtgateway.ErrorHandler(policy, nil)))
//	if err := reportsv1.RegisterReportsHandlerFromEndpoint(ctx, mux, "localhost:9090", dialOpts); err != nil {
//		log.Fatal(err)
//	}
//
// docs/gateway.md says what clients see in each mode, and how DPoP,
// organization rules and CORS fit each.
package grpcjwtgateway
