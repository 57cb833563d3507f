package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeterhttp"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1/greeterv1connect"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// demoOrigin is the web origin whose pages the demo's HTTP face allows to
// call it (CORS).
const demoOrigin = "https://app.example.com"

// A door calls the greeter through one of its HTTP doors.
type door interface {
	// label names the call of m through the door, for the table.
	label(m greeter.Method) string
	// call makes m's call, greeting name (or, for GreetOrganization,
	// naming it), with token if not "", and returns the reply, or the
	// call's error as a gRPC status error.
	call(ctx context.Context, m greeter.Method, name, token string) (*greeter.Reply, error)
}

// doors is the greeter's HTTP face in the demo, served twice on loopback:
// with the gRPC-Gateway in proxy mode (where Connect and the metadata
// document are called too), and in-process; and the doors that call it.
type doors struct {
	proxyURL, inProcessURL string
	listeners              []net.Listener
	servers                []*http.Server
	served                 []chan error
	handlers               []*greeterhttp.Handler

	connect, grpcWeb, proxy, inProcess door
}

// listenDoors listens on two loopback ports, for the HTTP face in each
// mode.
func listenDoors() (*doors, error) {
	d := &doors{}
	for range 2 {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			d.close()
			return nil, err
		}
		d.listeners = append(d.listeners, lis)
	}
	d.proxyURL, d.inProcessURL = "http://"+d.listeners[0].Addr().String(), "http://"+d.listeners[1].Addr().String()
	hc := &http.Client{}
	d.connect = connectDoor{protocol: "Connect", hc: hc, url: d.proxyURL}
	d.grpcWeb = connectDoor{protocol: "gRPC-Web", hc: hc, url: d.proxyURL, opts: []connecthttp.Option{connecthttp.WithGRPCWeb()}}
	d.proxy = restDoor{mode: greeterhttp.Proxy, hc: hc, url: d.proxyURL}
	d.inProcess = restDoor{mode: greeterhttp.InProcess, hc: hc, url: d.inProcessURL}
	return d, nil
}

// serve serves the HTTP face of policy and srv on the two ports.
func (d *doors) serve(policy *grpcjwt.Policy, srv *grpc.Server) error {
	for i, mode := range []greeterhttp.RESTMode{greeterhttp.Proxy, greeterhttp.InProcess} {
		h, err := greeterhttp.New(greeterhttp.Config{Policy: policy, GRPC: srv, REST: mode, Origins: []string{demoOrigin}})
		if err != nil {
			return err
		}
		d.handlers = append(d.handlers, h)
		hs := &http.Server{Handler: h}
		served := make(chan error, 1)
		go func() { served <- hs.Serve(d.listeners[i]) }()
		d.servers, d.served = append(d.servers, hs), append(d.served, served)
	}
	return nil
}

// close stops what listenDoors and serve started.
func (d *doors) close() {
	for i, hs := range d.servers {
		hs.Close()
		<-d.served[i]
	}
	for _, h := range d.handlers {
		h.Close()
	}
	for _, lis := range d.listeners {
		lis.Close()
	}
}

// preflight sends the CORS preflight a browser on demoOrigin sends before
// it calls SayHello with a token, and checks that the API allows it: 204,
// the origin allowed, Authorization among the headers allowed. It reports
// Code OK if so, else Unknown with what came back.
func (d *doors) preflight(ctx context.Context) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, d.proxyURL+"/"+greeterv1connect.GreeterSayHelloProcedure[1:], nil)
	if err != nil {
		return failed(err)
	}
	req.Header.Set("Origin", demoOrigin)
	req.Header.Set("Access-Control-Request-Method", http.MethodPost)
	req.Header.Set("Access-Control-Request-Headers", "authorization,connect-protocol-version,content-type")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return failed(err)
	}
	res.Body.Close()
	origin, headers := res.Header.Get("Access-Control-Allow-Origin"), res.Header.Get("Access-Control-Allow-Headers")
	if res.StatusCode != http.StatusNoContent || origin != demoOrigin || !strings.Contains(headers, "Authorization") {
		return failed(fmt.Errorf("%s, Access-Control-Allow-Origin %q, Access-Control-Allow-Headers %q", res.Status, origin, headers))
	}
	return Result{Code: codes.OK}
}

