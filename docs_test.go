package grpcjwt

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestDocsListEveryConfigField: docs/configuration.md has a row for every
// field of Config and names every field of IssuerConfig.
func TestDocsListEveryConfigField(t *testing.T) {
	doc := readDoc(t, "docs/configuration.md")
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Config]()) {
		if !strings.Contains(doc, "| `"+f.Name+"` |") {
			t.Errorf("docs/configuration.md has no row for Config.%s", f.Name)
		}
	}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[IssuerConfig]()) {
		if !strings.Contains(doc, "`"+f.Name+"`") {
			t.Errorf("docs/configuration.md does not name IssuerConfig.%s", f.Name)
		}
	}
}

// TestDocsListEveryCause: docs/operations.md names every Cause a metric
// label can take.
func TestDocsListEveryCause(t *testing.T) {
	doc := readDoc(t, "docs/operations.md")
	all := []Cause{CauseNone, CauseOther}
	for _, c := range causes {
		all = append(all, c.cause)
	}
	for _, c := range all {
		if !strings.Contains(doc, "`"+string(c)+"`") {
			t.Errorf("docs/operations.md does not list the cause %q", c)
		}
	}
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
