package grpcjwt

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// This file is what a refusal tells a client beside its wire code: what
// would succeed, never why its token failed. Each status a policy sends
// is built once: per policy for every wire reason (the resource_metadata
// URL, the accepted DPoP algorithms), per rule for the refusals that say
// what the method requires (its scopes, its acr_values and max_age), along
// with their WWW-Authenticate challenges. Sending one allocates nothing.

// The google.rpc.ErrorInfo metadata keys under which a refusal tells the
// client what would succeed, beside "code" (the wire code) and
// [ResourceMetadataKey]. Each value is written as the parameter of the
// same name in a WWW-Authenticate challenge ([Policy.Challenge]).
const (
	// ScopeKey: on insufficient_scope, the scopes that would succeed,
	// space-separated (RFC 6750 §3): those the method requires, and with
	// alternatives ([WithAnyScopes]) those of the first group.
	ScopeKey = "scope"
	// ACRValuesKey: on insufficient_user_authentication, the acr values
	// the login may have, space-separated in order of preference (RFC
	// 9470 §3), when the method requires one ([StepUp.ACRValues]).
	ACRValuesKey = "acr_values"
	// MaxAgeKey: on insufficient_user_authentication, how old the login
	// may be, in decimal seconds (RFC 9470 §3), when the method limits it
	// ([StepUp.MaxAge]).
	MaxAgeKey = "max_age"
	// AlgsKey: on invalid_dpop_proof, the proof algorithms the server
	// accepts, space-separated (RFC 9449 §7.1), with [WithDPoP].
	AlgsKey = "algs"
)

// dpopReasons are the refusals of a call's DPoP proof, whose statuses name
// the accepted algorithms ([AlgsKey]).
var dpopReasons = []error{ErrInvalidDPoPProof, ErrUseDPoPNonce}

// buildStatuses builds the status the policy sends for each wire reason
// whose status says more than [Status]'s: the resource_metadata URL of
// [WithResourceMetadata] on every one, and the algorithms of [WithDPoP] on
// the DPoP refusals.
func (p *Policy) buildStatuses() error {
	p.statuses = make(map[*status.Status]*status.Status)
	for _, w := range wireReasons {
		md := make(map[string]string, 2)
		if p.resource != nil {
			md[ResourceMetadataKey] = p.resource.URL
		}
		if p.dpop != nil && slices.Contains(dpopReasons, w.err) {
			md[AlgsKey] = p.dpop.algNames
		}
		if len(md) == 0 {
			continue
		}
		s, err := withErrorInfoMetadata(w.status, md)
		if err != nil {
			return fmt.Errorf("grpcjwt: NewPolicy: %w", err)
		}
		p.statuses[w.status] = s
	}
	return nil
}

// Status returns the gRPC status a client of the policy receives for a
// refusal err: the status [Status] returns, with what the policy adds to
// its google.rpc.ErrorInfo metadata, as every door onto the policy sends
// it:
//
//   - every refusal: with [WithResourceMetadata], the resource_metadata
//     URL ([ResourceMetadataKey]);
//   - insufficient_scope for the method's scopes: the scopes that would
//     succeed ([ScopeKey]); not when an [Authorizer] refused the call;
//   - insufficient_user_authentication: the acr_values and max_age of the
//     method's [StepUp] rule ([ACRValuesKey], [MaxAgeKey]);
//   - invalid_dpop_proof: with [WithDPoP], the accepted proof algorithms
//     ([AlgsKey]).
//
// Nothing in it says why a token failed. Each status is built once, with
// the policy or with the method's rule: like Status, it allocates nothing.
// An [Authorizer]'s own status is returned as it is, and nil for a nil
// err.
func (p *Policy) Status(err error) *status.Status {
	if rr, ok := errors.AsType[*ruleRefusal](err); ok && rr.answer != nil {
		return rr.answer.status
	}
	s := Status(err)
	if own, ok := p.statuses[s]; ok {
		return own
	}
	return s
}

// answer is how a policy answers one refusal by a method's rule: the
// status, and the challenges of a call whose scheme was Bearer or DPoP.
type answer struct {
	status       *status.Status
	bearer, dpop string
}

// demands are the answers of a rule's refusals that tell the client what
// the rule requires; nil where it requires nothing of the kind.
type demands struct {
	scope  *answer // insufficient_scope, naming the scopes
	stepUp *answer // insufficient_user_authentication, naming acr_values and max_age
}

