package grpcjwt

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/status"
)

// Policy owns every decision about calls: which methods need a token and
// which scopes, organizations, certificate and DPoP binding, the
// authorizer, the reject hook and stream expiry. It is built once, from a
// [Validator] and the rules (Go options here, and the methods' .proto
// options), and gives every door onto it: the grpc-go interceptors
// ([Policy.UnaryServerInterceptor], [Policy.StreamServerInterceptor]),
// go-grpc-middleware's auth function ([Policy.AuthFunc]), and
// [Policy.Audit], which reports exactly what calls will meet, because it
// reads the same compiled rules. Doors for other transports use its
// transport-neutral core: [Policy.Check], [Policy.Authenticate] and
// [Policy.CheckMessage].
//
// A Policy is safe for concurrent use. It holds no goroutine: closing the
// Validator is all there is to close.
type Policy struct {
	v     *Validator
	opts  *options
	dpop  *dpopVerifier // nil: DPoP off
	rules ruleCache

	resource *protectedResource // nil: no WithResourceMetadata

	// statuses maps the status [Status] returns for a wire reason to the
	// one this policy sends, where they differ; built by NewPolicy, read
	// only after.
	statuses map[*status.Status]*status.Status
}

// NewPolicy builds the policy of v and opts, and with it, once, every
// status and challenge its refusals are sent with (see [Policy.Status]).
// It fails only when an option is invalid (a DPoP algorithm that is not
// allowed, a URL of [WithResourceMetadata] that is not one); the rules
// themselves are checked against a server by [Policy.Audit].
func NewPolicy(v *Validator, opts ...Option) (*Policy, error) {
	if v == nil {
		return nil, errors.New("grpcjwt: NewPolicy needs a Validator")
	}
	p := &Policy{v: v, opts: evaluateOptions(opts)}
	if p.opts.dpop != nil {
		d, err := newDPoPVerifier(p.opts.dpop, v.now)
		if err != nil {
			return nil, err
		}
		p.dpop = d
	}
	if p.opts.resource != nil {
		r, err := newProtectedResource(*p.opts.resource)
		if err != nil {
			return nil, err
		}
		p.resource = r
	}
	if err := p.buildStatuses(); err != nil {
		return nil, err
	}
	for _, spec := range p.opts.rules {
		l := spec.level("")
		spec.demands = p.newDemands(&l.Rule)
	}
	return p, nil
}

// Call is what a door knows of a call, in no transport's terms: the facts
// the policy decides on.
type Call struct {
	// Method is the full method, "/package.Service/Method" (a Connect
	// procedure has the same form).
	Method string

	// Authorization holds the call's "authorization" values (gRPC metadata
	// or HTTP header fields), as sent: none, one, or (refused) more.
	Authorization []string

	// DPoP holds the call's "dpop" values, and HTM and HTU the method and
	// URL a DPoP proof's htm and htu must equal (see [WithDPoP]; HTM
	// defaults to "POST", as gRPC and Connect calls are). A door fills them
	// when the authorization scheme is DPoP; without them a DPoP call is
	// refused.
	DPoP []string
	HTM  string
	HTU  string

	// PeerCertificate is the certificate the client presented in the TLS
	// handshake of the call's connection, or nil. It is where a
	// certificate-bound token's binding is checked; a door takes it from
	// the connection, never from anything the client sends.
	PeerCertificate *x509.Certificate
}

// Check decides call, whose request message is msg: it returns the
// verified claims (nil for a call allowed without a token), or the one
// reason it is refused, an error for [Status] to turn into what the client
// receives. A rule that reads the request (an organization rule) refuses
// a call whose msg is nil. The decision is reported to the Validator's
// observer, and a refusal to the reject hook.
func (p *Policy) Check(ctx context.Context, call *Call, msg any) (*Claims, error) {
	var buf compiledRule
	r := p.rule(call.Method, &buf)
	c, proof, err := p.authenticate(ctx, call, r)
	if err == nil && r.hasOrganization() {
		if msg == nil {
			err = fmt.Errorf("%w: no request message to check the organization rule against (an auth function sees none: use the interceptors)", ErrOrganizationMismatch)
		} else {
			err = r.checkOrganization(c, msg)
		}
	}
	return p.decided(ctx, call.Method, r, c, proof, err)
}

