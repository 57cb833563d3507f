package greeterhttp

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed page
var page embed.FS

// Page returns a handler of the browser page: one static HTML file (at
// "/") whose plain JavaScript calls the greeter's SayHello, with the token
// and without one, and the public Info, over the Connect protocol, and
// writes each answer into the page. It reads the API's origin and the
// token from its URL's fragment, #api=http://127.0.0.1:8080&token=…,
// which the browser never sends to a server. Serve it on another origin
// than the API, and allow that origin with [Config.Origins]: the calls
// then cross origins, as a web app's do, CORS preflight included.
func Page() http.Handler {
	sub, err := fs.Sub(page, "page")
	if err != nil {
		panic(err) // the directory is embedded
	}
	return http.FileServerFS(sub)
}
