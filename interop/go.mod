module github.com/grpcjwt/grpcjwt/interop

go 1.26.0

replace (
	github.com/grpcjwt/grpcjwt => ../
	github.com/grpcjwt/grpcjwt/connect => ../connect
	github.com/grpcjwt/grpcjwt/examples => ../examples
	github.com/grpcjwt/grpcjwt/gateway => ../gateway
)

require (
	connectrpc.com/connect/v2 v2.0.2
	github.com/grpcjwt/grpcjwt v0.0.0-00010101000000-000000000000
	github.com/grpcjwt/grpcjwt/examples v0.0.0-00010101000000-000000000000
	github.com/lestrrat-go/jwx/v3 v3.4.0
	golang.org/x/oauth2 v0.38.0
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261110000943-09e21b237f2c
	google.golang.org/grpc v1.85.0
)

require (
	github.com/decred/dcrd/dcrec/secp256k1/v4 v4.4.1 // indirect
	github.com/goccy/go-json v0.11.2 // indirect
	github.com/grpc-ecosystem/go-grpc-middleware/v2 v2.3.4 // indirect
	github.com/grpc-ecosystem/grpc-gateway/v2 v2.34.0 // indirect
	github.com/grpcjwt/grpcjwt/connect v0.0.0-00010101000000-000000000000 // indirect
	github.com/grpcjwt/grpcjwt/gateway v0.0.0-00010101000000-000000000000 // indirect
	github.com/lestrrat-go/blackmagic v1.0.4 // indirect
	github.com/lestrrat-go/dsig v1.4.0 // indirect
	github.com/lestrrat-go/dsig-secp256k1 v1.0.0 // indirect
	github.com/lestrrat-go/httpcc v1.0.1 // indirect
	github.com/lestrrat-go/httprc/v3 v3.0.6 // indirect
	github.com/lestrrat-go/option/v2 v2.0.0 // indirect
	github.com/segmentio/asm v1.2.1 // indirect
	github.com/valyala/fastjson v1.6.10 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20261110000943-09e21b237f2c // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