// Authenticate decides call before its request is read: everything but
// the organization rule, whose messages the door then checks one by one
// with [Policy.CheckMessage] (streams, and doors that refuse a call before
// decoding its body). Otherwise it is [Policy.Check].
func (p *Policy) Authenticate(ctx context.Context, call *Call) (*Claims, error) {
	a, err := p.Admit(ctx, call)
	return a.Claims, err
}

// Admission is a call let in by [Policy.Admit]: its claims, and what its
// door must still do for it, read from the same rule that decided it.
type Admission struct {
	// Claims are the verified claims; nil for a call allowed without a
	// token.
	Claims *Claims

	needsMessages bool
	registered    bool
}

// NeedsMessages reports whether the method's rule reads its request
// messages, which the door must then pass one by one to
// [Policy.CheckMessage]: [Policy.NeedsMessages], without a second lookup
// of the rule.
func (a Admission) NeedsMessages() bool { return a.needsMessages }

// Registered reports whether the method is one the protobuf registry
// knows: a path of the form "/package.Service/Method" that a gRPC or
// Connect server may serve, rather than a name the policy decided by its
// default rule (an HTTP route, or a path a client made up).
func (a Admission) Registered() bool { return a.registered }

// Admit is [Policy.Authenticate] for a door that goes on guarding the call
// once it is let in: it decides call the same way, reports the decision
// the same way, and returns with the claims what the door must still do,
// so that one lookup of the method's rule serves the whole call.
func (p *Policy) Admit(ctx context.Context, call *Call) (Admission, error) {
	var buf compiledRule
	r := p.rule(call.Method, &buf)
	c, proof, err := p.authenticate(ctx, call, r)
	c, err = p.decided(ctx, call.Method, r, c, proof, err)
	if err != nil {
		return Admission{}, err
	}
	return Admission{Claims: c, needsMessages: r.hasOrganization(), registered: r.registered}, nil
}

// CheckMessage checks one request message of a call admitted by
// [Policy.Authenticate] with claims c against its method's organization
// rule, and reports a refusal to the reject hook (not as a second
// decision: the call was decided when it was admitted). A method without
// an organization rule accepts every message.
func (p *Policy) CheckMessage(ctx context.Context, method string, c *Claims, msg any) error {
	var buf compiledRule
	r := p.rule(method, &buf)
	if !r.hasOrganization() {
		return nil
	}
	if err := r.checkOrganization(c, msg); err != nil {
		p.reject(ctx, method, err)
		return err
	}
	return nil
}

// NeedsMessages reports whether method's rule reads its request messages,
// so that a door knows whether to call [Policy.CheckMessage].
func (p *Policy) NeedsMessages(method string) bool {
	var buf compiledRule
	r := p.rule(method, &buf)
	return r.hasOrganization()
}

// StreamTimeout returns how long from now a stream of method admitted with
// claims c may run, measured on the Validator's clock ([Config.Now]):
// until its token's exp, or, when the method's [StepUp] rule has a MaxAge
// and that comes first, until its login gets too old (auth_time plus
// MaxAge), each plus the Validator's leeway. It reports false for a call
// without a token or with [WithoutStreamExpiry].
func (p *Policy) StreamTimeout(method string, c *Claims) (time.Duration, bool) {
	if c == nil || p.opts.noStreamExpiry {
		return 0, false
	}
	var buf compiledRule
	end, _ := p.streamEnd(p.rule(method, &buf), c)
	return end.Sub(p.v.now()), true
}

