package grpcjwt

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
)

// referencePayload is the registered claims as encoding/json reads them:
// right whenever the names are unique and exact.
type referencePayload struct {
	Iss      *string  `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      any      `json:"aud"`
	Exp      *float64 `json:"exp"`
	Jti      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Azp      string   `json:"azp"`
	Scope    *string  `json:"scope"`
}

var registered = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "azp", "scope", "scp"}

// FuzzPayload: on payloads with unique, exact-case names parsePayload reads
// what encoding/json reads; on anything else it never panics.
func FuzzPayload(f *testing.F) {
	f.Add("https://a", "alice", "api", 1e9, "id", "cli", "", "read write", "org", `"x"`)
	f.Add("", "", "", 0.0, "", "", "azp-1", "", "Exp", `1`)
	f.Fuzz(func(t *testing.T, iss, sub, aud string, exp float64, jti, clientID, azp, scope, extra, extraJSON string) {
		_, _, _ = parsePayload([]byte(extraJSON))
		doc := map[string]any{"iss": iss, "sub": sub, "aud": aud, "exp": exp, "jti": jti, "client_id": clientID, "azp": azp, "scope": scope}
		for _, r := range registered {
			if strings.EqualFold(extra, r) {
				return // not exact-case unique
			}
		}
		if exactjson.Valid([]byte(extraJSON)) == nil {
			doc[extra] = json.RawMessage(extraJSON)
		}
		raw, err := json.Marshal(doc)
		if err != nil {
			return
		}
		c, has, err := parsePayload(raw)
		var ref referencePayload
		if json.Unmarshal(raw, &ref) != nil {
			return
		}
		if err != nil {
			if exp > 1<<53 || exp < -(1<<53) {
				return
			}
			t.Fatalf("%s: %v", raw, err)
		}
		wantClient := ref.ClientID
		if wantClient == "" {
			wantClient = ref.Azp
		}
		wantScopes := splitScopes(*ref.Scope)
		if c.Issuer != *ref.Iss || has&hasIss == 0 || c.Subject != ref.Sub || !reflect.DeepEqual(c.Audience, []string{ref.Aud.(string)}) ||
			c.ID != ref.Jti || c.ClientID != wantClient || !reflect.DeepEqual(c.Scopes, wantScopes) ||
			has&hasExp == 0 || !c.ExpiresAt.Equal(numericTime(*ref.Exp)) {
			t.Fatalf("%s: parsed %+v, encoding/json %+v", raw, c, ref)
		}
	})
}

func numericTime(f float64) time.Time {
	t, _ := numericDate([]byte(strings.TrimSpace(mustMarshal(f))))
	return t
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
