package exactjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

type member struct {
	name  string
	value []byte
}

func members(t *testing.T, data []byte) ([]member, error) {
	t.Helper()
	var got []member
	err := Object(data, func(n, v []byte) error {
		got = append(got, member{string(n), bytes.Clone(v)})
		return nil
	})
	return got, err
}

// decodeAny decodes b with encoding/json, numbers as their text (a number
// beyond float64's range is still valid JSON).
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("encoding/json cannot decode %q: %v", b, err)
	}
	return v
}

// FuzzObject: Object never panics, never accepts what encoding/json calls
// invalid, and on objects with unique names agrees with encoding/json on
// every member; on a canonical re-encoding (unique, exact names, valid
// UTF-8) it must accept.
func FuzzObject(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":[1,2,{"c":null}]},"d":"\u00e9\ud83d\ude00"}`,
		`{"exp":1,"Exp":2}`, `{"\u017fcope":"x"}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `{"a":-0.5e+10}`,
		`{"a":01}`, `{"a":1,}`, ` {"a" : [ ] } `, `[1]`, `{"a":"\/\b\f\n\r\t\\\""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := members(t, data)
		_ = Valid(data)
		_ = OuterObject(data, nil)
		if err == nil && !json.Valid(data) {
			t.Fatalf("accepted what encoding/json calls invalid: %q", data)
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil || m == nil {
			return
		}
		if err == nil {
			if len(got) != len(m) {
				t.Fatalf("%q: %d members, encoding/json has %d", data, len(got), len(m))
			}
			for _, g := range got {
				if !reflect.DeepEqual(decodeAny(t, g.value), decodeAny(t, m[g.name])) {
					t.Fatalf("%q: member %q is %s, encoding/json says %s", data, g.name, g.value, m[g.name])
				}
			}
		}
		var anyDoc map[string]any
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		_ = d.Decode(&anyDoc)
		canon, err := json.Marshal(anyDoc)
		if err != nil {
			return
		}
		got, err = members(t, canon)
		if err != nil {
			t.Fatalf("refused a well-formed object %q: %v", canon, err)
		}
		var cm map[string]json.RawMessage
		_ = json.Unmarshal(canon, &cm)
		if len(got) != len(cm) {
			t.Fatalf("%q: %d members, encoding/json has %d", canon, len(got), len(cm))
		}
		for _, g := range got {
			if !reflect.DeepEqual(decodeAny(t, g.value), decodeAny(t, cm[g.name])) {
				t.Fatalf("%q: member %q differs", canon, g.name)
			}
			if s, ok := String(g.value); ok {
				var want string
				_ = json.Unmarshal(g.value, &want)
				if s != want {
					t.Fatalf("String(%s) = %q, encoding/json says %q", g.value, s, want)
				}
			}
		}
	})
}

type claims struct {
	Iss   string   `json:"iss"`
	Exp   float64  `json:"exp"`
	Scope string   `json:"scope"`
	Aud   []string `json:"aud"`
	Org   *struct {
		ID string `json:"id"`
	} `json:"org"`
}

// FuzzUnmarshal: on objects whose names are unique and exact, Unmarshal
// decodes what encoding/json decodes; it never panics on anything.
func FuzzUnmarshal(f *testing.F) {
	f.Add("https://a", 1.5, "read write", "aud", "x", "id", "org-1")
	f.Add("", 0.0, "", "Scope", "admin", "ID", "y")
	f.Fuzz(func(t *testing.T, iss string, exp float64, scope, extra, extraVal, orgName, org string) {
		doc := map[string]any{"iss": iss, "exp": exp, "scope": scope, extra: extraVal, "org": map[string]any{orgName: org}}
		data, err := json.Marshal(doc)
		if err != nil {
			return
		}
		var got claims
		gotErr := Unmarshal(data, &got)
		exact := true
		for _, f := range []string{"iss", "exp", "scope", "aud", "org"} {
			if strings.EqualFold(extra, f) && extra != f {
				exact = false
			}
		}
		if strings.EqualFold(orgName, "id") && orgName != "id" {
			exact = false
		}
		if !exact {
			return
		}
		var want claims
		wantErr := json.Unmarshal(data, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%s: Unmarshal error %v, encoding/json %v", data, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: Unmarshal %+v, encoding/json %+v", data, got, want)
		}
		_ = Unmarshal([]byte(extraVal), &got)
	})
}