// StreamExpired returns the refusal to end a stream of method admitted
// with claims c with, once the time [Policy.StreamTimeout] gave it has
// passed, and reports it to the reject hook: Unauthenticated
// "invalid_token" ([ErrTokenExpired]) when its token expired, or
// Unauthenticated "insufficient_user_authentication"
// ([ErrInsufficientUserAuthentication], whose status names the max_age)
// when its login got too old first.
func (p *Policy) StreamExpired(ctx context.Context, method string, c *Claims) error {
	var buf compiledRule
	r := p.rule(method, &buf)
	var err error
	if c != nil {
		if _, byLogin := p.streamEnd(r, c); byLogin {
			err = p.loginTooOld(r, c)
		}
	}
	if err == nil {
		err = tokenErr(ErrTokenExpired, "the stream outlived its token")
	}
	p.reject(ctx, method, err)
	return err
}

// streamEnd is when a stream of rule r admitted with claims c ends: at its
// token's exp, or when its login gets older than the MaxAge of r's
// [StepUp] rule, if that comes first (byLogin), each with the leeway.
func (p *Policy) streamEnd(r *compiledRule, c *Claims) (end time.Time, byLogin bool) {
	end = c.ExpiresAt.Add(p.v.leeway)
	if s := r.StepUp; s != nil && s.MaxAge > 0 && !c.AuthTime.IsZero() {
		if login := s.loginEnd(c, p.v.leeway); login.Before(end) {
			return login, true
		}
	}
	return end, false
}

// loginTooOld is the refusal of a stream of rule r, admitted with claims
// c, whose login got older than its MaxAge.
func (p *Policy) loginTooOld(r *compiledRule, c *Claims) error {
	return &ruleRefusal{
		reason: ErrInsufficientUserAuthentication, answer: p.demandsOf(r).stepUp,
		why: streamOutlivedLogin, stepUp: r.StepUp, claims: c, leeway: p.v.leeway,
	}
}

// decided records the proof of a call that passed every check, reports
// the decision, and returns the claims or the refusal.
func (p *Policy) decided(ctx context.Context, method string, r *compiledRule, c *Claims, proof *dpopProof, err error) (*Claims, error) {
	if err == nil {
		err = proof.record(ctx)
	}
	if o := p.v.observer; o != nil {
		d := Decision{Method: UnknownMethod, Result: resultOf(err), Cause: CauseOf(err)}
		if r.known {
			d.Method = method
		}
		o.ObserveDecision(ctx, d)
	}
	if err != nil {
		p.reject(ctx, method, err)
		return nil, err
	}
	return c, nil
}

// reject tells the reject hook why a call of method was refused.
func (p *Policy) reject(ctx context.Context, method string, err error) {
	if p.opts.onReject != nil {
		p.opts.onReject(ctx, truncateTo(method, maxMethodName), err)
	}
}

// credentials applies steps 1 and 2 of [Policy.authenticate] to a call's
// authorization values under rule r: it returns the call's token and
// whether its scheme is DPoP, no token and no error when the call is
// allowed without one, or the refusal of its credentials.
//
// When the token is in the Validator's cache it returns its claims too,
// having read only the value's scheme: the cache holds tokens read from
// such values before, so the exact same string needs no reading.
func (p *Policy) credentials(ctx context.Context, r *compiledRule, authorization []string) (token string, dpop bool, c *Claims, err error) {
	if r.Access == AccessPublic {
		return "", false, nil, nil
	}
	if len(authorization) == 1 {
		scheme, rest := nextField(authorization[0])
		rest = trimLeftSpace(rest)
		bearer := equalFoldASCII(scheme, "Bearer")
		if bearer || p.dpop != nil && equalFoldASCII(scheme, "DPoP") {
			if c := p.v.cachedCredentials(ctx, rest); c != nil {
				return rest, !bearer, c, nil
			}
		}
	}
	token, dpop, err = credentialsOf(authorization)
	if err == nil && dpop && p.dpop == nil {
		err = ErrSchemeNotSupported
	}
	if err != nil && r.Access == AccessOptional && errors.Is(err, ErrHeaderMissing) {
		return "", false, nil, nil
	}
	return token, dpop, nil, err
}

