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
// label can take, each declared one in a row with its sentinel and the
// status message the client gets.
func TestDocsListEveryCause(t *testing.T) {
	doc := readDoc(t, "docs/operations.md")
	for _, c := range []Cause{CauseNone, CauseOther} {
		if !strings.Contains(doc, "`"+string(c)+"`") {
			t.Errorf("docs/operations.md does not name the cause %q", c)
		}
	}
	sentAs := map[Cause]string{}
	for _, r := range reasons {
		sentAs[r.cause] = CodeInvalidToken
		if r.status != nil {
			sentAs[r.cause] = r.status.Message()
		}
	}
	for _, d := range sentinelDecls(t) {
		if d.label == "" {
			continue
		}
		row := "| `" + string(d.label) + "` | `" + d.name + "` | `" + sentAs[d.label] + "` |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/operations.md has no row %s", row)
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
