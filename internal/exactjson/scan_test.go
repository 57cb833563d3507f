package exactjson

import (
	"errors"
	"testing"
)

// TestArrayElementsStandAlone: Array hands every element to its visitor,
// one with a duplicate member name included, which Object on that element
// then refuses alone; a duplicate in the object around the array is still
// refused by Object and OuterObject.
func TestArrayElementsStandAlone(t *testing.T) {
	list := []byte(`[{"kid":"a","kid":"b"},{"kid":"c","x":{"y":1,"y":2}},{"kid":"d"}]`)
	var refused, accepted int
	ok, err := Array(list, func(elem []byte) error {
		if err := Object(elem, nil); errors.Is(err, ErrDuplicate) {
			refused++
		} else if err == nil {
			accepted++
		} else {
			t.Errorf("Object(%s) = %v", elem, err)
		}
		return nil
	})
	if !ok || err != nil || refused != 2 || accepted != 1 {
		t.Errorf("Array = %v, %v; %d elements refused, %d accepted; want 2 and 1", ok, err, refused, accepted)
	}
	envelope := []byte(`{"keys":[{"kid":"a","kid":"b"}],"keys":[]}`)
	if err := OuterObject(envelope, nil); !errors.Is(err, ErrDuplicate) {
		t.Errorf("OuterObject(%s) = %v, want ErrDuplicate", envelope, err)
	}
	if err := OuterObject([]byte(`{"keys":[{"kid":"a","kid":"b"}]}`), nil); err != nil {
		t.Errorf("OuterObject refused a duplicate inside a nested object: %v", err)
	}
}
