package grpcjwt

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
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
	ACR      string   `json:"acr"`
	AMR      []string `json:"amr"`
	AuthTime *float64 `json:"auth_time"`
}

var registered = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "azp", "scope", "scp", "acr", "amr", "auth_time"}

// FuzzPayload: on payloads with unique, exact-case names parsePayload reads
// what encoding/json reads; on anything else it never panics.
func FuzzPayload(f *testing.F) {
	f.Add("https://a", "alice", "api", 1e9, "id", "cli", "", "read write", "urn:logto:acr:mfa", "pwd otp", 1e9-60, "org", `"x"`)
	f.Add("", "", "", 0.0, "", "", "azp-1", "", "", "", 0.5, "Exp", `1`)
	f.Fuzz(func(t *testing.T, iss, sub, aud string, exp float64, jti, clientID, azp, scope, acr, amr string, authTime float64, extra, extraJSON string) {
		_, _, _ = parsePayload([]byte(extraJSON), nil)
		doc := map[string]any{"iss": iss, "sub": sub, "aud": aud, "exp": exp, "jti": jti, "client_id": clientID, "azp": azp, "scope": scope,
			"acr": acr, "amr": strings.Fields(amr), "auth_time": authTime}
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
		c, has, err := parsePayload(raw, nil)
		var ref referencePayload
		if json.Unmarshal(raw, &ref) != nil {
			return
		}
		if err != nil {
			if math.Abs(exp) > 1<<53 || math.Abs(authTime) > 1<<53 {
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
			has&hasExp == 0 || !c.ExpiresAt.Equal(numericTime(*ref.Exp)) ||
			c.ACR != ref.ACR || !slices.Equal(c.AMR, ref.AMR) || !c.AuthTime.Equal(numericTime(*ref.AuthTime)) {
			t.Fatalf("%s: parsed %+v, encoding/json %+v", raw, c, ref)
		}
	})
}

// TestLoginClaims: acr, amr and auth_time are read by their exact names and
// types: a string, an array of strings, a NumericDate; null is absent, and
// any other type refuses the payload.
func TestLoginClaims(t *testing.T) {
	for _, tc := range []struct {
		payload  string
		acr      string
		amr      []string
		authTime time.Time
		wrong    bool
	}{
		{`{"acr":"urn:logto:acr:mfa","amr":["pwd","otp"],"auth_time":1700000000}`, "urn:logto:acr:mfa", []string{"pwd", "otp"}, time.Unix(1700000000, 0), false},
		{`{"acr":null,"amr":null,"auth_time":null}`, "", nil, time.Time{}, false},
		{`{"amr":[]}`, "", nil, time.Time{}, false},
		{`{"Acr":"x","AMR":["mfa"],"auth_Time":1}`, "", nil, time.Time{}, false},
		{`{"acr":1}`, "", nil, time.Time{}, true},
		{`{"acr":["urn:logto:acr:mfa"]}`, "", nil, time.Time{}, true},
		{`{"amr":"mfa"}`, "", nil, time.Time{}, true},
		{`{"amr":["mfa",1]}`, "", nil, time.Time{}, true},
		{`{"auth_time":"1700000000"}`, "", nil, time.Time{}, true},
		{`{"auth_time":1e300}`, "", nil, time.Time{}, true},
		{`{"acr":"a","acr":"b"}`, "", nil, time.Time{}, true},
	} {
		c, _, err := parsePayload([]byte(tc.payload), nil)
		if tc.wrong {
			if err == nil {
				t.Errorf("%s: accepted", tc.payload)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.payload, err)
			continue
		}
		if c.ACR != tc.acr || !slices.Equal(c.AMR, tc.amr) || !c.AuthTime.Equal(tc.authTime) {
			t.Errorf("%s: acr %q amr %q auth_time %v", tc.payload, c.ACR, c.AMR, c.AuthTime)
		}
	}
}

func numericTime(f float64) time.Time {
	t, _ := numericDate([]byte(strings.TrimSpace(mustMarshal(f))))
	return t
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