// metadata returns a probe that reads the RFC 9728 document and checks it
// against the demo's policy: the resource is iss's audience, the
// authorization servers are the two trusted issuers, the scopes those the
// greeter's rules require. It reports Code OK and one reply if so, else
// Unknown with what differs.
func (d *doors) metadata(iss, second *grpcjwttest.Issuer) func(context.Context) Result {
	return func(ctx context.Context) Result {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.proxyURL+greeterhttp.MetadataPath, nil)
		if err != nil {
			return failed(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return failed(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return failed(errors.New(res.Status))
		}
		var doc struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
			ScopesSupported      []string `json:"scopes_supported"`
		}
		if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
			return failed(err)
		}
		servers := []string{iss.URL, second.URL}
		slices.Sort(servers)
		if doc.Resource != iss.Audience || !slices.Equal(doc.AuthorizationServers, servers) || !slices.Equal(doc.ScopesSupported, []string{"greet:read", "greet:write"}) {
			return failed(fmt.Errorf("document %+v", doc))
		}
		return Result{Code: codes.OK, Replies: 1}
	}
}

// failed is the Result of a probe that went wrong.
func failed(err error) Result {
	return Result{Code: codes.Unknown, Message: err.Error()}
}

// connectDoor calls SayHello with connect-go's client,
// speaking protocol (Connect by default; opts select another).
type connectDoor struct {
	protocol string
	hc       *http.Client
	url      string
	opts     []connecthttp.Option
}

func (c connectDoor) label(m greeter.Method) string { return m.RPC() + " over " + c.protocol }

func (c connectDoor) call(ctx context.Context, m greeter.Method, name, token string) (*greeter.Reply, error) {
	var ics []connect.ClientInterceptor
	if token != "" {
		ics = append(ics, greeterhttp.Bearer(token))
	}
	client := greeterv1connect.NewGreeterClient(connect.NewClient(connecthttp.NewTransport(c.hc, c.url, c.opts...), ics...))
	if m != greeter.Hello {
		return nil, fmt.Errorf("the demo calls only SayHello over %s, not %s", c.protocol, m.RPC())
	}
	r, err := client.SayHello(ctx, &greeterv1.SayHelloRequest{Name: name})
	if ce, ok := errors.AsType[*connect.Error](err); ok {
		return nil, status.Error(codes.Code(ce.Code()), ce.Message())
	}
	if err != nil {
		return nil, err
	}
	return &greeter.Reply{Messages: []string{r.GetMessage()}, Subject: r.GetSubject()}, nil
}

// restDoor calls SayHello's REST route, GET /v1/hello?name=…, through the
// gRPC-Gateway in mode, with net/http.
type restDoor struct {
	mode greeterhttp.RESTMode
	hc   *http.Client
	url  string
}

func (r restDoor) label(m greeter.Method) string {
	return fmt.Sprintf("GET /v1/hello (gateway %s)", r.mode)
}

func (r restDoor) call(ctx context.Context, m greeter.Method, name, token string) (*greeter.Reply, error) {
	if m != greeter.Hello {
		return nil, fmt.Errorf("the demo calls only SayHello over REST, not %s", m.RPC())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/v1/hello?name="+url.QueryEscape(name), nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := r.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		// The gateway's error body: a google.rpc.Status in JSON.
		var s struct {
			Code    int32  `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%s: %s", res.Status, b)
		}
		return nil, status.Error(codes.Code(s.Code), s.Message)
	}
	var reply greeterv1.SayHelloResponse
	if err := protojson.Unmarshal(b, &reply); err != nil {
		return nil, err
	}
	return &greeter.Reply{Messages: []string{reply.GetMessage()}, Subject: reply.GetSubject()}, nil
}
