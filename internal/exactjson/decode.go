package exactjson

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// Unmarshal is json.Unmarshal with exact member names. data is first
// checked as by [Valid] (so duplicates are refused); then every member of an
// object decoded into a struct whose name is not exactly a field's JSON name
// but equals one ignoring case (which encoding/json would match) is dropped,
// at every depth the type describes. Values decoded by a type's own
// UnmarshalJSON are passed to it as they are.
func Unmarshal(data []byte, v any) error {
	if err := Valid(data); err != nil {
		return err
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return json.Unmarshal(data, v) // its *InvalidUnmarshalError
	}
	clean, err := exactFor(data, rv.Type().Elem())
	if err != nil {
		return err
	}
	return json.Unmarshal(clean, v)
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// exactFor returns data, valid JSON, rewritten so that decoding it into a
// value of type t matches member names exactly.
func exactFor(data []byte, t reflect.Type) ([]byte, error) {
	for {
		if reflect.PointerTo(t).Implements(jsonUnmarshaler) || t.Implements(jsonUnmarshaler) {
			return data, nil
		}
		if t.Kind() != reflect.Pointer {
			break
		}
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if len(data) == 0 || data[0] != '{' {
			return data, nil // encoding/json reports the type mismatch
		}
		return exactObject(data, fieldsOf(t))
	case reflect.Map:
		if len(data) == 0 || data[0] != '{' || !canHoldObjects(t.Elem()) {
			return data, nil
		}
		elem := t.Elem()
		return rebuildObject(data, func(_, value []byte) ([]byte, bool, error) {
			out, err := exactFor(value, elem)
			return out, true, err
		})
	case reflect.Slice, reflect.Array:
		if len(data) == 0 || data[0] != '[' || !canHoldObjects(t.Elem()) {
			return data, nil
		}
		return rebuildArray(data, t.Elem())
	}
	return data, nil
}

// canHoldObjects reports whether a value of type t may decode a JSON
// object into a struct somewhere inside it.
func canHoldObjects(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array:
		return true
	}
	return false
}

// fields are the JSON names of a struct's fields and their types.
type fields map[string]reflect.Type

var fieldCache sync.Map // reflect.Type -> fields

// fieldsOf returns the JSON names encoding/json may decode into t: tag
// names or field names, through embedded structs. It may name more fields
// than encoding/json would use, never fewer.
func fieldsOf(t reflect.Type) fields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(fields)
	}
	f := make(fields)
	collectFields(t, f, 0)
	fieldCache.Store(t, f)
	return f
}

func collectFields(t reflect.Type, f fields, depth int) {
	if depth > 8 {
		return
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectFields(ft, f, depth+1)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, ok := f[name]; !ok {
			f[name] = sf.Type
		}
	}
}

// exactObject drops the members of the object data whose names match a
// field of f only ignoring case, and makes the kept values exact for their
// fields' types.
func exactObject(data []byte, f fields) ([]byte, error) {
	return rebuildObject(data, func(name, value []byte) ([]byte, bool, error) {
		if ft, ok := f[string(name)]; ok {
			out, err := exactFor(value, ft)
			return out, true, err
		}
		for key := range f {
			if strings.EqualFold(key, string(name)) {
				return nil, false, nil
			}
		}
		return value, true, nil
	})
}

// rebuildObject writes the object data again, member by member, with the
// values edit returns for those it keeps.
func rebuildObject(data []byte, edit func(name, value []byte) ([]byte, bool, error)) ([]byte, error) {
	out := make([]byte, 0, len(data))
	out = append(out, '{')
	err := Object(data, func(name, value []byte) error {
		v, keep, err := edit(name, value)
		if err != nil || !keep {
			return err
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		n, err := json.Marshal(string(name))
		if err != nil {
			return err
		}
		out = append(out, n...)
		out = append(out, ':')
		out = append(out, v...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return append(out, '}'), nil
}

func rebuildArray(data []byte, elem reflect.Type) ([]byte, error) {
	out := make([]byte, 0, len(data))
	out = append(out, '[')
	_, err := Array(data, func(e []byte) error {
		v, err := exactFor(e, elem)
		if err != nil {
			return err
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, v...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return append(out, ']'), nil
}