// newDemands builds the demands of r, or returns nil when it has no scope
// or step-up to tell. A value a challenge could not carry as it is (a
// scope that is no scope-token, an acr value with a space or a quote),
// which [Policy.Audit] refuses, leaves its parameter out.
func (p *Policy) newDemands(r *Rule) *demands {
	if r.Access == AccessPublic || len(r.Scopes) == 0 && len(r.AnyScopes) == 0 && r.StepUp == nil {
		return nil
	}
	d := new(demands)
	if scopes := successfulScopes(r); len(scopes) > 0 {
		md := map[string]string{}
		var params []string
		if allScopeTokens(scopes) {
			v := strings.Join(scopes, " ")
			md[ScopeKey] = v
			params = append(params, scopeParam(v))
		}
		d.scope = p.newAnswer(ErrInsufficientScope, CodeInsufficientScope, md, params)
	}
	if r.StepUp != nil {
		md := map[string]string{}
		params := r.StepUp.challengeParams(md)
		d.stepUp = p.newAnswer(ErrInsufficientUserAuthentication, CodeInsufficientUserAuthentication, md, params)
	}
	return d
}

// newAnswer is the answer to a refusal for reason, whose wire code is
// code: the policy's status of reason with md added to its ErrorInfo
// metadata, and challenges whose error carries params.
func (p *Policy) newAnswer(reason error, code string, md map[string]string, params []string) *answer {
	s := p.Status(reason)
	if len(md) > 0 {
		var err error
		if s, err = withErrorInfoMetadata(s, md); err != nil {
			// Every wire reason's status has an ErrorInfo, and strings
			// always marshal.
			panic(err)
		}
	}
	return &answer{
		status: s,
		bearer: p.challenges(code, params, false),
		dpop:   p.challenges(code, params, true),
	}
}

// demandsOf returns the demands of r: those built with it, or, for a rule
// resolved for one call and not kept (a name the program does not know,
// under a .proto service rule), built now.
func (p *Policy) demandsOf(r *compiledRule) *demands {
	if r.demands != nil {
		return r.demands
	}
	return p.newDemands(&r.Rule)
}

// successfulScopes are the scopes a token of r's method needs to be let
// through by the scope check: r's Scopes, then those of its first group of
// alternatives that are not among them.
func successfulScopes(r *Rule) []string {
	scopes := slices.Clone(r.Scopes)
	if len(r.AnyScopes) > 0 {
		for _, s := range r.AnyScopes[0] {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	return scopes
}

// scopeParam is the auth-param scope, a quoted-string, of a checked
// space-separated list of scope-tokens.
func scopeParam(scopes string) string { return `scope="` + scopes + `"` }

// allScopeTokens reports whether every one of scopes is a scope-token.
func allScopeTokens(scopes []string) bool {
	for _, s := range scopes {
		if !isScopeToken(s) {
			return false
		}
	}
	return true
}

// ruleRefusal is the refusal of a valid token by its method's rule, for a
// reason whose status tells the client what would succeed: the scopes
// ([ErrInsufficientScope]) or the login ([ErrInsufficientUserAuthentication])
// the rule requires. It matches its reason with [errors.Is], and carries
// the rule's answer, for [Policy.Status] and [Policy.Challenge].
//
// What the token lacks is kept as facts and described only when Error is
// called, so that a refusal costs one allocation.
type ruleRefusal struct {
	reason error
	answer *answer // nil: the policy's plain answer to reason
	scope  string  // the scope the token lacks, if that is why
	detail string  // or how the token falls short, or:
	// how the login behind claims falls short of stepUp, at now with
	// leeway
	why    shortfall
	stepUp *StepUp
	claims *Claims
	now    time.Time
	leeway time.Duration
}

// Error names the reason and what the token lacks, for the server's logs
// and hooks (the client sees the status only).
func (e *ruleRefusal) Error() string {
	switch {
	case e.scope != "":
		return e.reason.Error() + ": token lacks scope " + strconv.Quote(e.scope)
	case e.why != noShortfall:
		return e.reason.Error() + ": " + e.stepUp.describe(e.why, e.claims, e.now, e.leeway)
	}
	return e.reason.Error() + ": " + e.detail
}

// Unwrap returns the reason.
func (e *ruleRefusal) Unwrap() error { return e.reason }

// withErrorInfoMetadata returns s with md added to the metadata of its
// google.rpc.ErrorInfo.
func withErrorInfoMetadata(s *status.Status, md map[string]string) (*status.Status, error) {
	p := s.Proto() // a copy
	found := false
	for i, d := range p.Details {
		var info errdetails.ErrorInfo
		if !d.MessageIs(&info) {
			continue
		}
		if err := d.UnmarshalTo(&info); err != nil {
			return nil, err
		}
		if info.Metadata == nil {
			info.Metadata = make(map[string]string, len(md))
		}
		maps.Copy(info.Metadata, md)
		a := new(anypb.Any)
		if err := anypb.MarshalFrom(a, &info, proto.MarshalOptions{Deterministic: true}); err != nil {
			return nil, err
		}
		p.Details[i], found = a, true
	}
	if !found {
		return nil, fmt.Errorf("the status %q has no ErrorInfo", s.Message())
	}
	return status.FromProto(p), nil
}
