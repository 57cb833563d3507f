package grpcjwt

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// How docs/call-path.md draws a refusal: a node of its own line, a
// stadium of class refusal whose label is the status message, then the
// gRPC code and the HTTP status:
//
//	badJWS(["invalid_token<br/>Unauthenticated · 401"]):::refusal
var (
	refusalNode = regexp.MustCompile(`^(\w+)\(\["([^"<]+)<br/>(\w+) · (\d{3})"\]\):::refusal$`)
	// edgeTarget finds the node or subgraph an edge line leads to: a --> b,
	// a -.-> b, each with an optional |label|.
	edgeTarget = regexp.MustCompile(`(?:-->|-\.->)(?:\|[^|]*\|)?\s*(\w+)$`)
	// wireRow is a row of the page's table of wire messages.
	wireRow = regexp.MustCompile("^\\| `([^`]+)` \\| `(\\w+)` \\| (\\d{3}) \\| [^|]+ \\|$")
)

// wireAnswer is what a client receives for a wire message.
type wireAnswer struct {
	code       string // the gRPC code
	httpStatus int
}

// wireAnswers returns every wire message of the code with its answer.
func wireAnswers(t *testing.T) map[string]wireAnswer {
	t.Helper()
	answers := map[string]wireAnswer{}
	for _, r := range wireReasons {
		s := Status(r.err)
		a := wireAnswer{code: s.Code().String(), httpStatus: HTTPStatus(r.err)}
		if prev, ok := answers[s.Message()]; ok && prev != a {
			t.Fatalf("the wire message %q is sent as %v and as %v", s.Message(), prev, a)
		}
		answers[s.Message()] = a
	}
	return answers
}

// TestCallPathDiagram: the diagram of docs/call-path.md draws each
// refusal as a node naming one of the code's wire messages, with the gRPC
// code and HTTP status it is sent with, reached by an edge; it names wire
// messages nowhere else; and it draws every wire message. The table below
// it has one row for each wire message, with the same answer, and no
// other.
func TestCallPathDiagram(t *testing.T) {
	doc := readDoc(t, "docs/call-path.md")
	answers := wireAnswers(t)

	blocks := strings.Split(doc, "```mermaid\n")
	if len(blocks) != 2 {
		t.Fatalf("docs/call-path.md has %d mermaid blocks, want 1", len(blocks)-1)
	}
	diagram, _, ok := strings.Cut(blocks[1], "\n```\n")
	if !ok {
		t.Fatal("docs/call-path.md: the mermaid block does not end")
	}
	first := strings.Count(blocks[0], "\n") + 2 // the line after the fence
	drawn := map[string]bool{}
	refusals := map[string]int{} // node -> line
	targets := map[string]bool{}
	for i, line := range strings.Split(diagram, "\n") {
		line = strings.TrimSpace(line)
		n := first + i
		if m := edgeTarget.FindStringSubmatch(line); m != nil {
			targets[m[1]] = true
		}
		if !strings.Contains(line, "([") && !strings.Contains(line, ":::refusal") {
			for msg := range answers {
				if containsWord(line, msg) {
					t.Errorf("docs/call-path.md:%d names %q outside a refusal node: %s", n, msg, line)
				}
			}
			continue
		}
		m := refusalNode.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("docs/call-path.md:%d is not a refusal node of the form id([\"message<br/>Code · HTTP status\"]):::refusal: %s", n, line)
			continue
		}
		id, msg, code := m[1], m[2], m[3]
		httpStatus, _ := strconv.Atoi(m[4])
		if _, dup := refusals[id]; dup {
			t.Errorf("docs/call-path.md:%d defines the refusal node %s again", n, id)
		}
		refusals[id] = n
		want, ok := answers[msg]
		switch {
		case !ok:
			t.Errorf("docs/call-path.md:%d names %q, which is no wire message", n, msg)
		case code != want.code || httpStatus != want.httpStatus:
			t.Errorf("docs/call-path.md:%d: %q is %s · %d, want %s · %d", n, msg, code, httpStatus, want.code, want.httpStatus)
		default:
			drawn[msg] = true
		}
	}
	for id, n := range refusals {
		if !targets[id] {
			t.Errorf("docs/call-path.md:%d: no edge leads to the refusal node %s", n, id)
		}
	}
	for msg := range answers {
		if !drawn[msg] {
			t.Errorf("the diagram draws no refusal with the wire message %q", msg)
		}
	}

	_, table, ok := strings.Cut(doc, "\n## Wire messages\n")
	if !ok {
		t.Fatal("docs/call-path.md has no section \"Wire messages\"")
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		m := wireRow.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("docs/call-path.md: not a row of message, gRPC code, HTTP status and origin: %s", line)
			continue
		}
		msg, code := m[1], m[2]
		httpStatus, _ := strconv.Atoi(m[3])
		want, ok := answers[msg]
		switch {
		case !ok:
			t.Errorf("docs/call-path.md lists %q, which is no wire message", msg)
		case rows[msg]:
			t.Errorf("docs/call-path.md lists %q twice", msg)
		case code != want.code || httpStatus != want.httpStatus:
			t.Errorf("docs/call-path.md: %q is %s, %d, want %s, %d", msg, code, httpStatus, want.code, want.httpStatus)
		}
		rows[msg] = true
	}
	for msg := range answers {
		if !rows[msg] {
			t.Errorf("docs/call-path.md has no row for the wire message %q", msg)
		}
	}
}

// containsWord reports whether s contains word with neither a letter, a
// digit, '_' nor '.' on either side.
func containsWord(s, word string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], word)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(word)
		if (start == 0 || !isWordByte(s[start-1])) && (end == len(s) || !isWordByte(s[end])) {
			return true
		}
		i = start + 1
	}
}

func isWordByte(b byte) bool {
	return b == '_' || b == '.' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}
