package grpcjwtconnect

import (
	"fmt"
	"strings"

	"connectrpc.com/connect/v2"
	"github.com/grpcjwt/grpcjwt"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// This file describes a Connect server as [grpcjwt.Policy.Audit] reads a
// gRPC server: its services, their methods and whether they stream.

// serviceInfo is a [grpcjwt.ServiceInfoProvider] built once.
type serviceInfo map[string]grpc.ServiceInfo

// GetServiceInfo returns the services.
func (s serviceInfo) GetServiceInfo() map[string]grpc.ServiceInfo { return s }

// ServicesOf describes the procedures registered on server, for
// [grpcjwt.Policy.Audit]: policy.Audit(grpcjwtconnect.ServicesOf(server))
// lists the rule of each, and refuses a rule that names a procedure the
// server does not have. A procedure not of the form
// "/package.Service/Method" is left out. Call it once every service is
// registered.
func ServicesOf(server *connect.Server) grpcjwt.ServiceInfoProvider {
	s := make(serviceInfo)
	for spec := range server.Specs() {
		service, method, ok := strings.Cut(strings.TrimPrefix(spec.Procedure, "/"), "/")
		if !ok || service == "" || method == "" || strings.Contains(method, "/") {
			continue
		}
		info := s[service]
		info.Methods = append(info.Methods, grpc.MethodInfo{
			Name:           method,
			IsClientStream: spec.StreamType&connect.StreamTypeClient != 0,
			IsServerStream: spec.StreamType&connect.StreamTypeServer != 0,
		})
		s[service] = info
	}
	return s
}

// Services describes the services named (full names, such as
// "greeter.v1.Greeter") as the protobuf registry
// ([protoregistry.GlobalFiles]) declares them, every method of each, for
// [grpcjwt.Policy.Audit] over a set of Connect handlers that is not one
// [connect.Server] (prefer [ServicesOf] for one: it lists what is
// registered). It fails on a name the registry does not know as a service.
func Services(names ...string) (grpcjwt.ServiceInfoProvider, error) {
	s := make(serviceInfo, len(names))
	for _, name := range names {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return nil, fmt.Errorf("grpcjwtconnect: service %q: %w", name, err)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return nil, fmt.Errorf("grpcjwtconnect: %q is a %T, not a service", name, d)
		}
		var info grpc.ServiceInfo
		for i := range sd.Methods().Len() {
			m := sd.Methods().Get(i)
			info.Methods = append(info.Methods, grpc.MethodInfo{
				Name:           string(m.Name()),
				IsClientStream: m.IsStreamingClient(),
				IsServerStream: m.IsStreamingServer(),
			})
		}
		s[name] = info
	}
	return s, nil
}
