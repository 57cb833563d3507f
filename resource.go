package grpcjwt

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// This file names the protected resource (RFC 9728) and makes every
// refusal point at its metadata: the resource_metadata URL in the
// ErrorInfo of each status ([Policy.Status]) and in each challenge
// ([Policy.Challenge]). resourcemetadata.go serves the document.

// ResourceMetadata names the resource a [Policy] protects and where its
// protected resource metadata (RFC 9728) is served; see
// [WithResourceMetadata]. The rest of the document is the policy's own:
// its trusted issuers, scopes and binding requirements.
type ResourceMetadata struct {
	// Resource is the resource identifier (RFC 9728 §1.2, RFC 8707): the
	// URL of the API, such as "https://api.example.com", which clients
	// name as the resource when they ask for a token and which the
	// document's "resource" member states. Required: an absolute URL
	// without a fragment; RFC 9728 requires https, and http is accepted
	// for local development, as for issuers.
	Resource string

	// URL is where the document is served, the resource_metadata URL of
	// refusals (RFC 9728 §5.1). Default: the well-known URL of Resource
	// (RFC 9728 §3.1), "/.well-known/oauth-protected-resource" inserted
	// between its host and its path: "https://api.example.com/v1" gives
	// "https://api.example.com/.well-known/oauth-protected-resource/v1".
	URL string

	// Name is the document's resource_name, a name for people; optional.
	Name string

	// Documentation is the document's resource_documentation, the URL of
	// the API's documentation for developers; optional.
	Documentation string

	// CertificateBoundTokens says that the server asks for client
	// certificates in its TLS configuration, so that certificate-bound
	// tokens (RFC 8705) can be used: the document states
	// tls_client_certificate_bound_access_tokens. The policy accepts them
	// whenever a door sees a client certificate; only the server's TLS
	// configuration, which the policy does not see, decides whether one
	// ever does.
	CertificateBoundTokens bool
}

// WithResourceMetadata names the resource the policy protects (see
// [ResourceMetadata]), for [Policy.ResourceMetadataHandler] to serve its
// RFC 9728 document, and makes every refusal point at that document: the
// google.rpc.ErrorInfo of each status [Policy.Status] returns carries its
// URL under the metadata key "resource_metadata", and each challenge
// [Policy.Challenge] returns carries it as the resource_metadata
// parameter (RFC 9728 §5.1). Without this option, nothing a client
// receives names the document.
//
// [NewPolicy] fails when m.Resource is missing, or when one of its URLs is
// not an absolute http(s) URL, or has a fragment, a user, or a byte that a
// URL must percent-encode (a space, a quote, a backslash, anything outside
// printable ASCII), which a challenge could not carry as it is.
func WithResourceMetadata(m ResourceMetadata) Option {
	return func(o *options) { o.resource = &m }
}

// ResourceMetadataKey is the google.rpc.ErrorInfo metadata key under which
// a refusal names the resource_metadata URL; see [WithResourceMetadata].
const ResourceMetadataKey = "resource_metadata"

// protectedResource is a policy's [ResourceMetadata], checked.
type protectedResource struct {
	ResourceMetadata // URL set
}

// newProtectedResource checks m and sets its default URL.
func newProtectedResource(m ResourceMetadata) (*protectedResource, error) {
	if m.Resource == "" {
		return nil, errors.New("grpcjwt: WithResourceMetadata: Resource is required")
	}
	if err := checkMetadataURL(m.Resource); err != nil {
		return nil, fmt.Errorf("grpcjwt: WithResourceMetadata: Resource: %w", err)
	}
	if m.URL == "" {
		m.URL = wellKnownURL(m.Resource)
	}
	if err := checkMetadataURL(m.URL); err != nil {
		return nil, fmt.Errorf("grpcjwt: WithResourceMetadata: URL: %w", err)
	}
	if m.Documentation != "" {
		if err := checkMetadataURL(m.Documentation); err != nil {
			return nil, fmt.Errorf("grpcjwt: WithResourceMetadata: Documentation: %w", err)
		}
	}
	return &protectedResource{ResourceMetadata: m}, nil
}

// checkMetadataURL refuses what is not an absolute http(s) URL without a
// fragment, or what a quoted-string of a challenge could not carry as it
// is.
func checkMetadataURL(s string) error {
	if err := checkHTTPURL(s); err != nil {
		return err
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return fmt.Errorf("%q has a byte %q that a URL must percent-encode", s, c)
		}
	}
	if strings.Contains(s, "#") {
		return fmt.Errorf("%q has a fragment", s)
	}
	if u, _ := url.Parse(s); u.User != nil {
		return fmt.Errorf("%q has a user", s)
	}
	return nil
}

// wellKnownURL is the well-known URL of the metadata of resource (RFC 9728
// §3.1), which checkMetadataURL accepted: the well-known path inserted
// between the host and the path and query, a path of "/" dropped.
func wellKnownURL(resource string) string {
	u, _ := url.Parse(resource)
	path := u.EscapedPath()
	if path == "/" {
		path = ""
	}
	if u.RawQuery != "" || u.ForceQuery {
		path += "?" + u.RawQuery
	}
	return u.Scheme + "://" + u.Host + wellKnownPath + path
}

// wellKnownPath is the well-known URI suffix of RFC 9728 §3.
const wellKnownPath = "/.well-known/oauth-protected-resource"
