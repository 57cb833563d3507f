package grpcjwt

import (
	"context"
	"slices"
	"strings"
)

// Option configures a [Policy]: its rules, hooks, DPoP and stream expiry.
type Option func(*options)

// Authorizer is a check beyond scopes (tenant, organization, roles), run
// after the token is verified and its scopes found sufficient. fullMethod is
// "/package.Service/Method". A nil error allows the call; an error that is
// or wraps a gRPC status sends that status (only its own message, never the
// text of the wrapping, reaches the client); any other error becomes
// PermissionDenied "insufficient_scope".
type Authorizer func(ctx context.Context, fullMethod string, c *Claims) error

// RejectHook sees every call the interceptors refuse, with the cause; see
// [WithRejectHook].
type RejectHook func(ctx context.Context, fullMethod string, err error)

type options struct {
	rules             map[string]*ruleSpec // by full method, or service prefix ending in "/"
	order             []string             // rule names in the order first given, for Audit
	withoutOrg        map[string]bool      // methods and services whose .proto organization rule is removed
	authorizer        Authorizer
	onReject          RejectHook
	noStreamExpiry    bool
	dpop              *DPoPConfig // nil: DPoP off
	senderConstrained bool        // every method that reads a token requires a bound one

	resource *ResourceMetadata // nil: no WithResourceMetadata
}

// ruleSpec is what the options say of one method or service.
type ruleSpec struct {
	access            Access
	scopes            []string
	anyScopes         [][]string
	issuers           []string
	audiences         []string
	stepUp            *StepUp
	org               *OrganizationRule
	senderConstrained bool
	revocationCheck   bool      // see WithRevocationCheck, in revocation.go
	sets              dimension // what the options set, each given or not (see [compose])

	demands *demands // built by NewPolicy from the spec alone
}

func (o *options) spec(name string) *ruleSpec {
	if o.rules == nil {
		o.rules = make(map[string]*ruleSpec)
	}
	r, ok := o.rules[name]
	if !ok {
		r = &ruleSpec{access: AccessRequired}
		o.rules[name] = r
		o.order = append(o.order, name)
	}
	return r
}

