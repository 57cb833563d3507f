package grpcjwt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// resourceMetadataDoc is the protected resource metadata document (RFC
// 9728 §2), its members in the RFC's order; a member without a value is
// omitted.
type resourceMetadataDoc struct {
	Resource                              string   `json:"resource"`
	AuthorizationServers                  []string `json:"authorization_servers,omitempty"`
	ScopesSupported                       []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported                []string `json:"bearer_methods_supported"`
	ResourceName                          string   `json:"resource_name,omitempty"`
	ResourceDocumentation                 string   `json:"resource_documentation,omitempty"`
	TLSClientCertificateBoundAccessTokens bool     `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	DPoPSigningAlgValuesSupported         []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundAccessTokensRequired         bool     `json:"dpop_bound_access_tokens_required,omitempty"`
}

// resourceMetadataCacheControl lets clients and caches keep the document
// for an hour: it changes only when the server's configuration does.
const resourceMetadataCacheControl = "public, max-age=3600"

// ResourceMetadataHandler returns a handler that serves the protected
// resource metadata document (RFC 9728 §3) of the resource named by
// [WithResourceMetadata], built from the policy and the methods registered
// on srv (a *grpc.Server after registration, as for [Policy.Audit]):
//
//   - resource, resource_name, resource_documentation: from
//     [ResourceMetadata];
//   - authorization_servers: the Validator's trusted issuers, sorted;
//   - scopes_supported: every scope the rule of a method of srv requires,
//     or names among its alternatives ([WithAnyScopes]), sorted, from the
//     rules [Policy.Audit] reports (what an [Authorizer] checks is not a
//     rule, and not listed);
//   - bearer_methods_supported: ["header"], the one way a door reads a
//     token (RFC 6750 §2.1);
//   - tls_client_certificate_bound_access_tokens: true with
//     [ResourceMetadata.CertificateBoundTokens];
//   - dpop_signing_alg_values_supported: the proof algorithms of
//     [WithDPoP];
//   - dpop_bound_access_tokens_required: true when every method of srv
//     that reads a token requires a sender-constrained one (as
//     [WithSenderConstrainedEverywhere] makes them) and a DPoP-bound token
//     is the only kind a client can present ([WithDPoP], and not
//     CertificateBoundTokens).
//
// The members come in the order of RFC 9728 §2 (resource,
// authorization_servers, scopes_supported, bearer_methods_supported,
// resource_name, resource_documentation, then the binding members as
// above), and a member without a value is left out. The document is built on each request, so
// it is never out of step with the server's methods; it costs a walk over
// them, and no token.
//
// Mount it at the path of [ResourceMetadata.URL], by default
// "/.well-known/oauth-protected-resource" (the handler itself does not
// look at the path). It answers GET and HEAD with 200, Content-Type
// application/json, Cache-Control "public, max-age=3600", a strong ETag
// (a matching If-None-Match gets 304 Not Modified) and
// Access-Control-Allow-Origin "*", since the document is public and
// browser clients read it across origins; any other method gets 405
// Method Not Allowed. It fails when the policy has no
// WithResourceMetadata.
func (p *Policy) ResourceMetadataHandler(srv ServiceInfoProvider) (http.Handler, error) {
	if p.resource == nil {
		return nil, errors.New("grpcjwt: ResourceMetadataHandler needs a policy with WithResourceMetadata")
	}
	if srv == nil {
		return nil, errors.New("grpcjwt: ResourceMetadataHandler needs the server whose methods it describes")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body := p.resourceMetadata(srv)
		sum := sha256.Sum256(body)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", resourceMetadataCacheControl)
		h.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("X-Content-Type-Options", "nosniff")
		// ServeContent answers HEAD, If-None-Match and ranges, and sets
		// Content-Length.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}), nil
}

// resourceMetadata builds the document of the policy and srv's methods.
func (p *Policy) resourceMetadata(srv ServiceInfoProvider) []byte {
	res := p.resource
	doc := resourceMetadataDoc{
		Resource:                              res.Resource,
		BearerMethodsSupported:                []string{"header"},
		ResourceName:                          res.Name,
		ResourceDocumentation:                 res.Documentation,
		TLSClientCertificateBoundAccessTokens: res.CertificateBoundTokens,
	}
	for name := range p.v.issuers {
		doc.AuthorizationServers = append(doc.AuthorizationServers, name)
	}
	slices.Sort(doc.AuthorizationServers)

	rules, _ := p.Audit(srv) // its errors are the server's to act on; the rules are what calls meet
	readsToken, bound := 0, 0
	for _, m := range rules {
		doc.ScopesSupported = append(doc.ScopesSupported, m.Scopes...)
		for _, g := range m.AnyScopes {
			doc.ScopesSupported = append(doc.ScopesSupported, g...)
		}
		if m.Access != AccessPublic {
			readsToken++
			if m.SenderConstrained {
				bound++
			}
		}
	}
	slices.Sort(doc.ScopesSupported)
	doc.ScopesSupported = slices.Compact(doc.ScopesSupported)

	if p.dpop != nil {
		doc.DPoPSigningAlgValuesSupported = strings.Fields(p.dpop.algNames)
		doc.DPoPBoundAccessTokensRequired = readsToken > 0 && bound == readsToken && !res.CertificateBoundTokens
	}

	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		// Strings and booleans always encode.
		panic(err)
	}
	return b.Bytes()
}
