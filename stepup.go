package grpcjwt

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	grpcjwtv1 "github.com/grpcjwt/grpcjwt/proto/grpcjwt/v1"
)

// This file is step-up authentication (RFC 9470): a method's requirement
// on the login behind a token (its acr, amr and auth_time claims), checked
// when a call is decided and, for max_age, for as long as a stream runs.

// StepUp is what a method requires of the login behind a token (RFC 9470):
// an authentication context, authentication methods, a recent login. Each
// field that is set must be met; a valid token that falls short gets
// Unauthenticated "insufficient_user_authentication"
// ([ErrInsufficientUserAuthentication]), whose google.rpc.ErrorInfo (and
// WWW-Authenticate challenge, over HTTP) tells the client the acr_values
// and max_age to ask its authorization server for (RFC 9470 §3, §4). See
// [WithStepUp], and the step_up field of the grpcjwt.v1 .proto rule.
//
// The claims are read from the token exactly ([Claims.ACR], [Claims.AMR],
// [Claims.AuthTime]). Providers put them in tokens of user grants only:
// a client-credentials token has none, and never meets a StepUp rule.
// [Policy.Audit] refuses a rule that requires nothing, a value that a
// challenge could not carry (empty, or with a space, a quote, a backslash,
// a byte outside printable ASCII), a negative MaxAge, one that is not a
// whole number of seconds, and a StepUp rule on a public method.
type StepUp struct {
	// ACRValues: the token's acr must be one of them, exactly. They are
	// told to the client, space-separated, in this order, which RFC 9470
	// calls the order of preference: Logto's are "urn:logto:acr:mfa" and
	// "urn:logto:acr:1fa".
	ACRValues []string

	// AMR: the token's amr must contain every one of them (RFC 8176
	// values, such as "mfa", "otp", "hwk"). RFC 9470 has no parameter for
	// methods, so a refusal cannot name them: where the authorization
	// server has an acr value that implies them, require that instead, so
	// that the client knows what to ask for.
	AMR []string

	// MaxAge: the token's auth_time must be at most MaxAge before now (the
	// Validator's clock, [Config.Now], with its [Config.Leeway]); a token
	// without auth_time falls short. Zero: no limit. A stream admitted with
	// such a rule ends when its login gets too old, as it ends when its
	// token expires ([Policy.StreamServerInterceptor]; not with
	// [WithoutStreamExpiry]). It is told to the client in whole seconds.
	MaxAge time.Duration
}

// WithStepUp requires, on method (a full method or a service ending in
// "/"), a token from a login that meets s; see [StepUp]. It sets the
// step-up of method's rule in place of that of a less specific level (its
// service's Go rule, its .proto option), and leaves the rest of the rule
// to them (see [Rule]): the scopes its service or its .proto option
// requires still apply. Given twice for one method, the last wins.
func WithStepUp(method string, s StepUp) Option {
	return func(o *options) {
		s.ACRValues = slices.Clone(s.ACRValues)
		s.AMR = slices.Clone(s.AMR)
		spec := o.spec(method)
		spec.stepUp = &s
		spec.sets |= dimStepUp
	}
}

// String formats the rule for [MethodRule.String]:
// "step-up(acr=urn:logto:acr:mfa amr=otp max_age=300s)".
func (s *StepUp) String() string {
	var parts []string
	if len(s.ACRValues) > 0 {
		parts = append(parts, "acr="+strings.Join(s.ACRValues, "|"))
	}
	if len(s.AMR) > 0 {
		parts = append(parts, "amr="+strings.Join(s.AMR, "+"))
	}
	if s.MaxAge != 0 {
		parts = append(parts, "max_age="+s.MaxAge.String())
	}
	return "step-up(" + strings.Join(parts, " ") + ")"
}

// stepUpFromProto is the StepUp of a .proto rule, or nil.
func stepUpFromProto(p *grpcjwtv1.StepUp) *StepUp {
	if p == nil {
		return nil
	}
	return &StepUp{
		ACRValues: p.GetAcrValues(),
		AMR:       p.GetAmr(),
		MaxAge:    time.Duration(p.GetMaxAgeSeconds()) * time.Second,
	}
}

// stepUpToProto is s as the catalog sends it.
func stepUpToProto(s *StepUp) *grpcjwtv1.StepUp {
	if s == nil {
		return nil
	}
	return &grpcjwtv1.StepUp{
		AcrValues:     slices.Clone(s.ACRValues),
		Amr:           slices.Clone(s.AMR),
		MaxAgeSeconds: int64(s.MaxAge / time.Second),
	}
}

// shortfall is how the login behind a token falls short of a StepUp rule.
type shortfall uint8

const (
	noShortfall         shortfall = iota
	acrMissing                    // the token has no acr
	acrOther                      // its acr is none of the rule's
	amrMissing                    // its amr lacks one of the rule's
	authTimeMissing               // it has no auth_time, and the rule a MaxAge
	authTimeTooOld                // its auth_time is more than MaxAge ago
	streamOutlivedLogin           // a stream ran past auth_time plus MaxAge
)

