package grpcjwtgateway

import (
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// route is an HTTP method and a path template in the form
// [runtime.Pattern.String] writes it: every variable with its segments
// ("{name}" is "{name=*}").
type route struct{ verb, path string }

// routeTable maps each route to the full method the gateway's generated
// code calls for it. It is built once, from the google.api.http rules of
// every service in files (where generated code registers itself), exactly
// as protoc-gen-grpc-gateway reads them: a rule and its additional
// bindings, and for a method without any, the POST route of the
// generate_unbound_methods option. Explicit routes ([WithRoute]) are added
// last and replace any declared one.
func routeTable(files *protoregistry.Files, explicit []explicitRoute) (map[route]string, error) {
	declared := make(map[route]string)
	unbound := make(map[route]string)
	settled := make(map[route]bool)
	for _, e := range explicit {
		settled[e.route] = true
	}
	var errs []string
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		services := fd.Services()
		for i := range services.Len() {
			sd := services.Get(i)
			methods := sd.Methods()
			for j := range methods.Len() {
				md := methods.Get(j)
				full := "/" + string(sd.FullName()) + "/" + string(md.Name())
				rules := httpRules(md)
				if len(rules) == 0 {
					unbound[route{http.MethodPost, full}] = full
				}
				for _, r := range rules {
					if prev, ok := declared[r]; ok && prev != full && !settled[r] {
						// Named in order: the registry's files come in no fixed order.
						a, b := min(prev, full), max(prev, full)
						errs = append(errs, fmt.Sprintf("%s %s is declared by %s and by %s", r.verb, r.path, a, b))
						continue
					}
					declared[r] = full
				}
			}
		}
		return true
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("grpcjwtgateway: routes declared twice (map each with WithRoute): %s", strings.Join(errs, "; "))
	}
	for r, m := range unbound {
		if _, ok := declared[r]; !ok {
			declared[r] = m
		}
	}
	for _, e := range explicit {
		declared[e.route] = e.method
	}
	return declared, nil
}

// httpRules returns the routes of md's google.api.http rule and its
// additional bindings, or none.
func httpRules(md protoreflect.MethodDescriptor) []route {
	opts := md.Options()
	if opts == nil || !proto.HasExtension(opts, annotations.E_Http) {
		return nil
	}
	rule, _ := proto.GetExtension(opts, annotations.E_Http).(*annotations.HttpRule)
	var routes []route
	for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
		var verb, path string
		switch p := r.GetPattern().(type) {
		case *annotations.HttpRule_Get:
			verb, path = http.MethodGet, p.Get
		case *annotations.HttpRule_Put:
			verb, path = http.MethodPut, p.Put
		case *annotations.HttpRule_Post:
			verb, path = http.MethodPost, p.Post
		case *annotations.HttpRule_Delete:
			verb, path = http.MethodDelete, p.Delete
		case *annotations.HttpRule_Patch:
			verb, path = http.MethodPatch, p.Patch
		case *annotations.HttpRule_Custom:
			verb, path = p.Custom.GetKind(), p.Custom.GetPath()
		default:
			continue
		}
		routes = append(routes, route{verb, patternString(path)})
	}
	return routes
}

// patternString writes a path template as [runtime.Pattern.String] writes
// the pattern compiled from it: the same text, but that a variable without
// segments gets its implicit "=*".
func patternString(template string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(template, '{')
		if open < 0 {
			break
		}
		end := strings.IndexByte(template[open:], '}')
		if end < 0 {
			break
		}
		end += open
		b.WriteString(template[:end])
		if !strings.Contains(template[open:end], "=") {
			b.WriteString("=*")
		}
		template = template[end:]
		b.WriteByte('}')
		template = template[1:]
	}
	b.WriteString(template)
	return b.String()
}
