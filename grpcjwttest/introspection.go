package grpcjwttest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/jose"
)

// The issuer's token introspection (RFC 7662) and revocation (RFC 7009)
// endpoints, and its opaque tokens.

// opaque is an opaque token's claims, as its introspection answers them.
type opaque struct {
	claims map[string]any
	exp    time.Time
}

// IntrospectionURL returns the URL of the issuer's introspection endpoint
// (RFC 7662), which discovery names as introspection_endpoint.
func (i *Issuer) IntrospectionURL() string { return i.URL + "/introspect" }

// RevocationURL returns the URL of the issuer's revocation endpoint (RFC
// 7009), which discovery names as revocation_endpoint.
func (i *Issuer) RevocationURL() string { return i.URL + "/revoke" }

// IntrospectionRequests returns how many introspection requests the
// issuer has received.
func (i *Issuer) IntrospectionRequests() int64 { return i.introspections.Load() }

// SetIntrospectionMode sets how the introspection endpoint responds.
func (i *Issuer) SetIntrospectionMode(m Mode) {
	i.mu.Lock()
	i.introspectionMode = m
	i.mu.Unlock()
}

// WithOpaqueTokens makes the token endpoint issue opaque tokens (see
// [Issuer.OpaqueToken]) instead of JWTs, as Ory Hydra and Zitadel do by
// default.
func WithOpaqueTokens() Option {
	return func(c *config) { c.opaque = true }
}

// OpaqueToken mints an opaque access token: 32 random bytes, base64url,
// which says nothing of itself. Its claims are those [Issuer.Token] would
// give a JWT, claims and opts included; the introspection endpoint
// answers them, with "active": true and token_type "Bearer" ("DPoP" when
// [WithDPoPBinding] binds it), until the token expires or is revoked
// ([Issuer.Revoke]). Options that choose a key or a header mean nothing
// here. The issuer forgets a token once it has expired.
func (i *Issuer) OpaqueToken(claims map[string]any, opts ...TokenOption) string {
	cfg := tokenConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	c := i.defaultClaims(time.Now())
	merge(c, cfg.claims)
	merge(c, claims)
	c["active"] = true
	c["token_type"] = "Bearer"
	if cnf, ok := c["cnf"].(map[string]any); ok && cnf["jkt"] != nil {
		c["token_type"] = "DPoP"
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	exp := time.Now().Add(time.Hour)
	if e, ok := number(c["exp"]); ok {
		exp = time.Unix(int64(e), 0)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	now := time.Now()
	for k, o := range i.opaque {
		if now.After(o.exp) {
			delete(i.opaque, k)
		}
	}
	i.opaque[tokenKey(tok)] = &opaque{claims: c, exp: exp}
	return tok
}

// Revoke revokes token, an opaque token or a JWT of the issuer: from now
// on the introspection endpoint answers it {"active": false}. (A JWT
// still verifies by its signature: only a resource server that asks the
// endpoint sees the revocation.) The revocation endpoint does the same for
// a client.
func (i *Issuer) Revoke(token string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	now := time.Now()
	for k, until := range i.revoked {
		if now.After(until) {
			delete(i.revoked, k)
		}
	}
	// Kept a day: past any token's exp that tests mint.
	i.revoked[tokenKey(token)] = now.Add(24 * time.Hour)
}

// tokenKey is what the issuer keeps of a token: its SHA-256.
func tokenKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// number reads a JSON number a claims map may hold.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// client authenticates a request to the token, introspection or
// revocation endpoint, as a client added with AddClient, by HTTP Basic
// (form-encoded id and secret, RFC 6749 §2.3.1) or by form parameters.
// It reports the client's id, or false.
func (i *Issuer) client(r *http.Request) (string, bool) {
	id, secret, ok := basicAuth(r)
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	i.mu.Lock()
	want, known := i.clients[id]
	i.mu.Unlock()
	return id, known && secret == want
}

// clientForm parses the form of a request to the introspection or the
// revocation endpoint and authenticates its client. It reports false, an
// OAuth error answered, when it fails.
func (i *Issuer) clientForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "")
		return false
	}
	if _, ok := i.client(r); !ok {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "")
		return false
	}
	return true
}

// basicAuth is r.BasicAuth with the id and secret form-decoded, as RFC 6749
// §2.3.1 says they are encoded.
func basicAuth(r *http.Request) (string, string, bool) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(id)
	secret, err2 := url.QueryUnescape(secret)
	return id, secret, err1 == nil && err2 == nil
}

// serveIntrospection answers RFC 7662 requests from clients added with
// AddClient: the claims of an opaque token of the issuer, or the payload
// of a JWT it signed, with "active": true, unless the token has expired,
// was revoked or is unknown, when the answer is {"active": false}.
func (i *Issuer) serveIntrospection(w http.ResponseWriter, r *http.Request) {
	i.introspections.Add(1)
	i.mu.Lock()
	m := i.introspectionMode
	i.mu.Unlock()
	if !i.respond(w, r, m) {
		return
	}
	if !i.clientForm(w, r) {
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "no token")
		return
	}
	if c := i.introspect(tok, time.Now()); c != nil {
		writeJSON(w, c)
		return
	}
	writeJSON(w, map[string]bool{"active": false})
}

// introspect returns the answer for an active token, or nil.
func (i *Issuer) introspect(tok string, now time.Time) map[string]any {
	key := tokenKey(tok)
	i.mu.Lock()
	_, revoked := i.revoked[key]
	o := i.opaque[key]
	i.mu.Unlock()
	if revoked {
		return nil
	}
	if o != nil {
		if now.After(o.exp) {
			return nil
		}
		return o.claims
	}
	c := i.verified(tok)
	if c == nil {
		return nil
	}
	if e, ok := number(c["exp"]); !ok || now.After(time.Unix(int64(e), 0)) {
		return nil
	}
	c["active"] = true
	c["token_type"] = "Bearer"
	if cnf, ok := c["cnf"].(map[string]any); ok && cnf["jkt"] != nil {
		c["token_type"] = "DPoP"
	}
	return c
}

// verified returns the claims of tok if it is a JWT signed by one of the
// issuer's keys (published or signing), or nil.
func (i *Issuer) verified(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	var h struct{ Alg, Kid string }
	var c map[string]any
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		return nil
	}
	i.mu.Lock()
	keys := append([]*Key(nil), i.published...)
	for _, k := range i.signing {
		keys = append(keys, k)
	}
	i.mu.Unlock()
	for _, k := range keys {
		a := jose.Lookup(k.Alg)
		if k.KID == h.Kid && a != nil && k.Alg == h.Alg && a.Verify(k.Public(), []byte(parts[0]+"."+parts[1]), sig) == nil {
			return c
		}
	}
	return nil
}

// serveRevocation revokes, for a client added with AddClient, the token of
// an RFC 7009 request: any token, as [Issuer.Revoke] does. It answers 200
// with no body, whether or not the issuer knew the token.
func (i *Issuer) serveRevocation(w http.ResponseWriter, r *http.Request) {
	if !i.clientForm(w, r) {
		return
	}
	if tok := r.PostForm.Get("token"); tok != "" {
		i.Revoke(tok)
	}
	w.WriteHeader(http.StatusOK)
}