func evaluateOptions(opts []Option) *options {
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// WithPublic makes methods public: no token is needed and none is parsed
// (health checks, reflection). A name is a full method
// ("/grpc.health.v1.Health/Check") or, ending in "/", a whole service
// ("/grpc.health.v1.Health/").
//
// Each With option sets one dimension of a method's rule and leaves the
// others to its service's Go rule and to its .proto option (see [Rule]);
// WithPublic and [WithOptional] set its access. A method public by its
// service, or by its .proto option, that a more specific level gives a
// requirement (a scope, step-up, ...) still needs a token; and a
// WithPublic over a .proto organization rule leaves the method requiring
// a token, which [Policy.Audit] refuses (see [WithoutOrganization]).
// Audit refuses too a name made public and given a requirement.
func WithPublic(methods ...string) Option {
	return func(o *options) {
		for _, m := range methods {
			s := o.spec(m)
			s.access = AccessPublic
			s.sets |= dimAccess
		}
	}
}

// WithOptional makes a token optional on methods: without one the handler
// runs with no claims in its context; a token that is present must be valid.
// Names are as for [WithPublic]. It sets the access of their rules, and
// nothing else: scopes their service or .proto option requires stay, and
// [Policy.Audit] refuses an optional method with scopes; drop them with
// WithScopes(method).
func WithOptional(methods ...string) Option {
	return func(o *options) {
		for _, m := range methods {
			s := o.spec(m)
			s.access = AccessOptional
			s.sets |= dimAccess
		}
	}
}

// WithScopes requires a valid token carrying every one of scopes on method
// (a full method or a service ending in "/"); a token that lacks one gets
// PermissionDenied "insufficient_scope", which names the scopes the method
// requires ([ScopeKey], and scope in the HTTP challenge). Scopes match
// exactly, item by item. For "this scope or those", see [WithAnyScopes].
//
// It sets the scopes of method's rule, with [WithAnyScopes], in place of
// those of a less specific level (its service's Go rule, its .proto
// option), and leaves the rest of the rule to them (see [Rule]): a method
// that needs its service's scopes and more lists them all. Given with no
// scopes, it still sets them, to none: WithScopes(method) is how one
// method of a scoped service requires no scope. Given twice for one
// method, the scopes add up.
func WithScopes(method string, scopes ...string) Option {
	return func(o *options) {
		s := o.spec(method)
		s.scopes = append(s.scopes, scopes...)
		s.sets |= dimScopes
	}
}

// WithAnyScopes adds alternatives to the scopes method (a full method or a
// service ending in "/") requires: beside every scope of [WithScopes], a
// token must carry every scope of at least one of groups. Scopes match
// exactly, as for WithScopes:
//
//	grpcjwt.WithAnyScopes("/bank.v1.Accounts/Balance",
//		[]string{"read:all"},
//		[]string{"read:own", "org:member"},
//	)
//
// reads "read:all, or both read:own and org:member". A valid token that
// meets no group gets PermissionDenied "insufficient_scope", which tells
// the client the scopes of the first group that would succeed (see
// [Policy.Status]): list the group clients should ask for first. Given
// twice for one method, the groups add up. [Policy.Audit] refuses an
// empty group, which any token would meet. Scopes and their alternatives
// are one dimension of a rule: like [WithScopes], WithAnyScopes sets both
// in place of those of a less specific level.
func WithAnyScopes(method string, groups ...[]string) Option {
	return func(o *options) {
		s := o.spec(method)
		for _, g := range groups {
			s.anyScopes = append(s.anyScopes, slices.Clone(g))
		}
		s.sets |= dimScopes
	}
}

// WithIssuers makes method (a full method or a service ending in "/")
// accept the tokens of issuers only, among those the [Validator] trusts
// (exact iss values): a partner's issuer, trusted for two methods, is
// named by their rules and left out of the others'. By default a method
// accepts every trusted issuer. A token of another one gets
// Unauthenticated "invalid_token" ([ErrUntrustedIssuer]). [Policy.Audit]
// refuses an issuer the Validator does not trust. Given twice for one
// method, the lists add up. It sets the issuers of method's rule in place
// of those of a less specific level, and leaves the rest of the rule to
// them (see [Rule]); given with none, it sets them to every trusted
// issuer.
func WithIssuers(method string, issuers ...string) Option {
	return func(o *options) {
		s := o.spec(method)
		s.issuers = append(s.issuers, issuers...)
		s.sets |= dimIssuers
	}
}

// WithAudiences makes method (a full method or a service ending in "/")
// accept only tokens for one of audiences (exact aud values) that the
// token's own issuer accepts. By default any audience its issuer accepts
// will do. Another token gets Unauthenticated "invalid_token"
// ([ErrAudienceMismatch]). [Policy.Audit] refuses an audience that no
// issuer the method accepts is configured to accept. Given twice for one
// method, the lists add up. It sets the audiences of method's rule in
// place of those of a less specific level, and leaves the rest of the
// rule to them (see [Rule]); given with none, it sets them to any its
// issuer accepts.
func WithAudiences(method string, audiences ...string) Option {
	return func(o *options) {
		s := o.spec(method)
		s.audiences = append(s.audiences, audiences...)
		s.sets |= dimAudiences
	}
}

// WithAuthorizer adds a check run on every authenticated call after the
// scope check. See [Authorizer].
func WithAuthorizer(f Authorizer) Option {
	return func(o *options) { o.authorizer = f }
}

// WithRejectHook calls f for every call the policy refuses, with the
// cause: an error matching one of the sentinels ([ErrHeaderMissing],
// [ErrInvalidToken] and its cause such as [ErrTokenExpired],
// [ErrInsufficientScope] naming the missing scope) or an [Authorizer]'s own
// status error. The client only ever sees the status; f is where servers
// log, count or trace the reason. f runs on the request path: keep it
// cheap, and never log the token.
//
// fullMethod is the name the caller sent, which on a server with an
// unknown-service handler may be any string: names longer than 256 bytes
// are cut (and end in "…"), so that it can be logged as it is. It is still
// the caller's choice: do not use it as a metric label unless it is one the
// server has. The error's text is bounded too.
func WithRejectHook(f RejectHook) Option {
	return func(o *options) { o.onReject = f }
}

// serviceOf returns "/package.Service/" of "/package.Service/Method".
func serviceOf(fullMethod string) string {
	if i := strings.LastIndexByte(fullMethod, '/'); i > 0 {
		return fullMethod[:i+1]
	}
	return fullMethod
}

// WithoutStreamExpiry lets streams outlive their token, and their login.
// By default, a stream authorized with a token ends when the token expires
// (exp plus the Validator's leeway): the handler's context is cancelled,
// and the stream ends with Unauthenticated "invalid_token" as soon as the
// handler returns, or 100 ms later if it does not (a handler blocked in
// Recv returns only once the stream ends). On a method whose [StepUp] rule
// has a MaxAge, it ends the same way when its login gets too old first,
// with Unauthenticated "insufficient_user_authentication". It costs one
// timer a stream, nothing a message.
func WithoutStreamExpiry() Option {
	return func(o *options) { o.noStreamExpiry = true }
}

// WithSenderConstrained requires, on methods (full methods, or services
// ending in "/"), a token bound to a key the caller proves it holds: a
// client certificate (cnf x5t#S256, RFC 8705) presented on the call's TLS
// connection, or a DPoP key (cnf jkt, RFC 9449, with [WithDPoP]) whose
// proof comes with the call. A plain bearer token gets Unauthenticated
// "invalid_token" ([ErrBindingRequired]). [WithSenderConstrainedEverywhere]
// requires it on every method. It adds to the rest of their rules, from
// their service's Go rule and their .proto options (see [Rule]), and no
// level can switch it off again.
func WithSenderConstrained(methods ...string) Option {
	return func(o *options) {
		for _, m := range methods {
			s := o.spec(m)
			s.senderConstrained = true
			s.sets |= dimSenderConstrained
		}
	}
}

// WithoutOrganization removes, from methods (full methods, or services
// ending in "/"), the organization rule their .proto options declare, and
// nothing else: the rest of their rule is unchanged. It is the only way a
// Go option switches tenant isolation off: any other Go rule for such a
// method keeps its .proto organization rule (rules compose dimension by
// dimension, see [Rule]), and a Go option that makes it public without
// this one leaves it requiring a token for its organization, which
// [Policy.Audit] reports. A Go organization rule ([WithOrganization]) is
// not removed: it replaces the .proto one, as any more specific level
// does.
func WithoutOrganization(methods ...string) Option {
	return func(o *options) {
		if o.withoutOrg == nil {
			o.withoutOrg = make(map[string]bool)
		}
		for _, m := range methods {
			o.withoutOrg[m] = true
		}
	}
}

// WithSenderConstrainedEverywhere requires, on every method that reads a
// token, one bound to a key the caller proves it holds, as
// [WithSenderConstrained] does for the methods it names. [Policy.Audit]
// shows it on every such rule.
func WithSenderConstrainedEverywhere() Option {
	return func(o *options) { o.senderConstrained = true }
}

// WithDPoP accepts DPoP-bound access tokens (RFC 9449) under grpcjwt's gRPC
// profile; see [DPoPConfig]. Without it, the DPoP scheme is refused
// (auth.authorization_token_type_not_supported), and so is a DPoP-bound
// token sent as a bearer token. [NewPolicy] fails when c names an
// algorithm that is not allowed.
func WithDPoP(c DPoPConfig) Option {
	return func(o *options) { o.dpop = &c }
}