// authenticate applies every part of rule r but the organization check. It
// returns the verified claims and the call's verified DPoP proof, not yet
// recorded (nil without one), or nil and no error for a call allowed
// without a token, or the reason for a refusal. The checks, cheapest
// first:
//
//  1. access: a public method reads no credentials;
//  2. credentials: one authorization value, Bearer (or DPoP with
//     [WithDPoP]); none is fine on an optional method;
//  3. the token, by the Validator (which checks no binding and no rule);
//  4. the rule's issuers and audiences;
//  5. binding: a certificate-bound token with the call's certificate, a
//     DPoP-bound one with its proof (verified, not recorded);
//  6. the sender constraint of the rule;
//  7. an organization token only where an organization rule reads the
//     audience;
//  8. step-up: the login behind the token (a 401, before any 403);
//  9. scopes (all, then one group of the alternatives);
//  10. revocation: on a method that checks it, a JWT confirmed active at
//     its issuer's introspection endpoint (a request, unless its answer is
//     cached: last of the policy's own checks);
//  11. the authorizer.
func (p *Policy) authenticate(ctx context.Context, call *Call, r *compiledRule) (*Claims, *dpopProof, error) {
	token, dpop, c, err := p.credentials(ctx, r, call.Authorization)
	if token == "" || err != nil {
		return nil, nil, err
	}
	if c == nil {
		if c, err = p.v.Validate(ctx, token); err != nil {
			return nil, nil, err
		}
	}
	if err := p.checkAccepted(r, c, call.Method); err != nil {
		return nil, nil, err
	}
	if err := checkBinding(c, call.PeerCertificate, dpop); err != nil {
		return nil, nil, err
	}
	var proof *dpopProof
	if dpop {
		htm := call.HTM
		if htm == "" {
			htm = "POST"
		}
		if proof, err = p.dpop.verify(call.DPoP, htm, call.HTU, token, c); err != nil {
			return nil, nil, err
		}
	}
	if r.SenderConstrained && c.Confirmation.X5TS256 == "" && !dpop {
		return nil, nil, tokenErr(ErrBindingRequired, "a bearer token where a sender-constrained one is required")
	}
	if c.AudienceSuffix != "" && !r.acceptsOrganizationTokens() {
		// An organization token's scopes are the organization's
		// permissions, not the API's: it is for methods that check the
		// organization by its audience, and no others.
		return nil, nil, tokenErr(ErrAudienceMismatch, fmt.Sprintf("audience %q was accepted by its prefix, and %s has no organization rule that reads the audience", truncate(c.MatchedAudience), truncateTo(call.Method, maxMethodName)))
	}
	if s := r.StepUp; s != nil {
		var now time.Time // read only for a max_age: a clock reading costs a fifth of a cache hit
		if s.MaxAge > 0 {
			now = p.v.now()
		}
		if why := s.check(c, now, p.v.leeway); why != noShortfall {
			return nil, nil, &ruleRefusal{
				reason: ErrInsufficientUserAuthentication, answer: p.demandsOf(r).stepUp,
				why: why, stepUp: s, claims: c, now: now, leeway: p.v.leeway,
			}
		}
	}
	if err := p.checkScopes(r, c); err != nil {
		return nil, nil, err
	}
	if r.RevocationCheck && !c.Introspected() {
		if err := p.v.confirmActive(ctx, token, c); err != nil {
			return nil, nil, err
		}
	}
	if p.opts.authorizer != nil {
		if err := p.opts.authorizer(ctx, call.Method, c); err != nil {
			if _, ok := statusOf(err); ok {
				return nil, nil, err // the hook sees it all; Status sends the status alone
			}
			return nil, nil, fmt.Errorf("%w: %w", ErrInsufficientScope, err)
		}
	}
	return c, proof, nil
}
