package grpcjwt

import "unicode/utf8"

// Bounds on strings that come from callers (method names, token fields)
// before they are kept, logged, put in an error or handed to a hook.
const (
	// maxQuoted bounds one value quoted in an error detail: an alg, typ,
	// kid, iss or aud from a token.
	maxQuoted = 64
	// maxDetail bounds a whole [TokenError] detail, whatever builds it.
	maxDetail = 512
	// maxMethodName bounds a method name in a log line or handed to a
	// reject hook. Real names ("/package.Service/Method") are far shorter.
	maxMethodName = 256
	// maxChallengeValue bounds a value of a received status's ErrorInfo
	// written into a challenge ([Policy.StatusChallenge]): its scopes, its
	// acr values. The values a policy sends are far shorter.
	maxChallengeValue = 1024
)

// truncate shortens an attacker-controlled string for logs and error
// details.
func truncate(s string) string { return truncateTo(s, maxQuoted) }

// truncateTo returns s if it is at most n bytes long, else its first n
// bytes at most, cut on a UTF-8 boundary, followed by "…".
func truncateTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
