package grpcjwttest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
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

// WithSignedIntrospection makes the introspection endpoint answer a
// request that accepts "application/token-introspection+jwt" with a JWT
// (RFC 9701): header typ "token-introspection+jwt", alg and kid of the
// issuer's signing key for its default algorithm ([WithDefaultAlgorithm]);
// claims iss (URL), aud (the client ID of the client that asked), iat
// (now) and token_introspection (the plain answer); Content-Type
// "application/token-introspection+jwt". Discovery lists every algorithm
// of [Algorithms] as introspection_signing_alg_values_supported. A
// request that does not ask gets plain JSON. To make the answers go wrong,
// see [Issuer.SetIntrospectionJWT] and [Unsigned].
func WithSignedIntrospection() Option {
	return func(c *config) { c.signed = true }
}

// SetIntrospectionJWT makes the issuer pass the header and claims of every
// signed introspection answer ([WithSignedIntrospection]) to edit before
// signing them, for tests of a resource server's checks: edit may change,
// add or delete any member (a typ of "at+jwt", an aud of another client,
// an iat an hour old, no token_introspection). The top level of the
// claims' token_introspection is a copy, which edit may change too. Setting "alg"
// has the effect it has in [WithHeader]. A nil edit restores honest
// answers.
func (i *Issuer) SetIntrospectionJWT(edit func(header, claims map[string]any)) {
	i.mu.Lock()
	i.editAnswer = edit
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
// revocation endpoint and authenticates its client, whose id it returns.
// It reports false, an OAuth error answered, when it fails.
func (i *Issuer) clientForm(w http.ResponseWriter, r *http.Request) (string, bool) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "")
		return "", false
	}
	id, ok := i.client(r)
	if !ok {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "")
		return "", false
	}
	return id, true
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
// was revoked or is unknown, when the answer is {"active": false}; signed
// when the issuer signs answers and the request asks for one.
func (i *Issuer) serveIntrospection(w http.ResponseWriter, r *http.Request) {
	i.introspections.Add(1)
	i.mu.Lock()
	m, edit := i.introspectionMode, i.editAnswer
	i.mu.Unlock()
	if !i.respond(w, r, m) {
		return
	}
	id, ok := i.clientForm(w, r)
	if !ok {
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "no token")
		return
	}
	now := time.Now()
	c := i.introspect(tok, now)
	if c == nil {
		c = map[string]any{"active": false}
	}
	if !i.signedAnswers || m == Unsigned || !acceptsSigned(r) {
		writeJSON(w, c)
		return
	}
	k := i.SigningKey(i.defaultAlg)
	header := map[string]any{"alg": k.Alg, "kid": k.KID, "typ": "token-introspection+jwt"}
	claims := map[string]any{"iss": i.URL, "aud": id, "iat": now.Unix(), "token_introspection": maps.Clone(c)}
	if edit != nil {
		edit(header, claims)
	}
	jwt, err := k.Sign(header, claims)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", signedAnswerType)
	_, _ = w.Write([]byte(jwt))
}

// signedAnswerType is the media type of a signed introspection answer
// (RFC 9701 §4).
const signedAnswerType = "application/token-introspection+jwt"

// acceptsSigned reports whether r's Accept header names signedAnswerType.
func acceptsSigned(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, t := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(t, ";")
			if strings.EqualFold(strings.TrimSpace(mt), signedAnswerType) {
				return true
			}
		}
	}
	return false
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
	if _, ok := i.clientForm(w, r); !ok {
		return
	}
	if tok := r.PostForm.Get("token"); tok != "" {
		i.Revoke(tok)
	}
	w.WriteHeader(http.StatusOK)
}
