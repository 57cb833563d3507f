package main

import (
	"bytes"
	"context"
	"html"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/grpcjwt/grpcjwt/examples/greeter/greeterhttp"
)

// TestBrowser runs the server command with -http-addr and -page-addr, and
// opens its page in headless Chromium (Debian's chromium package, or
// $CHROMIUM): the page, on its own origin, calls the API on another with
// plain fetch and the Connect protocol, with a token and without one, so
// the browser sends a CORS preflight before each call, and writes what
// came back into the page, which Chromium prints (--dump-dom). The same
// page served from an origin the API does not allow gets nothing: the
// browser refuses it the answers. Without Chromium the test skips, except
// under CI=true, where it fails.
func TestBrowser(t *testing.T) {
	chromium := requireCommand(t, "CHROMIUM", "chromium", "chromium")
	_, server, _ := buildCommands(t)
	iss := newIssuer(t)
	srv := startServer(t, server, nil, "-issuer", iss.URL, "-audience", iss.Audience,
		"-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-page-addr", "127.0.0.1:0")
	if srv.pageURL == "" || !strings.HasPrefix(srv.pageURL, "http://127.0.0.1:") {
		t.Fatalf("the server did not say where it serves the page:\n%s", srv.stderr)
	}
	token := iss.Token(map[string]any{"sub": "alice", "scope": "greet:read"})
	challenge := `WWW-Authenticate: Bearer resource_metadata="` + srv.httpURL + greeterhttp.MetadataPath + `"`

	t.Run("allowed origin", func(t *testing.T) {
		status, results := openPage(t, chromium, srv.pageURL+"&token="+token)
		if status != "done" {
			t.Fatalf("the page says %q; results:\n%s", status, results)
		}
		want := []struct {
			line   string
			prefix bool // the line goes on, with what is not the test's to know
		}{
			{`SayHello with a token: ok {"message":"Hello, Browser!","subject":"alice"}`, false},
			{`SayHello without a token: 401 unauthenticated auth.authorization_header_missing; ` + challenge, false},
			{`Info without a token: ok {"serverName":"greeter-example","version":`, true}, // the server's build
		}
		lines := strings.Split(results, "\n")
		if len(lines) != len(want) {
			t.Fatalf("the page shows\n%s\nwant %d lines", results, len(want))
		}
		for i, w := range want {
			if lines[i] != w.line && !(w.prefix && strings.HasPrefix(lines[i], w.line)) {
				t.Errorf("the page shows\n%s\nwant line %d to be %s", results, i+1, w.line)
			}
		}
	})

	t.Run("another origin", func(t *testing.T) {
		page := httptest.NewServer(greeterhttp.Page())
		defer page.Close()
		_, api, _ := strings.Cut(srv.pageURL, "#")
		status, results := openPage(t, chromium, page.URL+"/#"+api+"&token="+token)
		if status != "error: TypeError: Failed to fetch" || results != "" {
			t.Errorf("a page on an origin the API does not allow says %q, with results %q; want a failed fetch and none", status, results)
		}
	})
	srv.stop(t)
}

// pageText matches the page's results and status in the DOM Chromium
// prints.
var pageText = regexp.MustCompile(`(?s)<pre id="results">(.*?)</pre>.*<p id="status">(.*?)</p>`)

// openPage loads url in headless Chromium, with a profile of its own,
// until the page's calls are done (Chromium's virtual time does not run
// while requests are pending), and returns the page's status ("done", or
// "error: …") and its results, unescaped, without the last newline.
func openPage(t *testing.T, chromium, url string) (status, results string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=10000", "--dump-dom", url)
	killWithParent(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	m := pageText.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("chromium printed no results of the page:\n%s\n%s", stdout.String(), stderr.String())
	}
	return html.UnescapeString(m[2]), strings.TrimSuffix(html.UnescapeString(m[1]), "\n")
}
