package grpcjwt

import "strings"

// This file is how the levels of rules a method has compose into its one
// rule: each dimension (access, scopes, issuers, ...) is taken from the
// most specific level that sets it, so that an option adds or overrides
// what it names and never erases the rest.

// dimension is one thing a rule says of a method, which a level of rules
// either sets or leaves to the less specific levels.
type dimension uint8

const (
	dimAccess            dimension = 1 << iota // public or optional
	dimScopes                                  // Scopes and AnyScopes, as one
	dimIssuers                                 // Issuers
	dimAudiences                               // Audiences
	dimStepUp                                  // StepUp
	dimOrganization                            // Organization
	dimSenderConstrained                       // SenderConstrained, set only when true
	dimRevocationCheck                         // RevocationCheck, set only when true

	// dimRequirements are the dimensions that only a token can meet.
	dimRequirements = dimScopes | dimIssuers | dimAudiences | dimStepUp | dimOrganization | dimSenderConstrained | dimRevocationCheck
)

// dimensions lists every dimension with its name in [Rule.Source], the
// name of its .proto field ("access" for public and optional), in the
// order Source lists them.
var dimensions = [...]struct {
	d    dimension
	name string
}{
	{dimAccess, "access"},
	{dimScopes, "scopes"},
	{dimIssuers, "issuers"},
	{dimAudiences, "audiences"},
	{dimStepUp, "step_up"},
	{dimOrganization, "organization"},
	{dimSenderConstrained, "sender_constrained"},
	{dimRevocationCheck, "revocation_check"},
}

// The levels of rules of a method, most specific first.
const (
	goMethodLevel  = iota // the Go options that name the method
	goServiceLevel        // the Go options that name its service
	protoLevel            // its .proto option, or else its service's
	numLevels
)

// level is what one level of rules says of a method: a rule, whose Source
// names the level, and the dimensions of it that the level sets. The zero
// level sets nothing.
type level struct {
	Rule
	sets dimension
}

// take sets dimension d of r to what from says of it.
func (r *Rule) take(d dimension, from *Rule) {
	switch d {
	case dimAccess:
		r.Access = from.Access
	case dimScopes:
		r.Scopes, r.AnyScopes = from.Scopes, from.AnyScopes
	case dimIssuers:
		r.Issuers = from.Issuers
	case dimAudiences:
		r.Audiences = from.Audiences
	case dimStepUp:
		r.StepUp = from.StepUp
	case dimOrganization:
		r.Organization = from.Organization
	case dimSenderConstrained:
		r.SenderConstrained = from.SenderConstrained
	case dimRevocationCheck:
		r.RevocationCheck = from.RevocationCheck
	}
}

// compose is the rule of a method whose levels of rules are levels, most
// specific first:
//
//  1. each dimension comes from the most specific level that sets it; the
//     access is required when none does. SenderConstrained and
//     RevocationCheck are set only when true, so true at any level wins;
//  2. a public access from level L gives way to a required one when a
//     level more specific than L sets a requirement: a method that asks
//     something of a token needs one. Requirements set only at L or less
//     specific levels are ignored, and the method stays public;
//  3. a public access from a Go level gives way too when the .proto level
//     sets an organization rule, which Go options never drop silently
//     (publicOverride, which [Policy.Audit] refuses; only
//     [WithoutOrganization] removes the rule).
//
// gave says which dimensions of the rule each level gave it; the rule's
// Source names them (see [Rule]).
func compose(levels *[numLevels]level) (r Rule, gave [numLevels]dimension, publicOverride bool) {
	r.Access = AccessRequired
	for _, dim := range dimensions {
		for i := range levels {
			if levels[i].sets&dim.d != 0 {
				r.take(dim.d, &levels[i].Rule)
				gave[i] |= dim.d
				break
			}
		}
	}
	if r.Access == AccessPublic {
		from, moreSpecific := 0, dimension(0)
		for gave[from]&dimAccess == 0 {
			moreSpecific |= gave[from]
			from++
		}
		switch {
		case moreSpecific&dimRequirements != 0:
			r.Access = AccessRequired
			gave[from] &^= dimAccess
		case from != protoLevel && levels[protoLevel].sets&dimOrganization != 0:
			r.Access = AccessRequired
			publicOverride = true
		default:
			r = Rule{Access: AccessPublic}
			for i := range gave {
				gave[i] &= dimAccess
			}
		}
	}
	r.Source = sourceOf(levels, &gave)
	return r, gave, publicOverride
}

// sourceOf is the Source of a rule whose levels gave it what gave says:
// the name of the most specific level that gave something, then, for each
// less specific one that did, "+", its name, ":" and the names of what it
// gave, comma-separated; "default" when no level gave anything. A rule of
// one level costs no allocation.
func sourceOf(levels *[numLevels]level, gave *[numLevels]dimension) string {
	var s string
	for i := range levels {
		switch {
		case gave[i] == 0:
		case s == "":
			s = levels[i].Source
		default:
			var names []string
			for _, dim := range dimensions {
				if gave[i]&dim.d != 0 {
					names = append(names, dim.name)
				}
			}
			s += "+" + levels[i].Source + ":" + strings.Join(names, ",")
		}
	}
	if s == "" {
		return "default"
	}
	return s
}
