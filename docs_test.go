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

// TestReadmeWireTable: the README's table of what the client sees has a
// row for every wire reason's message, with its gRPC code, and no other.
func TestReadmeWireTable(t *testing.T) {
	doc := readDoc(t, "README.md")
	_, table, ok := strings.Cut(doc, "## What the client sees")
	if !ok {
		t.Fatal("README.md has no section \"What the client sees\"")
	}
	table, _, _ = strings.Cut(table, "\n\n## ")
	rows := map[string]string{} // message -> code
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 || !strings.HasPrefix(strings.TrimSpace(cells[3]), "`") {
			continue
		}
		code := strings.Trim(strings.TrimSpace(cells[2]), "`")
		msg := strings.Trim(strings.TrimSpace(cells[3]), "`")
		if code == "gRPC code" {
			continue
		}
		rows[msg] = code
	}
	for _, r := range wireReasons {
		s := Status(r.err)
		if got, ok := rows[s.Message()]; !ok || got != s.Code().String() {
			t.Errorf("README.md: row for %q is %q, want code %s", s.Message(), got, s.Code())
		}
	}
	for _, r := range wireReasons { // two reasons may share a message, and its row
		delete(rows, Status(r.err).Message())
	}
	for msg := range rows {
		t.Errorf("README.md lists %q, which is no wire reason", msg)
	}
}
