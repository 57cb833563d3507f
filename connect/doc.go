// Package grpcjwtconnect is grpcjwt's door for Connect servers
// (connectrpc.com/connect/v2): the same [grpcjwt.Policy] that protects a
// grpc-go server, with the same rules (Go options and .proto options,
// keyed by procedure, "/greeter.v1.Greeter/SayHello", exactly as gRPC
// methods), the same [grpcjwt.Policy.Audit] and the same errors, for the
// Connect, gRPC and gRPC-Web protocols a Connect server speaks.
//
// The door has two parts, one required:
//
//   - [NewInterceptor], a [connect.ServerInterceptor]: it decides every call
//     before its first message is read, checks each message against the
//     method's organization rule, and ends streams when their token
//     expires. It is a complete door on its own.
//   - [NewMiddleware], optional, in front of the server: it decides a call
//     from its HTTP request before Connect sees it, and leaves the rest to
//     the interceptor, which it requires.
//
// [ServicesOf] describes a Connect server for [grpcjwt.Policy.Audit].
// docs/connect.md in the repository tells what each protocol's client
// sees on refusal, how CORS preflights pass, and the htu of a DPoP proof.
//
// Quick start:
//
//	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
//		Issuer:   "https://your-tenant.logto.app/oidc",
//		Audience: "https://api.example.com",
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer v.Close()
//	policy, err := grpcjwt.NewPolicy(v, grpcjwt.WithScopes("/greeter.v1.Greeter/SayHello", "greet:read"))
//	if err != nil {
//		log.Fatal(err)
//	}
//	server := connect.NewServer(grpcjwtconnect.NewInterceptor(policy))
//	greeterv1connect.RegisterGreeterHandler(server, greeter{})
//	if _, err := policy.Audit(grpcjwtconnect.ServicesOf(server)); err != nil {
//		log.Fatal(err)
//	}
//	mux := http.NewServeMux()
//	connecthttp.Mount(mux, server)
//	protocols := new(http.Protocols)
//	protocols.SetHTTP1(true)
//	protocols.SetUnencryptedHTTP2(true) // h2c, for gRPC clients
//	srv := &http.Server{
//		Addr:      "127.0.0.1:8080",
//		Handler:   grpcjwtconnect.NewMiddleware(policy).Wrap(mux),
//		Protocols: protocols,
//	}
//	log.Fatal(srv.ListenAndServe())
package grpcjwtconnect