// check says how the login behind claims c falls short of s at now, with
// leeway, if it does.
func (s *StepUp) check(c *Claims, now time.Time, leeway time.Duration) shortfall {
	if len(s.ACRValues) > 0 && !slices.Contains(s.ACRValues, c.ACR) {
		if c.ACR == "" {
			return acrMissing
		}
		return acrOther
	}
	for _, m := range s.AMR {
		if !slices.Contains(c.AMR, m) {
			return amrMissing
		}
	}
	if s.MaxAge > 0 {
		if c.AuthTime.IsZero() {
			return authTimeMissing
		}
		if now.After(s.loginEnd(c, leeway)) {
			return authTimeTooOld
		}
	}
	return noShortfall
}

// describe says how claims c fall short of s (why, at now with leeway),
// for the server's logs, never for the client; values from the token are
// bounded.
func (s *StepUp) describe(why shortfall, c *Claims, now time.Time, leeway time.Duration) string {
	switch why {
	case acrMissing:
		return "the token has no acr"
	case acrOther:
		return fmt.Sprintf("acr %q is not one of %q", truncate(c.ACR), s.ACRValues)
	case amrMissing:
		for _, m := range s.AMR {
			if !slices.Contains(c.AMR, m) {
				return fmt.Sprintf("amr (%d values) lacks %q", len(c.AMR), m)
			}
		}
	case authTimeMissing:
		return "the token has no auth_time"
	case authTimeTooOld:
		return fmt.Sprintf("auth_time %s is more than max_age %s before %s (leeway %s)", c.AuthTime.UTC().Format(time.RFC3339), s.MaxAge, now.UTC().Format(time.RFC3339), leeway)
	case streamOutlivedLogin:
		return fmt.Sprintf("the stream outlived its login: auth_time %s plus max_age %s (leeway %s)", c.AuthTime.UTC().Format(time.RFC3339), s.MaxAge, leeway)
	}
	return "the login meets the rule"
}

// loginEnd is when the login behind claims c, which have an auth_time,
// gets too old for s's MaxAge, with leeway.
func (s *StepUp) loginEnd(c *Claims, leeway time.Duration) time.Time {
	return c.AuthTime.Add(s.MaxAge + leeway)
}

// challengeParams are the auth-params of RFC 9470 §3 that tell a client
// what would meet s, for a WWW-Authenticate challenge: acr_values (a
// quoted-string) and max_age (a token, in whole seconds), each when set,
// and acr_values only when each value can be carried as it is ([Policy.Audit]
// refuses the others). metadata gets them as google.rpc.ErrorInfo
// metadata, with the same values.
func (s *StepUp) challengeParams(metadata map[string]string) []string {
	var acrValues, maxAge string
	if len(s.ACRValues) > 0 && !slices.ContainsFunc(s.ACRValues, func(v string) bool { return !isChallengeValue(v) }) {
		acrValues = strings.Join(s.ACRValues, " ")
		metadata[ACRValuesKey] = acrValues
	}
	if s.MaxAge > 0 {
		maxAge = strconv.FormatInt(int64(s.MaxAge/time.Second), 10)
		metadata[MaxAgeKey] = maxAge
	}
	return stepUpParams(acrValues, maxAge)
}

// stepUpParams are the auth-params acr_values (a quoted-string) and
// max_age (a token), each when its value, checked, is not empty.
func stepUpParams(acrValues, maxAge string) []string {
	var params []string
	if acrValues != "" {
		params = append(params, `acr_values="`+acrValues+`"`)
	}
	if maxAge != "" {
		params = append(params, "max_age="+maxAge)
	}
	return params
}

// audit says what is wrong with s, or returns nil.
func (s *StepUp) audit() []string {
	var wrong []string
	if len(s.ACRValues) == 0 && len(s.AMR) == 0 && s.MaxAge == 0 {
		wrong = append(wrong, "requires nothing (no acr values, no amr, no max_age)")
	}
	for _, v := range s.ACRValues {
		if !isChallengeValue(v) {
			wrong = append(wrong, fmt.Sprintf("has acr value %q, which is empty or has a space, a quote, a backslash or a byte outside printable ASCII", v))
		}
	}
	for _, v := range s.AMR {
		if !isChallengeValue(v) {
			wrong = append(wrong, fmt.Sprintf("has amr value %q, which is empty or has a space, a quote, a backslash or a byte outside printable ASCII", v))
		}
	}
	switch {
	case s.MaxAge < 0:
		wrong = append(wrong, fmt.Sprintf("has a negative max_age %s", s.MaxAge))
	case s.MaxAge%time.Second != 0:
		wrong = append(wrong, fmt.Sprintf("has max_age %s, which is not a whole number of seconds (RFC 9470 tells it in seconds)", s.MaxAge))
	}
	return wrong
}

// isChallengeValue reports whether v can be one item of a space-separated
// list in a quoted-string of a challenge, as it is: printable ASCII other
// than space, '"' and '\' (the characters of an RFC 6749 scope-token).
func isChallengeValue(v string) bool { return isScopeToken(v) }
